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
//! What palisade knows about a set (its verdict, direction, whether it holds ports) is kept in
//! the bulk kernel set's comment, so the kernel is the only source of truth. Where the sets
//! are matched is [`super::chains`].

use super::def::{BlockAction, SetDef};
use super::kernel_addr::KernelAddr;
use palisade_core::policy::SetDirection;
use palisade_core::{AddrBits, Contents, Groups};
use palisade_nft::consts::*;
use palisade_nft::{Batch, Key, KeyKind, SetInfo, SetSpec};
use std::time::Duration;

pub const TABLE: &str = "palisade";
pub const FAMILY: u8 = NFPROTO_INET;
const COMMENT_PREFIX: &str = "palisade set";

/// The kernel sets behind each family of a palisade set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Networks and ranges written by loads: an interval set.
    Bulk,
    /// Single addresses written by loads, in a hash set; large.
    Singles,
    /// Single additions since the last load; small.
    Recent,
    /// Networks of one prefix length written by loads, in a hash set looked up with the
    /// address masked to that length (see [`super::partition`]). Made by loads as needed.
    Prefix(u8),
}

/// The parts every palisade set has.
pub const PARTS: [Part; 3] = [Part::Bulk, Part::Singles, Part::Recent];

impl Part {
    /// Interval sets hold ranges; the hash parts hold one key per address or network.
    pub fn is_interval(self) -> bool {
        matches!(self, Part::Bulk | Part::Recent)
    }
}

/// Name of the kernel set holding one part of one family of a palisade set.
pub fn kernel_name<T: KernelAddr>(set: &str, part: Part) -> String {
    match part {
        Part::Bulk => format!("{set}{}", T::SUFFIX),
        Part::Singles => format!("{set}{}_addrs", T::SUFFIX),
        Part::Recent => format!("{set}{}_recent", T::SUFFIX),
        Part::Prefix(len) => format!("{set}{}_p{len}", T::SUFFIX),
    }
}

/// The prefix lengths of set `set`'s hash parts of family `T` that the kernel holds.
pub fn prefix_parts<T: KernelAddr>(infos: &[SetInfo], set: &str) -> Vec<u8> {
    let stem = format!("{set}{}_p", T::SUFFIX);
    let mut out: Vec<u8> = infos
        .iter()
        .filter_map(|i| i.name.strip_prefix(&stem)?.parse().ok())
        .filter(|len: &u8| u32::from(*len) < T::BITS)
        .collect();
    out.sort_unstable();
    out
}

/// Every part of one family of a set: the fixed ones and its hash parts of `prefixes`.
pub fn parts_with(prefixes: &[u8]) -> Vec<Part> {
    PARTS
        .into_iter()
        .chain(prefixes.iter().map(|l| Part::Prefix(*l)))
        .collect()
}

impl SetDef {
    pub(super) fn comment(&self) -> String {
        let block = self.block.map_or("none", BlockAction::as_str);
        let ports = if self.with_ports { "yes" } else { "no" };
        let dynamic = if self.dynamic { "; dynamic=yes" } else { "" };
        let dir = self.direction.name();
        format!("{COMMENT_PREFIX}; block={block}; ports={ports}; dir={dir}{dynamic}")
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
            block: field("block=").and_then(|b| b.parse().ok()),
            default_timeout: info.default_timeout_ms.map(Duration::from_millis),
            dynamic: field("dynamic=") == Some("yes"),
            // Sets made before directions existed matched sources.
            direction: field("dir=")
                .and_then(SetDirection::parse)
                .unwrap_or_default(),
            // Filled in from the other kernel sets by `Store::sets`.
            prefixes: Default::default(),
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
                Part::Prefix(len) => {
                    format!("palisade: loaded /{len} networks of set {}", self.name)
                }
            }),
        }
    }
}

/// Kernel element counts (as `NFTA_SET_COUNT` reports them) for `groups` stored in `part`:
/// in a hash set or an address+port set one per element; in a plain interval set one per
/// interval end, and a range that runs to the top of the address space has none.
pub fn count_in<T: AddrBits>(part: Part, groups: &Groups<T>) -> usize {
    groups
        .iter()
        .map(|(port, set)| match port {
            None if part.is_interval() => set.iter().filter(|iv| iv.last != T::MAX).count(),
            _ => set.len(),
        })
        .sum()
}

/// [`count_in`] for both families of `c`.
pub fn expected_kernel_counts(c: &Contents, part: Part) -> (usize, usize) {
    (count_in(part, &c.v4), count_in(part, &c.v6))
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
            direction: SetDirection::Both,
            prefixes: Default::default(),
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
