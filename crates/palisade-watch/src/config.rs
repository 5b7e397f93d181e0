//! `[watch]` and `[jails.NAME]` in palisade.toml, validated into a [`WatchConfig`].
//!
//! The tables live in the same file as the firewall policy, which `palisade-core` reads
//! (and where it only checks that they are tables); this module reads them from the same
//! text. As there, every error names the file, the line and the key
//! (`palisade.toml:14: jails.sshd.patterns[1]: jail "sshd": ...`), and values are read as
//! TOML values and interpreted here, so messages say what is wrong rather than which serde
//! variant did not fit.

use std::collections::BTreeMap;
use std::path::PathBuf;

use palisade_core::policy::{ConfigError, PortProto, PortRange, Services};
use palisade_core::{is_valid_name, parse_addr_range, parse_duration, ConfigText, NAME_RULE};
use serde::Deserialize;
use toml::{Spanned, Value};

use crate::allowlist::Allowlist;
use crate::builtin::builtin;
use crate::matcher::Matcher;
use crate::model::{BanPorts, Jail, Source, WatchConfig};

pub const DEFAULT_SET: &str = "bans";
pub const DEFAULT_MAXRETRY: u32 = 5;
pub const DEFAULT_FINDTIME: u64 = 600;
pub const DEFAULT_BANTIME: u64 = 3600;
pub const DEFAULT_BANTIME_MAX: u64 = 7 * 86400;

#[derive(Deserialize)]
struct RawFile {
    watch: Option<Spanned<RawWatch>>,
    #[serde(default)]
    jails: BTreeMap<String, Spanned<RawJail>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    set: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJail {
    enabled: Option<bool>,
    maxretry: Option<Spanned<i64>>,
    findtime: Option<Spanned<Value>>,
    bantime: Option<Spanned<Value>>,
    bantime_factor: Option<Spanned<Value>>,
    bantime_max: Option<Spanned<Value>>,
    ban_v6_prefix: Option<Spanned<i64>>,
    ports: Option<Spanned<Value>>,
    file: Option<Spanned<String>>,
    journal: Option<Spanned<Value>>,
    patterns: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
}

type Span = std::ops::Range<usize>;
type Reader<'a> = ConfigText<'a>;

/// Parse `[watch]` and `[jails.*]` from the config text; errors name file, line, key
/// (`jails.sshd.patterns[1]`) and, for regexes, the jail name and the regex error.
pub fn parse_watch_config(
    file: &str,
    text: &str,
    services: &Services,
) -> Result<WatchConfig, ConfigError> {
    let r = ConfigText::new(file, text);
    let raw: RawFile = r.parse()?;

    let mut allow = Allowlist::new(Vec::new());
    let mut set = DEFAULT_SET.to_string();
    if let Some(w) = &raw.watch {
        for (i, a) in w.get_ref().allow.iter().enumerate() {
            let net = parse_addr_range(a.get_ref(), false)
                .map_err(|p| r.error(a.span(), &format!("watch.allow[{i}]"), p.to_string()))?;
            allow.add(net);
        }
        if let Some(s) = &w.get_ref().set {
            if !is_valid_name(s.get_ref()) {
                return Err(r.error(s.span(), "watch.set", format!("a set name is {NAME_RULE}")));
            }
            set = s.get_ref().clone();
        }
    }

    // File order, so messages and `palisade bans` list jails as the admin wrote them.
    let mut raw_jails: Vec<_> = raw.jails.iter().collect();
    raw_jails.sort_by_key(|(_, j)| j.span().start);
    let mut jails = Vec::new();
    for (name, j) in raw_jails {
        let jail = read_jail(&r, name, j, services)?;
        if j.get_ref().enabled.unwrap_or(true) {
            jails.push(jail);
        }
    }
    Ok(WatchConfig { jails, allow, set })
}

fn read_jail(
    r: &Reader<'_>,
    name: &str,
    spanned: &Spanned<RawJail>,
    services: &Services,
) -> Result<Jail, ConfigError> {
    let key = format!("jails.{name}");
    let j = spanned.get_ref();
    let at = spanned.span();
    if !is_valid_name(name) {
        return Err(r.error(at, &key, format!("a jail name is {NAME_RULE}")));
    }
    let defaults = builtin(name);

    let source = match (&j.file, &j.journal) {
        (Some(f), Some(_)) => {
            return Err(r.error(
                f.span(),
                &key,
                "give either file or journal, not both: a jail reads one source",
            ))
        }
        (Some(f), None) => {
            if !f.get_ref().starts_with('/') {
                return Err(r.error(
                    f.span(),
                    &format!("{key}.file"),
                    "the log file must be an absolute path",
                ));
            }
            Source::File(PathBuf::from(f.get_ref()))
        }
        (None, Some(v)) => match v.get_ref() {
            Value::String(u) if !u.is_empty() => Source::Journal {
                unit: Some(u.clone()),
            },
            Value::Boolean(true) => Source::Journal { unit: None },
            _ => {
                return Err(r.error(
                    v.span(),
                    &format!("{key}.journal"),
                    "expected a systemd unit (\"ssh.service\"), or true for the whole journal",
                ))
            }
        },
        (None, None) => match &defaults {
            Some(b) => b.source.clone(),
            None => {
                return Err(r.error(
                    at,
                    &key,
                    format!(
                        "jail \"{name}\" needs a source: file = \"/var/log/...\" or journal = \"unit.service\" \
                         (built-in jails with defaults: {})",
                        crate::builtin_names().join(", ")
                    ),
                ))
            }
        },
    };

    let (patterns, pattern_spans): (Vec<String>, Vec<Span>) = match &j.patterns {
        Some(p) if p.is_empty() => {
            return Err(r.error(
                at,
                &format!("{key}.patterns"),
                format!("jail \"{name}\": an empty pattern list would never match"),
            ))
        }
        Some(p) => p.iter().map(|s| (s.get_ref().clone(), s.span())).unzip(),
        None => match &defaults {
            Some(b) => (b.patterns.clone(), vec![at.clone(); b.patterns.len()]),
            None => {
                return Err(r.error(
                    at,
                    &format!("{key}.patterns"),
                    format!(
                        "jail \"{name}\" is not built in, so it needs patterns: regexes with <HOST> where the address is"
                    ),
                ))
            }
        },
    };
    let ignore: Vec<String> = j.ignore.iter().map(|s| s.get_ref().clone()).collect();
    let matcher = Matcher::compile(&patterns, &ignore).map_err(|e| {
        let (list, span) = if e.ignore {
            ("ignore", j.ignore[e.index].span())
        } else {
            ("patterns", pattern_spans[e.index].clone())
        };
        r.error(
            span,
            &format!("{key}.{list}[{}]", e.index),
            format!("jail \"{name}\": {}", e.message),
        )
    })?;

    let maxretry = match &j.maxretry {
        None => DEFAULT_MAXRETRY,
        Some(m) => match u32::try_from(*m.get_ref()) {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(r.error(
                    m.span(),
                    &format!("{key}.maxretry"),
                    "expected a number of failures from 1 to 1000",
                ))
            }
        },
    };
    let seconds = |v: &Option<Spanned<Value>>, field: &str, default: u64| {
        read_seconds(r, v.as_ref(), &format!("{key}.{field}"), default)
    };
    let findtime = seconds(&j.findtime, "findtime", DEFAULT_FINDTIME)?;
    let bantime = seconds(&j.bantime, "bantime", DEFAULT_BANTIME)?;
    let bantime_max = seconds(
        &j.bantime_max,
        "bantime_max",
        DEFAULT_BANTIME_MAX.max(bantime),
    )?;
    for (v, field, value) in [
        (&j.findtime, "findtime", findtime),
        (&j.bantime, "bantime", bantime),
    ] {
        if value == 0 {
            let span = v.as_ref().map(|s| s.span()).unwrap_or(at.clone());
            return Err(r.error(span, &format!("{key}.{field}"), "must be longer than 0s"));
        }
    }
    if bantime_max < bantime {
        let span = j
            .bantime_max
            .as_ref()
            .map(|s| s.span())
            .unwrap_or(at.clone());
        return Err(r.error(
            span,
            &format!("{key}.bantime_max"),
            "is shorter than bantime: the first ban would already be over the cap",
        ));
    }
    let bantime_factor = match &j.bantime_factor {
        None => 1.0,
        Some(f) => {
            let value = match f.get_ref() {
                Value::Float(x) => *x,
                Value::Integer(n) => *n as f64,
                _ => f64::NAN,
            };
            if !(1.0..=1000.0).contains(&value) {
                return Err(r.error(
                    f.span(),
                    &format!("{key}.bantime_factor"),
                    "expected a number from 1.0 (no growth) to 1000",
                ));
            }
            value
        }
    };
    let ban_v6_prefix = match &j.ban_v6_prefix {
        None => None,
        Some(p) => match u8::try_from(*p.get_ref()) {
            Ok(n) if (32..=128).contains(&n) => Some(n),
            _ => {
                return Err(r.error(
                    p.span(),
                    &format!("{key}.ban_v6_prefix"),
                    "expected a prefix length from 32 to 128 (64 bans the source's /64)",
                ))
            }
        },
    };
    let ports = match &j.ports {
        None => BanPorts::All,
        Some(p) => read_ports(p.get_ref(), services)
            .map_err(|m| r.error(p.span(), &format!("{key}.ports"), m))?,
    };
    Ok(Jail {
        name: name.to_string(),
        source,
        matcher,
        maxretry,
        findtime,
        bantime,
        bantime_factor,
        bantime_max,
        ban_v6_prefix,
        ports,
    })
}

/// A duration: `"10m"`, `"1h30m"`, or a number of seconds.
fn read_seconds(
    r: &Reader<'_>,
    v: Option<&Spanned<Value>>,
    key: &str,
    default: u64,
) -> Result<u64, ConfigError> {
    let Some(v) = v else {
        return Ok(default);
    };
    match v.get_ref() {
        Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| r.error(v.span(), key, "a duration cannot be negative"))
        }
        Value::String(s) => parse_duration(s)
            .map(|d| d.as_secs())
            .map_err(|p| r.error(v.span(), key, format!("`{s}`: {p}"))),
        other => Err(r.error(
            v.span(),
            key,
            format!(
                "expected a duration (\"10m\", \"1h\") or seconds, not {}",
                other.type_str()
            ),
        )),
    }
}

/// `"all"`, or a list of service names, ports (`22`) and `"443/tcp"`, `"8000-8100/udp"`.
fn read_ports(v: &Value, services: &Services) -> Result<BanPorts, String> {
    let items =
        match v {
            Value::String(s) if s == "all" => return Ok(BanPorts::All),
            Value::Array(a) if !a.is_empty() => a,
            _ => return Err(
                "expected \"all\" or a list of services and ports ([\"ssh\"], [22, \"443/tcp\"])"
                    .into(),
            ),
        };
    let mut out: Vec<(PortProto, PortRange)> = Vec::new();
    for item in items {
        let found = match item {
            Value::Integer(n) => match u16::try_from(*n) {
                Ok(p) if p > 0 => vec![(PortProto::Tcp, PortRange::single(p))],
                _ => return Err(format!("{n} is not a port (1-65535)")),
            },
            Value::String(s) if s.starts_with(|c: char| c.is_ascii_digit()) => {
                let (range, proto) = match s.split_once('/') {
                    Some((range, proto)) => (
                        range,
                        PortProto::parse(proto)
                            .ok_or_else(|| format!("`{proto}` in `{s}` is not tcp or udp"))?,
                    ),
                    None => (s.as_str(), PortProto::Tcp),
                };
                vec![(proto, PortRange::parse(range)?)]
            }
            Value::String(s) => services.lookup(s).ok_or_else(|| {
                format!("unknown service \"{s}\": use a port (\"8080/tcp\") or a name from /etc/services")
            })?,
            other => return Err(format!("expected a service or a port, not {}", other.type_str())),
        };
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(BanPorts::Some(out))
}

#[cfg(test)]
mod tests;
