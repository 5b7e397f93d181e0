//! The block chains' rules, expression by expression: block lookups (plain, address+port,
//! masked for a hash part of networks) guarded by the allowlist, and what always passes
//! (loopback, IPv6 neighbour discovery, the admin's session). See [`super::chains`] for where
//! each goes.

use super::def::BlockAction;
use palisade_nft::consts::*;
use palisade_nft::{Expr, Reject, Verdict};
use std::net::IpAddr;

/// Which end of the packet a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

/// `meta iif|oif == 1 accept`: loopback is interface 1 in every namespace.
pub fn loopback_accepts(key: u32) -> [Expr; 3] {
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
pub fn neighbour_discovery_accepts() -> Vec<Expr> {
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
pub fn verdicts(action: BlockAction) -> Vec<(bool, Expr)> {
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

/// `ip saddr S ip daddr D tcp sport SP tcp dport DP accept`.
pub fn pin_rule(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Option<Vec<Expr>> {
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
}
