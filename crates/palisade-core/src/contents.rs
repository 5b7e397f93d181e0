//! A set's contents as palisade wants them: merged address ranges per family and port group.
//!
//! This is the value every part of palisade passes around: list files are read into it, the
//! saved state and the set cache store it, the log watcher builds it, and the kernel store
//! compares it with what the kernel holds. It lives in the core because it is plain data
//! (sorted, disjoint intervals) with set algebra on it, and nothing here needs the kernel.

use crate::{AddrBits, AddrRange, Interval, IntervalSet, ProtoPort};
use std::collections::BTreeMap;

/// Merged ranges of one family, per port qualifier (`None` for plain sets).
pub type Groups<T> = BTreeMap<Option<ProtoPort>, IntervalSet<T>>;

/// The wanted contents of a set: merged ranges per family and port qualifier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub v4: Groups<u32>,
    pub v6: Groups<u128>,
}

impl Contents {
    /// Merge raw ranges (in any order, overlapping or not) into contents.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (AddrRange, Option<ProtoPort>)>) -> Self {
        let mut b = ContentsBuilder::default();
        for (addr, port) in ranges {
            b.push(addr, port);
        }
        b.build()
    }

    /// Every range with its port qualifier, IPv4 first.
    pub fn ranges(&self) -> impl Iterator<Item = (AddrRange, Option<ProtoPort>)> + '_ {
        let v4 = self
            .v4
            .iter()
            .flat_map(|(p, s)| s.iter().map(move |iv| (AddrRange::V4(*iv), *p)));
        let v6 = self
            .v6
            .iter()
            .flat_map(|(p, s)| s.iter().map(move |iv| (AddrRange::V6(*iv), *p)));
        v4.chain(v6)
    }

    /// No range at all, in either family.
    pub fn is_empty(&self) -> bool {
        self.range_counts() == (0, 0)
    }

    /// Port qualifiers present: (some element has a port, some element has none).
    pub fn port_kinds(&self) -> (bool, bool) {
        let keys = || self.v4.keys().chain(self.v6.keys());
        (keys().any(Option::is_some), keys().any(Option::is_none))
    }

    /// Merged ranges (IPv4, IPv6).
    pub fn range_counts(&self) -> (usize, usize) {
        (
            self.v4.values().map(IntervalSet::len).sum(),
            self.v6.values().map(IntervalSet::len).sum(),
        )
    }

    /// Everything in `self` or in `other`.
    pub fn union(&self, other: &Contents) -> Contents {
        fn family<T: AddrBits>(a: &Groups<T>, b: &Groups<T>) -> Groups<T> {
            let mut out = a.clone();
            for (p, s) in b {
                let merged = out.get(p).map_or_else(|| s.clone(), |o| o.union(s));
                out.insert(*p, merged);
            }
            out
        }
        Contents {
            v4: family(&self.v4, &other.v4),
            v6: family(&self.v6, &other.v6),
        }
    }

    /// What is in `self` and not in `other`.
    pub fn difference(&self, other: &Contents) -> Contents {
        fn family<T: AddrBits>(a: &Groups<T>, b: &Groups<T>) -> Groups<T> {
            a.iter()
                .map(|(p, s)| (*p, b.get(p).map_or_else(|| s.clone(), |o| s.difference(o))))
                .collect()
        }
        Contents {
            v4: family(&self.v4, &other.v4),
            v6: family(&self.v6, &other.v6),
        }
    }

    /// Split merged contents the way loads store them: ranges of more than one address for
    /// the interval part, single addresses for the hash part.
    pub fn split_singles(&self) -> (Contents, Contents) {
        fn family<T: AddrBits>(groups: &Groups<T>) -> (Groups<T>, Groups<T>) {
            let (mut ranges, mut singles) = (Groups::new(), Groups::new());
            for (port, set) in groups {
                let (one, many): (Vec<_>, Vec<_>) = set.iter().partition(|iv| iv.first == iv.last);
                if !many.is_empty() {
                    ranges.insert(*port, IntervalSet::from_unsorted(many));
                }
                if !one.is_empty() {
                    singles.insert(*port, IntervalSet::from_unsorted(one));
                }
            }
            (ranges, singles)
        }
        let (r4, s4) = family(&self.v4);
        let (r6, s6) = family(&self.v6);
        (Contents { v4: r4, v6: r6 }, Contents { v4: s4, v6: s6 })
    }
}

/// Accumulates ranges per family and port group, then merges each group once: lists of
/// millions of lines are pushed one by one and sorted once at the end.
#[derive(Default)]
pub struct ContentsBuilder {
    v4: BTreeMap<Option<ProtoPort>, Vec<Interval<u32>>>,
    v6: BTreeMap<Option<ProtoPort>, Vec<Interval<u128>>>,
    entries: u64,
}

impl ContentsBuilder {
    pub fn push(&mut self, addr: AddrRange, port: Option<ProtoPort>) {
        self.entries += 1;
        match addr {
            AddrRange::V4(iv) => self.v4.entry(port).or_default().push(iv),
            AddrRange::V6(iv) => self.v6.entry(port).or_default().push(iv),
        }
    }

    /// Ranges pushed so far, before merging.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn build(self) -> Contents {
        fn merge<T: AddrBits>(m: BTreeMap<Option<ProtoPort>, Vec<Interval<T>>>) -> Groups<T> {
            m.into_iter()
                .map(|(p, v)| (p, IntervalSet::from_unsorted(v)))
                .collect()
        }
        Contents {
            v4: merge(self.v4),
            v6: merge(self.v6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(first: u32, last: u32) -> (AddrRange, Option<ProtoPort>) {
        (AddrRange::V4(Interval { first, last }), None)
    }

    proptest! {
        /// Ranges and singles together are the contents again; singles hold one address each.
        #[test]
        fn split_singles_partitions(raw in proptest::collection::vec((0u32..2000, 0u32..3), 0..40)) {
            let c = Contents::from_ranges(raw.into_iter().map(|(f, n)| v4(f, f + n)));
            let (ranges, singles) = c.split_singles();
            prop_assert!(singles.v4.values().flat_map(|s| s.iter()).all(|iv| iv.first == iv.last));
            prop_assert!(ranges.v4.values().flat_map(|s| s.iter()).all(|iv| iv.first != iv.last));
            prop_assert_eq!(ranges.union(&singles), c);
        }

        /// Union and difference agree with membership of every address.
        #[test]
        fn algebra_matches_membership(a in proptest::collection::vec((0u32..300, 0u32..20), 0..10),
                                      b in proptest::collection::vec((0u32..300, 0u32..20), 0..10)) {
            let ca = Contents::from_ranges(a.iter().map(|(f, n)| v4(*f, f + n)));
            let cb = Contents::from_ranges(b.iter().map(|(f, n)| v4(*f, f + n)));
            let has = |c: &Contents, x: u32| c.v4.get(&None).is_some_and(|s| s.iter().any(|iv| iv.first <= x && x <= iv.last));
            let (u, d) = (ca.union(&cb), ca.difference(&cb));
            for x in 0..330 {
                prop_assert_eq!(has(&u, x), has(&ca, x) || has(&cb, x));
                prop_assert_eq!(has(&d, x), has(&ca, x) && !has(&cb, x));
            }
        }
    }

    #[test]
    fn port_kinds_tell_plain_from_port_elements() {
        let plain = Contents::from_ranges([v4(1, 1)]);
        assert_eq!(plain.port_kinds(), (false, true));
        let pp = Some(ProtoPort { proto: 6, port: 22 });
        let with = Contents::from_ranges([(AddrRange::V4(Interval { first: 1, last: 1 }), pp)]);
        assert_eq!(with.port_kinds(), (true, false));
        assert!(Contents::default().is_empty());
    }
}
