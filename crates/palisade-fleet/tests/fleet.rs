//! The fleet engine against real nats-server with JetStream: one server (or a cluster of
//! three) and palisade hosts, each in its own network namespace on one bridge.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use palisade_core::{AddrRange, Interval};
use palisade_fleet::{BanSource, Connection, Expiry};
use palisade_lab::eventually;
use support::*;

const WAIT: Duration = Duration::from_secs(20);

fn addr(i: u32) -> AddrRange {
    // 100.64.0.0/10 and up: nothing in the lab uses these.
    AddrRange::V4(Interval::single(0x6440_0000 + i))
}

/// One server, hosts a, b, c, all trusting each other.
fn three_hosts(extra: &str) -> (Lab, Vec<Member>) {
    let lab = Lab::new(1, 3);
    let members = lab.members(&["a", "b", "c"], |_| extra.to_string());
    (lab, members)
}

#[test]
fn a_ban_published_on_one_host_reaches_every_peer_verified_with_its_expiry() {
    if !require() {
        return;
    }
    let (_lab, m) = three_hosts("");
    for member in &m {
        assert!(
            member.wait_caught_up(WAIT),
            "{} never caught up",
            member.name
        );
    }
    let expires = unix_now() + 600;
    assert!(m[0].fleet().publisher().ban(
        addr(7),
        BanSource::Watch,
        Expiry::At(expires),
        "sshd: 5 failures in 10m"
    ));
    for peer in &m[1..] {
        assert!(
            peer.sink.wait(WAIT, |r| r.ban_count == 1),
            "{} did not get the ban",
            peer.name
        );
        let ban = &peer.sink.bans()[0];
        assert_eq!(ban.origin, "a");
        assert_eq!(ban.target, addr(7));
        assert_eq!(ban.source, BanSource::Watch);
        assert_eq!(ban.expires, Expiry::At(expires));
        let left = ban.remaining.unwrap().as_secs();
        assert!((590..=600).contains(&left), "{left}s left");
        assert_eq!(ban.reason, "sshd: 5 failures in 10m");
    }
    // The lift follows it.
    assert!(m[0].fleet().publisher().lift(addr(7), BanSource::Watch));
    for peer in &m[1..] {
        assert!(peer.sink.wait(WAIT, |r| r.lifts.len() == 1));
        assert_eq!(peer.sink.with(|r| r.lifts[0].target), addr(7));
    }
    // A does not get its own ban back, and its status counts what it sent. (It counts a
    // record when the stream's acknowledgement reaches it, which can be after the peers
    // have it.)
    assert_eq!(m[0].sink.with(|r| r.ban_count), 0);
    eventually(WAIT, || m[0].status().records_out == 2);
    let st = m[0].status();
    assert_eq!((st.records_out, st.connection), (2, Connection::Connected));
    let st = m[1].status();
    assert_eq!(st.records_in, 2);
    assert_eq!(st.peers["a"].records, 2);
    assert!(st.dropped.is_empty(), "{:?}", st.dropped);
}

#[test]
fn bans_made_while_cut_off_reach_the_peers_when_the_link_returns() {
    if !require() {
        return;
    }
    let (lab, m) = three_hosts("");
    for member in &m {
        assert!(member.wait_caught_up(WAIT));
    }
    lab.hosts[0].link_down();
    let expires = unix_now() + 3600;
    let publisher = m[0].fleet().publisher();
    for i in 0..50 {
        // Never blocks, bus or no bus.
        assert!(publisher.ban(addr(i), BanSource::Manual, Expiry::At(expires), "manual"));
    }
    // The client finds out the link is dead when its pings go unanswered.
    assert!(
        eventually(Duration::from_secs(60), || m[0].status().connection
            == Connection::Disconnected),
        "a never noticed its link was down"
    );
    assert_eq!(
        m[0].status().records_out,
        0,
        "nothing can have reached the bus"
    );
    lab.hosts[0].link_up();
    for peer in &m[1..] {
        assert!(
            peer.sink
                .wait(Duration::from_secs(60), |r| r.ban_count == 50),
            "{} got {} of 50",
            peer.name,
            peer.sink.with(|r| r.ban_count)
        );
        let got: BTreeSet<AddrRange> = peer.sink.bans().iter().map(|b| b.target).collect();
        assert_eq!(got, (0..50).map(addr).collect());
    }
    assert!(eventually(WAIT, || m[0].status().connection == Connection::Connected));
}

#[test]
fn a_host_restarted_with_no_state_gets_every_active_ban_in_one_batch_and_no_expired_one() {
    if !require() {
        return;
    }
    let (lab, mut m) = three_hosts("");
    for member in &m {
        assert!(member.wait_caught_up(WAIT));
    }
    let publisher = m[0].fleet().publisher();
    let now = unix_now();
    for i in 0..1000 {
        publisher.ban(addr(i), BanSource::Watch, Expiry::At(now + 3600), "burst");
    }
    publisher.ban(addr(5000), BanSource::Manual, Expiry::Never, "permanent");
    publisher.ban(addr(5001), BanSource::Watch, Expiry::At(now + 2), "short");
    publisher.ban(
        addr(5002),
        BanSource::Watch,
        Expiry::At(now + 3600),
        "lifted",
    );
    publisher.lift(addr(5002), BanSource::Watch);
    assert!(m[1].sink.wait(WAIT, |r| r.ban_count >= 1002));
    // Let the short ban run out (the clock, not a sleep, decides).
    assert!(eventually(WAIT, || unix_now() >= now + 2));

    m[1].stop();
    let restarted = lab.member(1, "b", &["a", "b", "c"], "");
    assert!(restarted.wait_caught_up(WAIT));
    let batches = restarted.sink.with(|r| r.batches.clone());
    assert_eq!(batches.len(), 1, "one catch-up batch");
    let (_, batch) = &batches[0];
    assert!(batch.catch_up);
    let got: BTreeSet<AddrRange> = batch.bans.iter().map(|b| b.target).collect();
    let mut want: BTreeSet<AddrRange> = (0..1000).map(addr).collect();
    want.insert(addr(5000));
    assert_eq!(got.len(), want.len());
    assert_eq!(
        got, want,
        "every active ban, not the expired or the lifted one"
    );
    let permanent = batch.bans.iter().find(|b| b.target == addr(5000)).unwrap();
    assert_eq!(
        (permanent.expires, permanent.remaining),
        (Expiry::Never, None)
    );
    assert!(batch
        .bans
        .iter()
        .filter(|b| b.target != addr(5000))
        .all(|b| b.remaining.unwrap() <= Duration::from_secs(3600)));
}

#[test]
fn an_allowlisted_address_and_a_kind_not_accepted_are_never_delivered() {
    if !require() {
        return;
    }
    let lab = Lab::new(1, 2);
    let a = lab.member(0, "a", &["a", "b"], "");
    let b_extra = "allow = [\"100.64.0.0/24\"]\n[fleet.accept]\nbans = [\"watch\"]\n";
    let b = lab.member(1, "b", &["a", "b"], b_extra);
    assert!(a.wait_caught_up(WAIT) && b.wait_caught_up(WAIT));
    let p = a.fleet().publisher();
    let later = Expiry::At(unix_now() + 600);
    p.ban(addr(1), BanSource::Watch, later, "allowlisted address");
    p.ban(
        AddrRange::V4(Interval::from_prefix(0x6440_0000, 16).unwrap()),
        BanSource::Watch,
        later,
        "network around the allowlist",
    );
    p.ban(
        AddrRange::from(std::net::IpAddr::from(Ipv4Addr::LOCALHOST)),
        BanSource::Watch,
        later,
        "loopback",
    );
    p.ban(addr(1000), BanSource::Manual, later, "kind not accepted");
    p.ban(addr(1001), BanSource::Watch, later, "the one that passes");
    assert!(
        eventually(WAIT, || {
            let st = b.status();
            st.dropped(palisade_fleet::DropReason::Allowlisted) == 3
                && st.dropped(palisade_fleet::DropReason::NotAccepted) == 1
        }),
        "{:?}",
        b.status().dropped
    );
    assert!(b.sink.wait(WAIT, |r| r.ban_count == 1));
    assert_eq!(b.sink.bans()[0].target, addr(1001));
}
