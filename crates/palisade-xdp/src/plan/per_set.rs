//! Changes to one set at a time: what [`crate::Xdp::replace_set`] and
//! [`crate::Xdp::withdraw`] write.
//!
//! A full sync needs every set's contents. palisade's commands change one set at a time and
//! have only that set in hand: a load its new contents, an unblock the addresses it removed.
//! These plans touch only the entries that set owns and leave the other sets' entries as they
//! are, under the owner rule of [`super::beats`].
//!
//! Both plans only ever err towards dropping less than nftables: where another set also held a
//! prefix this set owned, deleting the entry stops the drop at XDP until the next full sync,
//! and nftables keeps dropping meanwhile. Never the other way round.

use palisade_core::{Interval, IntervalSet};

use super::{beats, merge_add};
use crate::layout::{DropValue, SetId};
use crate::prefix::{interval_prefixes, Prefix, TrieAddr};
use crate::time::KernelTime;

/// Deletions, then writes, for one family's drop trie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetPlan<T> {
    pub delete: Vec<Prefix<T>>,
    pub write: Vec<(Prefix<T>, DropValue)>,
}

impl<T> Default for SetPlan<T> {
    fn default() -> Self {
        SetPlan {
            delete: Vec::new(),
            write: Vec::new(),
        }
    }
}

impl<T> SetPlan<T> {
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.write.is_empty()
    }
}

/// Make set `set` own exactly `desired` (sorted by prefix, one value per prefix, as
/// [`super::Desired::compute`] makes it) in a trie holding `current` (every set's entries, in
/// any order). A desired prefix another set owns keeps the better owner; a prefix the set owned
/// and no longer wants is deleted.
pub fn plan_replace<T: TrieAddr>(
    mut current: Vec<(Prefix<T>, DropValue)>,
    set: SetId,
    desired: &[(Prefix<T>, DropValue)],
    now: KernelTime,
) -> SetPlan<T> {
    current.sort_unstable_by_key(|e| e.0);
    current.dedup_by(|a, b| a.0 == b.0);
    let mut out = SetPlan::default();
    let (mut i, mut j) = (0, 0);
    while i < current.len() || j < desired.len() {
        match (current.get(i), desired.get(j)) {
            (Some(c), Some(d)) if c.0 == d.0 => {
                out.write
                    .extend(merge_add(Some(c.1), d.1, now).map(|v| (d.0, v)));
                i += 1;
                j += 1;
            }
            (Some(c), d) if d.is_none_or(|d| c.0 < d.0) => {
                if c.1.set == set {
                    out.delete.push(c.0);
                }
                i += 1;
            }
            (_, Some(d)) => {
                out.write
                    .extend(merge_add(None, d.1, now).map(|v| (d.0, v)));
                j += 1;
            }
            (_, None) => unreachable!("loop runs while either side has elements"),
        }
    }
    out
}

/// Set `set` no longer holds the addresses `removed`. `owned` are the entries that may be
/// touched: every entry overlapping `removed` (the caller finds them; entries of other sets
/// among them are skipped). Each of the set's entries overlapping `removed` is deleted, and
/// what it covered outside `removed` is written back as the shortest prefixes, with the
/// entry's own deadline; where two such pieces land on one prefix, the better owner wins.
///
/// The writes are candidates: the caller writes each only where the trie holds nothing
/// better at that exact prefix ([`super::merge_longer`]).
pub fn plan_withdraw<T: TrieAddr>(
    owned: &[(Prefix<T>, DropValue)],
    set: SetId,
    removed: &IntervalSet<T>,
    now: KernelTime,
) -> SetPlan<T> {
    let mut out = SetPlan::default();
    for &(p, v) in owned {
        if v.set != set || !overlaps(removed, p.interval()) {
            continue;
        }
        out.delete.push(p);
        if v.expired_at(now) {
            continue;
        }
        let rest = IntervalSet::from_unsorted(vec![p.interval()]).difference(removed);
        for iv in rest.iter() {
            out.write.extend(interval_prefixes(*iv).map(|q| {
                let value = DropValue {
                    prefix_len: q.len(),
                    ..v
                };
                (q, value)
            }));
        }
    }
    out.delete.sort_unstable();
    out.delete.dedup();
    // Best first within a prefix, then keep the first of each.
    out.write
        .sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| rank_order(&b.1, &a.1)));
    out.write.dedup_by(|later, kept| later.0 == kept.0);
    out
}

fn rank_order(a: &DropValue, b: &DropValue) -> std::cmp::Ordering {
    if beats(a, b) {
        std::cmp::Ordering::Greater
    } else if beats(b, a) {
        std::cmp::Ordering::Less
    } else {
        std::cmp::Ordering::Equal
    }
}

/// Does any range of `set` share an address with `iv`?
pub fn overlaps<T: TrieAddr>(set: &IntervalSet<T>, iv: Interval<T>) -> bool {
    let s = set.as_slice();
    // The first range that ends at or after iv.first.
    let i = s.partition_point(|r| r.last < iv.first);
    s.get(i).is_some_and(|r| r.first <= iv.last)
}

/// True when every range of `removed` is a single address: then the entries it touches are
/// exactly those on the path from the root to each address, found by longest-match lookups,
/// and nothing has to be walked.
pub fn only_single_addresses<T: TrieAddr>(removed: &IntervalSet<T>) -> bool {
    removed.iter().all(|iv| iv.first == iv.last)
}
