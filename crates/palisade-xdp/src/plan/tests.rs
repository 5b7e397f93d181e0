use std::collections::BTreeMap;

use proptest::prelude::*;

use super::model::*;
use super::*;

#[test]
fn permanent_beats_timed_and_later_beats_earlier_whatever_the_set_order() {
    let p = range("192.0.2.1", "192.0.2.1");
    let sets = [
        set(1, &[(p, Some(500))]),
        set(2, &[(p, None)]),
        set(3, &[(p, Some(900))]),
    ];
    let d = Desired::<u32>::compute(&sets, &[], t(100));
    assert_eq!(d.drops.len(), 1);
    assert_eq!(d.drops[0].1.set, SetId(2));
    assert_eq!(d.drops[0].1.expires, None);

    let mut rev = sets.clone();
    rev.reverse();
    assert_eq!(Desired::<u32>::compute(&rev, &[], t(100)), d);

    let timed_only = [set(1, &[(p, Some(500))]), set(3, &[(p, Some(900))])];
    let d = Desired::<u32>::compute(&timed_only, &[], t(100));
    assert_eq!(d.drops[0].1.set, SetId(3));

    let tie = [set(4, &[(p, Some(500))]), set(1, &[(p, Some(500))])];
    let d = Desired::<u32>::compute(&tie, &[], t(100));
    assert_eq!(d.drops[0].1.set, SetId(1));
}

#[test]
fn expired_entries_are_left_out_and_deleted() {
    let sets = [set(
        0,
        &[
            (range("10.0.0.1", "10.0.0.1"), Some(50)),
            (range("10.0.0.2", "10.0.0.2"), Some(500)),
        ],
    )];
    let now = t(100);
    let d = Desired::<u32>::compute(&sets, &[], now);
    assert_eq!(d.drops.len(), 1);
    let stale = DropValue {
        expires: Some(t(50)),
        set: SetId(0),
        prefix_len: 32,
    };
    let current = vec![(Prefix::new(v4("10.0.0.1"), 32).unwrap(), stale)];
    let p = plan(current, vec![], &d, now);
    assert_eq!(
        p.drop_delete,
        vec![Prefix::new(v4("10.0.0.1"), 32).unwrap()]
    );
    assert_eq!(p.expired, 1);
    assert_eq!(p.drop_write.len(), 1);
}

#[test]
fn an_unchanged_state_plans_nothing_and_a_changed_deadline_rewrites_in_place() {
    let sets = [set(0, &[(range("10.0.0.0", "10.0.0.255"), Some(1_000))])];
    let allow = [range("10.0.0.7", "10.0.0.7")];
    let d = Desired::<u32>::compute(&sets, &allow, t(0));
    let p = plan(d.drops.clone(), d.allow.clone(), &d, t(0));
    assert!(p.is_empty());

    let later = [set(0, &[(range("10.0.0.0", "10.0.0.255"), Some(2_000))])];
    let d2 = Desired::<u32>::compute(&later, &allow, t(0));
    let p = plan(d.drops.clone(), d.allow.clone(), &d2, t(0));
    assert!(p.drop_delete.is_empty());
    assert_eq!(p.drop_write, d2.drops);
}

#[test]
fn the_allowlist_is_merged_into_few_prefixes() {
    let allow = [
        range("10.0.0.0", "10.0.0.127"),
        range("10.0.0.128", "10.0.0.255"),
        range("10.0.0.5", "10.0.0.9"),
    ];
    assert_eq!(
        allow_prefixes::<u32>(&allow),
        vec![Prefix::new(v4("10.0.0.0"), 24).unwrap()]
    );
    assert!(allow_prefixes::<u128>(&allow).is_empty());
}

#[test]
fn incremental_adds_respect_the_owner_and_never_write_expired_entries() {
    let now = t(100);
    let v = |set: u8, exp: Option<u64>| DropValue {
        expires: exp.map(t),
        set: SetId(set),
        prefix_len: 32,
    };
    assert_eq!(merge_add(None, v(1, Some(200)), now), Some(v(1, Some(200))));
    assert_eq!(
        merge_add(None, v(1, Some(100)), now),
        None,
        "already expired"
    );
    assert_eq!(merge_add(Some(v(2, None)), v(1, Some(900)), now), None);
    assert_eq!(
        merge_add(Some(v(2, Some(300))), v(1, Some(900)), now),
        Some(v(1, Some(900)))
    );
    // The owner shortens its own ban.
    assert_eq!(
        merge_add(Some(v(1, Some(900))), v(1, Some(200)), now),
        Some(v(1, Some(200)))
    );
    // An expired owner counts as absent.
    assert_eq!(
        merge_add(Some(v(2, Some(50))), v(1, Some(200)), now),
        Some(v(1, Some(200)))
    );
    assert_eq!(merge_add(Some(v(1, None)), v(1, None), now), None);
    // Additions as palisade's sets make them: the longer-lived entry stays, whatever the set.
    assert_eq!(
        merge_longer(Some(v(1, Some(900))), v(1, Some(200)), now),
        None
    );
    assert_eq!(
        merge_longer(Some(v(1, Some(200))), v(1, Some(900)), now),
        Some(v(1, Some(900)))
    );
    assert_eq!(merge_longer(Some(v(2, None)), v(1, Some(900)), now), None);
    assert_eq!(
        merge_longer(Some(v(2, Some(50))), v(1, Some(60)), now),
        None,
        "both expired"
    );
    assert_eq!(
        merge_longer(Some(v(2, Some(50))), v(1, Some(200)), now),
        Some(v(1, Some(200)))
    );
    assert!(owned_by(&v(1, None), SetId(1)));
    assert!(!owned_by(&v(1, None), SetId(2)));
}

proptest! {
    /// Whatever the maps held before, a sync leaves exactly the desired content, and the
    /// program then drops exactly what nftables drops: at the sync's instant and at every
    /// later instant without another sync (expiry is checked by the program itself).
    #[test]
    fn sync_then_program_agrees_with_the_reference(
        before in arb_sets(),
        after in arb_sets(),
        allow in prop::collection::vec(arb_range(), 0..3),
        old_allow in prop::collection::vec(arb_range(), 0..3),
        now in 0u64..10,
        later in 0u64..25,
    ) {
        let now = t(now);
        let old = Desired::<u32>::compute(&before, &old_allow, now);
        let mut drops: BTreeMap<_, _> = old.drops.iter().copied().collect();
        let mut allowed = old.allow.clone();
        let want = Desired::<u32>::compute(&after, &allow, now);
        let p = plan(drops.iter().map(|(k, v)| (*k, *v)).collect(), allowed.clone(), &want, now);
        apply(&mut drops, &mut allowed, &p);
        prop_assert_eq!(drops.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), want.drops.clone());
        allowed.sort();
        prop_assert_eq!(&allowed, &want.allow);
        for when in [now, t(now.as_nanos() + later)] {
            for a in 0..18u32 {
                let addr = v4("10.0.0.0") + a;
                prop_assert_eq!(
                    program_drops(&drops, &allowed, addr, when),
                    reference_drops(&after, &allow, addr, when),
                    "address {} at {:?}", addr, when
                );
            }
        }
    }

    /// Applied one write at a time in the plan's order, no intermediate state drops a packet
    /// that neither the old nor the new state drops.
    #[test]
    fn no_intermediate_state_drops_more_than_old_or_new(
        before in arb_sets(),
        after in arb_sets(),
        old_allow in prop::collection::vec(arb_range(), 0..3),
        allow in prop::collection::vec(arb_range(), 0..3),
    ) {
        let now = t(0);
        let old = Desired::<u32>::compute(&before, &old_allow, now);
        let want = Desired::<u32>::compute(&after, &allow, now);
        let p = plan(old.drops.clone(), old.allow.clone(), &want, now);
        let mut drops: BTreeMap<_, _> = old.drops.iter().copied().collect();
        let mut allowed = old.allow.clone();
        let mut ops: Vec<Box<ModelOp>> = Vec::new();
        for &a in &p.allow_add {
            ops.push(Box::new(move |_, al| al.push(a)));
        }
        for &k in &p.drop_delete {
            ops.push(Box::new(move |d, _| { d.remove(&k); }));
        }
        for &(k, v) in &p.drop_write {
            ops.push(Box::new(move |d, _| { d.insert(k, v); }));
        }
        for &a in &p.allow_delete {
            ops.push(Box::new(move |_, al| al.retain(|x| *x != a)));
        }
        for op in ops {
            op(&mut drops, &mut allowed);
            for a in 0..18u32 {
                let addr = v4("10.0.0.0") + a;
                if program_drops(&drops, &allowed, addr, now) {
                    prop_assert!(
                        reference_drops(&before, &old_allow, addr, now)
                            || reference_drops(&after, &allow, addr, now),
                        "address {} dropped in between", addr
                    );
                }
            }
        }
    }
}
