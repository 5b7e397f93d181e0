//! Shared blocklists: published once, delivered whole to every host that accepts them, a
//! change delivered as a new version, an unchanged one not at all.

mod support;

use std::time::Duration;

use palisade_core::{Interval, IntervalSet};
use support::*;

const WAIT: Duration = Duration::from_secs(20);

/// 10,000 /30 networks spread over 100.64.0.0/10, shifted by `shift` for the first `n`.
fn list(changed: u32) -> IntervalSet<u32> {
    IntervalSet::from_unsorted(
        (0..10_000u32)
            .map(|i| {
                let base = 0x6440_0000 + i * 64 + if i < changed { 32 } else { 0 };
                Interval::from_prefix(base, 30).unwrap()
            })
            .collect(),
    )
}

#[test]
fn a_shared_list_reaches_every_host_and_a_one_percent_change_is_a_new_version() {
    if !require() {
        return;
    }
    let lab = Lab::new(1, 3);
    let m = lab.members(&["a", "b", "c"], |n| match n {
        "a" => "[fleet.share]\nlists = [\"drop\"]\n".to_string(),
        // b never takes 100.64.0.1, which is in the list's first network.
        "b" => "allow = [\"100.64.0.1\"]\n[fleet.accept]\nlists = [\"drop\"]\n".to_string(),
        _ => "[fleet.accept]\nlists = [\"drop\"]\n".to_string(),
    });
    let p = m[0].fleet().publisher();
    p.publish_list("drop", list(0), IntervalSet::new()).unwrap();
    for peer in &m[1..] {
        assert!(
            peer.sink.wait(WAIT, |r| r.lists.len() == 1),
            "{}",
            peer.name
        );
    }
    let first = m[2].sink.with(|r| r.lists[0].clone());
    assert_eq!((first.name.as_str(), first.origin.as_str()), ("drop", "a"));
    assert_eq!(first.v4, list(0));
    let b_first = m[1].sink.with(|r| r.lists[0].clone());
    assert!(!b_first.v4.contains(0x6440_0001), "the allowlist wins");
    assert_eq!(b_first.v4.address_count(), list(0).address_count() - 1);
    assert_eq!(
        b_first.digest, first.digest,
        "the digest is of what was published"
    );

    // 1% of the entries move.
    p.publish_list("drop", list(100), IntervalSet::new())
        .unwrap();
    for peer in &m[1..] {
        assert!(
            peer.sink.wait(WAIT, |r| r.lists.len() == 2),
            "{}",
            peer.name
        );
    }
    let second = m[2].sink.with(|r| r.lists[1].clone());
    assert!(second.version > first.version);
    assert_ne!(second.digest, first.digest);
    assert_eq!(second.v4, list(100));

    // The same contents again are not a new version; the next real change is.
    p.publish_list("drop", list(100), IntervalSet::new())
        .unwrap();
    p.publish_list("drop", list(200), IntervalSet::new())
        .unwrap();
    assert!(m[2].sink.wait(WAIT, |r| r.lists.len() == 3));
    assert_eq!(m[2].sink.with(|r| r.lists[2].v4.clone()), list(200));
    let versions: Vec<u64> = m[2]
        .sink
        .with(|r| r.lists.iter().map(|l| l.version).collect());
    assert_eq!(versions.len(), 3, "{versions:?}");
    assert!(versions.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(m[2].status().lists["drop"].version, versions[2]);
    assert!(m[1].sink.wait(WAIT, |r| r.lists.len() == 3));
    assert_eq!(m[0].status().lists_out, 3);
}
