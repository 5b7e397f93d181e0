//! The compiled policy: palisade's chains and rules as plain data.
//!
//! This is what the compiler produces, what `explain` evaluates, what `save` writes and what
//! the kernel layer lowers into nftables expressions. Each [`Match`] is one condition the
//! kernel can test directly, so the evaluator and the kernel read the same program.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::services::{PortProto, PortRange};
use crate::addr::{parse_addr_range, AddrRange, Family};

/// The hook a chain is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Input,
    Forward,
    Output,
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::Input, Direction::Forward, Direction::Output];

    pub fn name(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Forward => "forward",
            Direction::Output => "output",
        }
    }
}

/// A chain's default: what happens to packets no rule decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainPolicy {
    Accept,
    Drop,
}

/// A protocol as `meta l4proto` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
}

impl L4 {
    pub fn number(self) -> u8 {
        match self {
            L4::Tcp => 6,
            L4::Udp => 17,
            L4::Icmp => 1,
            L4::Icmpv6 => 58,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Icmp => "icmp",
            L4::Icmpv6 => "icmpv6",
        }
    }
}

impl From<PortProto> for L4 {
    fn from(p: PortProto) -> Self {
        match p {
            PortProto::Tcp => L4::Tcp,
            PortProto::Udp => L4::Udp,
        }
    }
}

/// Connection-tracking states, as the bits of `ct state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CtStates(pub u32);

impl CtStates {
    pub const INVALID: u32 = 1;
    pub const ESTABLISHED: u32 = 2;
    pub const RELATED: u32 = 4;
    pub const NEW: u32 = 8;
    pub const UNTRACKED: u32 = 64;
    const NAMES: [(u32, &'static str); 5] = [
        (Self::INVALID, "invalid"),
        (Self::ESTABLISHED, "established"),
        (Self::RELATED, "related"),
        (Self::NEW, "new"),
        (Self::UNTRACKED, "untracked"),
    ];

    pub fn parse_one(s: &str) -> Option<u32> {
        Self::NAMES.iter().find(|(_, n)| *n == s).map(|(b, _)| *b)
    }

    pub fn name_of(bit: u32) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(b, _)| *b == bit)
            .map_or("?", |(_, n)| n)
    }
}

/// An address range that serializes as text (`10.0.0.0/8`, `2001:db8::1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Net(pub AddrRange);

impl Serialize for Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_addr_range(&s, false)
            .map(Net)
            .map_err(serde::de::Error::custom)
    }
}

/// Which end of the packet an address or port condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    Source,
    Destination,
}

/// One condition the kernel tests in a rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// `meta nfproto ipv4|ipv6`.
    Family(FamilyTag),
    /// `meta l4proto ...`.
    L4(L4),
    /// `th dport 22` / `th sport 1024-65535` (after an `L4` match for TCP or UDP).
    Port(End, PortRange),
    /// `icmp type N` / `icmpv6 type N` (after the matching `L4`).
    IcmpType(FamilyTag, u8),
    /// `ip saddr 10.0.0.0/8` (after the matching `Family`).
    Addr(End, Net),
    /// The address is in a palisade set (all of its parts, of this family).
    InSet(End, FamilyTag, String),
    /// `iifname "eth0"`; a trailing `*` matches a prefix.
    InInterface(String),
    /// `oifname "eth0"`.
    OutInterface(String),
    /// `ct state` is one of these.
    Ct(CtStates),
    /// Over a token-bucket rate: one bucket, or one per source in `meter`.
    RateOver { rate: Rate, meter: Option<Meter> },
    /// Over a number of concurrent connections: in all, or per source in `meter`.
    ConnectionsOver { max: u32, meter: Option<Meter> },
}

/// A set the kernel fills from the packet path, one element per source (network): what nft
/// calls a meter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Meter {
    pub name: String,
    pub family: FamilyTag,
    /// Sources in one network of this length share an element.
    pub prefix: u8,
}

/// A meter's set, for the kernel layer to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterDecl {
    pub name: String,
    pub family: FamilyTag,
    /// Idle elements expire after this (rate meters: once their bucket would be full again).
    pub timeout_secs: Option<u64>,
}

/// An address family as data (serializable [`Family`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FamilyTag {
    Ipv4,
    Ipv6,
}

impl From<Family> for FamilyTag {
    fn from(f: Family) -> Self {
        match f {
            Family::V4 => FamilyTag::Ipv4,
            Family::V6 => FamilyTag::Ipv6,
        }
    }
}

/// A token-bucket rate: `count` per `per_secs` seconds, `burst` at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rate {
    pub count: u64,
    pub per_secs: u64,
    pub burst: u32,
}

/// What a rule does when it matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Accept,
    Drop,
    /// ICMP(v6) port unreachable, so clients fail at once instead of timing out.
    Reject,
    /// Log (within `rate`) and go on: not a decision.
    Log {
        prefix: String,
        rate: Rate,
    },
    /// Count and go on: the last rule of each chain counts what the chain policy decides.
    Count,
    /// Put the source into palisade set `set` for `timeout_secs`, then drop.
    Ban {
        set: String,
        family: FamilyTag,
        timeout_secs: u64,
    },
}

impl Action {
    /// Does this action end the packet's walk through the chain?
    pub fn decides(&self) -> bool {
        matches!(
            self,
            Action::Accept | Action::Drop | Action::Reject | Action::Ban { .. }
        )
    }
}

/// One rule: all matches must hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub action: Action,
    /// Where the rule comes from, for `explain` and `status`: `input.allow[0] "ssh" (line 7)`.
    pub origin: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub direction: Direction,
    pub policy: ChainPolicy,
    pub rules: Vec<Rule>,
}

impl Chain {
    /// The kernel chain's name in palisade's table.
    pub fn kernel_name(&self) -> String {
        format!("filter_{}", self.direction.name())
    }
}

/// What a set declared in the config does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetAction {
    Drop,
    Reject,
    /// Sources in the set are accepted on input (trusted hosts).
    Accept,
    /// Only referenced by rules (`from_set`).
    None,
    /// The allowlist: never dropped by any block set, ban or fleet ban; matched first.
    Allow,
}

/// Which addresses of a packet a block set matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetDirection {
    /// Sources: traffic from the listed addresses, to the host and through it.
    #[default]
    In,
    /// Destinations: the host's own connections and forwarded ones to the listed addresses.
    Out,
    /// Both.
    Both,
}

impl SetDirection {
    pub fn name(self) -> &'static str {
        match self {
            SetDirection::In => "in",
            SetDirection::Out => "out",
            SetDirection::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "in" => Some(SetDirection::In),
            "out" => Some(SetDirection::Out),
            "both" => Some(SetDirection::Both),
            _ => None,
        }
    }

    /// The set matches packets' sources.
    pub fn sources(self) -> bool {
        self != SetDirection::Out
    }

    /// The set matches packets' destinations.
    pub fn destinations(self) -> bool {
        self != SetDirection::In
    }
}

/// Where a set's contents are fetched from and how often (a blocklist feed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedDecl {
    pub urls: Vec<String>,
    /// Seconds between refreshes.
    pub every_secs: u64,
    /// A download that would shrink the set by more than this share (percent) is refused.
    pub max_shrink_percent: u8,
}

/// A set built from a geolocation database: countries (ISO 3166 codes) and AS numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoDecl {
    pub countries: Vec<String>,
    pub asns: Vec<u32>,
}

/// A set declared in the config, with where its contents come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetDecl {
    pub name: String,
    /// The kernel adds to it from the packet path (bans on exceed).
    #[serde(default)]
    pub dynamic: bool,
    pub action: SetAction,
    pub timeout_secs: Option<u64>,
    pub files: Vec<String>,
    /// Inline elements, parsed when the config was read.
    pub elements: Vec<crate::AddrRange>,
    #[serde(default)]
    pub direction: SetDirection,
    /// Contents fetched from URLs by the feed updater.
    #[serde(default)]
    pub feed: Option<FeedDecl>,
    /// Contents from the geolocation database.
    #[serde(default)]
    pub geo: Option<GeoDecl>,
}

/// The compiled policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    pub chains: Vec<Chain>,
    pub sets: Vec<SetDecl>,
    #[serde(default)]
    pub meters: Vec<MeterDecl>,
}

impl Ruleset {
    pub fn chain(&self, d: Direction) -> Option<&Chain> {
        self.chains.iter().find(|c| c.direction == d)
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |e: &End, v4: bool| match (e, v4) {
            (End::Source, true) => "ip saddr",
            (End::Destination, true) => "ip daddr",
            (End::Source, false) => "ip6 saddr",
            (End::Destination, false) => "ip6 daddr",
        };
        match self {
            Match::Family(FamilyTag::Ipv4) => write!(f, "meta nfproto ipv4"),
            Match::Family(FamilyTag::Ipv6) => write!(f, "meta nfproto ipv6"),
            Match::L4(p) => write!(f, "meta l4proto {}", p.name()),
            Match::Port(End::Source, r) => write!(f, "th sport {r}"),
            Match::Port(End::Destination, r) => write!(f, "th dport {r}"),
            Match::IcmpType(fam, t) => match fam {
                FamilyTag::Ipv4 => write!(f, "icmp type {}", icmp_type_name(*t)),
                FamilyTag::Ipv6 => write!(f, "icmpv6 type {}", icmpv6_type_name(*t)),
            },
            Match::Addr(e, n) => {
                write!(f, "{} {}", end(e, n.0.family() == Family::V4), n.0)
            }
            Match::InSet(e, fam, s) => write!(f, "{} @{s}", end(e, *fam == FamilyTag::Ipv4)),
            Match::InInterface(i) => write!(f, "iifname \"{i}\""),
            Match::OutInterface(i) => write!(f, "oifname \"{i}\""),
            Match::Ct(s) => {
                let names: Vec<&str> = CtStates::NAMES
                    .iter()
                    .filter(|(b, _)| s.0 & b != 0)
                    .map(|(_, n)| *n)
                    .collect();
                write!(f, "ct state {}", names.join(","))
            }
            Match::RateOver { rate, meter } => {
                let limit = format!(
                    "limit rate over {}/{} burst {} packets",
                    rate.count,
                    unit_name(rate.per_secs),
                    rate.burst
                );
                match meter {
                    None => f.write_str(&limit),
                    Some(m) => write!(f, "update @{} {{ {} {limit} }}", m.name, meter_key(m)),
                }
            }
            Match::ConnectionsOver { max, meter } => match meter {
                None => write!(f, "ct count over {max}"),
                Some(m) => write!(
                    f,
                    "add @{} {{ {} ct count over {max} }}",
                    m.name,
                    meter_key(m)
                ),
            },
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Accept => f.write_str("accept"),
            Action::Drop => f.write_str("drop"),
            Action::Reject => f.write_str("reject"),
            Action::Count => f.write_str("counter"),
            Action::Ban {
                set,
                family,
                timeout_secs,
            } => {
                let (addr, fam) = match family {
                    FamilyTag::Ipv4 => ("ip saddr", "v4"),
                    FamilyTag::Ipv6 => ("ip6 saddr", "v6"),
                };
                write!(
                    f,
                    "add @{set}_{fam}_addrs {{ {addr} timeout {timeout_secs}s }} drop"
                )
            }
            Action::Log { prefix, rate } => write!(
                f,
                "limit rate {}/{} burst {} log prefix \"{prefix}\"",
                rate.count,
                unit_name(rate.per_secs),
                rate.burst
            ),
        }
    }
}

impl fmt::Display for Rule {
    /// nft-like text: `meta l4proto tcp th dport 22 accept`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.matches {
            write!(f, "{m} ")?;
        }
        write!(f, "{}", self.action)
    }
}

/// `ip saddr` or `ip saddr and 255.255.255.0`-style text of a meter's key.
fn meter_key(m: &Meter) -> String {
    match (m.family, m.prefix) {
        (FamilyTag::Ipv4, 32) => "ip saddr".into(),
        (FamilyTag::Ipv6, 128) => "ip6 saddr".into(),
        (FamilyTag::Ipv4, p) => format!("ip saddr and /{p}"),
        (FamilyTag::Ipv6, p) => format!("ip6 saddr and /{p}"),
    }
}

fn unit_name(secs: u64) -> String {
    match secs {
        1 => "second".into(),
        60 => "minute".into(),
        3600 => "hour".into(),
        86400 => "day".into(),
        s => format!("{s}s"),
    }
}

/// Names of the ICMP types palisade writes, as nft spells them.
pub fn icmp_type_name(t: u8) -> String {
    match t {
        0 => "echo-reply".into(),
        3 => "destination-unreachable".into(),
        8 => "echo-request".into(),
        11 => "time-exceeded".into(),
        12 => "parameter-problem".into(),
        n => n.to_string(),
    }
}

/// Names of the ICMPv6 types palisade writes, as nft spells them.
pub fn icmpv6_type_name(t: u8) -> String {
    match t {
        1 => "destination-unreachable".into(),
        2 => "packet-too-big".into(),
        3 => "time-exceeded".into(),
        4 => "parameter-problem".into(),
        128 => "echo-request".into(),
        129 => "echo-reply".into(),
        130 => "mld-listener-query".into(),
        131 => "mld-listener-report".into(),
        132 => "mld-listener-done".into(),
        133 => "nd-router-solicit".into(),
        134 => "nd-router-advert".into(),
        135 => "nd-neighbor-solicit".into(),
        136 => "nd-neighbor-advert".into(),
        143 => "mld2-listener-report".into(),
        n => n.to_string(),
    }
}

impl fmt::Display for Ruleset {
    /// Readable listing, one rule per line with its number and origin: what `plan`,
    /// `status` and the golden tests show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for set in &self.sets {
            let action = match set.action {
                SetAction::Drop => "drop",
                SetAction::Reject => "reject",
                SetAction::Accept => "accept",
                SetAction::None => "none",
                SetAction::Allow => "allow",
            };
            write!(f, "set {} (action {action}", set.name)?;
            if set.direction != SetDirection::In {
                write!(f, ", direction {}", set.direction.name())?;
            }
            if set.dynamic {
                write!(f, ", filled by the kernel")?;
            }
            if let Some(t) = set.timeout_secs {
                write!(f, ", timeout {t}s")?;
            }
            writeln!(
                f,
                ", {} files, {} inline elements)",
                set.files.len(),
                set.elements.len()
            )?;
        }
        for m in &self.meters {
            let timeout = m.timeout_secs.map_or(String::new(), |t| {
                format!(", idle entries expire after {t}s")
            });
            writeln!(f, "meter {} (one element per source{timeout})", m.name)?;
        }
        for chain in &self.chains {
            let policy = match chain.policy {
                ChainPolicy::Accept => "accept",
                ChainPolicy::Drop => "drop",
            };
            writeln!(
                f,
                "chain {} (hook {}, policy {policy})",
                chain.kernel_name(),
                chain.direction.name()
            )?;
            for (i, r) in chain.rules.iter().enumerate() {
                writeln!(f, "  {i:>3}  {r}    # {}", r.origin)?;
            }
        }
        Ok(())
    }
}
