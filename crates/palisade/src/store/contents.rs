//! Set contents, what the kernel holds, and the batch pieces that turn one into the other.

use super::layout::{kernel_name, Part, FAMILY, TABLE};
use crate::kernel_addr::{self, Extras, KernelAddr, KernelRange};
use palisade_core::{AddrBits, AddrRange, Interval, IntervalSet, ProtoPort};
use palisade_nft::{Batch, Element};
use std::collections::{BTreeMap, BTreeSet};

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

    pub fn range_counts(&self) -> (usize, usize) {
        (
            self.v4.values().map(IntervalSet::len).sum(),
            self.v6.values().map(IntervalSet::len).sum(),
        )
    }

    /// What is in `self` and not in `other`.
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

    /// Kernel element counts (as `NFTA_SET_COUNT` reports them) for these contents stored in
    /// `part`: in a hash set or an address+port set one per element; in a plain interval set
    /// one per interval end, and a range that runs to the top of the address space has none.
    pub fn expected_kernel_counts(&self, part: Part) -> (usize, usize) {
        fn count<T: AddrBits>(groups: &Groups<T>, part: Part) -> usize {
            groups
                .iter()
                .map(|(port, set)| match port {
                    None if part.is_interval() => set.iter().filter(|iv| iv.last != T::MAX).count(),
                    _ => set.len(),
                })
                .sum()
        }
        (count(&self.v4, part), count(&self.v6, part))
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

/// What the kernel holds in one part of a palisade set, with each range's extras.
#[derive(Clone, Debug, Default)]
pub struct Held {
    pub v4: Vec<KernelRange<u32>>,
    pub v6: Vec<KernelRange<u128>>,
}

/// A range as a timed element: the time it has left (else its timeout), and its comment.
fn timed<T>(r: KernelRange<T>) -> super::Timed
where
    AddrRange: From<Interval<T>>,
{
    super::Timed {
        addr: AddrRange::from(r.range),
        port: r.port,
        remaining: r
            .expires_ms
            .or(r.timeout_ms)
            .map(std::time::Duration::from_millis),
        comment: r.comment,
    }
}

fn has_timeout<T>(r: &KernelRange<T>) -> bool {
    r.expires_ms.or(r.timeout_ms).is_some()
}

impl Held {
    /// Every range as a timed element.
    pub fn into_timed(self) -> Vec<super::Timed> {
        let v6 = self.v6.into_iter().map(timed);
        self.v4.into_iter().map(timed).chain(v6).collect()
    }

    /// Take out the ranges that carry a timeout, as timed elements; the rest stay.
    pub fn take_timed(&mut self) -> Vec<super::Timed> {
        let (t4, rest4): (Vec<_>, Vec<_>) = std::mem::take(&mut self.v4)
            .into_iter()
            .partition(has_timeout);
        let (t6, rest6): (Vec<_>, Vec<_>) = std::mem::take(&mut self.v6)
            .into_iter()
            .partition(has_timeout);
        self.v4 = rest4;
        self.v6 = rest6;
        Held { v4: t4, v6: t6 }.into_timed()
    }

    pub fn from_contents(c: &Contents) -> Self {
        fn ranges<T: AddrBits>(groups: &Groups<T>) -> Vec<KernelRange<T>> {
            let bare = |port: Option<ProtoPort>, range| KernelRange {
                range,
                port,
                timeout_ms: None,
                expires_ms: None,
                comment: None,
            };
            groups
                .iter()
                .flat_map(|(port, set)| set.iter().map(move |iv| bare(*port, *iv)))
                .collect()
        }
        Self {
            v4: ranges(&c.v4),
            v6: ranges(&c.v6),
        }
    }

    /// Canonical contents: ranges merged, extras dropped.
    pub fn contents(&self) -> Contents {
        let v4 = self.v4.iter().map(|r| (AddrRange::V4(r.range), r.port));
        let v6 = self.v6.iter().map(|r| (AddrRange::V6(r.range), r.port));
        Contents::from_ranges(v4.chain(v6))
    }

    /// Both parts together, for reading (membership, listing, export).
    pub fn join(mut self, other: Held) -> Held {
        self.v4.extend(other.v4);
        self.v6.extend(other.v6);
        self
    }
}

/// Per port group: (ranges to remove, ranges to add, unchanged count).
pub type FamilyDiff<T> = Vec<(Option<ProtoPort>, Vec<Interval<T>>, Vec<Interval<T>>, usize)>;

/// The element-exact difference between what a part holds and what is wanted.
pub fn diff_family<T: KernelAddr>(held: &[KernelRange<T>], want: &Groups<T>) -> FamilyDiff<T> {
    let mut held_groups: BTreeMap<Option<ProtoPort>, Vec<Interval<T>>> = BTreeMap::new();
    for r in held {
        held_groups.entry(r.port).or_default().push(r.range);
    }
    let empty = IntervalSet::new();
    let ports: BTreeSet<_> = held_groups.keys().chain(want.keys()).copied().collect();
    ports
        .into_iter()
        .map(|p| {
            let current = held_groups.get(&p).map(Vec::as_slice).unwrap_or(&[]);
            let desired = want.get(&p).unwrap_or(&empty).as_slice();
            let d = palisade_core::diff(current, desired);
            let unchanged = desired.len() - d.add.len();
            (p, d.remove, d.add, unchanged)
        })
        .collect()
}

/// The kernel elements for one range in `part`: interval elements, or a hash key.
fn encode<'a, T: KernelAddr>(
    part: Part,
    iv: Interval<T>,
    port: Option<ProtoPort>,
    extras: Extras<'a>,
) -> impl Iterator<Item = Element<'a>> {
    if part.is_interval() {
        kernel_addr::elements(iv, port, extras)
    } else {
        debug_assert_eq!(iv.first, iv.last, "the singles part holds single addresses");
        kernel_addr::single(iv.first, port, extras)
    }
}

/// Add a diff to the batch; returns (removed, added, unchanged).
pub fn apply_diff<T: KernelAddr>(
    b: &mut Batch,
    set: &str,
    part: Part,
    d: &FamilyDiff<T>,
) -> (usize, usize, usize) {
    let name = kernel_name::<T>(set, part);
    let changed: usize = d
        .iter()
        .map(|(_, remove, add, _)| remove.len() + add.len())
        .sum();
    b.reserve(changed * kernel_addr::encoded_bytes::<T>());
    let mut totals = (0, 0, 0);
    // Deletions first: a range that grows is deleted and re-added with the same first key.
    for (port, remove, _, _) in d {
        let keys = remove
            .iter()
            .flat_map(|iv| encode(part, *iv, *port, Extras::default()));
        b.del_elements(FAMILY, TABLE, &name, keys);
        totals.0 += remove.len();
    }
    for (port, _, add, unchanged) in d {
        let elems = add
            .iter()
            .flat_map(|iv| encode(part, *iv, *port, Extras::default()));
        b.add_elements(FAMILY, TABLE, &name, false, elems);
        totals.1 += add.len();
        totals.2 += unchanged;
    }
    totals
}

/// The ranges of `groups` that overlap any item, found by binary search rather than by
/// walking every range: deleting one address from a million-range set touches only its own.
pub fn overlapping<T: AddrBits>(groups: &Groups<T>, items: &Groups<T>) -> Vec<KernelRange<T>> {
    let mut out = Vec::new();
    for (port, cut) in items {
        let Some(set) = groups.get(port) else {
            continue;
        };
        let ranges = set.as_slice();
        for iv in cut.iter() {
            let start = ranges.partition_point(|r| r.last < iv.first);
            for r in ranges[start..].iter().take_while(|r| r.first <= iv.last) {
                out.push(KernelRange {
                    range: *r,
                    port: *port,
                    timeout_ms: None,
                    expires_ms: None,
                    comment: None,
                });
            }
        }
    }
    out.sort_by_key(|r| (r.port, r.range.first));
    out.dedup_by_key(|r| (r.port, r.range.first));
    out
}

/// Does any range of `set` overlap `iv`? Binary search: the set is sorted and disjoint.
fn overlaps<T: AddrBits>(set: &IntervalSet<T>, iv: Interval<T>) -> bool {
    let s = set.as_slice();
    let i = s.partition_point(|r| r.last < iv.first);
    s.get(i).is_some_and(|r| r.first <= iv.last)
}

/// Remove `items` from the held ranges they overlap; the rest of each such range is put
/// back with that range's remaining timeout and comment. Returns whether anything changed.
pub fn cut_family<T: KernelAddr>(
    b: &mut Batch,
    set: &str,
    part: Part,
    held: &[KernelRange<T>],
    items: &Groups<T>,
) -> bool {
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for r in held {
        let Some(cut) = items.get(&r.port).filter(|cut| overlaps(cut, r.range)) else {
            continue;
        };
        dels.extend(encode(part, r.range, r.port, Extras::default()));
        let extras = Extras {
            timeout_ms: r.expires_ms.filter(|_| r.timeout_ms.is_some()),
            comment: r.comment.as_deref(),
        };
        for piece in IntervalSet::from_unsorted(vec![r.range])
            .difference(cut)
            .iter()
        {
            adds.extend(encode(part, *piece, r.port, extras));
        }
    }
    let name = kernel_name::<T>(set, part);
    let changed = !dels.is_empty();
    b.del_elements(FAMILY, TABLE, &name, dels);
    b.add_elements(FAMILY, TABLE, &name, false, adds);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn overlap_matches_a_naive_scan(raw in proptest::collection::vec((0u32..1000, 0u32..20), 0..30), a in 0u32..1100, len in 0u32..50) {
            let set = IntervalSet::from_unsorted(raw.into_iter().map(|(f, n)| Interval { first: f, last: f + n }).collect());
            let iv = Interval { first: a, last: a + len };
            let naive = set.iter().any(|r| r.first <= iv.last && iv.first <= r.last);
            prop_assert_eq!(overlaps(&set, iv), naive);
        }
    }

    proptest! {
        #[test]
        fn overlapping_finds_exactly_the_touched_ranges(raw in proptest::collection::vec((0u32..1000, 0u32..20), 0..30), cuts in proptest::collection::vec((0u32..1100, 0u32..30), 0..4)) {
            let set = IntervalSet::from_unsorted(raw.into_iter().map(|(f, n)| Interval { first: f, last: f + n }).collect());
            let items = IntervalSet::from_unsorted(cuts.into_iter().map(|(f, n)| Interval { first: f, last: f + n }).collect());
            let got: Vec<_> = overlapping(&Groups::from([(None, set.clone())]), &Groups::from([(None, items.clone())])).into_iter().map(|r| r.range).collect();
            let naive: Vec<_> = set.iter().copied().filter(|r| items.iter().any(|c| r.first <= c.last && c.first <= r.last)).collect();
            prop_assert_eq!(got, naive);
        }
    }

    proptest! {
        /// Ranges and singles together are the contents again; singles hold one address each.
        #[test]
        fn split_singles_partitions(raw in proptest::collection::vec((0u32..2000, 0u32..3), 0..40)) {
            let c = Contents::from_ranges(raw.into_iter().map(|(f, n)| (AddrRange::V4(Interval { first: f, last: f + n }), None)));
            let (ranges, singles) = c.split_singles();
            prop_assert!(singles.v4.values().flat_map(|s| s.iter()).all(|iv| iv.first == iv.last));
            prop_assert!(ranges.v4.values().flat_map(|s| s.iter()).all(|iv| iv.first != iv.last));
            let back = Contents::from_ranges(
                ranges.v4.values().chain(singles.v4.values()).flat_map(|s| s.iter()).map(|iv| (AddrRange::V4(*iv), None)),
            );
            prop_assert_eq!(back, c);
        }
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
        assert_eq!(c.expected_kernel_counts(Part::Bulk), (1, 1));
        assert_eq!(c.expected_kernel_counts(Part::Singles), (2, 1));
        let (ranges, singles) = c.split_singles();
        assert_eq!(ranges.range_counts(), (2, 0));
        assert_eq!(singles.range_counts(), (0, 1));
    }
}
