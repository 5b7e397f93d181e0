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
use super::ruleset::{
    ChainPolicy, Direction, FeedDecl, GeoDecl, Net, Rate, SetAction, SetDecl, SetDirection,
};
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
    /// `[metrics] listen`: where the daemons serve Prometheus metrics.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `[geo]`: the MMDB files country and AS sets are built from.
    pub geo: GeoFiles,
    /// `[xdp]`: interfaces where listed sources are dropped in the driver.
    pub xdp: XdpSettings,
}

/// `[geo]` in the config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GeoFiles {
    pub database: Option<String>,
    pub asn_database: Option<String>,
}

/// `[xdp]` in the config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XdpSettings {
    pub interfaces: Vec<String>,
    /// `native`, `generic` or `auto` (the default: native where the driver can).
    pub mode: XdpMode,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XdpMode {
    #[default]
    Auto,
    Native,
    Generic,
}

/// The built-in set the `[allowlist]` table fills.
pub const ALLOWLIST: &str = "allowlist";

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
    /// The allowlist: addresses no block set or ban ever drops.
    allowlist: Option<Spanned<RawAllowlist>>,
    metrics: Option<RawMetrics>,
    geo: Option<RawGeo>,
    xdp: Option<RawXdp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    #[serde(default)]
    networks: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeo {
    database: Option<Spanned<String>>,
    asn_database: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawXdp {
    #[serde(default)]
    interfaces: Vec<Spanned<String>>,
    mode: Option<Spanned<String>>,
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
    direction: Option<Spanned<String>>,
    #[serde(default)]
    urls: Vec<Spanned<String>>,
    every: Option<Spanned<String>>,
    max_shrink: Option<Spanned<i64>>,
    #[serde(default)]
    countries: Vec<Spanned<String>>,
    #[serde(default)]
    asns: Vec<Spanned<i64>>,
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

    let mut sets = raw
        .sets
        .iter()
        .map(|(name, s)| read_set(&r, name, s))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(a) = &raw.allowlist {
        sets.push(read_allowlist(&r, a, &sets)?);
    }
    // Rules reference lists (`from_set`, `to_set`); sets that block are matched by the block
    // chains, and their kernel layout (hash parts per prefix length) is not one a rule reads.
    let declared: Vec<&str> = sets
        .iter()
        .filter(|s| matches!(s.action, SetAction::None | SetAction::Accept))
        .map(|s| s.name.as_str())
        .collect();

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
        metrics_listen: match raw.metrics.as_ref().and_then(|m| m.listen.as_ref()) {
            Some(l) => Some(l.get_ref().parse().map_err(|_| {
                r.error(
                    l.span(),
                    "metrics.listen",
                    format!(
                        "`{}`: expected ADDRESS:PORT, like \"127.0.0.1:9469\"",
                        l.get_ref()
                    ),
                )
            })?),
            None => None,
        },
        geo: GeoFiles {
            database: raw
                .geo
                .as_ref()
                .and_then(|g| g.database.as_ref())
                .map(|d| d.get_ref().clone()),
            asn_database: raw
                .geo
                .as_ref()
                .and_then(|g| g.asn_database.as_ref())
                .map(|d| d.get_ref().clone()),
        },
        xdp: read_xdp(&r, raw.xdp.as_ref())?,
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
            "allow" => SetAction::Allow,
            other => {
                return Err(r.error(
                    a.span(),
                    &format!("{key}.action"),
                    format!("`{other}`: expected drop, reject, allow, accept or none"),
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
    let direction = match &raw.direction {
        None => SetDirection::In,
        Some(d) => SetDirection::parse(d.get_ref()).ok_or_else(|| {
            r.error(
                d.span(),
                &format!("{key}.direction"),
                format!("`{}`: expected in, out or both", d.get_ref()),
            )
        })?,
    };
    Ok(SetDecl {
        name: name.to_string(),
        dynamic: false,
        action,
        timeout_secs,
        files: raw.files.clone(),
        elements,
        direction,
        feed: read_feed(r, &key, raw)?,
        geo: read_geo(r, &key, raw)?,
    })
}

/// `urls`, `every`, `max_shrink` of a set: a feed.
fn read_feed(r: &Reader<'_>, key: &str, raw: &RawSet) -> Result<Option<FeedDecl>, ConfigError> {
    if raw.urls.is_empty() {
        if let Some(e) = &raw.every {
            return Err(r.error(
                e.span(),
                &format!("{key}.every"),
                "`every` needs `urls`".into(),
            ));
        }
        return Ok(None);
    }
    for u in &raw.urls {
        let url = u.get_ref();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(r.error(
                u.span(),
                &format!("{key}.urls"),
                format!("`{url}`: a feed URL starts with https:// (or http://)"),
            ));
        }
    }
    let every_secs = match &raw.every {
        Some(e) => {
            let d = parse_duration(e.get_ref())
                .map_err(|p| r.error(e.span(), &format!("{key}.every"), p.to_string()))?;
            if d.as_secs() < 60 {
                return Err(r.error(
                    e.span(),
                    &format!("{key}.every"),
                    "at least 1m: list publishers ban hosts that fetch too often".into(),
                ));
            }
            d.as_secs()
        }
        None => 6 * 3600,
    };
    let max_shrink_percent = match &raw.max_shrink {
        Some(m) if !(0..=100).contains(m.get_ref()) => {
            return Err(r.error(
                m.span(),
                &format!("{key}.max_shrink"),
                "a percentage from 0 to 100".into(),
            ))
        }
        Some(m) => *m.get_ref() as u8,
        None => 50,
    };
    Ok(Some(FeedDecl {
        urls: raw.urls.iter().map(|u| u.get_ref().clone()).collect(),
        every_secs,
        max_shrink_percent,
    }))
}

/// `countries` and `asns` of a set: built from the geolocation database.
fn read_geo(r: &Reader<'_>, key: &str, raw: &RawSet) -> Result<Option<GeoDecl>, ConfigError> {
    if raw.countries.is_empty() && raw.asns.is_empty() {
        return Ok(None);
    }
    let mut geo = GeoDecl::default();
    for c in &raw.countries {
        let code = c.get_ref();
        if code.len() != 2 || !code.chars().all(|ch| ch.is_ascii_alphabetic()) {
            return Err(r.error(
                c.span(),
                &format!("{key}.countries"),
                format!("`{code}`: a country is a two-letter ISO 3166 code, like \"NL\""),
            ));
        }
        geo.countries.push(code.to_ascii_uppercase());
    }
    for a in &raw.asns {
        let n = u32::try_from(*a.get_ref()).map_err(|_| {
            r.error(
                a.span(),
                &format!("{key}.asns"),
                format!("{}: not an AS number", a.get_ref()),
            )
        })?;
        geo.asns.push(n);
    }
    Ok(Some(geo))
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
                        Err(err(format!("{k}: no set `{s}` with action \"none\" or \"accept\" is declared under [sets] (rules read lists; a set that drops or rejects is matched before every rule)")))
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

/// `[allowlist] networks = [...]`: the built-in set `allowlist`, matched before every block.
fn read_allowlist(
    r: &Reader<'_>,
    a: &Spanned<RawAllowlist>,
    sets: &[SetDecl],
) -> Result<SetDecl, ConfigError> {
    if sets.iter().any(|s| s.name == ALLOWLIST) {
        return Err(r.error(
            a.span(),
            "allowlist",
            format!(
                "[allowlist] fills the set `{ALLOWLIST}`; do not declare [sets.{ALLOWLIST}] too"
            ),
        ));
    }
    let elements = a
        .get_ref()
        .networks
        .iter()
        .map(|n| {
            parse_addr_range(n.get_ref(), false)
                .map_err(|p| r.error(n.span(), "allowlist.networks", p.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SetDecl {
        name: ALLOWLIST.into(),
        dynamic: false,
        action: SetAction::Allow,
        timeout_secs: None,
        files: Vec::new(),
        elements,
        direction: SetDirection::Both,
        feed: None,
        geo: None,
    })
}

fn read_xdp(r: &Reader<'_>, x: Option<&RawXdp>) -> Result<XdpSettings, ConfigError> {
    let Some(x) = x else {
        return Ok(XdpSettings::default());
    };
    let mode = match &x.mode {
        None => XdpMode::Auto,
        Some(m) => match m.get_ref().as_str() {
            "auto" => XdpMode::Auto,
            "native" => XdpMode::Native,
            "generic" => XdpMode::Generic,
            other => {
                return Err(r.error(
                    m.span(),
                    "xdp.mode",
                    format!("`{other}`: expected auto, native or generic"),
                ))
            }
        },
    };
    let mut interfaces = Vec::new();
    for i in &x.interfaces {
        let name = i.get_ref();
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '*']) {
            return Err(r.error(
                i.span(),
                "xdp.interfaces",
                format!("`{name}` is not an interface name"),
            ));
        }
        interfaces.push(name.clone());
    }
    Ok(XdpSettings { interfaces, mode })
}
