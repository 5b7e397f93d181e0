//! Which rule decides a packet, and why: an evaluator of the compiled [`Ruleset`].
//!
//! It reads the same matches the kernel runs, in the same order: first the block chains
//! (drop sets on sources at prerouting, before conntrack and DNAT; reject sets on input and
//! forward; sets on destinations on forward and output), where loopback and the allowlist
//! always win, then the policy chain of the packet's direction. Set membership is asked of
//! the caller (the kernel knows what a set holds), so the evaluator itself stays pure.

use std::net::IpAddr;

use serde::Serialize;

use super::ruleset::{Action, ChainPolicy, Direction, End, FamilyTag, Match, Rule, Ruleset, L4};

/// A packet to explain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub direction: Direction,
    /// `None` for a protocol palisade has no name for.
    pub l4: Option<L4>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub icmp_type: Option<u8>,
    /// One [`super::ruleset::CtStates`] bit.
    pub ct_state: u32,
    pub iif: Option<String>,
    pub oif: Option<String>,
}

impl Packet {
    pub fn family(&self) -> FamilyTag {
        match self.src {
            IpAddr::V4(_) => FamilyTag::Ipv4,
            IpAddr::V6(_) => FamilyTag::Ipv6,
        }
    }
}

/// What a set holds, asked of whoever knows (the kernel, or a test's model).
pub trait Membership {
    /// Is `addr` in palisade set `set`? For an address+port set, `port` is the packet's
    /// protocol and destination port.
    fn contains(&self, set: &str, addr: IpAddr, port: Option<(u8, u16)>) -> bool;
}

/// What a set in the block chains does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    Drop,
    Reject,
    /// The allowlist: no block drops what it holds.
    Allow,
}

/// A set matched by the block chains, which run before the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSet {
    pub name: String,
    pub kind: BlockKind,
    pub with_ports: bool,
    pub direction: super::ruleset::SetDirection,
}

/// Which end of a packet a block looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Source,
    Destination,
}

/// The block sets that can decide a packet of `direction`, in the kernel's order: drop sets
/// on sources at prerouting (input and forward), then reject sets on sources (input,
/// forward), then sets on destinations (forward, output).
fn block_order(blocks: &[BlockSet], direction: Direction) -> Vec<(&BlockSet, Side)> {
    let mut out = Vec::new();
    let drop_src = blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Drop && b.direction.sources());
    let reject_src = blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Reject && b.direction.sources());
    let dst = blocks
        .iter()
        .filter(|b| b.kind != BlockKind::Allow && b.direction.destinations());
    if direction != Direction::Output {
        out.extend(drop_src.map(|b| (b, Side::Source)));
        out.extend(reject_src.map(|b| (b, Side::Source)));
    }
    if direction != Direction::Input {
        out.extend(dst.map(|b| (b, Side::Destination)));
    }
    out
}

/// The block set that decides `packet`, if any.
fn blocked_by<'a>(
    blocks: &'a [BlockSet],
    packet: &Packet,
    sets: &dyn Membership,
) -> Option<&'a BlockSet> {
    let loopback = packet.iif.as_deref() == Some("lo") || packet.oif.as_deref() == Some("lo");
    let neighbour_discovery =
        packet.l4 == Some(L4::Icmpv6) && packet.icmp_type.is_some_and(|t| (133..=137).contains(&t));
    if loopback || neighbour_discovery {
        return None;
    }
    let port = match (packet.l4, packet.dport) {
        (Some(l4), Some(p)) => Some((l4.number(), p)),
        _ => None,
    };
    let allowed = |addr: IpAddr, side: Side| {
        blocks.iter().any(|b| {
            b.kind == BlockKind::Allow
                && match side {
                    Side::Source => b.direction.sources(),
                    Side::Destination => b.direction.destinations(),
                }
                && sets.contains(&b.name, addr, None)
        })
    };
    for (b, side) in block_order(blocks, packet.direction) {
        if b.with_ports && port.is_none() {
            continue;
        }
        let addr = match side {
            Side::Source => packet.src,
            Side::Destination => packet.dst,
        };
        if sets.contains(&b.name, addr, if b.with_ports { port } else { None })
            && !allowed(addr, side)
        {
            return Some(b);
        }
    }
    None
}

/// The verdict on a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
}

/// What decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum DecidedBy {
    /// A blocking set, before the policy.
    BlockSet { set: String },
    /// Rule number `index` (from 0) of the chain.
    Rule {
        index: usize,
        text: String,
        origin: String,
    },
    /// No rule matched: the chain's policy.
    Policy,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub chain: Direction,
    #[serde(flatten)]
    pub by: DecidedBy,
    /// Rules that matched without deciding (logging).
    pub also: Vec<String>,
}

pub fn explain(
    ruleset: &Ruleset,
    blocks: &[BlockSet],
    packet: &Packet,
    sets: &dyn Membership,
) -> Decision {
    if let Some(b) = blocked_by(blocks, packet, sets) {
        return Decision {
            verdict: if b.kind == BlockKind::Reject {
                Verdict::Reject
            } else {
                Verdict::Drop
            },
            chain: packet.direction,
            by: DecidedBy::BlockSet {
                set: b.name.clone(),
            },
            also: Vec::new(),
        };
    }
    let Some(chain) = ruleset.chain(packet.direction) else {
        return Decision {
            verdict: Verdict::Accept,
            chain: packet.direction,
            by: DecidedBy::Policy,
            also: Vec::new(),
        };
    };
    let mut also = Vec::new();
    for (index, rule) in chain.rules.iter().enumerate() {
        if !rule_matches(rule, packet, sets) {
            if is_limit(rule) && matches_but_limits(rule, packet, sets) {
                also.push(format!(
                    "limited: a source over the limit meets rule {index}: {rule}"
                ));
            }
            continue;
        }
        let verdict = match rule.action {
            Action::Accept => Verdict::Accept,
            Action::Drop => Verdict::Drop,
            Action::Reject => Verdict::Reject,
            Action::Ban { .. } => Verdict::Drop,
            Action::Log { .. } => {
                also.push(format!("logged (rate-limited) by: {rule}"));
                continue;
            }
            Action::Count => continue,
        };
        return Decision {
            verdict,
            chain: chain.direction,
            by: DecidedBy::Rule {
                index,
                text: rule.to_string(),
                origin: rule.origin.clone(),
            },
            also,
        };
    }
    Decision {
        verdict: match chain.policy {
            ChainPolicy::Accept => Verdict::Accept,
            ChainPolicy::Drop => Verdict::Drop,
        },
        chain: chain.direction,
        by: DecidedBy::Policy,
        also,
    }
}

fn interface_matches(pattern: &str, name: Option<&str>) -> bool {
    // The kernel compares an empty name where the hook has no such interface.
    let name = name.unwrap_or("");
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

fn addr_of(packet: &Packet, end: End) -> IpAddr {
    match end {
        End::Source => packet.src,
        End::Destination => packet.dst,
    }
}

fn is_limit(rule: &Rule) -> bool {
    rule.matches
        .iter()
        .any(|m| matches!(m, Match::RateOver { .. } | Match::ConnectionsOver { .. }))
}

/// Would `rule` match if the source were over its limits?
fn matches_but_limits(rule: &Rule, packet: &Packet, sets: &dyn Membership) -> bool {
    rule.matches.iter().all(|m| {
        matches!(m, Match::RateOver { .. } | Match::ConnectionsOver { .. })
            || match_holds(m, packet, sets)
    })
}

/// Does every match of `rule` hold for `packet`? Limits are taken as not exceeded: whether
/// they are depends on traffic the evaluator does not see.
pub fn rule_matches(rule: &Rule, packet: &Packet, sets: &dyn Membership) -> bool {
    rule.matches.iter().all(|m| match_holds(m, packet, sets))
}

fn match_holds(m: &Match, packet: &Packet, sets: &dyn Membership) -> bool {
    match m {
        Match::Family(f) => packet.family() == *f,
        Match::L4(l4) => packet.l4 == Some(*l4),
        Match::Port(end, range) => {
            let port = match end {
                End::Source => packet.sport,
                End::Destination => packet.dport,
            };
            port.is_some_and(|p| range.contains(p))
        }
        Match::IcmpType(_, t) => packet.icmp_type == Some(*t),
        Match::Addr(end, net) => {
            let a = addr_of(packet, *end);
            match (net.0, a) {
                (crate::AddrRange::V4(r), IpAddr::V4(a)) => r.contains(u32::from(a)),
                (crate::AddrRange::V6(r), IpAddr::V6(a)) => r.contains(u128::from(a)),
                _ => false,
            }
        }
        Match::InSet(end, fam, set) => {
            packet.family() == *fam && sets.contains(set, addr_of(packet, *end), None)
        }
        Match::InInterface(p) => interface_matches(p, packet.iif.as_deref()),
        Match::OutInterface(p) => interface_matches(p, packet.oif.as_deref()),
        Match::Ct(states) => states.0 & packet.ct_state != 0,
        Match::RateOver { .. } | Match::ConnectionsOver { .. } => false,
    }
}
