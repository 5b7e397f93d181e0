//! Warnings before an apply: the policy is valid, but would it lock the admin out?
//!
//! Each check asks [`explain`] about the packet that matters (a new SSH connection from the
//! admin's address, say), so the warnings follow the same logic as the kernel.

use std::net::{IpAddr, Ipv4Addr};

use super::compile::Session;
use super::config::Policy;
use super::explain::{explain, BlockKind, BlockSet, DecidedBy, Membership, Packet, Verdict};
use super::ruleset::{Action, ChainPolicy, CtStates, Direction, End, Match, Ruleset, L4};

/// What `check` knows about the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// TCP ports sshd listens on.
    pub ssh_ports: Vec<u16>,
    /// The SSH connection `check` runs in, if any.
    pub session: Option<Session>,
    /// Tables of other programs that forward traffic (`ip nat (Docker)`, ...).
    pub container_tables: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Note,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    pub severity: Severity,
    pub message: String,
}

fn warn(message: String) -> Lint {
    Lint {
        severity: Severity::Warning,
        message,
    }
}

fn note(message: String) -> Lint {
    Lint {
        severity: Severity::Note,
        message,
    }
}

/// A new TCP connection from `src` to `port`.
fn tcp_syn(src: IpAddr, dst: IpAddr, port: u16) -> Packet {
    Packet {
        direction: Direction::Input,
        l4: Some(L4::Tcp),
        src,
        dst,
        sport: Some(40000),
        dport: Some(port),
        icmp_type: None,
        ct_state: CtStates::NEW,
        iif: Some("eth0".into()),
        oif: None,
    }
}

/// Addresses spread over each family: a set holding all of them holds (nearly) everything.
const SPREAD: [&str; 10] = [
    "1.0.0.1",
    "64.0.0.1",
    "128.0.0.1",
    "192.0.0.1",
    "223.255.255.1",
    "2000::1",
    "2400::1",
    "2a00::1",
    "3fff::1",
    "2c0f::1",
];

/// Block sets that would cut the admin, loopback, or everything (the allowlist and the
/// session pin protect the running session and loopback, but not new logins).
fn block_lints(facts: &HostFacts, blocks: &[BlockSet], sets: &dyn Membership) -> Vec<Lint> {
    let mut out = Vec::new();
    let allowed = |a: IpAddr| {
        blocks
            .iter()
            .any(|b| b.kind == BlockKind::Allow && sets.contains(&b.name, a, None))
    };
    for b in blocks.iter().filter(|b| b.kind != BlockKind::Allow) {
        if let Some(s) = facts.session {
            if sets.contains(&b.name, s.client, None) && !allowed(s.client) {
                out.push(warn(format!(
                    "set {} holds {}, where your SSH session comes from: this session stays up (it is pinned), but a new login from there would be dropped; put the address in [allowlist]",
                    b.name, s.client
                )));
            }
        }
        let lo4: IpAddr = Ipv4Addr::LOCALHOST.into();
        let lo6: IpAddr = std::net::Ipv6Addr::LOCALHOST.into();
        if sets.contains(&b.name, lo4, None) || sets.contains(&b.name, lo6, None) {
            out.push(warn(format!(
                "set {} holds a loopback address (127.0.0.0/8 or ::1): loopback traffic always passes, but the list is likely wrong",
                b.name
            )));
        }
        let everything = SPREAD
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .filter(|a| a.is_ipv4())
            .all(|a| sets.contains(&b.name, a, None))
            || SPREAD
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .filter(|a| a.is_ipv6())
                .all(|a| sets.contains(&b.name, a, None));
        if everything {
            out.push(warn(format!(
                "set {} covers (nearly) every address of a family (0.0.0.0/0 or ::/0?): it blocks the whole internet except the allowlist",
                b.name
            )));
        }
    }
    out
}

/// Flood rules that ban on exceed, on a port sshd listens on.
fn ban_lints(ruleset: &Ruleset, facts: &HostFacts) -> Vec<Lint> {
    let mut out = Vec::new();
    for chain in &ruleset.chains {
        for rule in &chain.rules {
            let Action::Ban { set, .. } = &rule.action else {
                continue;
            };
            let on_ssh = facts.ssh_ports.iter().any(|p| {
                rule.matches
                    .iter()
                    .any(|m| matches!(m, Match::Port(End::Destination, r) if r.contains(*p)))
            });
            if on_ssh {
                out.push(warn(format!(
                    "rule `{rule}` bans sources over its limit on the SSH port into set {set}: your own address could be banned by a burst of logins; put it in [allowlist]"
                )));
            }
        }
    }
    out
}

pub fn lint(
    policy: &Policy,
    ruleset: &Ruleset,
    facts: &HostFacts,
    blocks: &[BlockSet],
    sets: &dyn Membership,
) -> Vec<Lint> {
    let mut out = block_lints(facts, blocks, sets);
    out.extend(ban_lints(ruleset, facts));
    // Where an SSH client would come from: the admin's address, or any address.
    let somewhere = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    let (client, server) = match facts.session {
        Some(s) => (s.client, s.server),
        None => (somewhere, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
    };
    for port in &facts.ssh_ports {
        let from_admin = explain(ruleset, &[], &tcp_syn(client, server, *port), sets);
        if from_admin.verdict == Verdict::Accept {
            continue;
        }
        let from_elsewhere = explain(ruleset, &[], &tcp_syn(somewhere, server, *port), sets);
        let reason = match &from_admin.by {
            DecidedBy::Rule { text, origin, .. } => format!("rule `{text}` from {origin}"),
            _ => format!("the {} policy", from_admin.chain.name()),
        };
        out.push(warn(match facts.session {
            Some(s) if from_elsewhere.verdict == Verdict::Accept => format!(
                "SSH (port {port}) is allowed, but not from {} where your session comes from ({reason}): a new login from here would be refused",
                s.client
            ),
            _ => format!(
                "sshd listens on port {port}, but new connections to it would be refused ({reason}): lockout risk. Allow it, e.g. input.allow = [\"ssh\"] (or \"{port}/tcp\")"
            ),
        }));
    }
    if !policy.accept_established {
        out.push(warn(
            "connections.accept_established = false: replies to this host's own connections and ongoing sessions are decided rule by rule; most policies need it".into(),
        ));
    }
    if !policy.icmp_essentials {
        out.push(warn(
            "icmp.essentials = false: without neighbour discovery IPv6 stops working, and without ICMP errors path MTU discovery breaks".into(),
        ));
    }
    let output = &policy.output;
    if output.policy == ChainPolicy::Drop {
        let dns = explain(
            ruleset,
            &[],
            &Packet {
                direction: Direction::Output,
                l4: Some(L4::Udp),
                src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)),
                sport: Some(40000),
                dport: Some(53),
                icmp_type: None,
                ct_state: CtStates::NEW,
                iif: None,
                oif: Some("eth0".into()),
            },
            sets,
        );
        if dns.verdict != Verdict::Accept {
            out.push(note(
                "output drops DNS queries: name resolution will fail unless the resolver is local (add \"dns\" to output.allow)".into(),
            ));
        }
    }
    if !facts.container_tables.is_empty() {
        let tables = facts.container_tables.join(", ");
        if policy.forward.policy == ChainPolicy::Drop && !policy.keep_containers {
            out.push(warn(format!(
                "found {tables}: forward drops and keep_containers = false, so containers and VMs lose their network"
            )));
        } else if policy.forward.policy == ChainPolicy::Drop {
            out.push(note(format!(
                "found {tables}: forwarding through their bridges (docker0, br-*, virbr*) stays accepted (forward.keep_containers)"
            )));
        }
    }
    out
}
