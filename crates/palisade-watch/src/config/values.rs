//! Values the jails' keys share: durations, ports, journal matches, each read from a TOML
//! value with a message that says what was expected.

use palisade_core::policy::{ConfigError, PortProto, PortRange, Services};
use toml::{Spanned, Value};

use crate::model::{BanPorts, JournalMatch};

use super::Reader;

/// A duration: `"10m"`, `"1h30m"`, or a number of seconds.
pub(super) fn read_seconds(
    r: &Reader<'_>,
    v: Option<&Spanned<Value>>,
    key: &str,
    default: u64,
) -> Result<u64, ConfigError> {
    v.map_or(Ok(default), |v| r.seconds(v, key))
}

/// A duration that must not be zero.
pub(super) fn read_positive_seconds(
    r: &Reader<'_>,
    v: Option<&Spanned<Value>>,
    key: &str,
    default: u64,
    at: std::ops::Range<usize>,
) -> Result<u64, ConfigError> {
    let secs = read_seconds(r, v, key, default)?;
    if secs == 0 {
        let span = v.map(|s| s.span()).unwrap_or(at);
        return Err(r.error(span, key, "must be longer than 0s"));
    }
    Ok(secs)
}

/// A count within `range`.
pub(super) fn read_count(
    r: &Reader<'_>,
    v: &Spanned<i64>,
    key: &str,
    range: std::ops::RangeInclusive<u32>,
    what: &str,
) -> Result<u32, ConfigError> {
    match u32::try_from(*v.get_ref()) {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(r.error(
            v.span(),
            key,
            format!(
                "expected a number of {what} from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// `"all"`, or a list of service names, ports (`22`) and `"443/tcp"`, `"8000-8100/udp"`.
pub(super) fn read_ports(v: &Value, services: &Services) -> Result<BanPorts, String> {
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

/// `"ssh.service"` (a unit), `true` (every entry), or `{ units = [...], identifiers =
/// [...] }` (each also a single string).
pub(super) fn read_journal(v: &Value) -> Result<JournalMatch, String> {
    const EXPECTED: &str =
        "expected a systemd unit (\"ssh.service\"), true for the whole journal, \
         or { units = [\"ssh.service\"], identifiers = [\"sshd\"] }";
    match v {
        Value::String(u) if !u.is_empty() => Ok(JournalMatch {
            units: vec![u.clone()],
            identifiers: Vec::new(),
        }),
        Value::Boolean(true) => Ok(JournalMatch::default()),
        Value::Table(t) => {
            let mut m = JournalMatch::default();
            for (key, value) in t {
                let list = match key.as_str() {
                    "units" | "unit" => &mut m.units,
                    "identifiers" | "identifier" => &mut m.identifiers,
                    other => {
                        return Err(format!(
                            "unknown key `{other}` in the journal match: {EXPECTED}"
                        ))
                    }
                };
                match value {
                    Value::String(s) if !s.is_empty() => list.push(s.clone()),
                    Value::Array(a) if !a.is_empty() => {
                        for item in a {
                            match item {
                                Value::String(s) if !s.is_empty() => list.push(s.clone()),
                                _ => {
                                    return Err(format!(
                                        "`{key}`: expected names, not {}",
                                        item.type_str()
                                    ))
                                }
                            }
                        }
                    }
                    _ => return Err(format!("`{key}`: expected a name or a list of names")),
                }
            }
            if m.units.is_empty() && m.identifiers.is_empty() {
                return Err(format!("an empty journal match: {EXPECTED}"));
            }
            Ok(m)
        }
        _ => Err(EXPECTED.to_string()),
    }
}
