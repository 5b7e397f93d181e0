//! Where palisade's sets are matched: the block chains, and the admin's session pinned ahead
//! of them.
//!
//! A set that drops its sources is matched at prerouting, at the raw priority: before
//! conntrack (a flood from listed sources costs no tracking work) and before DNAT, so one
//! lookup per part covers traffic to the host, forwarded traffic, routed networks behind the
//! host and ports published to containers (Docker, libvirt) alike. The kernel cannot reject
//! at prerouting, so sets that reject their sources are matched on input and forward. Sets on
//! destinations are matched on output (the host's own connections, at raw priority) and on
//! forward (connections through the host, after DNAT, where the destination is the real one).
//!
//! | chain | hook, priority | matches |
//! |---|---|---|
//! | `block_pre` | prerouting, raw (-300) | drop sets on sources |
//! | `block_input` | input, filter - 10 | reject sets on sources |
//! | `block_forward` | forward, filter - 10 | reject sets on sources; every set on destinations |
//! | `block_output` | output, raw (-300) | every set on destinations |
//!
//! Loopback always passes (the first rule of each chain), IPv6 neighbour discovery too, and
//! so does the admin's SSH session (the regular chain `pins`, jumped to first). Each block rule looks its own set up
//! first and only then checks that the address is in no allowlist (`!= @allow…`): a packet
//! that is in no block set pays one lookup per part, as before, and an allowlisted address is
//! never dropped, whatever a list, a ban or a peer put in a block set.

use super::block_rules::{
    block_rule, loopback_accepts, neighbour_discovery_accepts, pin_rule, verdicts, BlockKey,
};
use super::def::{BlockAction, SetDef};
use super::kernel_addr::KernelAddr;
use super::layout::{kernel_name, Part, FAMILY, PARTS, TABLE};
use palisade_core::policy::Session;
use palisade_nft::consts::*;
use palisade_nft::{Batch, Expr, Hook, RuleInfo, Verdict};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub const BLOCK_PRE: &str = "block_pre";
pub const BLOCK_CHAIN: &str = "block_input";
pub const BLOCK_FORWARD: &str = "block_forward";
pub const BLOCK_OUTPUT: &str = "block_output";
/// The admin's SSH session, accepted ahead of every block.
pub const PINS: &str = "pins";

/// Comment of the pin rules; the client's address follows, so a reader of the kernel (the XDP
/// allowlist, which must pass what the pins pass) finds whose session is pinned.
pub const PIN_COMMENT: &str = "palisade: the admin's SSH session from ";

/// The client whose session a pin rule's comment names.
pub fn pinned_client(comment: &str) -> Option<IpAddr> {
    comment.strip_prefix(PIN_COMMENT)?.parse().ok()
}

/// Before conntrack (-200) and DNAT (-100).
pub const RAW_PRIORITY: i32 = -300;
/// Just before the usual filter priority (0), where reject is allowed.
pub const BLOCK_PRIORITY: i32 = -10;

/// Prefix of block rule comments; the set name follows.
pub const BLOCK_RULE_PREFIX: &str = "palisade block ";

/// The block chains: name, hook, priority.
pub const BLOCK_CHAINS: [(&str, u32, i32); 4] = [
    (BLOCK_PRE, NF_INET_PRE_ROUTING, RAW_PRIORITY),
    (BLOCK_CHAIN, NF_INET_LOCAL_IN, BLOCK_PRIORITY),
    (BLOCK_FORWARD, NF_INET_FORWARD, BLOCK_PRIORITY),
    (BLOCK_OUTPUT, NF_INET_LOCAL_OUT, RAW_PRIORITY),
];

pub use super::block_rules::Side;

/// Is `name` one of the block chains?
pub fn is_block_chain(name: &str) -> bool {
    BLOCK_CHAINS.iter().any(|(c, _, _)| *c == name)
}

/// Replace the block chains' rules for these sets (and make sure `pins` exists, without
/// touching the session it holds).
pub fn rebuild_block_chain(b: &mut Batch, sets: &[SetDef], carried: &Carried) {
    b.add_chain(FAMILY, TABLE, PINS, None);
    for (chain, hook, priority) in BLOCK_CHAINS {
        let hook = Hook {
            num: hook,
            priority,
            policy: NF_ACCEPT,
        };
        b.add_chain(FAMILY, TABLE, chain, Some(hook));
        b.flush_chain(FAMILY, TABLE, chain);
        let (lo, ssh) = match chain {
            BLOCK_OUTPUT => (NFT_META_OIF, true),
            BLOCK_PRE => (NFT_META_IIF, true),
            _ => (NFT_META_IIF, false),
        };
        b.add_rule(
            FAMILY,
            TABLE,
            chain,
            &loopback_accepts(lo),
            Some("palisade: loopback always passes"),
        );
        b.add_rule(
            FAMILY,
            TABLE,
            chain,
            &neighbour_discovery_accepts(),
            Some("palisade: IPv6 neighbour discovery always passes"),
        );
        if ssh {
            b.add_rule(
                FAMILY,
                TABLE,
                chain,
                &[Expr::Verdict(Verdict::Jump(PINS))],
                Some("palisade: the admin's session"),
            );
        }
    }
    let allow: Vec<&SetDef> = sets
        .iter()
        .filter(|d| d.block == Some(BlockAction::Allow))
        .collect();
    // Sources first, then destinations, each in set-name order: the order `explain` follows.
    for pass in [Side::Source, Side::Destination] {
        for def in sets {
            let Some(action) = def.block.filter(|a| *a != BlockAction::Allow) else {
                continue;
            };
            let comment = format!("{BLOCK_RULE_PREFIX}{}", def.name);
            for (chain, side) in placements(def, action)
                .into_iter()
                .filter(|(_, s)| *s == pass)
            {
                let v4 = def.parts::<u32>().into_iter().map(|p| {
                    (
                        NFPROTO_IPV4,
                        kernel_name::<u32>(&def.name, p),
                        p,
                        allow_names::<u32>(&allow, side),
                    )
                });
                let v6 = def.parts::<u128>().into_iter().map(|p| {
                    (
                        NFPROTO_IPV6,
                        kernel_name::<u128>(&def.name, p),
                        p,
                        allow_names::<u128>(&allow, side),
                    )
                });
                for (family, set, part, allow) in v4.chain(v6) {
                    let mask = match part {
                        Part::Prefix(len) => Some(len),
                        _ => None,
                    };
                    for verdict in verdicts(action) {
                        let mut rule = block_rule(
                            family,
                            BlockKey {
                                set: &set,
                                with_ports: def.with_ports,
                                prefix: mask,
                            },
                            side,
                            &allow,
                            verdict,
                        );
                        carry(&mut rule, chain, &set, carried);
                        b.add_rule(FAMILY, TABLE, chain, &rule, Some(&comment));
                    }
                }
            }
        }
    }
}

/// Counters of the block rules as the kernel holds them, by (chain, set looked up, the
/// rule's expressions): rebuilding the chains (a set created or destroyed, a load that changes
/// the hash parts) puts each rule back with its count, so `status` and the metrics do not see
/// every set's counters fall to zero when another set comes or goes.
pub type Carried = BTreeMap<(String, String, Vec<String>), (u64, u64)>;

/// [`Carried`] from a dump of palisade's rules.
pub fn carried(rules: &[RuleInfo]) -> Carried {
    rules
        .iter()
        .filter(|r| is_block_chain(&r.chain))
        .filter(|r| {
            r.comment
                .as_deref()
                .is_some_and(|c| c.starts_with(BLOCK_RULE_PREFIX))
        })
        .filter_map(|r| {
            let set = r.lookups.first()?.clone();
            Some(((r.chain.clone(), set, r.exprs.clone()), r.counter?))
        })
        .collect()
}

/// Start `rule`'s counter where the same rule's was.
fn carry(rule: &mut [Expr], chain: &str, set: &str, carried: &Carried) {
    let names: Vec<String> = rule.iter().map(|e| e.name().to_string()).collect();
    if let Some((packets, bytes)) = carried.get(&(chain.to_string(), set.to_string(), names)) {
        for e in rule.iter_mut().filter(|e| matches!(e, Expr::Counter)) {
            *e = Expr::CounterFrom {
                packets: *packets,
                bytes: *bytes,
            };
        }
    }
}

/// The chains (and the end of the packet) where a set with `action` is matched.
fn placements(def: &SetDef, action: BlockAction) -> Vec<(&'static str, Side)> {
    let mut out = Vec::new();
    if def.direction.sources() {
        match action {
            BlockAction::Reject => {
                out.push((BLOCK_CHAIN, Side::Source));
                out.push((BLOCK_FORWARD, Side::Source));
            }
            _ => out.push((BLOCK_PRE, Side::Source)),
        }
    }
    if def.direction.destinations() {
        out.push((BLOCK_FORWARD, Side::Destination));
        out.push((BLOCK_OUTPUT, Side::Destination));
    }
    out
}

/// The kernel sets of every allowlist part of family `T` that guard `side`.
fn allow_names<T: KernelAddr>(allow: &[&SetDef], side: Side) -> Vec<String> {
    allow
        .iter()
        .filter(|d| match side {
            Side::Source => d.direction.sources(),
            Side::Destination => d.direction.destinations(),
        })
        .flat_map(|d| PARTS.map(|p| kernel_name::<T>(&d.name, p)))
        .collect()
}

/// Put into `b` the pins of `session`: its packets both ways are accepted ahead of every block
/// (the policy pins it too, in its own chains, ahead of every rule).
pub fn stage_pins(b: &mut Batch, session: &Session) {
    b.add_chain(FAMILY, TABLE, PINS, None);
    b.flush_chain(FAMILY, TABLE, PINS);
    let to_server = (
        session.client,
        session.client_port,
        session.server,
        session.server_port,
    );
    let to_client = (
        session.server,
        session.server_port,
        session.client,
        session.client_port,
    );
    for (src, sport, dst, dport) in [to_server, to_client] {
        let Some(rule) = pin_rule(src, sport, dst, dport) else {
            continue;
        };
        let comment = format!("{PIN_COMMENT}{}", session.client);
        b.add_rule(FAMILY, TABLE, PINS, &rule, Some(&comment));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::policy::SetDirection;

    #[test]
    fn sets_are_matched_where_the_kernel_allows_their_verdict() {
        let def = |block, direction| SetDef {
            block: Some(block),
            direction,
            ..SetDef::new("s")
        };
        assert_eq!(
            placements(&def(BlockAction::Drop, SetDirection::In), BlockAction::Drop),
            vec![(BLOCK_PRE, Side::Source)]
        );
        assert_eq!(
            placements(
                &def(BlockAction::Reject, SetDirection::In),
                BlockAction::Reject
            ),
            vec![(BLOCK_CHAIN, Side::Source), (BLOCK_FORWARD, Side::Source)]
        );
        assert_eq!(
            placements(
                &def(BlockAction::Drop, SetDirection::Both),
                BlockAction::Drop
            ),
            vec![
                (BLOCK_PRE, Side::Source),
                (BLOCK_FORWARD, Side::Destination),
                (BLOCK_OUTPUT, Side::Destination)
            ]
        );
    }
}
