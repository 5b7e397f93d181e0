use super::*;

const NOW: u64 = 1_800_000_000;

fn origin(s: &str) -> Arc<str> {
    Arc::from(s)
}

fn target(s: &str) -> AddrRange {
    palisade_core::parse_addr_range(s, false).unwrap()
}

fn ban(t: &str, expires: Expiry) -> Record {
    Record::Ban {
        target: target(t),
        source: BanSource::Watch,
        expires,
        reason: "r".into(),
    }
}

fn lift(t: &str) -> Record {
    Record::Lift {
        target: target(t),
        source: BanSource::Watch,
    }
}

fn seq(s: u64) -> u64 {
    NOW * 1_000_000 + s
}

#[test]
fn a_ban_then_its_lift() {
    let mut l = Ledger::new();
    let a = origin("a");
    let c = l.record(&a, (seq(1), 0), ban("192.0.2.1", Expiry::At(NOW + 60)), NOW);
    assert!(matches!(c, Change::Banned(_)));
    assert_eq!(l.active(NOW).count(), 1);
    assert_eq!(
        l.record(&a, (seq(2), 0), lift("192.0.2.1"), NOW),
        Change::Lifted(BanSource::Watch)
    );
    assert_eq!(l.active(NOW).count(), 0);
    // A second lift has nothing left to lift.
    assert_eq!(
        l.record(&a, (seq(3), 0), lift("192.0.2.1"), NOW),
        Change::Nothing
    );
}

#[test]
fn a_ban_arriving_after_its_later_lift_is_superseded() {
    let mut l = Ledger::new();
    let a = origin("a");
    l.record(&a, (seq(2), 0), lift("192.0.2.1"), NOW);
    assert_eq!(
        l.record(&a, (seq(1), 0), ban("192.0.2.1", Expiry::At(NOW + 60)), NOW),
        Change::Dropped(DropReason::Superseded)
    );
    assert_eq!(l.active(NOW).count(), 0);
    // Within one envelope, the later record wins.
    l.record(&a, (seq(3), 0), ban("192.0.2.2", Expiry::At(NOW + 60)), NOW);
    l.record(&a, (seq(3), 1), lift("192.0.2.2"), NOW);
    assert_eq!(l.active(NOW).count(), 0);
}

#[test]
fn origins_do_not_touch_each_others_bans() {
    let mut l = Ledger::new();
    l.record(
        &origin("a"),
        (seq(1), 0),
        ban("192.0.2.1", Expiry::Never),
        NOW,
    );
    assert_eq!(
        l.record(&origin("b"), (seq(2), 0), lift("192.0.2.1"), NOW),
        Change::Nothing
    );
    assert_eq!(l.active(NOW).count(), 1);
    l.record(
        &origin("b"),
        (seq(3), 0),
        ban("192.0.2.1", Expiry::Never),
        NOW,
    );
    l.forget("a");
    let left: Vec<_> = l.active(NOW).map(|(o, _, _)| o.to_string()).collect();
    assert_eq!(left, vec!["b".to_string()]);
}

#[test]
fn an_expired_ban_is_dropped_but_still_replaces_an_older_one() {
    let mut l = Ledger::new();
    let a = origin("a");
    l.record(
        &a,
        (seq(1), 0),
        ban("192.0.2.1", Expiry::At(NOW + 3600)),
        NOW,
    );
    // The origin shortened it to something already over.
    assert_eq!(
        l.record(&a, (seq(2), 0), ban("192.0.2.1", Expiry::At(NOW - 1)), NOW),
        Change::Dropped(DropReason::Expired)
    );
    assert_eq!(l.active(NOW).count(), 0);
}

#[test]
fn prune_keeps_active_bans_and_recent_lifts() {
    let mut l = Ledger::new();
    let a = origin("a");
    l.record(&a, (seq(1), 0), ban("192.0.2.1", Expiry::At(NOW + 10)), NOW);
    l.record(
        &a,
        (seq(2), 0),
        ban("192.0.2.2", Expiry::At(NOW + 100)),
        NOW,
    );
    l.record(&a, (seq(3), 0), lift("192.0.2.3"), NOW);
    l.record(&a, (seq(9), 0), lift("192.0.2.4"), NOW);
    l.prune(NOW + 50, seq(5));
    let mut left: Vec<_> = l.active(NOW + 50).map(|(_, t, _)| t.to_string()).collect();
    left.sort();
    assert_eq!(left, vec!["192.0.2.2".to_string()]);
    assert_eq!(l.len(), 2, "the ban to .2 and the recent lift of .4");
}

#[test]
fn long_own_bans_are_due_for_refresh_before_the_stream_drops_them() {
    let mut l = Ledger::new();
    let me = origin("me");
    let day = 86_400;
    let retention = 7 * day;
    let issued = (NOW - 4 * day) * 1_000_000;
    l.record(&me, (issued, 0), ban("192.0.2.1", Expiry::Never), NOW);
    l.record(
        &me,
        (issued, 1),
        ban("192.0.2.2", Expiry::At(NOW + 30 * day)),
        NOW,
    );
    l.record(
        &me,
        (issued, 2),
        ban("192.0.2.3", Expiry::At(NOW + day)),
        NOW,
    );
    l.record(
        &origin("peer"),
        (issued, 0),
        ban("192.0.2.4", Expiry::Never),
        NOW,
    );
    let fresh = NOW * 1_000_000;
    l.record(&me, (fresh, 0), ban("192.0.2.5", Expiry::Never), NOW);
    let mut due: Vec<String> = l
        .due_for_refresh("me", NOW, retention)
        .iter()
        .map(|r| r.target().to_string())
        .collect();
    due.sort();
    // .3 ends before the stream drops it; .4 is not ours; .5 was just published.
    assert_eq!(due, vec!["192.0.2.1".to_string(), "192.0.2.2".to_string()]);
}
