//! The batch pieces that change a set's parts: element-exact diffs, cuts, timed additions.
//!
//! Nothing here reads the kernel or commits: each function is given what a part holds and
//! what is wanted, and puts the messages that make the difference into a [`Batch`]. The
//! callers (loads, edits, the policy's apply) compose them into one transaction.

use super::def::Timed;
use super::held::Exact;
use super::kernel_addr::{self, Extras, KernelAddr, KernelRange};
use super::layout::{kernel_name, Part, FAMILY, TABLE};
use palisade_core::{AddrBits, Groups, Interval, IntervalSet, ProtoPort};
use palisade_nft::{Batch, Element};
use std::collections::BTreeSet;

/// Per port group: (ranges to remove, ranges to add, unchanged count).
pub type FamilyDiff<T> = Vec<(Option<ProtoPort>, Vec<Interval<T>>, Vec<Interval<T>>, usize)>;

/// The element-exact difference between what a part holds and what is wanted.
pub fn diff_family<T: KernelAddr>(held_groups: &Exact<T>, want: &Groups<T>) -> FamilyDiff<T> {
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
        // A hash part holds one key per element: an address, or a network's first address.
        debug_assert!(
            matches!(part, Part::Prefix(_)) || iv.first == iv.last,
            "the singles part holds single addresses"
        );
        kernel_addr::single(iv.first, port, extras)
    }
}

/// Add a diff to the batch; returns (removed, added, unchanged).
pub fn stage_diff<T: KernelAddr>(
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
                out.push(KernelRange::bare(*r, *port));
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
        dels.push(r.clone());
        for piece in IntervalSet::from_unsorted(vec![r.range])
            .difference(cut)
            .iter()
        {
            adds.push(KernelRange {
                range: *piece,
                ..r.clone()
            });
        }
    }
    stage_replace(b, set, part, &dels, &adds);
    !dels.is_empty()
}

/// Put into `b` the deletion of `remove` (elements exactly as the part holds them) and the
/// addition of `add`, each keeping its remaining time and comment.
pub fn stage_replace<T: KernelAddr>(
    b: &mut Batch,
    set: &str,
    part: Part,
    remove: &[KernelRange<T>],
    add: &[KernelRange<T>],
) {
    let name = kernel_name::<T>(set, part);
    let dels = remove
        .iter()
        .flat_map(|r| encode(part, r.range, r.port, Extras::default()));
    b.del_elements(FAMILY, TABLE, &name, dels);
    let adds = add.iter().flat_map(|r| {
        let extras = Extras {
            timeout_ms: r.expires_ms.filter(|_| r.timeout_ms.is_some()),
            comment: r.comment.as_deref(),
        };
        encode(part, r.range, r.port, extras)
    });
    b.add_elements(FAMILY, TABLE, &name, false, adds);
}

/// Put into `b` the `keep` items of family `T` as elements of `part` (one element per address
/// in the hash part, a range's elements in an interval part), each with its own time left.
pub fn stage_timed<T: KernelAddr>(
    b: &mut Batch,
    name: &str,
    part: Part,
    items: &[Timed],
    keep: &dyn Fn(&Timed) -> bool,
) {
    let elements = items.iter().filter(|t| keep(t)).filter_map(|t| {
        let iv = T::of(t.addr)?;
        let extras = Extras {
            timeout_ms: t.remaining.map(|d| d.as_millis().max(1) as u64),
            comment: t.comment.as_deref(),
        };
        Some(if part.is_interval() {
            kernel_addr::elements(iv, t.port, extras)
        } else {
            kernel_addr::single(iv.first, t.port, extras)
        })
    });
    b.add_elements(
        FAMILY,
        TABLE,
        &kernel_name::<T>(name, part),
        false,
        elements.flatten(),
    );
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
}
