//! A three-server JetStream cluster: a server dies, no ban is lost, clients reconnect, and
//! no host's reader is left stuck on a consumer that went with its server.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use palisade_core::{AddrRange, Interval};
use palisade_fleet::bus::{reader_description, BAN_STREAM};
use palisade_fleet::{BanSource, Connection, Expiry};
use palisade_lab::eventually;
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
        assert!(eventually(WAIT, || m.status().connection == Connection::Connected));
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

/// How long a ban may take to reach every host after a server died: the clients reconnect,
/// the cluster elects new leaders, and a reader whose consumer went is reopened.
const AFTER_KILL: Duration = Duration::from_secs(15);
const ROUNDS: u32 = 6;

/// The server holding `host`'s reader consumer: the one with that description that a
/// subscriber is bound to (older ones linger until the server removes them). Asked name by
/// name: a consumer whose server does not answer (one placed on a dead server, say) is
/// skipped, where a listing of all of them would fail ("did not receive all consumer info").
async fn reader_server(url: String, host: &str) -> Option<String> {
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(1))
        .build(async_nats::connect(url).await.ok()?);
    let stream = js.get_stream(BAN_STREAM).await.ok()?;
    let want = reader_description(host);
    let names: Vec<String> = stream
        .consumer_names()
        .filter_map(|n| async { n.ok() })
        .collect()
        .await;
    let mut newest: Option<jetstream::consumer::Info> = None;
    for name in names {
        let Ok(info) = stream.consumer_info(&name).await else {
            continue;
        };
        let mine = info.config.description.as_deref() == Some(want.as_str()) && info.push_bound;
        if mine && newest.as_ref().is_none_or(|n| n.created < info.created) {
            newest = Some(info);
        }
    }
    newest?.cluster?.leader
}

/// Whether the ban stream has a leader and every other replica is current.
async fn stream_healthy(url: String) -> bool {
    let Ok(client) = async_nats::connect(url).await else {
        return false;
    };
    let Ok(mut stream) = jetstream::new(client).get_stream(BAN_STREAM).await else {
        return false;
    };
    let Ok(info) = stream.info().await else {
        return false;
    };
    info.cluster.as_ref().is_some_and(|c| {
        c.leader.is_some()
            && c.replicas.len() == 2
            && c.replicas.iter().all(|r| r.current && !r.offline)
    })
}

/// The server a member's client is connected to, by name.
fn connected_server(m: &Member) -> Option<String> {
    let st = m.status();
    if st.connection != Connection::Connected {
        return None;
    }
    Some(st.server?.split_whitespace().next()?.to_string())
}

#[test]
fn when_the_server_under_a_reader_dies_every_host_still_gets_new_bans() {
    if !require() {
        return;
    }
    let mut lab = Lab::new(3, 3);
    let names = ["a", "b", "c"];
    let members: Vec<Member> = (0..3)
        .map(|i| lab.member(i, names[i], &names, "replicas = 3\n"))
        .collect();
    for m in &members {
        assert!(m.wait_caught_up(WAIT), "{} never caught up", m.name);
    }
    let later = Expiry::At(unix_now() + 3600);
    let mut sent = 0;
    for round in 0..ROUNDS {
        // Each host in turn; the server its consumer lives on, then the one it talks to.
        let reader = (round % 3) as usize;
        let under_consumer = round % 2 == 0;
        let mut victim = None;
        assert!(
            eventually(WAIT, || {
                victim = if under_consumer {
                    let url = lab.server_urls()[0].clone();
                    in_ns(&lab.hosts[reader].ns, reader_server(url, names[reader]))
                } else {
                    connected_server(&members[reader])
                };
                victim.is_some()
            }),
            "round {round}: cannot tell which server {}'s reader depends on",
            names[reader]
        );
        let victim = victim.unwrap();
        let dead = lab.servers.iter().position(|s| s.name == victim).unwrap();
        lab.servers[dead].kill();

        let round_bans: Vec<(usize, AddrRange)> =
            (0..3).map(|i| (i, addr(sent + i as u32))).collect();
        sent += 3;
        for (i, target) in &round_bans {
            assert!(members[*i]
                .fleet()
                .publisher()
                .ban(*target, BanSource::Watch, later, "round"));
        }
        for (j, m) in members.iter().enumerate() {
            let wanted: Vec<AddrRange> = round_bans
                .iter()
                .filter(|(i, _)| *i != j)
                .map(|(_, t)| *t)
                .collect();
            let got_all = m.sink.wait(AFTER_KILL, |r| {
                wanted.iter().all(|t| {
                    r.batches
                        .iter()
                        .any(|(_, b)| b.bans.iter().any(|x| x.target == *t))
                })
            });
            assert!(
                got_all,
                "round {round}: {victim} died ({} {}'s reader), and {} did not get the new bans within {AFTER_KILL:?}; its status:\n{}",
                if under_consumer { "under" } else { "connected to" },
                names[reader],
                m.name,
                m.status()
            );
        }

        // The next round kills one server, not two: the restarted one must have caught up
        // (its own word, /healthz: current with the metadata leader, every stream and
        // consumer), and the ban stream have three current replicas again.
        lab.servers[dead].start();
        let alive = lab.server_urls()[(dead + 1) % 3].clone();
        assert!(
            eventually(WAIT, || lab.servers.iter().all(|s| s.healthy())
                && in_ns(&lab.hosts[0].ns, stream_healthy(alive.clone()))),
            "round {round}: the cluster was never whole again after {victim} restarted (a server not healthy, or the ban stream without three current replicas)"
        );
    }
    // Re-delivery after a reopen is absorbed by the ledger: no ban is applied twice.
    for m in &members {
        let (count, distinct) = m.sink.with(|r| {
            let all: Vec<AddrRange> = r
                .batches
                .iter()
                .flat_map(|(_, b)| b.bans.iter().map(|x| x.target))
                .collect();
            (all.len(), all.into_iter().collect::<BTreeSet<_>>().len())
        });
        assert_eq!(
            (count, distinct),
            (2 * ROUNDS as usize, 2 * ROUNDS as usize),
            "{}",
            m.name
        );
    }
}
