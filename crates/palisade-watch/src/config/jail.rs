//! One `[jails.NAME]` table: its source, how it tells failures (built-in rules, the
//! admin's patterns, or a fail2ban filter file) and its ban settings.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use palisade_core::policy::{ConfigError, Services};
use palisade_core::{is_valid_name, NAME_RULE};
use palisade_f2b::{load_filter, FilterSpec};
use serde::Deserialize;
use toml::{Spanned, Value};

use super::values::{read_count, read_journal, read_ports, read_positive_seconds, read_seconds};
use super::{FilterFiles, Reader};
use crate::jail_matcher::Rules;
use crate::jails::{
    builtin, builtin_modes, builtin_names, genuine_required, Builtin, DEFAULT_MODE,
};
use crate::matcher::PatternError;
use crate::model::{BanPorts, Jail, JailFilter, Source, RECIDIVE};

pub const DEFAULT_MAXRETRY: u32 = 5;
pub const DEFAULT_FINDTIME: u64 = 600;
pub const DEFAULT_BANTIME: u64 = 3600;
pub const DEFAULT_BANTIME_MAX: u64 = 7 * 86400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJail {
    pub enabled: Option<bool>,
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
    mode: Option<Spanned<String>>,
    filter: Option<Spanned<String>>,
    genuine: Option<Spanned<String>>,
}

type Span = std::ops::Range<usize>;

pub(super) fn read_jail(
    r: &Reader<'_>,
    name: &str,
    spanned: &Spanned<RawJail>,
    services: &Services,
    filter_dir: &Path,
    filters: FilterFiles<'_>,
) -> Result<Jail, ConfigError> {
    let key = format!("jails.{name}");
    let j = spanned.get_ref();
    let at = spanned.span();
    if !is_valid_name(name) {
        return Err(r.error(at, &key, format!("a jail name is {NAME_RULE}")));
    }
    if name == RECIDIVE {
        return Err(r.error(
            at,
            &key,
            "repeat offenders are configured in [watch] recidive = { bans = 5, findtime = \"1d\", \
             bantime = \"1w\" }: palisade counts its own bans, it reads no log for them",
        ));
    }
    let mode = match &j.mode {
        None => DEFAULT_MODE.to_string(),
        Some(m) => {
            let Some(modes) = builtin_modes(name) else {
                return Err(r.error(
                    m.span(),
                    &format!("{key}.mode"),
                    format!("only built-in jails have modes, and \"{name}\" is not one"),
                ));
            };
            if !modes.contains(&m.get_ref().as_str()) {
                return Err(r.error(
                    m.span(),
                    &format!("{key}.mode"),
                    format!(
                        "jail \"{name}\" has no mode \"{}\": its modes are {}",
                        m.get_ref(),
                        modes.join(", ")
                    ),
                ));
            }
            m.get_ref().clone()
        }
    };
    let defaults = builtin(name, &mode);
    let source = read_source(r, &key, j, at.clone(), defaults.as_ref())?;
    let filter = read_filter(
        r,
        &key,
        name,
        j,
        at.clone(),
        defaults.as_ref(),
        &source,
        filter_dir,
        filters,
    )?;

    let maxretry = match &j.maxretry {
        None => DEFAULT_MAXRETRY,
        Some(m) => read_count(r, m, &format!("{key}.maxretry"), 1..=1000, "failures")?,
    };
    let field = |f: &str| format!("{key}.{f}");
    let findtime = read_positive_seconds(
        r,
        j.findtime.as_ref(),
        &field("findtime"),
        DEFAULT_FINDTIME,
        at.clone(),
    )?;
    let bantime = read_positive_seconds(
        r,
        j.bantime.as_ref(),
        &field("bantime"),
        DEFAULT_BANTIME,
        at.clone(),
    )?;
    let bantime_max = read_seconds(
        r,
        j.bantime_max.as_ref(),
        &field("bantime_max"),
        DEFAULT_BANTIME_MAX.max(bantime),
    )?;
    if bantime_max < bantime {
        let span = j
            .bantime_max
            .as_ref()
            .map(|s| s.span())
            .unwrap_or(at.clone());
        return Err(r.error(
            span,
            &field("bantime_max"),
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
                    &field("bantime_factor"),
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
                    &field("ban_v6_prefix"),
                    "expected a prefix length from 32 to 128 (64 bans the source's /64)",
                ))
            }
        },
    };
    let genuine = read_genuine(r, &key, name, j, at.clone())?;
    let ports = match &j.ports {
        None => BanPorts::All,
        Some(p) => {
            read_ports(p.get_ref(), services).map_err(|m| r.error(p.span(), &field("ports"), m))?
        }
    };
    Ok(Jail {
        name: name.to_string(),
        source,
        filter,
        maxretry,
        findtime,
        bantime,
        bantime_factor,
        bantime_max,
        ban_v6_prefix,
        ports,
        genuine,
    })
}

/// `genuine = "SET"`: the palisade set of the networks that may truthfully say what the
/// jail's lines accuse others of claiming (Googlebot's, for `apache-fakegooglebot`); hits
/// from them are not counted. Required where the jail would otherwise ban the genuine
/// party, which the daemon cannot tell apart by the line alone.
fn read_genuine(
    r: &Reader<'_>,
    key: &str,
    name: &str,
    j: &RawJail,
    at: Span,
) -> Result<Option<String>, ConfigError> {
    match &j.genuine {
        Some(set) if !is_valid_name(set.get_ref()) => Err(r.error(
            set.span(),
            &format!("{key}.genuine"),
            format!("names a palisade set, and a set name is {NAME_RULE}"),
        )),
        Some(set) => Ok(Some(set.get_ref().clone())),
        None if genuine_required(name) => Err(r.error(
            at,
            key,
            format!(
                "jail \"{name}\" needs genuine = \"SET\": a palisade set of the real crawler's \
                 networks, whose requests are not counted (without it the real Googlebot would \
                 be banned); add genuine = \"googlebot\" here and load Google's list into that \
                 set, e.g. [sets.googlebot] action = \"none\", urls = \
                 [\"https://developers.google.com/static/search/apis/ipranges/googlebot.json\"], \
                 every = \"24h\""
            ),
        )),
        None => Ok(None),
    }
}

fn read_source(
    r: &Reader<'_>,
    key: &str,
    j: &RawJail,
    at: Span,
    defaults: Option<&Builtin>,
) -> Result<Source, ConfigError> {
    match (&j.file, &j.journal) {
        (Some(f), Some(_)) => Err(r.error(
            f.span(),
            key,
            "give either file or journal, not both: a jail reads one source",
        )),
        (Some(f), None) => {
            if !f.get_ref().starts_with('/') {
                return Err(r.error(
                    f.span(),
                    &format!("{key}.file"),
                    "the log file must be an absolute path",
                ));
            }
            Ok(Source::File(PathBuf::from(f.get_ref())))
        }
        (None, Some(v)) => read_journal(v.get_ref())
            .map(Source::Journal)
            .map_err(|m| r.error(v.span(), &format!("{key}.journal"), m)),
        (None, None) => match defaults {
            Some(b) => Ok(b.source.clone()),
            None => Err(r.error(
                at,
                key,
                format!(
                    "jail \"{}\" needs a source: file = \"/var/log/...\" or journal = \"unit.service\" \
                     (built-in jails with defaults: {})",
                    key.trim_start_matches("jails."),
                    builtin_names().join(", ")
                ),
            )),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn read_filter(
    r: &Reader<'_>,
    key: &str,
    name: &str,
    j: &RawJail,
    at: Span,
    defaults: Option<&Builtin>,
    source: &Source,
    filter_dir: &Path,
    filters: FilterFiles<'_>,
) -> Result<JailFilter, ConfigError> {
    let ignore: Vec<String> = j.ignore.iter().map(|s| s.get_ref().clone()).collect();
    let pattern_error = |e: PatternError, spans: &[Span]| {
        let (list, span) = if e.ignore {
            (
                "ignore",
                j.ignore.get(e.index).map_or(at.clone(), |s| s.span()),
            )
        } else {
            (
                "patterns",
                spans.get(e.index).cloned().unwrap_or(at.clone()),
            )
        };
        r.error(
            span,
            &format!("{key}.{list}[{}]", e.index),
            format!("jail \"{name}\": {}", e.message),
        )
    };
    if let Some(f) = &j.filter {
        let fkey = format!("{key}.filter");
        if j.patterns.is_some() || !j.ignore.is_empty() || j.mode.is_some() {
            return Err(r.error(
                f.span(),
                &fkey,
                "a fail2ban filter brings its own failregex, ignoreregex and mode: give them with \
                 the filter (\"sshd[mode=aggressive]\") or in its .local file, not as patterns, \
                 ignore or mode",
            ));
        }
        let mut spec =
            FilterSpec::parse(f.get_ref()).map_err(|e| r.error(f.span(), &fkey, e.to_string()))?;
        // fail2ban hands journal entries to filters without a date, as logtype=journal.
        if matches!(source, Source::Journal(_)) && spec.option("logtype").is_none() {
            spec = spec.with_option("logtype", "journal");
        }
        let files = filters(filter_dir);
        let filter = load_filter(&spec, files.as_ref()).map_err(|e| {
            r.error(
                f.span(),
                &fkey,
                format!(
                    "jail \"{name}\" (filters from {}): {e}",
                    filter_dir.display()
                ),
            )
        })?;
        return Ok(JailFilter::Fail2ban(filter));
    }
    let rules = match (&j.patterns, defaults) {
        (Some(p), _) if p.is_empty() => {
            return Err(r.error(
                at,
                &format!("{key}.patterns"),
                format!("jail \"{name}\": an empty pattern list would never match"),
            ))
        }
        (Some(p), _) => {
            let (patterns, spans): (Vec<String>, Vec<Span>) =
                p.iter().map(|s| (s.get_ref().clone(), s.span())).unzip();
            Rules::custom(&patterns, &ignore).map_err(|e| pattern_error(e, &spans))?
        }
        (None, Some(b)) => Rules::builtin(b, &ignore).map_err(|e| pattern_error(e, &[]))?,
        (None, None) => {
            return Err(r.error(
                at,
                &format!("{key}.patterns"),
                format!(
                    "jail \"{name}\" is not built in, so it needs patterns (regexes with <HOST> \
                     where the address is) or a fail2ban filter (filter = \"sshd\")"
                ),
            ))
        }
    };
    Ok(JailFilter::Rules(Arc::new(rules)))
}
