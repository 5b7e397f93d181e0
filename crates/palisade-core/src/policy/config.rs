//! The config file (`/etc/palisade/palisade.toml`) and its validation into a [`Policy`].
//!
//! Every error names the file, the line and the key (`palisade.toml:12: input.allow[2]:
//! unknown service "sshh"`), because the admin reading it may be on a console at 3 a.m.
//! Allow entries are read as TOML values and interpreted here rather than by serde's untagged
//! enums, whose errors ("data did not match any variant") would not say what is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::flood::{parse_rate_burst, read_flood, FloodLimit, OverAction, FLOOD_KEYS};
use super::rate::parse_rate;
use super::ruleset::{ChainPolicy, Direction, Net, Rate, SetAction, SetDecl};
use super::services::{PortProto, PortRange, ServicePorts, Services};
use crate::addr::parse_addr_range;
use crate::duration::parse_duration;

pub use crate::config_text::ConfigError;
use crate::config_text::{is_valid_name, ConfigText, NAME_RULE};

/// What an allow entry opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opens {
    Ports(ServicePorts),
    /// ICMP and ICMPv6 echo requests.
    Ping,
}

/// One allowed service, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    pub opens: Opens,
    /// Source networks (any if empty and no `from_set`).
    pub from: Vec<Net>,
    pub from_set: Option<String>,
    /// Destination networks.
    pub to: Vec<Net>,
    pub to_set: Option<String>,
    /// Incoming interface (input, forward) or outgoing (output).
    pub interface: Option<String>,
    /// Outgoing interface of forwarded packets.
    pub out_interface: Option<String>,
    /// Flood protection: rate, connection limit, what happens over them.
    pub limit: Option<FloodLimit>,
    /// `input.allow[0] "ssh" (line 7)`.
    pub origin: String,
}

impl Allow {
    /// An entry with no restriction on peers or interfaces.
    pub fn anywhere(opens: Opens, origin: String) -> Self {
        Self {
            opens,
            from: Vec::new(),
            from_set: None,
            to: Vec::new(),
            to_set: None,
            interface: None,
            out_interface: None,
            limit: None,
            origin,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectionPolicy {
    pub policy: ChainPolicy,
    pub allow: Vec<Allow>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPolicy {
    pub prefix: String,
    pub rate: Rate,
}

/// The validated config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub input: DirectionPolicy,
    pub forward: DirectionPolicy,
    pub output: DirectionPolicy,
    pub accept_established: bool,
    /// Established and related traffic over this rate is dropped.
    pub established_limit: Option<Rate>,
    pub drop_invalid: bool,
    pub accept_loopback: bool,
    pub icmp_essentials: bool,
    /// Forwarding through Docker and libvirt bridges keeps working under a drop policy.
    pub keep_containers: bool,
    pub log: Option<LogPolicy>,
    pub sets: Vec<SetDecl>,
}

impl Policy {
    pub fn direction(&self, d: Direction) -> &DirectionPolicy {
        match d {
            Direction::Input => &self.input,
            Direction::Forward => &self.forward,
            Direction::Output => &self.output,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    input: Option<RawDirection>,
    forward: Option<RawDirection>,
    output: Option<RawDirection>,
    connections: Option<RawConnections>,
    icmp: Option<RawIcmp>,
    log: Option<RawLog>,
    #[serde(default)]
    sets: BTreeMap<String, Spanned<RawSet>>,
    /// Log-watching jails and the daemon's settings: read by `palisade-watch`, which parses
    /// the same text; here they only have to be tables.
    #[serde(default, rename = "jails")]
    _jails: toml::Table,
    #[serde(default, rename = "watch")]
    _watch: toml::Table,
    /// Fleet settings: read by `palisade-fleet` from the same text.
    #[serde(default, rename = "fleet")]
    _fleet: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirection {
    policy: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<Value>>,
    keep_containers: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnections {
    accept_established: Option<bool>,
    established_limit: Option<Spanned<String>>,
    drop_invalid: Option<bool>,
    accept_loopback: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIcmp {
    essentials: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    dropped: Option<bool>,
    prefix: Option<Spanned<String>>,
    rate: Option<Spanned<String>>,
    burst: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    action: Option<Spanned<String>>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    elements: Vec<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

/// Reads one config text.
struct Reader<'a> {
    text: ConfigText<'a>,
    services: &'a Services,
}

impl Reader<'_> {
    fn error(&self, span: std::ops::Range<usize>, key: &str, message: String) -> ConfigError {
        self.text.error(span, key, message)
    }
}

/// Names of the keys an allow table may have.
const ALLOW_KEYS: &[&str] = &[
    "service",
    "port",
    "proto",
    "from",
    "from_set",
    "to",
    "to_set",
    "interface",
    "out_interface",
    "comment",
];

/// Parse and validate a config. `file` is only used in messages.
pub fn parse_config(file: &str, text: &str, services: &Services) -> Result<Policy, ConfigError> {
    let r = Reader {
        text: ConfigText::new(file, text),
        services,
    };
    let raw: RawConfig = r.text.parse()?;

    let sets = raw
        .sets
        .iter()
        .map(|(name, s)| read_set(&r, name, s))
        .collect::<Result<Vec<_>, _>>()?;
    let declared: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();

    let direction = |d: Direction, raw: &Option<RawDirection>, default: ChainPolicy| {
        read_direction(&r, d, raw.as_ref(), default, &declared)
    };
    let conn = raw.connections.as_ref();
    let log = match &raw.log {
        Some(l) if l.dropped.unwrap_or(true) => Some(read_log(&r, l)?),
        _ => None,
    };
    Ok(Policy {
        input: direction(Direction::Input, &raw.input, ChainPolicy::Drop)?,
        forward: direction(Direction::Forward, &raw.forward, ChainPolicy::Drop)?,
        output: direction(Direction::Output, &raw.output, ChainPolicy::Accept)?,
        accept_established: conn.and_then(|c| c.accept_established).unwrap_or(true),
        established_limit: match conn.and_then(|c| c.established_limit.as_ref()) {
            Some(t) => Some(
                parse_rate_burst(t.get_ref())
                    .map_err(|m| r.error(t.span(), "connections.established_limit", m))?,
            ),
            None => None,
        },
        drop_invalid: conn.and_then(|c| c.drop_invalid).unwrap_or(true),
        accept_loopback: conn.and_then(|c| c.accept_loopback).unwrap_or(true),
        icmp_essentials: raw.icmp.as_ref().and_then(|i| i.essentials).unwrap_or(true),
        keep_containers: raw
            .forward
            .as_ref()
            .and_then(|f| f.keep_containers)
            .unwrap_or(true),
        log,
        sets,
    })
}

fn read_log(r: &Reader<'_>, l: &RawLog) -> Result<LogPolicy, ConfigError> {
    let prefix = match &l.prefix {
        Some(p) if p.get_ref().len() > 127 => {
            return Err(r.error(
                p.span(),
                "log.prefix",
                "at most 127 characters (the kernel's limit)".into(),
            ))
        }
        Some(p) => p.get_ref().clone(),
        None => "palisade drop: ".into(),
    };
    let rate = match &l.rate {
        Some(t) => parse_rate(t.get_ref(), l.burst.unwrap_or(5))
            .map_err(|m| r.error(t.span(), "log.rate", m))?,
        None => parse_rate("5/minute", l.burst.unwrap_or(5))
            .map_err(|m| r.error(0..0, "log.burst", m))?,
    };
    Ok(LogPolicy { prefix, rate })
}

fn read_set(r: &Reader<'_>, name: &str, s: &Spanned<RawSet>) -> Result<SetDecl, ConfigError> {
    let key = format!("sets.{name}");
    if !is_valid_name(name) {
        return Err(r.error(s.span(), &key, format!("a set name is {NAME_RULE}")));
    }
    let raw = s.get_ref();
    let action = match &raw.action {
        None => SetAction::Drop,
        Some(a) => match a.get_ref().as_str() {
            "drop" => SetAction::Drop,
            "reject" => SetAction::Reject,
            "accept" => SetAction::Accept,
            "none" => SetAction::None,
            other => {
                return Err(r.error(
                    a.span(),
                    &format!("{key}.action"),
                    format!("`{other}`: expected drop, reject, accept or none"),
                ))
            }
        },
    };
    let elements = raw
        .elements
        .iter()
        .map(|e| {
            parse_addr_range(e.get_ref(), false)
                .map_err(|p| r.error(e.span(), &format!("{key}.elements"), p.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout_secs = match &raw.timeout {
        Some(t) => Some(
            parse_duration(t.get_ref())
                .map_err(|p| r.error(t.span(), &format!("{key}.timeout"), p.to_string()))?
                .as_secs(),
        ),
        None => None,
    };
    Ok(SetDecl {
        name: name.to_string(),
        dynamic: false,
        action,
        timeout_secs,
        files: raw.files.clone(),
        elements,
    })
}

fn read_direction(
    r: &Reader<'_>,
    d: Direction,
    raw: Option<&RawDirection>,
    default: ChainPolicy,
    declared: &[&str],
) -> Result<DirectionPolicy, ConfigError> {
    let Some(raw) = raw else {
        return Ok(DirectionPolicy {
            policy: default,
            allow: Vec::new(),
        });
    };
    let policy = match &raw.policy {
        None => default,
        Some(p) => match p.get_ref().as_str() {
            "drop" => ChainPolicy::Drop,
            "accept" => ChainPolicy::Accept,
            other => {
                return Err(r.error(
                    p.span(),
                    &format!("{}.policy", d.name()),
                    format!("`{other}`: expected drop or accept"),
                ))
            }
        },
    };
    if raw.keep_containers.is_some() && d != Direction::Forward {
        return Err(r.error(
            0..0,
            &format!("{}.keep_containers", d.name()),
            "only [forward] has keep_containers".into(),
        ));
    }
    let allow = raw
        .allow
        .iter()
        .enumerate()
        .map(|(i, v)| read_allow(r, d, i, v, declared))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DirectionPolicy { policy, allow })
}

fn read_allow(
    r: &Reader<'_>,
    d: Direction,
    index: usize,
    v: &Spanned<Value>,
    declared: &[&str],
) -> Result<Allow, ConfigError> {
    let key = format!("{}.allow[{index}]", d.name());
    let err = |m: String| r.error(v.span(), &key, m);
    let line = r.text.line(v.span().start);
    match v.get_ref() {
        Value::String(s) => Ok(Allow::anywhere(
            short_form(r.services, s).map_err(err)?,
            format!("{key} \"{s}\" (line {line})"),
        )),
        Value::Integer(p) => {
            let port = u16::try_from(*p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| err(format!("{p} is not a port (1-65535)")))?;
            Ok(Allow::anywhere(
                Opens::Ports(vec![(PortProto::Tcp, PortRange::single(port))]),
                format!("{key} {port} (line {line})"),
            ))
        }
        Value::Table(t) => {
            let known = |k: &str| ALLOW_KEYS.contains(&k) || FLOOD_KEYS.contains(&k);
            if let Some(k) = t.keys().find(|k| !known(k)) {
                return Err(err(format!(
                    "unknown key `{k}`; an allow entry may have {}, {}",
                    ALLOW_KEYS.join(", "),
                    FLOOD_KEYS.join(", ")
                )));
            }
            let opens = table_opens(r.services, t).map_err(err)?;
            let nets = |k: &str| -> Result<Vec<Net>, ConfigError> {
                strings(t, k)
                    .map_err(err)?
                    .iter()
                    .map(|s| {
                        parse_addr_range(s, false)
                            .map(Net)
                            .map_err(|p| err(format!("{k}: {p}")))
                    })
                    .collect()
            };
            let set = |k: &str| -> Result<Option<String>, ConfigError> {
                match t.get(k) {
                    None => Ok(None),
                    Some(Value::String(s)) if declared.contains(&s.as_str()) => Ok(Some(s.clone())),
                    Some(Value::String(s)) => {
                        Err(err(format!("{k}: no set `{s}` is declared under [sets]")))
                    }
                    Some(_) => Err(err(format!("{k}: expected a set name"))),
                }
            };
            let iface = |k: &str| -> Result<Option<String>, ConfigError> {
                match t.get(k) {
                    None => Ok(None),
                    Some(Value::String(s)) if valid_interface(s) => Ok(Some(s.clone())),
                    Some(_) => Err(err(format!(
                        "{k}: an interface name is 1-15 characters without spaces or `/`, optionally ending in `*`"
                    ))),
                }
            };
            let out_interface = iface("out_interface")?;
            if out_interface.is_some() && d != Direction::Forward {
                return Err(err("out_interface is for [forward] entries".into()));
            }
            let label = match (t.get("service"), t.get("port")) {
                (Some(s), _) => value_text(s),
                (None, Some(p)) => format!("port {}", value_text(p)),
                (None, None) => "?".into(),
            };
            let allow = Allow {
                opens,
                from: nets("from")?,
                from_set: set("from_set")?,
                to: nets("to")?,
                to_set: set("to_set")?,
                interface: iface("interface")?,
                out_interface,
                limit: read_flood(t).map_err(err)?,
                origin: format!("{key} {label} (line {line})"),
            };
            if let Some(FloodLimit {
                over: OverAction::Ban { set, .. },
                ..
            }) = &allow.limit
            {
                if !is_valid_name(set) {
                    return Err(err(format!(
                        "ban_set: `{set}` is not a set name ({NAME_RULE})"
                    )));
                }
            }
            if !allow.from.is_empty() && allow.from_set.is_some() {
                return Err(err("give either from or from_set, not both".into()));
            }
            if !allow.to.is_empty() && allow.to_set.is_some() {
                return Err(err("give either to or to_set, not both".into()));
            }
            Ok(allow)
        }
        other => Err(err(format!(
            "expected a service name, a port or a table, not {}",
            other.type_str()
        ))),
    }
}

fn valid_interface(s: &str) -> bool {
    let name = s.strip_suffix('*').unwrap_or(s);
    !name.is_empty()
        && s.len() <= 15
        && !name.contains('*')
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != '"')
}

/// `"ssh"`, `"ping"`, `"22"`, `"22/tcp"`, `"8000-8100/udp"`.
fn short_form(services: &Services, s: &str) -> Result<Opens, String> {
    if s == "ping" {
        return Ok(Opens::Ping);
    }
    let (port, proto) =
        match s.split_once('/') {
            Some((p, proto)) => (
                p,
                Some(PortProto::parse(proto).ok_or_else(|| {
                    format!("`{proto}` in \"{s}\": the protocol must be tcp or udp")
                })?),
            ),
            None => (s, None),
        };
    if port.starts_with(|c: char| c.is_ascii_digit()) {
        let range = PortRange::parse(port)?;
        return Ok(Opens::Ports(vec![(proto.unwrap_or(PortProto::Tcp), range)]));
    }
    let ports = services.lookup(port).ok_or_else(|| unknown_service(port))?;
    Ok(Opens::Ports(match proto {
        Some(p) => ports.into_iter().filter(|(q, _)| *q == p).collect(),
        None => ports,
    }))
}

fn unknown_service(name: &str) -> String {
    format!(
        "unknown service \"{name}\": use a port (\"8080/tcp\"), a name from /etc/services, or one of {}",
        Services::built_in_names().collect::<Vec<_>>().join(", ")
    )
}

fn strings(t: &toml::Table, key: &str) -> Result<Vec<String>, String> {
    match t.get(key) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "{key}: expected strings, found {}",
                    other.type_str()
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "{key}: expected a string or a list of strings, found {}",
            other.type_str()
        )),
    }
}

/// `service = "ssh"` or `["http", "https"]`; `port = 22`, `"8000-8100"` or a list;
/// `proto = "tcp"`, `"udp"` or both (ports only; default tcp).
fn table_opens(services: &Services, t: &toml::Table) -> Result<Opens, String> {
    let protos: Vec<PortProto> = match t.get("proto") {
        None => vec![PortProto::Tcp],
        Some(_) => strings(t, "proto")?
            .iter()
            .map(|p| PortProto::parse(p).ok_or_else(|| format!("proto: `{p}` is not tcp or udp")))
            .collect::<Result<_, _>>()?,
    };
    match (t.get("service"), t.get("port")) {
        (Some(_), Some(_)) => Err("give either service or port, not both".into()),
        (None, None) => Err("an allow entry needs a service or a port".into()),
        (Some(_), None) => {
            if t.contains_key("proto") {
                return Err("proto goes with port; a service brings its own protocols".into());
            }
            let names = strings(t, "service")?;
            if names.iter().any(|n| n == "ping") {
                if names.len() > 1 {
                    return Err("give ping in an entry of its own".into());
                }
                return Ok(Opens::Ping);
            }
            let mut ports = Vec::new();
            for n in names {
                ports.extend(services.lookup(&n).ok_or_else(|| unknown_service(&n))?);
            }
            Ok(Opens::Ports(ports))
        }
        (None, Some(p)) => {
            let ranges: Vec<PortRange> = match p {
                Value::Integer(_) | Value::String(_) => vec![port_value(p)?],
                Value::Array(a) => a.iter().map(port_value).collect::<Result<_, _>>()?,
                other => {
                    return Err(format!(
                        "port: expected a port, range or list, not {}",
                        other.type_str()
                    ))
                }
            };
            Ok(Opens::Ports(
                protos
                    .iter()
                    .flat_map(|proto| ranges.iter().map(move |r| (*proto, *r)))
                    .collect(),
            ))
        }
    }
}

fn port_value(v: &Value) -> Result<PortRange, String> {
    match v {
        Value::Integer(p) => u16::try_from(*p)
            .ok()
            .filter(|p| *p > 0)
            .map(PortRange::single)
            .ok_or_else(|| format!("port: {p} is not a port (1-65535)")),
        Value::String(s) => PortRange::parse(s).map_err(|e| format!("port: {e}")),
        other => Err(format!(
            "port: expected a number or \"first-last\", not {}",
            other.type_str()
        )),
    }
}

/// A short rendering of a TOML value for rule origins: `"ssh"`, `["http", "https"]`, `22`.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Integer(i) => i.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(value_text).collect::<Vec<_>>().join(", ")
        ),
        other => other.type_str().to_string(),
    }
}
