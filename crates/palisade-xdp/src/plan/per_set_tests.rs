//! The per-set plans against the model: they never make the program drop what nftables would
//! not, and they keep dropping what the changed set still holds.

use std::collections::BTreeMap;

use palisade_core::{Interval, IntervalSet};
use proptest::prelude::*;

use super::model::*;
use super::per_set::*;
use super::*;

type Trie = BTreeMap<Prefix<u32>, DropValue>;

fn trie_of(sets: &[DropSet], now: KernelTime) -> Trie {
    Desired::<u32>::compute(sets, &[], now)
        .drops
        .into_iter()
        .collect()
}

/// Apply a plan's deletions, then its writes; with `careful`, a write lands only where the
/// trie holds nothing better (as `Xdp::withdraw` does).
fn apply_set_plan(trie: &mut Trie, p: &SetPlan<u32>, careful: bool, now: KernelTime) {
    for k in &p.delete {
        trie.remove(k);
    }
    for (k, v) in &p.write {
        if careful && merge_longer(trie.get(k).copied(), *v, now).is_none() {
            continue;
        }
        trie.insert(*k, *v);
    }
}

fn entries(t: &Trie) -> Vec<(Prefix<u32>, DropValue)> {
    t.iter().map(|(k, v)| (*k, *v)).collect()
}

/// The world with set `id`'s entries cut by `removed` (each piece keeps its deadline).
fn without(sets: &[DropSet], id: SetId, removed: &IntervalSet<u32>) -> Vec<DropSet> {
    sets.iter()
        .map(|s| {
            if s.id != id {
                return s.clone();
            }
            let entries = s
                .entries
                .iter()
                .flat_map(|e| {
                    let AddrRange::V4(iv) = e.range else {
                        unreachable!("the model is IPv4")
                    };
                    IntervalSet::from_unsorted(vec![iv])
                        .difference(removed)
                        .iter()
                        .map(|piece| Entry {
                            range: AddrRange::V4(*piece),
                            expires: e.expires,
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            DropSet {
                entries,
                ..s.clone()
            }
        })
        .collect()
}

fn addrs() -> impl Iterator<Item = u32> {
    (0..18u32).map(|a| v4("10.0.0.0") + a)
}

#[test]
fn an_unblocked_address_inside_a_network_is_cut_out_of_it() {
    let now = t(0);
    let sets = [set(0, &[(range("10.0.0.0", "10.0.0.15"), None)])];
    let mut trie = trie_of(&sets, now);
    let removed = IntervalSet::from_unsorted(vec![Interval::single(v4("10.0.0.5"))]);
    let p = plan_withdraw(&entries(&trie), SetId(0), &removed, now);
    assert_eq!(p.delete, vec![Prefix::new(v4("10.0.0.0"), 28).unwrap()]);
    let pieces: Vec<String> = p.write.iter().map(|(q, _)| q.to_string()).collect();
    assert_eq!(
        pieces,
        ["10.0.0.0/30", "10.0.0.4/32", "10.0.0.6/31", "10.0.0.8/29"]
    );
    apply_set_plan(&mut trie, &p, true, now);
    for a in addrs().take(16) {
        assert_eq!(program_drops(&trie, &[], a, now), a != v4("10.0.0.5"));
    }
}

#[test]
fn another_sets_entries_are_left_alone() {
    let now = t(0);
    let sets = [
        set(0, &[(range("10.0.0.0", "10.0.0.3"), None)]),
        set(1, &[(range("10.0.0.8", "10.0.0.8"), None)]),
    ];
    let trie = trie_of(&sets, now);
    let removed =
        IntervalSet::from_unsorted(vec![Interval::new(v4("10.0.0.0"), v4("10.0.0.15")).unwrap()]);
    let p = plan_withdraw(&entries(&trie), SetId(0), &removed, now);
    assert_eq!(p.delete, vec![Prefix::new(v4("10.0.0.0"), 30).unwrap()]);
    assert!(p.write.is_empty());
    let r = plan_replace(entries(&trie), SetId(1), &[], now);
    assert_eq!(r.delete, vec![Prefix::new(v4("10.0.0.8"), 32).unwrap()]);
    assert!(r.write.is_empty());
}

#[test]
fn overlap_and_single_address_checks() {
    let s = IntervalSet::from_unsorted(vec![
        Interval::new(5u32, 7).unwrap(),
        Interval::single(20u32),
    ]);
    assert!(overlaps(&s, Interval::new(0, 5).unwrap()));
    assert!(overlaps(&s, Interval::new(7, 9).unwrap()));
    assert!(!overlaps(&s, Interval::new(8, 19).unwrap()));
    assert!(overlaps(&s, Interval::new(8, 30).unwrap()));
    assert!(!overlaps(&s, Interval::new(21, 30).unwrap()));
    assert!(!only_single_addresses(&s));
    assert!(only_single_addresses(&IntervalSet::from_unsorted(vec![
        Interval::single(1u32),
        Interval::single(9u32)
    ])));
}

proptest! {
    /// Replacing one set's entries: the program drops nothing the new world does not, and
    /// everything the replaced set now holds, at the instant of the change.
    #[test]
    fn replacing_a_set_is_safe_and_complete_for_that_set(
        before in arb_sets(),
        id in 0u8..4,
        new in prop::collection::vec((arb_range(), prop::option::of(1u64..20)), 0..6),
        now in 0u64..10,
        later in 0u64..25,
    ) {
        let now = t(now);
        let mut trie = trie_of(&before, now);
        let replacement = set(id, &new);
        let want = Desired::<u32>::compute(std::slice::from_ref(&replacement), &[], now);
        let p = plan_replace(entries(&trie), SetId(id), &want.drops, now);
        apply_set_plan(&mut trie, &p, false, now);
        let mut after: Vec<DropSet> = before.iter().filter(|s| s.id != SetId(id)).cloned().collect();
        after.push(replacement.clone());
        for when in [now, t(now.as_nanos() + later)] {
            for a in addrs() {
                if program_drops(&trie, &[], a, when) {
                    prop_assert!(reference_drops(&after, &[], a, when), "{} dropped at {:?}", a, when);
                }
            }
        }
        for a in addrs() {
            if reference_drops(std::slice::from_ref(&replacement), &[], a, now) {
                prop_assert!(program_drops(&trie, &[], a, now), "{} not dropped", a);
            }
        }
    }

    /// Withdrawing addresses from one set: nothing the new world does not drop is dropped, now
    /// or later; what was dropped outside the withdrawn addresses still is.
    #[test]
    fn withdrawing_is_safe_and_keeps_the_rest(
        before in arb_sets(),
        id in 0u8..4,
        removed in prop::collection::vec((0u32..18, 0u32..3), 1..4),
        now in 0u64..10,
        later in 0u64..25,
    ) {
        let now = t(now);
        let base = v4("10.0.0.0");
        let removed = IntervalSet::from_unsorted(
            removed.iter().map(|&(a, n)| Interval::new(base + a, base + a + n).unwrap()).collect(),
        );
        let mut trie = trie_of(&before, now);
        let old = trie.clone();
        let touched: Vec<_> = entries(&trie)
            .into_iter()
            .filter(|(p, _)| overlaps(&removed, p.interval()))
            .collect();
        let p = plan_withdraw(&touched, SetId(id), &removed, now);
        apply_set_plan(&mut trie, &p, true, now);
        let after = without(&before, SetId(id), &removed);
        for when in [now, t(now.as_nanos() + later)] {
            for a in addrs() {
                if program_drops(&trie, &[], a, when) {
                    prop_assert!(reference_drops(&after, &[], a, when), "{} dropped at {:?}", a, when);
                }
            }
        }
        for a in addrs().filter(|a| !removed.contains(*a)) {
            if program_drops(&old, &[], a, now) && reference_drops(&after, &[], a, now) {
                prop_assert!(program_drops(&trie, &[], a, now), "{} no longer dropped", a);
            }
        }
    }
}
