//! From a validated [`Policy`] to the [`Ruleset`] palisade puts in the kernel.
//!
//! The order of rules in each chain is fixed and explained here once:
//! 1. loopback, and the SSH session running `apply`, accepted first: nothing below may cut
//!    the admin off;
//! 2. established and related traffic accepted (the bulk of packets, decided in one test);
//! 3. ICMP essentials (errors, path MTU, IPv6 neighbour discovery) *before* the invalid
//!    drop: conntrack does not track neighbour discovery, so `ct state` calls it invalid;
//! 4. invalid dropped;
//! 5. trusted sets, container bridges, then the allowed services in file order;
//! 6. the log rule, then a counter for what the chain policy decides.

use std::net::IpAddr;

use super::config::{Allow, Opens, Policy};
use super::flood::{FloodLimit, OverAction};
use super::ruleset::{
    Action, Chain, ChainPolicy, CtStates, Direction, End, FamilyTag, Match, Meter, MeterDecl, Net,
    Rule, Ruleset, SetAction, SetDecl, L4,
};
use super::services::PortRange;
use crate::addr::AddrRange;

/// The SSH connection of the admin running `apply` (from `SSH_CONNECTION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub server_port: u16,
}

impl Session {
    /// Parse `SSH_CONNECTION`: `client_ip client_port server_ip server_port`.
    pub fn from_ssh_connection(s: &str) -> Option<Self> {
        let mut w = s.split_whitespace();
        let session = Self {
            client: w.next()?.parse().ok()?,
            client_port: w.next()?.parse().ok()?,
            server: w.next()?.parse().ok()?,
            server_port: w.next()?.parse().ok()?,
        };
        w.next().is_none().then_some(session)
    }
}

/// Facts about the host the compiled policy depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    pub session: Option<Session>,
    /// Interface patterns of container and VM bridges (Docker, libvirt) whose forwarding is
    /// kept under a drop policy.
    pub container_bridges: Vec<String>,
}

/// Where container managers put their bridges.
pub const DOCKER_BRIDGES: &[&str] = &["docker0", "br-*"];
pub const LIBVIRT_BRIDGES: &[&str] = &["virbr*"];

const ICMP_ERRORS: &[u8] = &[3, 11, 12];
const ICMPV6_ERRORS: &[u8] = &[1, 2, 3, 4];
/// Router and neighbour solicitation and advertisement, and multicast listener discovery.
const ICMPV6_LINK: &[u8] = &[133, 134, 135, 136, 130, 131, 132, 143];
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMPV6_ECHO_REQUEST: u8 = 128;

pub fn compile(policy: &Policy, ctx: &Context) -> Ruleset {
    let mut meters = Vec::new();
    let chains = Direction::ALL
        .iter()
        .map(|d| compile_chain(policy, ctx, *d, &mut meters))
        .collect();
    Ruleset {
        chains,
        sets: with_ban_sets(policy),
        meters,
    }
}

/// The declared sets, plus the ban sets flood limits name: declared ones become dynamic (the
/// kernel adds to them), missing ones are created as drop sets.
fn with_ban_sets(policy: &Policy) -> Vec<SetDecl> {
    let mut sets = policy.sets.clone();
    let bans = Direction::ALL
        .iter()
        .flat_map(|d| &policy.direction(*d).allow)
        .filter_map(|a| match &a.limit {
            Some(FloodLimit {
                over: OverAction::Ban { set, timeout_secs },
                ..
            }) => Some((set, *timeout_secs)),
            _ => None,
        });
    for (name, timeout) in bans {
        match sets.iter_mut().find(|s| &s.name == name) {
            Some(s) => s.dynamic = true,
            None => sets.push(SetDecl {
                name: name.clone(),
                dynamic: true,
                action: SetAction::Drop,
                timeout_secs: Some(timeout),
                files: Vec::new(),
                elements: Vec::new(),
                direction: Default::default(),
                feed: None,
                geo: None,
            }),
        }
    }
    sets
}

fn rule(matches: Vec<Match>, action: Action, origin: impl Into<String>) -> Rule {
    Rule {
        matches,
        action,
        origin: origin.into(),
    }
}

fn compile_chain(
    policy: &Policy,
    ctx: &Context,
    d: Direction,
    meters: &mut Vec<MeterDecl>,
) -> Chain {
    let dp = policy.direction(d);
    let mut rules = Vec::new();

    if policy.accept_loopback {
        match d {
            Direction::Input => rules.push(rule(
                vec![Match::InInterface("lo".into())],
                Action::Accept,
                "connections.accept_loopback",
            )),
            Direction::Output => rules.push(rule(
                vec![Match::OutInterface("lo".into())],
                Action::Accept,
                "connections.accept_loopback",
            )),
            Direction::Forward => {}
        }
    }
    if let Some(s) = ctx.session {
        rules.extend(session_rule(&s, d));
    }
    // The classic pair limits what comes in; the host's own replies are not throttled.
    if let (Some(rate), true, Direction::Input) =
        (policy.established_limit, policy.accept_established, d)
    {
        rules.push(rule(
            vec![
                Match::Ct(CtStates(CtStates::ESTABLISHED | CtStates::RELATED)),
                Match::RateOver { rate, meter: None },
            ],
            Action::Drop,
            "connections.established_limit",
        ));
    }
    if policy.accept_established {
        rules.push(rule(
            vec![Match::Ct(CtStates(
                CtStates::ESTABLISHED | CtStates::RELATED,
            ))],
            Action::Accept,
            "connections.accept_established",
        ));
    }
    if policy.icmp_essentials {
        let link = if d == Direction::Forward {
            &[][..]
        } else {
            ICMPV6_LINK
        };
        for t in ICMP_ERRORS {
            rules.push(icmp_rule(FamilyTag::Ipv4, *t, "icmp.essentials"));
        }
        for t in ICMPV6_ERRORS.iter().chain(link) {
            rules.push(icmp_rule(FamilyTag::Ipv6, *t, "icmp.essentials"));
        }
    }
    if policy.drop_invalid {
        rules.push(rule(
            vec![Match::Ct(CtStates(CtStates::INVALID))],
            Action::Drop,
            "connections.drop_invalid",
        ));
    }
    if d == Direction::Input {
        for set in policy.sets.iter().filter(|s| s.action == SetAction::Accept) {
            for fam in [FamilyTag::Ipv4, FamilyTag::Ipv6] {
                rules.push(rule(
                    vec![
                        Match::Family(fam),
                        Match::InSet(End::Source, fam, set.name.clone()),
                    ],
                    Action::Accept,
                    format!("sets.{} action = \"accept\"", set.name),
                ));
            }
        }
    }
    if d == Direction::Forward && policy.keep_containers && dp.policy == ChainPolicy::Drop {
        for bridge in &ctx.container_bridges {
            for m in [
                Match::InInterface(bridge.clone()),
                Match::OutInterface(bridge.clone()),
            ] {
                rules.push(rule(
                    vec![m],
                    Action::Accept,
                    format!("forward.keep_containers (bridge {bridge})"),
                ));
            }
        }
    }
    for allow in &dp.allow {
        rules.extend(allow_rules(allow, d, meters));
    }
    if let (Some(log), ChainPolicy::Drop) = (&policy.log, dp.policy) {
        rules.push(rule(
            Vec::new(),
            Action::Log {
                prefix: log.prefix.clone(),
                rate: log.rate,
            },
            "log",
        ));
    }
    rules.push(rule(
        Vec::new(),
        Action::Count,
        format!("{}.policy", d.name()),
    ));
    Chain {
        direction: d,
        policy: dp.policy,
        rules,
    }
}

fn family_of(a: IpAddr) -> FamilyTag {
    match a {
        IpAddr::V4(_) => FamilyTag::Ipv4,
        IpAddr::V6(_) => FamilyTag::Ipv6,
    }
}

/// Accept the admin's own SSH connection, in both directions, whatever the policy says.
fn session_rule(s: &Session, d: Direction) -> Option<Rule> {
    let (remote_end, local_end) = match d {
        Direction::Input => (End::Source, End::Destination),
        Direction::Output => (End::Destination, End::Source),
        Direction::Forward => return None,
    };
    Some(rule(
        vec![
            Match::Family(family_of(s.client)),
            Match::L4(L4::Tcp),
            Match::Addr(remote_end, Net(AddrRange::from(s.client))),
            Match::Port(remote_end, PortRange::single(s.client_port)),
            Match::Port(local_end, PortRange::single(s.server_port)),
        ],
        Action::Accept,
        format!(
            "the SSH session running apply ({} port {})",
            s.client, s.client_port
        ),
    ))
}

fn icmp_rule(fam: FamilyTag, t: u8, origin: &str) -> Rule {
    let l4 = match fam {
        FamilyTag::Ipv4 => L4::Icmp,
        FamilyTag::Ipv6 => L4::Icmpv6,
    };
    rule(
        vec![Match::L4(l4), Match::IcmpType(fam, t)],
        Action::Accept,
        origin,
    )
}

/// The peer conditions of an allow entry, one list of matches per kernel rule.
fn peer_variants(allow: &Allow) -> Vec<Vec<Match>> {
    let mut variants: Vec<(Option<FamilyTag>, Vec<Match>)> = vec![(None, Vec::new())];
    let mut constrain = |nets: &[Net], set: &Option<String>, end: End| {
        let options: Vec<(FamilyTag, Match)> = if let Some(s) = set {
            [FamilyTag::Ipv4, FamilyTag::Ipv6]
                .into_iter()
                .map(|f| (f, Match::InSet(end, f, s.clone())))
                .collect()
        } else {
            nets.iter()
                .map(|n| (FamilyTag::from(n.0.family()), Match::Addr(end, *n)))
                .collect()
        };
        if options.is_empty() {
            return;
        }
        let mut next = Vec::new();
        for (fam, ms) in &variants {
            for (f, m) in &options {
                if fam.is_some_and(|x| x != *f) {
                    continue;
                }
                let mut ms = ms.clone();
                ms.push(m.clone());
                next.push((Some(*f), ms));
            }
        }
        variants = next;
    };
    constrain(&allow.from, &allow.from_set, End::Source);
    constrain(&allow.to, &allow.to_set, End::Destination);
    variants
        .into_iter()
        .map(|(fam, mut ms)| {
            if let Some(f) = fam {
                ms.insert(0, Match::Family(f));
            }
            ms
        })
        .collect()
}

/// A meter's set, declared once; its name cannot clash with a palisade set's kernel sets,
/// whose names never contain a dot.
fn meter(
    meters: &mut Vec<MeterDecl>,
    family: FamilyTag,
    prefix: u8,
    timeout_secs: Option<u64>,
) -> Meter {
    let name = format!(
        "meter.{}.{}",
        meters.len(),
        if family == FamilyTag::Ipv4 {
            "v4"
        } else {
            "v6"
        }
    );
    meters.push(MeterDecl {
        name: name.clone(),
        family,
        timeout_secs,
    });
    Meter {
        name,
        family,
        prefix,
    }
}

/// The rules of one service with flood protection: over a limit, the over action; within,
/// accept. Per-source limits and bans key on the source address, so they are per family.
fn limited_rules(
    matches: Vec<Match>,
    limit: &FloodLimit,
    origin: &str,
    meters: &mut Vec<MeterDecl>,
) -> Vec<Rule> {
    let family = matches.iter().find_map(|m| match m {
        Match::Family(f) => Some(*f),
        _ => None,
    });
    let keyed = limit.per_source.is_some() || matches!(limit.over, OverAction::Ban { .. });
    let families: Vec<Option<FamilyTag>> = match (family, keyed) {
        (None, true) => vec![Some(FamilyTag::Ipv4), Some(FamilyTag::Ipv6)],
        (f, _) => vec![f],
    };
    let mut out = Vec::new();
    for fam in families {
        let mut base = matches.clone();
        if family.is_none() {
            if let Some(f) = fam {
                base.insert(0, Match::Family(f));
            }
        }
        if !limit.packets {
            base.push(Match::Ct(CtStates(CtStates::NEW)));
        }
        let over = match &limit.over {
            OverAction::Drop => Action::Drop,
            OverAction::Reject => Action::Reject,
            OverAction::Ban { set, timeout_secs } => Action::Ban {
                set: set.clone(),
                family: fam.expect("bans are per family"),
                timeout_secs: *timeout_secs,
            },
        };
        let prefix = |f: FamilyTag| match (f, limit.per_source) {
            (FamilyTag::Ipv4, Some(p)) => p.v4,
            (FamilyTag::Ipv6, Some(p)) => p.v6,
            _ => unreachable!("only keyed limits have meters"),
        };
        if let Some(max) = limit.max_connections {
            let m = limit.per_source.map(|_| {
                meter(
                    meters,
                    fam.expect("keyed"),
                    prefix(fam.expect("keyed")),
                    None,
                )
            });
            let mut ms = base.clone();
            ms.push(Match::ConnectionsOver { max, meter: m });
            out.push(rule(
                ms,
                over.clone(),
                format!("{origin}: connections over {max}"),
            ));
        }
        if let Some(rate) = limit.rate {
            let m = limit.per_source.map(|_| {
                let f = fam.expect("keyed");
                meter(meters, f, prefix(f), Some(rate.refill_secs().max(60)))
            });
            let mut ms = base.clone();
            ms.push(Match::RateOver { rate, meter: m });
            out.push(rule(ms, over.clone(), format!("{origin}: over the rate")));
        }
    }
    out.push(rule(matches, Action::Accept, origin.to_string()));
    out
}

fn allow_rules(allow: &Allow, d: Direction, meters: &mut Vec<MeterDecl>) -> Vec<Rule> {
    let mut interfaces = Vec::new();
    if let Some(i) = &allow.interface {
        interfaces.push(match d {
            Direction::Output => Match::OutInterface(i.clone()),
            _ => Match::InInterface(i.clone()),
        });
    }
    if let Some(o) = &allow.out_interface {
        interfaces.push(Match::OutInterface(o.clone()));
    }
    let mut out = Vec::new();
    for peers in peer_variants(allow) {
        let family = peers.iter().find_map(|m| match m {
            Match::Family(f) => Some(*f),
            _ => None,
        });
        let services: Vec<Vec<Match>> = match &allow.opens {
            Opens::Ping => [
                (FamilyTag::Ipv4, L4::Icmp, ICMP_ECHO_REQUEST),
                (FamilyTag::Ipv6, L4::Icmpv6, ICMPV6_ECHO_REQUEST),
            ]
            .into_iter()
            .filter(|(f, _, _)| family.is_none_or(|x| x == *f))
            .map(|(f, l4, t)| vec![Match::L4(l4), Match::IcmpType(f, t)])
            .collect(),
            Opens::Ports(ports) => ports
                .iter()
                .map(|(proto, range)| {
                    vec![
                        Match::L4((*proto).into()),
                        Match::Port(End::Destination, *range),
                    ]
                })
                .collect(),
        };
        for service in services {
            let mut matches = peers.clone();
            matches.extend(interfaces.iter().cloned());
            matches.extend(service);
            match &allow.limit {
                Some(limit) => out.extend(limited_rules(matches, limit, &allow.origin, meters)),
                None => out.push(rule(matches, Action::Accept, allow.origin.clone())),
            }
        }
    }
    out
}

/// The policy that goes up when the saved state cannot be restored at boot: nothing comes in
/// but established traffic, loopback, ICMP essentials and SSH; the host never boots open.
pub fn safe_policy(ssh_ports: &[u16]) -> Policy {
    use super::services::PortProto;
    let ports = if ssh_ports.is_empty() {
        &[22][..]
    } else {
        ssh_ports
    };
    let ssh = Allow::anywhere(
        Opens::Ports(
            ports
                .iter()
                .map(|p| (PortProto::Tcp, PortRange::single(*p)))
                .collect(),
        ),
        "safe policy: SSH".into(),
    );
    let mut policy = closed_policy();
    policy.input.allow = vec![ssh];
    policy.output.policy = ChainPolicy::Accept;
    policy.accept_established = true;
    policy.drop_invalid = true;
    policy.icmp_essentials = true;
    policy.keep_containers = true;
    policy
}

/// `palisade panic`: every packet dropped in every direction, established connections and
/// ICMP included, except loopback and the admin's own SSH session (both ways, matched by its
/// addresses and ports, so it does not depend on conntrack). Sets are not part of it: they
/// stay as they are, and come back exactly with `panic off`.
pub fn panic_ruleset(session: Option<Session>) -> Ruleset {
    let ctx = Context {
        session,
        container_bridges: Vec::new(),
    };
    compile(&closed_policy(), &ctx)
}

/// Drop in every direction, loopback accepted, nothing else: what the safe and the panic
/// policies start from.
fn closed_policy() -> Policy {
    use super::config::DirectionPolicy;
    let drop = || DirectionPolicy {
        policy: ChainPolicy::Drop,
        allow: Vec::new(),
    };
    Policy {
        input: drop(),
        forward: drop(),
        output: drop(),
        accept_established: false,
        established_limit: None,
        drop_invalid: false,
        accept_loopback: true,
        icmp_essentials: false,
        keep_containers: false,
        log: None,
        sets: Vec::new(),
        metrics_listen: None,
        geo: Default::default(),
        xdp: Default::default(),
    }
}
