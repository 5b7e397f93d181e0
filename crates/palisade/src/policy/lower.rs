//! From the compiled ruleset to nftables expressions.
//!
//! Each [`Match`] becomes a load into register 1 and a test of it, so no match depends on
//! another's register. One rule becomes one kernel rule, except a match on a palisade set,
//! which becomes one kernel rule per part of the set (bulk, loaded singles, recent). Every
//! kernel rule carries its rule's number in its comment (`#12 ...`), which is how `status`
//! sums counters and how the read-back check knows each rule is where it should be.

use palisade_core::policy::{Action, End, FamilyTag, Match, Meter, Rule};
use palisade_core::AddrRange;
use palisade_nft::consts::*;
use palisade_nft::{Expr, Reject, Verdict};

use crate::store::{kernel_name, Part};

/// The kernel's limit on a rule comment is 256 bytes with its terminator.
const MAX_COMMENT: usize = 250;

/// A rule's text as its kernel comment holds it: double quotes become single ones, so `nft
/// list ruleset` output (which prints comments unescaped) stays valid `nft -f` input.
pub fn rule_text(rule: &Rule) -> String {
    rule.to_string().replace('"', "'")
}

/// The comment of kernel rules made from rule `index`.
pub fn comment(index: usize, rule: &Rule) -> String {
    let mut c = format!("#{index} {}", rule_text(rule));
    if c.len() > MAX_COMMENT {
        let mut cut = MAX_COMMENT - 3;
        while !c.is_char_boundary(cut) {
            cut -= 1;
        }
        c.truncate(cut);
        c.push_str("...");
    }
    c
}

/// The rule number in a kernel rule's comment, if palisade wrote it.
pub fn index_of(comment: &str) -> Option<usize> {
    comment.strip_prefix('#')?.split(' ').next()?.parse().ok()
}

/// The rule text in a kernel rule's comment.
pub fn text_of(comment: &str) -> &str {
    comment.split_once(' ').map_or("", |(_, t)| t)
}

fn load_and_compare(load: Expr, data: Vec<u8>) -> [Expr; 2] {
    [
        load,
        Expr::Cmp {
            sreg: NFT_REG_1,
            op: NFT_CMP_EQ,
            data,
        },
    ]
}

fn payload(base: u32, offset: u32, len: u32) -> Expr {
    Expr::Payload {
        base,
        offset,
        len,
        dreg: NFT_REG_1,
    }
}

fn meta(key: u32) -> Expr {
    Expr::Meta {
        key,
        dreg: NFT_REG_1,
    }
}

/// Keep the first `bits` bits of the `len`-byte address in register 1: `and 255.255.255.0`.
fn prefix_mask(len: u32, bits: u8) -> Expr {
    let mask: Vec<u8> = (0..len as usize)
        .map(|i| {
            let bits_here = (bits as usize).saturating_sub(i * 8).min(8);
            (0xffu16 << (8 - bits_here)) as u8
        })
        .collect();
    Expr::Bitwise {
        sreg: NFT_REG_1,
        dreg: NFT_REG_1,
        xor: vec![0; mask.len()],
        mask,
    }
}

/// `ip saddr 10.0.0.0/8`: exact compare, prefix mask and compare, or a range.
fn address(end: End, range: AddrRange) -> Vec<Expr> {
    fn lower(
        offset: u32,
        first: Vec<u8>,
        last: Vec<u8>,
        prefix: Option<(Vec<u8>, u8)>,
    ) -> Vec<Expr> {
        let len = first.len() as u32;
        let load = payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len);
        if first == last {
            return load_and_compare(load, first).into();
        }
        match prefix {
            Some((network, bits)) => {
                vec![
                    load,
                    prefix_mask(len, bits),
                    Expr::Cmp {
                        sreg: NFT_REG_1,
                        op: NFT_CMP_EQ,
                        data: network,
                    },
                ]
            }
            None => vec![
                load,
                Expr::Range {
                    sreg: NFT_REG_1,
                    from: first,
                    to: last,
                },
            ],
        }
    }
    let src = end == End::Source;
    match range {
        AddrRange::V4(iv) => lower(
            if src { 12 } else { 16 },
            iv.first.to_be_bytes().into(),
            iv.last.to_be_bytes().into(),
            iv.as_prefix().map(|(n, b)| (n.to_be_bytes().into(), b)),
        ),
        AddrRange::V6(iv) => lower(
            if src { 8 } else { 24 },
            iv.first.to_be_bytes().into(),
            iv.last.to_be_bytes().into(),
            iv.as_prefix().map(|(n, b)| (n.to_be_bytes().into(), b)),
        ),
    }
}

/// `iifname "eth0"` compares the whole 16-byte name; `iifname "br-*"` only its prefix.
fn interface(key: u32, pattern: &str) -> Vec<Expr> {
    let data = match pattern.strip_suffix('*') {
        Some(prefix) => prefix.as_bytes().to_vec(),
        None => {
            let mut name = pattern.as_bytes().to_vec();
            name.resize(16, 0);
            name
        }
    };
    load_and_compare(meta(key), data).into()
}

/// The expressions of one match; `set_part` picks the part for a set match.
fn lower_match(m: &Match, set_part: Part) -> Vec<Expr> {
    match m {
        Match::Family(f) => Expr::nfproto_is(match f {
            FamilyTag::Ipv4 => NFPROTO_IPV4,
            FamilyTag::Ipv6 => NFPROTO_IPV6,
        })
        .into(),
        Match::L4(l4) => Expr::l4proto_is(l4.number()).into(),
        Match::Port(end, range) => {
            let offset = if *end == End::Source { 0 } else { 2 };
            let load = payload(NFT_PAYLOAD_TRANSPORT_HEADER, offset, 2);
            if range.first == range.last {
                load_and_compare(load, range.first.to_be_bytes().into()).into()
            } else {
                vec![
                    load,
                    Expr::Range {
                        sreg: NFT_REG_1,
                        from: range.first.to_be_bytes().into(),
                        to: range.last.to_be_bytes().into(),
                    },
                ]
            }
        }
        Match::IcmpType(_, t) => {
            load_and_compare(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1), vec![*t]).into()
        }
        Match::Addr(end, net) => address(*end, net.0),
        Match::InSet(end, fam, set) => {
            let (offset, len, name) = match (fam, end) {
                (FamilyTag::Ipv4, End::Source) => (12, 4, kernel_name::<u32>(set, set_part)),
                (FamilyTag::Ipv4, End::Destination) => (16, 4, kernel_name::<u32>(set, set_part)),
                (FamilyTag::Ipv6, End::Source) => (8, 16, kernel_name::<u128>(set, set_part)),
                (FamilyTag::Ipv6, End::Destination) => (24, 16, kernel_name::<u128>(set, set_part)),
            };
            vec![
                payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len),
                Expr::Lookup {
                    set: name,
                    sreg: NFT_REG_1,
                },
            ]
        }
        Match::InInterface(p) => interface(NFT_META_IIFNAME, p),
        Match::OutInterface(p) => interface(NFT_META_OIFNAME, p),
        Match::RateOver { rate, meter } => {
            let limit = Expr::Limit {
                rate: rate.count,
                unit_secs: rate.per_secs,
                burst: rate.burst,
                over: true,
            };
            match meter {
                None => vec![limit],
                Some(m) => meter_update(m, limit, Some(rate.refill_secs().max(60) * 1000), true),
            }
        }
        Match::ConnectionsOver { max, meter } => {
            let count = Expr::ConnlimitOver { count: *max };
            match meter {
                None => vec![count],
                Some(m) => meter_update(m, count, None, false),
            }
        }
        Match::Ct(states) => vec![
            Expr::Ct {
                key: NFT_CT_STATE,
                dreg: NFT_REG_1,
            },
            Expr::Bitwise {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                mask: states.0.to_ne_bytes().into(),
                xor: vec![0; 4],
            },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op: NFT_CMP_NEQ,
                data: vec![0; 4],
            },
        ],
    }
}

/// The source address (or its network, for a prefix) into register 1.
fn source_key(family: FamilyTag, prefix: u8) -> Vec<Expr> {
    let (offset, len, full) = match family {
        FamilyTag::Ipv4 => (12, 4u32, 32u8),
        FamilyTag::Ipv6 => (8, 16, 128),
    };
    let mut out = vec![payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len)];
    if prefix < full {
        out.push(prefix_mask(len, prefix));
    }
    out
}

/// `update @meter { ip saddr <expr> }`: the expression runs on the source's own element, and
/// the rule goes on only when it says so (over the limit).
fn meter_update(m: &Meter, expr: Expr, timeout_ms: Option<u64>, update: bool) -> Vec<Expr> {
    let mut out = source_key(m.family, m.prefix);
    out.push(Expr::Dynset {
        set: m.name.clone(),
        update,
        sreg: NFT_REG_1,
        timeout_ms,
        expr: Some(Box::new(expr)),
    });
    out
}

fn lower_action(a: &Action) -> Vec<Expr> {
    let mut out = vec![Expr::Counter];
    match a {
        Action::Accept => out.push(Expr::Verdict(Verdict::Accept)),
        Action::Drop => out.push(Expr::Verdict(Verdict::Drop)),
        Action::Reject => out.push(Expr::Reject(Reject::IcmpxPortUnreachable)),
        Action::Log { prefix, rate } => {
            out.push(Expr::Limit {
                rate: rate.count,
                unit_secs: rate.per_secs,
                burst: rate.burst,
                over: false,
            });
            out.push(Expr::Log {
                prefix: prefix.clone(),
            });
        }
        Action::Count => {}
        Action::Ban {
            set,
            family,
            timeout_secs,
        } => {
            let (name, full) = match family {
                FamilyTag::Ipv4 => (kernel_name::<u32>(set, Part::Singles), 32),
                FamilyTag::Ipv6 => (kernel_name::<u128>(set, Part::Singles), 128),
            };
            out.extend(source_key(*family, full));
            out.push(Expr::Dynset {
                set: name,
                update: false,
                sreg: NFT_REG_1,
                timeout_ms: Some(timeout_secs * 1000),
                expr: None,
            });
            out.push(Expr::Verdict(Verdict::Drop));
        }
    }
    out
}

/// The kernel rules of one rule.
pub fn lower(rule: &Rule) -> Vec<Vec<Expr>> {
    let uses_set = rule.matches.iter().any(|m| matches!(m, Match::InSet(..)));
    let parts: &[Part] = if uses_set {
        &[Part::Bulk, Part::Singles, Part::Recent]
    } else {
        &[Part::Bulk]
    };
    parts
        .iter()
        .map(|part| {
            let mut exprs: Vec<Expr> = rule
                .matches
                .iter()
                .flat_map(|m| lower_match(m, *part))
                .collect();
            exprs.extend(lower_action(&rule.action));
            exprs
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::policy::{Net, PortRange, L4};
    use palisade_core::{parse_addr_range, Interval};

    fn rule(matches: Vec<Match>) -> Rule {
        Rule {
            matches,
            action: Action::Accept,
            origin: "test".into(),
        }
    }

    #[test]
    fn prefixes_become_masks_and_odd_ranges_ranges() {
        let net = parse_addr_range("10.4.0.0/14", false).unwrap();
        let e = address(End::Source, net);
        assert!(matches!(&e[1], Expr::Bitwise { mask, .. } if mask == &vec![255, 252, 0, 0]));
        let odd = AddrRange::V4(Interval::new(5, 9).unwrap());
        assert!(matches!(
            address(End::Destination, odd)[1],
            Expr::Range { .. }
        ));
        let one = parse_addr_range("2001:db8::1", false).unwrap();
        assert_eq!(address(End::Source, one).len(), 2);
    }

    #[test]
    fn set_matches_make_one_kernel_rule_per_part() {
        let r = rule(vec![
            Match::Family(FamilyTag::Ipv4),
            Match::InSet(End::Source, FamilyTag::Ipv4, "admins".into()),
            Match::L4(L4::Tcp),
            Match::Port(End::Destination, PortRange::single(22)),
        ]);
        let k = lower(&r);
        assert_eq!(k.len(), 3);
        let sets: Vec<_> = k
            .iter()
            .flat_map(|exprs| exprs.iter())
            .filter_map(|e| match e {
                Expr::Lookup { set, .. } => Some(set.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(sets, ["admins_v4", "admins_v4_addrs", "admins_v4_recent"]);
        let plain = rule(vec![Match::Addr(
            End::Source,
            Net(parse_addr_range("192.0.2.0/24", false).unwrap()),
        )]);
        assert_eq!(lower(&plain).len(), 1);
    }

    #[test]
    fn comments_carry_the_rule_number() {
        let r = rule(vec![Match::InInterface("lo".into())]);
        let c = comment(7, &r);
        assert_eq!(index_of(&c), Some(7));
        assert_eq!(text_of(&c), "iifname 'lo' accept");
        let long = rule(vec![Match::InInterface("x".repeat(15)); 30]);
        assert!(comment(1, &long).len() <= MAX_COMMENT);
    }

    #[test]
    fn interface_wildcards_compare_a_prefix() {
        assert!(
            matches!(&interface(NFT_META_IIFNAME, "br-*")[1], Expr::Cmp { data, .. } if data == b"br-")
        );
        assert!(
            matches!(&interface(NFT_META_IIFNAME, "lo")[1], Expr::Cmp { data, .. } if data.len() == 16)
        );
    }
}
