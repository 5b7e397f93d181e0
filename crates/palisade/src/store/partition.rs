//! Which kernel set of a palisade set each loaded range goes to.
//!
//! An interval set (the kernel's rbtree) is the only backend that holds arbitrary ranges, but
//! it is the slowest to load: two elements per range, and its lookup structure rebuilt on each
//! commit. A hash set loads a key in constant time, and looks one up in constant time whatever
//! its size; it holds exact keys only. So, as ipset's `hash:net` does inside one set, a list's
//! networks of a common prefix length go to a hash set of their own, looked up with the
//! packet's address masked to that length (`NAME_v4_p24`: every /24 of the list), single
//! addresses to the singles part, and whatever is left (ranges that are not one network,
//! rare prefix lengths) to the interval part.
//!
//! Each hash part costs every packet one more lookup, so only prefix lengths with at least
//! [`PREFIX_MIN`] networks get one, and at most [`PREFIX_MAX`] of them per family: a packet
//! costs at most three plus [`PREFIX_MAX`] lookups per family, whatever the list's size. The
//! choice depends only on the contents, so the cache (which holds contents) tells what the
//! kernel holds where.

use super::layout::Part;
use palisade_core::{AddrBits, Contents, Groups, Interval, IntervalSet};
use std::collections::BTreeMap;

/// Fewest networks of one prefix length that earn a hash part.
pub const PREFIX_MIN: usize = 1024;
/// Most hash parts per family.
pub const PREFIX_MAX: usize = 4;

/// One family of a set's loaded contents, as the kernel sets hold them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split<T: AddrBits> {
    /// Ranges for the interval part.
    pub bulk: Groups<T>,
    /// Single addresses for the singles part.
    pub singles: Groups<T>,
    /// Networks per prefix length, each for its hash part (plain sets only).
    pub prefixes: BTreeMap<u8, IntervalSet<T>>,
}

impl<T: AddrBits> Default for Split<T> {
    fn default() -> Self {
        Split {
            bulk: Groups::new(),
            singles: Groups::new(),
            prefixes: BTreeMap::new(),
        }
    }
}

/// The prefix length of `iv` if it is exactly one network (a single address is not).
fn network_len<T: AddrBits>(iv: &Interval<T>) -> Option<u8> {
    iv.as_prefix()
        .map(|(_, len)| len)
        .filter(|len| u32::from(*len) < T::BITS)
}

/// Split one family of merged contents; `hashed`: networks may go to hash parts. Address+port
/// groups keep ranges in the interval part (their keys are concatenations no mask applies to).
pub fn split_family<T: AddrBits>(groups: &Groups<T>, hashed: bool) -> Split<T> {
    let mut out = Split::default();
    let mut counts: BTreeMap<u8, usize> = BTreeMap::new();
    if let Some(plain) = groups.get(&None) {
        for iv in plain.iter() {
            if let Some(len) = network_len(iv) {
                *counts.entry(len).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(u8, usize)> = counts
        .into_iter()
        .filter(|(_, n)| hashed && *n >= PREFIX_MIN)
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(PREFIX_MAX);
    let hashed: Vec<u8> = ranked.into_iter().map(|(len, _)| len).collect();
    for (port, set) in groups {
        let (mut bulk, mut singles) = (Vec::new(), Vec::new());
        let mut prefixes: BTreeMap<u8, Vec<Interval<T>>> = BTreeMap::new();
        for iv in set.iter() {
            if iv.first == iv.last {
                singles.push(*iv);
                continue;
            }
            match network_len(iv).filter(|l| port.is_none() && hashed.contains(l)) {
                Some(len) => prefixes.entry(len).or_default().push(*iv),
                None => bulk.push(*iv),
            }
        }
        if !bulk.is_empty() {
            out.bulk.insert(*port, IntervalSet::from_unsorted(bulk));
        }
        if !singles.is_empty() {
            out.singles
                .insert(*port, IntervalSet::from_unsorted(singles));
        }
        for (len, v) in prefixes {
            out.prefixes.insert(len, IntervalSet::from_unsorted(v));
        }
    }
    out
}

/// Both families of `c`.
pub fn split(c: &Contents, hashed: bool) -> (Split<u32>, Split<u128>) {
    (split_family(&c.v4, hashed), split_family(&c.v6, hashed))
}

/// The loaded parts of one family and what each holds.
pub type Layout<T> = BTreeMap<Part, Groups<T>>;

impl<T: AddrBits> Split<T> {
    /// Part by part (only parts that hold something).
    pub fn layout(self) -> Layout<T> {
        let mut out = Layout::new();
        if !self.bulk.is_empty() {
            out.insert(Part::Bulk, self.bulk);
        }
        if !self.singles.is_empty() {
            out.insert(Part::Singles, self.singles);
        }
        for (len, set) in self.prefixes {
            out.insert(Part::Prefix(len), Groups::from([(None, set)]));
        }
        out
    }
}

/// Whether set `def` keeps networks in hash parts: sets that drop or reject, without ports
/// (rules of the policy read lists, and block rules read allowlists, in the plain layout).
pub fn hashed(def: &super::SetDef) -> bool {
    matches!(
        def.block,
        Some(super::BlockAction::Drop | super::BlockAction::Reject)
    ) && !def.with_ports
}

impl<T: AddrBits> Split<T> {
    /// The prefix lengths with a hash part.
    #[cfg(test)]
    pub fn prefix_lens(&self) -> Vec<u8> {
        self.prefixes.keys().copied().collect()
    }
}

/// Everything in a split, as one group map again (for tests and checks).
#[cfg(test)]
fn joined<T: AddrBits>(s: &Split<T>) -> Groups<T> {
    let mut out: Groups<T> = Groups::new();
    let mut add = |p: Option<palisade_core::ProtoPort>, set: &IntervalSet<T>| {
        let merged = out.get(&p).map_or_else(|| set.clone(), |o| o.union(set));
        out.insert(p, merged);
    };
    for (p, set) in s.bulk.iter().chain(&s.singles) {
        add(*p, set);
    }
    for set in s.prefixes.values() {
        add(None, set);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::{AddrRange, ProtoPort};
    use proptest::prelude::*;

    fn net(i: u32, len: u8) -> (AddrRange, Option<ProtoPort>) {
        let first = i << (32 - len);
        (
            AddrRange::V4(Interval::from_prefix(first, len).unwrap()),
            None,
        )
    }

    #[test]
    fn common_prefix_lengths_get_hash_parts_and_the_rest_stays_in_the_tree() {
        // 2,000 /24s (spaced so they never merge), 10 /16s, single addresses and a range.
        let mut raw: Vec<_> = (0..2000).map(|i| net(i * 2 + 1, 24)).collect();
        raw.extend((0..10).map(|i| net(0xa000 + i * 2, 16)));
        raw.push((AddrRange::V4(Interval::single(0xc000_0201)), None));
        raw.push((
            AddrRange::V4(Interval {
                first: 0xc633_6401,
                last: 0xc633_6405,
            }),
            None,
        ));
        let c = Contents::from_ranges(raw);
        let (s4, s6) = split(&c, true);
        assert_eq!(s4.prefix_lens(), vec![24]);
        assert_eq!(s4.prefixes[&24].len(), 2000);
        assert_eq!(s4.bulk[&None].len(), 11, "the /16s and the range");
        assert_eq!(s4.singles[&None].len(), 1);
        assert_eq!(s6, Split::default());
    }

    proptest! {
        /// The parts hold exactly the contents, each range once, each hash part only networks
        /// of its own length, never more than PREFIX_MAX of them.
        #[test]
        fn the_parts_are_exactly_the_contents(
            lens in proptest::collection::vec(8u8..=32, 1..6),
            counts in proptest::collection::vec(0usize..1500, 1..6),
        ) {
            let mut raw = Vec::new();
            for (k, (len, n)) in lens.iter().zip(&counts).enumerate() {
                for i in 0..*n as u32 {
                    // Distinct networks per length, spread so lengths rarely nest.
                    let idx = (i * 7 + k as u32 * 131) % (1u32 << (*len - 4)).max(1);
                    raw.push(net(idx, *len));
                }
            }
            let c = Contents::from_ranges(raw);
            let (s4, _) = split(&c, true);
            prop_assert!(s4.prefixes.len() <= PREFIX_MAX);
            for (len, set) in &s4.prefixes {
                prop_assert!(set.len() >= PREFIX_MIN);
                prop_assert!(set.iter().all(|iv| iv.as_prefix().map(|p| p.1) == Some(*len)));
            }
            prop_assert_eq!(joined(&s4), c.v4);
        }
    }
}
