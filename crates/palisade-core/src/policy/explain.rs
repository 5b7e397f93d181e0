//! Which rule decides a packet, and why: an evaluator of the compiled [`Ruleset`].
//!
//! It reads the same matches the kernel runs, in the same order, including the block chain
//! that runs before the policy on input. Set membership is asked of the caller (the kernel
//! knows what a set holds), so the evaluator itself stays pure.

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

/// A set matched by the block chain, which runs before the policy on input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSet {
    pub name: String,
    pub reject: bool,
    pub with_ports: bool,
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
    if packet.direction == Direction::Input {
        let port = match (packet.l4, packet.dport) {
            (Some(l4), Some(p)) => Some((l4.number(), p)),
            _ => None,
        };
        for b in blocks {
            if b.with_ports && port.is_none() {
                continue;
            }
            if sets.contains(&b.name, packet.src, if b.with_ports { port } else { None }) {
                return Decision {
                    verdict: if b.reject {
                        Verdict::Reject
                    } else {
                        Verdict::Drop
                    },
                    chain: Direction::Input,
                    by: DecidedBy::BlockSet {
                        set: b.name.clone(),
                    },
                    also: Vec::new(),
                };
            }
        }
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
