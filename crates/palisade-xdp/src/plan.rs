//! What the maps should hold, and the fewest writes that get them there.
//!
//! A full sync reads what the tries hold, computes what they should hold from palisade's sets,
//! and writes only the difference: reloading a million-entry blocklist that changed a little
//! costs a little, and the program keeps dropping throughout (no empty window).
//!
//! One trie entry per prefix, so when two sets hold the same prefix one of them owns the entry
//! (its id picks the counter, its deadline decides when the entry stops dropping). The owner is
//! the one that drops longest: a permanent entry beats a timed one, a later deadline beats an
//! earlier one, and between equals the lower set id wins. That choice never drops after every
//! ban on the prefix has ended, and never stops early while one is still running.
//!
//! Entries whose deadline has passed are left out of the desired state, so every sync also
//! deletes expired entries (the program already ignores them; deleting frees the memory).

use std::cmp::Reverse;

use palisade_core::{AddrRange, IntervalSet};

use crate::layout::{DropValue, SetId};
use crate::prefix::{interval_prefixes, Prefix, TrieAddr};
use crate::time::KernelTime;

pub mod per_set;

/// One element of a drop set: a range and, for a timed ban, when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub range: AddrRange,
    pub expires: Option<KernelTime>,
}

/// A drop set as palisade holds it: its counter id, its name (for messages) and its elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropSet {
    pub id: SetId,
    pub name: String,
    pub entries: Vec<Entry>,
}

/// How long an owner keeps dropping, with the tie-break: larger is the better owner.
fn rank(v: &DropValue) -> (u64, Reverse<u8>) {
    (
        v.expires.map_or(u64::MAX, KernelTime::as_nanos),
        Reverse(v.set.0),
    )
}

/// True when `a` should own a prefix that `b` also holds (see the module header).
pub fn beats(a: &DropValue, b: &DropValue) -> bool {
    rank(a) > rank(b)
}

/// The content one family's tries should have: sorted by prefix, one value per prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired<T> {
    pub drops: Vec<(Prefix<T>, DropValue)>,
    pub allow: Vec<Prefix<T>>,
}

impl<T: TrieAddr> Desired<T> {
    /// From palisade's drop sets and allowlist, as of `now` (entries already expired are left
    /// out).
    pub fn compute(sets: &[DropSet], allow: &[AddrRange], now: KernelTime) -> Self {
        let mut drops = Vec::new();
        for set in sets {
            for e in &set.entries {
                if e.expires.is_some_and(|t| t.has_passed(now)) {
                    continue;
                }
                let Some(iv) = T::interval_of(&e.range) else {
                    continue;
                };
                drops.extend(interval_prefixes(iv).map(|p| {
                    let v = DropValue {
                        expires: e.expires,
                        set: set.id,
                        prefix_len: p.len(),
                    };
                    (p, v)
                }));
            }
        }
        // Best owner first within each prefix, then keep only the first of each prefix.
        drops.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| rank(&b.1).cmp(&rank(&a.1))));
        drops.dedup_by(|later, kept| later.0 == kept.0);
        Desired {
            drops,
            allow: allow_prefixes(allow),
        }
    }
}

/// The allowlist as few prefixes as possible: overlapping and adjacent ranges are merged
/// first, since an allowlist has no per-entry data to keep apart.
pub fn allow_prefixes<T: TrieAddr>(allow: &[AddrRange]) -> Vec<Prefix<T>> {
    let merged: IntervalSet<T> = allow.iter().filter_map(T::interval_of).collect();
    merged
        .iter()
        .flat_map(|iv| interval_prefixes(*iv))
        .collect()
}

/// The writes that turn one family's tries into the desired content, in the order they must
/// be applied so that no packet is dropped that neither the old nor the new state drops:
/// new allowlist entries first, then drop deletions, then drop writes, then allowlist
/// deletions last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapPlan<T> {
    pub allow_add: Vec<Prefix<T>>,
    pub drop_delete: Vec<Prefix<T>>,
    pub drop_write: Vec<(Prefix<T>, DropValue)>,
    pub allow_delete: Vec<Prefix<T>>,
    /// How many of `drop_delete` go because they had expired.
    pub expired: usize,
}

impl<T> MapPlan<T> {
    pub fn is_empty(&self) -> bool {
        self.allow_add.is_empty()
            && self.drop_delete.is_empty()
            && self.drop_write.is_empty()
            && self.allow_delete.is_empty()
    }
}

/// Compare what the tries hold (in any order, as read back from the kernel) with `desired`.
/// Linear after sorting the current content.
pub fn plan<T: TrieAddr>(
    mut current_drops: Vec<(Prefix<T>, DropValue)>,
    mut current_allow: Vec<Prefix<T>>,
    desired: &Desired<T>,
    now: KernelTime,
) -> MapPlan<T> {
    current_drops.sort_unstable_by_key(|d| d.0);
    current_drops.dedup_by(|a, b| a.0 == b.0);
    current_allow.sort_unstable();
    current_allow.dedup();

    let mut out = MapPlan {
        allow_add: Vec::new(),
        drop_delete: Vec::new(),
        drop_write: Vec::new(),
        allow_delete: Vec::new(),
        expired: 0,
    };
    let want = &desired.drops;
    let (mut i, mut j) = (0, 0);
    while i < current_drops.len() || j < want.len() {
        let cur = current_drops.get(i);
        let des = want.get(j);
        match (cur, des) {
            (Some(c), Some(d)) if c.0 == d.0 => {
                if c.1 != d.1 {
                    out.drop_write.push(*d);
                }
                i += 1;
                j += 1;
            }
            (Some(c), d) if d.is_none_or(|d| c.0 < d.0) => {
                out.drop_delete.push(c.0);
                out.expired += usize::from(c.1.expired_at(now));
                i += 1;
            }
            (_, Some(d)) => {
                out.drop_write.push(*d);
                j += 1;
            }
            (_, None) => unreachable!("loop runs while either side has elements"),
        }
    }
    let (add, del) = sorted_difference(&current_allow, &desired.allow);
    out.allow_add = add;
    out.allow_delete = del;
    out
}

/// `(in desired but not current, in current but not desired)` for two sorted, unique lists.
pub(crate) fn sorted_difference<P: Ord + Copy>(current: &[P], desired: &[P]) -> (Vec<P>, Vec<P>) {
    let (mut add, mut del) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < current.len() || j < desired.len() {
        match (current.get(i), desired.get(j)) {
            (Some(c), Some(d)) if c == d => {
                i += 1;
                j += 1;
            }
            (Some(c), d) if d.is_none_or(|d| c < d) => {
                del.push(*c);
                i += 1;
            }
            (_, Some(d)) => {
                add.push(*d);
                j += 1;
            }
            (_, None) => unreachable!("loop runs while either side has elements"),
        }
    }
    (add, del)
}

/// A set's own value `new` on a prefix whose exact entry is `existing`, when the set's contents
/// are replaced (see `per_set::plan_replace`): the value to write, or `None` to leave the entry.
///
/// The set that owns the entry may change its own element either way (a load that makes a
/// timed element permanent, or the reverse). Another set's entry is replaced only when `new`
/// beats it. An expired entry counts as absent, and an already expired `new` is never
/// written.
pub fn merge_add(
    existing: Option<DropValue>,
    new: DropValue,
    now: KernelTime,
) -> Option<DropValue> {
    match existing {
        Some(old) if old.set == new.set && old != new && !new.expired_at(now) => Some(new),
        _ => merge_longer(existing, new, now),
    }
}

/// An incremental add as palisade's sets make it: where the trie holds the prefix already, the
/// entry that drops longer stays, whichever set owns it (a set's recent part keeps an element
/// that outlives a new one, as `palisade set add` does). An expired entry counts as absent, and
/// an already expired `new` is never written.
pub fn merge_longer(
    existing: Option<DropValue>,
    new: DropValue,
    now: KernelTime,
) -> Option<DropValue> {
    if new.expired_at(now) {
        return None;
    }
    match existing {
        Some(old) if !old.expired_at(now) && !beats(&new, &old) => None,
        _ => Some(new),
    }
}

/// An incremental remove of `set`'s element on a prefix whose exact entry is `existing`: true
/// when the entry should be deleted. Only the owner's removal deletes it; a prefix owned by
/// another set keeps dropping, because that set still lists it.
pub fn owned_by(existing: &DropValue, set: SetId) -> bool {
    existing.set == set
}

#[cfg(test)]
mod model;
#[cfg(test)]
mod per_set_tests;
#[cfg(test)]
mod tests;
