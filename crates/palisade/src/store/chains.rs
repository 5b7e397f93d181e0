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

use super::def::{BlockAction, SetDef};
use super::kernel_addr::KernelAddr;
use super::layout::{kernel_name, Part, FAMILY, PARTS, TABLE};
use palisade_core::policy::Session;
use palisade_nft::consts::*;
use palisade_nft::{Batch, Expr, Hook, Reject, Verdict};
use std::net::IpAddr;

pub const BLOCK_PRE: &str = "block_pre";
pub const BLOCK_CHAIN: &str = "block_input";
pub const BLOCK_FORWARD: &str = "block_forward";
pub const BLOCK_OUTPUT: &str = "block_output";
/// The admin's SSH session, accepted ahead of every block.
pub const PINS: &str = "pins";

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

/// Which end of the packet a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

/// Is `name` one of the block chains?
pub fn is_block_chain(name: &str) -> bool {
    BLOCK_CHAINS.iter().any(|(c, _, _)| *c == name)
}

/// Replace the block chains' rules for these sets (and make sure `pins` exists, without
/// touching the session it holds).
pub fn rebuild_block_chain(b: &mut Batch, sets: &[SetDef]) {
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
                        let rule = block_rule(
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
                        b.add_rule(FAMILY, TABLE, chain, &rule, Some(&comment));
                    }
                }
            }
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

/// `meta iif|oif == 1 accept`: loopback is interface 1 in every namespace.
fn loopback_accepts(key: u32) -> [Expr; 3] {
    [
        Expr::Meta {
            key,
            dreg: NFT_REG_1,
        },
        Expr::Cmp {
            sreg: NFT_REG_1,
            op: NFT_CMP_EQ,
            data: 1u32.to_ne_bytes().to_vec(),
        },
        Expr::Verdict(Verdict::Accept),
    ]
}

/// ICMPv6 types 133 to 137 (router and neighbour solicitations, advertisements, redirects):
/// link-local plumbing, not traffic. A blocked on-link neighbour that cannot resolve the
/// host's address never even sends the connection a reject set should refuse at once.
fn neighbour_discovery_accepts() -> Vec<Expr> {
    let mut rule: Vec<Expr> = Expr::nfproto_is(NFPROTO_IPV6).into();
    rule.extend(Expr::l4proto_is(libc::IPPROTO_ICMPV6 as u8));
    rule.push(Expr::Payload {
        base: NFT_PAYLOAD_TRANSPORT_HEADER,
        offset: 0,
        len: 1,
        dreg: NFT_REG_1,
    });
    rule.push(Expr::Range {
        sreg: NFT_REG_1,
        from: vec![133],
        to: vec![137],
    });
    rule.push(Expr::Verdict(Verdict::Accept));
    rule
}

/// The final expressions of a block rule, and whether the rule applies to TCP only.
fn verdicts(action: BlockAction) -> Vec<(bool, Expr)> {
    match action {
        BlockAction::Drop | BlockAction::Allow => vec![(false, Expr::Verdict(Verdict::Drop))],
        // TCP gets a reset (the client fails at once); everything else an ICMP error.
        BlockAction::Reject => vec![
            (true, Expr::Reject(Reject::TcpReset)),
            (false, Expr::Reject(Reject::IcmpxAdminProhibited)),
        ],
    }
}

/// Offset and length of the source or destination address in the network header.
fn address_field(family: u8, side: Side) -> (u32, u32) {
    match (family == NFPROTO_IPV4, side) {
        (true, Side::Source) => (12, 4),
        (true, Side::Destination) => (16, 4),
        (false, Side::Source) => (8, 16),
        (false, Side::Destination) => (24, 16),
    }
}

/// The kernel set a block rule looks up, and how its key is built.
pub struct BlockKey<'a> {
    pub set: &'a str,
    /// Address+port pairs: `addr . l4proto . dport`.
    pub with_ports: bool,
    /// A hash part of networks of this prefix length: the address is masked to it.
    pub prefix: Option<u8>,
}

/// `ip saddr @set ip saddr != @allow… counter drop` (or `ip saddr . meta l4proto . th dport
/// @set` for a port set; `ip saddr & MASK @set` for a hash part of networks; `daddr` for a
/// destination). Conditions on registers come first: the address load may span the same
/// registers. The set's own lookup comes before the allowlist ones, so a packet in no block
/// set pays one lookup; the allowlist is looked up with the unmasked address.
pub fn block_rule(
    family: u8,
    key: BlockKey<'_>,
    side: Side,
    allow: &[String],
    (tcp_only, verdict): (bool, Expr),
) -> Vec<Expr> {
    let BlockKey {
        set,
        with_ports,
        prefix,
    } = key;
    let (offset, len) = address_field(family, side);
    let mut rule: Vec<Expr> = Expr::nfproto_is(family).into();
    if tcp_only {
        rule.extend(Expr::l4proto_is(libc::IPPROTO_TCP as u8));
    }
    // A port set's key is a concatenation, built in consecutive 32-bit registers.
    let addr_reg = if with_ports { NFT_REG32_00 } else { NFT_REG_1 };
    rule.push(Expr::Payload {
        base: NFT_PAYLOAD_NETWORK_HEADER,
        offset,
        len,
        dreg: addr_reg,
    });
    if with_ports {
        let after_addr = NFT_REG32_00 + len / 4;
        rule.push(Expr::Meta {
            key: NFT_META_L4PROTO,
            dreg: after_addr,
        });
        rule.push(Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
            dreg: after_addr + 1,
        });
    }
    let lookup_reg = match prefix {
        Some(len) => {
            let mask = prefix_mask(len, offset_len(family));
            rule.push(Expr::Bitwise {
                sreg: addr_reg,
                dreg: NFT_REG_2,
                xor: vec![0; mask.len()],
                mask,
            });
            NFT_REG_2
        }
        None => addr_reg,
    };
    rule.push(Expr::Lookup {
        set: set.to_string(),
        sreg: lookup_reg,
    });
    for a in allow {
        rule.push(Expr::LookupNot {
            set: a.clone(),
            sreg: addr_reg,
        });
    }
    rule.push(Expr::Counter);
    rule.push(verdict);
    rule
}

/// Bytes of an address of `family`.
fn offset_len(family: u8) -> usize {
    if family == NFPROTO_IPV4 {
        4
    } else {
        16
    }
}

/// The netmask of a prefix length over `bytes` bytes, big-endian.
fn prefix_mask(len: u8, bytes: usize) -> Vec<u8> {
    (0..bytes)
        .map(|i| {
            let bits = (usize::from(len)).saturating_sub(i * 8).min(8);
            (0xffu16 << (8 - bits)) as u8
        })
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
        b.add_rule(
            FAMILY,
            TABLE,
            PINS,
            &rule,
            Some("palisade: the admin's SSH session"),
        );
    }
}

/// `ip saddr S ip daddr D tcp sport SP tcp dport DP accept`.
fn pin_rule(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Option<Vec<Expr>> {
    let (family, s, d) = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (NFPROTO_IPV4, s.octets().to_vec(), d.octets().to_vec()),
        (IpAddr::V6(s), IpAddr::V6(d)) => (NFPROTO_IPV6, s.octets().to_vec(), d.octets().to_vec()),
        _ => return None,
    };
    let mut rule: Vec<Expr> = Expr::nfproto_is(family).into();
    rule.extend(Expr::l4proto_is(libc::IPPROTO_TCP as u8));
    let fields = [
        (
            NFT_PAYLOAD_NETWORK_HEADER,
            address_field(family, Side::Source).0,
            s,
        ),
        (
            NFT_PAYLOAD_NETWORK_HEADER,
            address_field(family, Side::Destination).0,
            d,
        ),
        (
            NFT_PAYLOAD_TRANSPORT_HEADER,
            0,
            sport.to_be_bytes().to_vec(),
        ),
        (
            NFT_PAYLOAD_TRANSPORT_HEADER,
            2,
            dport.to_be_bytes().to_vec(),
        ),
    ];
    for (base, offset, data) in fields {
        rule.push(Expr::Payload {
            base,
            offset,
            len: data.len() as u32,
            dreg: NFT_REG_1,
        });
        rule.push(Expr::Cmp {
            sreg: NFT_REG_1,
            op: NFT_CMP_EQ,
            data,
        });
    }
    rule.push(Expr::Verdict(Verdict::Accept));
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::policy::SetDirection;

    #[test]
    fn block_rules_test_conditions_before_loading_the_address() {
        let r = block_rule(
            NFPROTO_IPV6,
            BlockKey {
                set: "s_v6",
                with_ports: true,
                prefix: None,
            },
            Side::Source,
            &[],
            (true, Expr::Reject(Reject::TcpReset)),
        );
        let lookup = r
            .iter()
            .position(|e| matches!(e, Expr::Lookup { .. }))
            .unwrap();
        let last_cmp = r
            .iter()
            .rposition(|e| matches!(e, Expr::Cmp { .. }))
            .unwrap();
        assert!(last_cmp < lookup);
        // the port lands right after the 16-byte address
        let port = Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
            dreg: NFT_REG32_00 + 5,
        };
        assert!(r.contains(&port));
    }

    #[test]
    fn the_block_lookup_comes_before_the_allowlist() {
        let r = block_rule(
            NFPROTO_IPV4,
            BlockKey {
                set: "bad_v4",
                with_ports: false,
                prefix: None,
            },
            Side::Destination,
            &["allow_v4".into()],
            (false, Expr::Verdict(Verdict::Drop)),
        );
        let block = r
            .iter()
            .position(|e| matches!(e, Expr::Lookup { .. }))
            .unwrap();
        let allow = r
            .iter()
            .position(|e| matches!(e, Expr::LookupNot { .. }))
            .unwrap();
        assert!(block < allow);
        assert!(r.contains(&Expr::Payload {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset: 16,
            len: 4,
            dreg: NFT_REG_1
        }));
    }

    #[test]
    fn hash_parts_of_networks_are_looked_up_with_the_masked_address() {
        let r = block_rule(
            NFPROTO_IPV4,
            BlockKey {
                set: "bad_v4_p20",
                with_ports: false,
                prefix: Some(20),
            },
            Side::Source,
            &["allow_v4".into()],
            (false, Expr::Verdict(Verdict::Drop)),
        );
        assert!(r.contains(&Expr::Bitwise {
            sreg: NFT_REG_1,
            dreg: NFT_REG_2,
            mask: vec![255, 255, 240, 0],
            xor: vec![0; 4],
        }));
        assert!(r.contains(&Expr::Lookup {
            set: "bad_v4_p20".into(),
            sreg: NFT_REG_2
        }));
        assert!(
            r.contains(&Expr::LookupNot {
                set: "allow_v4".into(),
                sreg: NFT_REG_1
            }),
            "the allowlist sees the whole address"
        );
        assert_eq!(
            prefix_mask(64, 16)[..9],
            [255, 255, 255, 255, 255, 255, 255, 255, 0]
        );
    }

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
