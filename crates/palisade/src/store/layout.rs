//! Where palisade's objects live in the kernel and what they are called.
//!
//! One table, `inet palisade`; nothing outside it is ever touched. A palisade set NAME is, per
//! family, three kernel sets:
//! - `NAME_v4`, the bulk part: an interval set (rbtree) with the networks and ranges a load
//!   wrote;
//! - `NAME_v4_addrs`, the single addresses a load wrote, in a hash set: one element per
//!   address instead of an interval's two, and inserts that cost the same at any size;
//! - `NAME_v4_recent`, an interval set for single additions since the last load.
//!
//! The recent part exists because the kernel (6.18+) rebuilds an interval set's whole lookup
//! array on every commit that changes it: one address added to a set of 100,000 networks would
//! cost 12 ms of kernel time, while added to the small recent part it costs microseconds. A
//! load folds the recent part into the others in the same transaction. Packets are matched
//! against all three: three lookups, a cost that does not grow with the list.
//!
//! What palisade knows about a set (its verdict, whether it holds ports) is kept in the bulk
//! kernel set's comment, so the kernel is the only source of truth.

use super::def::{BlockAction, SetDef};
use super::kernel_addr::KernelAddr;
use palisade_core::{AddrBits, Contents, Groups};
use palisade_nft::consts::*;
use palisade_nft::{Batch, Expr, Hook, Key, KeyKind, Reject, SetInfo, SetSpec, Verdict};
use std::time::Duration;

pub const TABLE: &str = "palisade";
pub const FAMILY: u8 = NFPROTO_INET;
pub const BLOCK_CHAIN: &str = "block_input";
/// Runs just before the usual filter priority (0), so blocked sources are dropped first.
pub const BLOCK_PRIORITY: i32 = -10;
const COMMENT_PREFIX: &str = "palisade set";
/// Prefix of block rule comments; the set name follows.
pub const BLOCK_RULE_PREFIX: &str = "palisade block ";

/// The two kernel sets behind each family of a palisade set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Networks and ranges written by loads; large.
    Bulk,
    /// Single addresses written by loads, in a hash set; large.
    Singles,
    /// Single additions since the last load; small.
    Recent,
}

pub const PARTS: [Part; 3] = [Part::Bulk, Part::Singles, Part::Recent];

impl Part {
    /// Interval sets hold ranges; the singles part holds one key per address.
    pub fn is_interval(self) -> bool {
        self != Part::Singles
    }
}

/// Name of the kernel set holding one part of one family of a palisade set.
pub fn kernel_name<T: KernelAddr>(set: &str, part: Part) -> String {
    match part {
        Part::Bulk => format!("{set}{}", T::SUFFIX),
        Part::Singles => format!("{set}{}_addrs", T::SUFFIX),
        Part::Recent => format!("{set}{}_recent", T::SUFFIX),
    }
}

impl SetDef {
    pub(super) fn comment(&self) -> String {
        let block = match self.block {
            Some(BlockAction::Drop) => "drop",
            Some(BlockAction::Reject) => "reject",
            None => "none",
        };
        let ports = if self.with_ports { "yes" } else { "no" };
        let dynamic = if self.dynamic { "; dynamic=yes" } else { "" };
        format!("{COMMENT_PREFIX}; block={block}; ports={ports}{dynamic}")
    }

    /// Read a definition back from the bulk IPv4 kernel set and its comment.
    pub(super) fn from_kernel(info: &SetInfo) -> Option<Self> {
        let name = info.name.strip_suffix(u32::SUFFIX)?;
        let rest = info.comment.as_deref()?.strip_prefix(COMMENT_PREFIX)?;
        let field = |key: &str| {
            rest.split(';')
                .map(str::trim)
                .find_map(|f| f.strip_prefix(key))
        };
        Some(Self {
            name: name.to_string(),
            with_ports: field("ports=") == Some("yes"),
            block: match field("block=") {
                Some("drop") => Some(BlockAction::Drop),
                Some("reject") => Some(BlockAction::Reject),
                _ => None,
            },
            default_timeout: info.default_timeout_ms.map(Duration::from_millis),
            dynamic: field("dynamic=") == Some("yes"),
        })
    }

    pub(super) fn spec<T: KernelAddr>(&self, part: Part) -> SetSpec {
        SetSpec {
            table: TABLE.into(),
            name: kernel_name::<T>(&self.name, part),
            key: if self.with_ports {
                T::WITH_PORTS
            } else {
                T::PLAIN
            },
            interval: part.is_interval(),
            // Single additions may carry timeouts (`block --timeout`); loads never do. The
            // kernel's own bans go to the singles part of a dynamic set, with timeouts.
            timeout: part == Part::Recent || (part == Part::Singles && self.dynamic),
            dynamic: part == Part::Singles && self.dynamic,
            size: None,
            default_timeout_ms: match part {
                Part::Recent => self.default_timeout.map(|d| d.as_millis() as u64),
                _ => None,
            },
            comment: Some(match part {
                Part::Bulk => self.comment(),
                Part::Singles => format!("palisade: loaded addresses of set {}", self.name),
                Part::Recent => format!("palisade: recent additions to set {}", self.name),
            }),
        }
    }
}

/// Kernel element counts (as `NFTA_SET_COUNT` reports them) for contents stored in `part`:
/// in a hash set or an address+port set one per element; in a plain interval set one per
/// interval end, and a range that runs to the top of the address space has none.
pub fn expected_kernel_counts(c: &Contents, part: Part) -> (usize, usize) {
    fn count<T: AddrBits>(groups: &Groups<T>, part: Part) -> usize {
        groups
            .iter()
            .map(|(port, set)| match port {
                None if part.is_interval() => set.iter().filter(|iv| iv.last != T::MAX).count(),
                _ => set.len(),
            })
            .sum()
    }
    (count(&c.v4, part), count(&c.v6, part))
}

/// The companion set holding the cache token of set `name` (see [`super::cache`]).
pub fn stamp_name(name: &str) -> String {
    format!("{name}_stamp")
}

pub fn stamp_spec(name: &str) -> SetSpec {
    SetSpec {
        table: TABLE.into(),
        name: stamp_name(name),
        key: KeyKind::Mark,
        interval: false,
        timeout: false,
        default_timeout_ms: None,
        comment: Some(format!("palisade: cache stamp of set {name}")),
        dynamic: false,
        size: None,
    }
}

/// The set holding the token of the last policy transaction (see
/// `crate::policy::intent`): a dot keeps it apart from palisade set names.
pub const APPLY_STAMP: &str = "apply.stamp";

pub fn apply_stamp_spec() -> SetSpec {
    SetSpec {
        name: APPLY_STAMP.into(),
        comment: Some("palisade: token of the last policy transaction".into()),
        ..stamp_spec("")
    }
}

/// Put into `b` the replacement of the policy transaction token.
pub fn stage_apply_stamp(b: &mut Batch, token: u32) {
    b.add_set(FAMILY, &apply_stamp_spec(), false);
    b.flush_set(FAMILY, TABLE, APPLY_STAMP);
    b.add_elements(
        FAMILY,
        TABLE,
        APPLY_STAMP,
        false,
        [palisade_nft::Element::key(stamp_key(token))],
    );
}

pub fn stamp_key(token: u32) -> Key {
    Key::new(&token.to_be_bytes()).expect("4 bytes fit")
}

/// Goes with every write to a set's bulk part, in the same transaction: the cache is stale.
pub fn invalidate(b: &mut Batch, name: &str) {
    b.flush_set(FAMILY, TABLE, &stamp_name(name));
}

/// Replace the block chain's rules with one group per blocking set.
pub fn rebuild_block_chain(b: &mut Batch, sets: &[SetDef]) {
    let hook = Hook {
        num: NF_INET_LOCAL_IN,
        priority: BLOCK_PRIORITY,
        policy: NF_ACCEPT,
    };
    b.add_chain(FAMILY, TABLE, BLOCK_CHAIN, Some(hook));
    b.flush_chain(FAMILY, TABLE, BLOCK_CHAIN);
    for def in sets {
        let Some(action) = def.block else { continue };
        let comment = format!("{BLOCK_RULE_PREFIX}{}", def.name);
        for part in PARTS {
            let families = [
                (NFPROTO_IPV4, kernel_name::<u32>(&def.name, part)),
                (NFPROTO_IPV6, kernel_name::<u128>(&def.name, part)),
            ];
            for (family, set) in families {
                for verdict in verdicts(action) {
                    let rule = block_rule(family, &set, def.with_ports, verdict);
                    b.add_rule(FAMILY, TABLE, BLOCK_CHAIN, &rule, Some(&comment));
                }
            }
        }
    }
}

/// The final expressions of a block rule, and whether the rule applies to TCP only.
fn verdicts(action: BlockAction) -> Vec<(bool, Expr)> {
    match action {
        BlockAction::Drop => vec![(false, Expr::Verdict(Verdict::Drop))],
        // TCP gets a reset (the client fails at once); everything else an ICMP error.
        BlockAction::Reject => vec![
            (true, Expr::Reject(Reject::TcpReset)),
            (false, Expr::Reject(Reject::IcmpxAdminProhibited)),
        ],
    }
}

/// `ip saddr @set` (or `ip saddr . meta l4proto . th dport @set`), counter, verdict.
/// Conditions on registers come first: the address load may span the same registers.
pub fn block_rule(
    family: u8,
    set: &str,
    with_ports: bool,
    (tcp_only, verdict): (bool, Expr),
) -> Vec<Expr> {
    let (offset, len) = if family == NFPROTO_IPV4 {
        (12, 4)
    } else {
        (8, 16)
    };
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
        let dport = Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
            dreg: after_addr + 1,
        };
        rule.push(dport);
    }
    rule.push(Expr::Lookup {
        set: set.to_string(),
        sreg: addr_reg,
    });
    rule.push(Expr::Counter);
    rule.push(verdict);
    rule
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::{AddrRange, Interval, ProtoPort};

    #[test]
    fn definition_survives_the_kernel_comment() {
        let def = SetDef {
            name: "bad-guys".into(),
            with_ports: true,
            block: Some(BlockAction::Reject),
            default_timeout: None,
            dynamic: true,
        };
        let info = SetInfo {
            family: FAMILY,
            table: TABLE.into(),
            name: "bad-guys_v4".into(),
            flags: 0,
            key: None,
            default_timeout_ms: None,
            comment: Some(def.comment()),
            count: None,
        };
        assert_eq!(SetDef::from_kernel(&info), Some(def.clone()));
        let recent = SetInfo {
            name: kernel_name::<u32>("bad-guys", Part::Recent),
            ..info.clone()
        };
        assert_eq!(
            SetDef::from_kernel(&recent),
            None,
            "only the bulk part defines a set"
        );
        let foreign = SetInfo {
            comment: Some("someone else's".into()),
            ..info
        };
        assert_eq!(SetDef::from_kernel(&foreign), None);
    }

    #[test]
    fn block_rules_test_conditions_before_loading_the_address() {
        let r = block_rule(
            NFPROTO_IPV6,
            "s_v6",
            true,
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
    fn kernel_names_keep_parts_and_families_apart() {
        let names = [
            kernel_name::<u32>("a", Part::Bulk),
            kernel_name::<u32>("a", Part::Recent),
            kernel_name::<u32>("a", Part::Singles),
            kernel_name::<u128>("a", Part::Singles),
            kernel_name::<u128>("a", Part::Bulk),
            kernel_name::<u128>("a", Part::Recent),
            stamp_name("a"),
        ];
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn expected_counts_follow_the_kernel() {
        let c = Contents::from_ranges([
            (
                AddrRange::V4(Interval {
                    first: 10,
                    last: 20,
                }),
                None,
            ),
            (
                AddrRange::V4(Interval {
                    first: 30,
                    last: u32::MAX,
                }),
                None,
            ),
            (
                AddrRange::V6(Interval { first: 1, last: 1 }),
                Some(ProtoPort { proto: 6, port: 22 }),
            ),
        ]);
        assert_eq!(expected_kernel_counts(&c, Part::Bulk), (1, 1));
        assert_eq!(expected_kernel_counts(&c, Part::Singles), (2, 1));
        let (ranges, singles) = c.split_singles();
        assert_eq!(ranges.range_counts(), (2, 0));
        assert_eq!(singles.range_counts(), (0, 1));
    }
}
