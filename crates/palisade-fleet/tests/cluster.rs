//! A three-server JetStream cluster: a server dies, no ban is lost, clients reconnect.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use palisade_core::{AddrRange, Interval};
use palisade_fleet::bus::BAN_STREAM;
use palisade_fleet::{BanSource, Connection, Expiry};
use support::*;

const WAIT: Duration = Duration::from_secs(60);

fn addr(i: u32) -> AddrRange {
    AddrRange::V4(Interval::single(0x6440_0000 + i))
}

#[test]
fn when_a_cluster_server_dies_no_ban_is_lost_and_clients_reconnect() {
    if !require() {
        return;
    }
    let mut lab = Lab::new(3, 3);
    let names = ["a", "b", "c"];
    let a = lab.member(0, "a", &names, "replicas = 3\n");
    let mut b = lab.member(1, "b", &names, "replicas = 3\n");
    // The cluster elects its JetStream leader first; the engine retries until it has.
    assert!(a.wait_caught_up(WAIT) && b.wait_caught_up(WAIT));
    let later = Expiry::At(unix_now() + 3600);
    let p = a.fleet().publisher();
    for i in 0..100 {
        p.ban(addr(i), BanSource::Watch, later, "before");
    }
    assert!(b.sink.wait(WAIT, |r| r.ban_count == 100));

    // Kill the stream's leader: the hardest server to lose.
    let url = lab.server_urls()[0].clone();
    let leader = in_ns(&lab.hosts[2].ns, async move {
        let js = jetstream::new(async_nats::connect(url).await.unwrap());
        let mut stream = js.get_stream(BAN_STREAM).await.unwrap();
        let info = stream.info().await.unwrap();
        assert_eq!(info.config.num_replicas, 3);
        info.cluster.as_ref().unwrap().leader.clone().unwrap()
    });
    let dead = lab.servers.iter().position(|s| s.name == leader).unwrap();
    lab.servers[dead].kill();

    for i in 100..200 {
        p.ban(addr(i), BanSource::Watch, later, "after");
    }
    assert!(
        b.sink.wait(WAIT, |r| r.ban_count == 200),
        "b got {} of 200",
        b.sink.with(|r| r.ban_count)
    );
    let got: BTreeSet<AddrRange> = b.sink.bans().iter().map(|b| b.target).collect();
    assert_eq!(got, (0..200).map(addr).collect());
    for m in [&a, &b] {
        assert!(wait_until(WAIT, || m.status().connection == Connection::Connected));
    }

    // And the two surviving servers still hold everything: a host starting now gets it all.
    b.stop();
    let c = lab.member(2, "c", &names, "replicas = 3\n");
    assert!(c.wait_caught_up(WAIT));
    let batch = c.sink.with(|r| r.batches[0].1.clone());
    assert!(batch.catch_up);
    let got: BTreeSet<AddrRange> = batch.bans.iter().map(|b| b.target).collect();
    assert_eq!(got, (0..200).map(addr).collect());
}
