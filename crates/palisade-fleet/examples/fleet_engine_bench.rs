//! Fleet benchmark: real nats-server 2.9 with JetStream and palisade hosts in network
//! namespaces on one bridge (all on this machine's cores, server included).
//!
//! ```text
//! cargo run --release -p palisade-fleet --example fleet_engine_bench            # full: 100,000 bans
//! cargo run --release -p palisade-fleet --example fleet_engine_bench -- --quick # 5,000 bans
//! ```
//!
//! Measures: one ban from A to B's sink (median, p99); N bans from A delivered at B and C;
//! catch-up of N bans by a host started with no state; catch-up of N bans missed while a
//! host's link was down; bytes per event. Needs root and nats-server.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use palisade_core::{AddrRange, Interval};
use palisade_fleet::wire::{seal, Envelope, Record};
use palisade_fleet::{load_key_file, BanSource, Connection, Expiry};
use support::*;

const WAIT: Duration = Duration::from_secs(30);

fn addr(i: u32) -> AddrRange {
    AddrRange::V4(Interval::single(0x6440_0000 + i))
}

const REASON: &str = "sshd: 5 failures in 10m";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if !require() {
        std::process::exit(1);
    }
    let n: u32 = if quick { 5_000 } else { 100_000 };
    let samples = if quick { 20 } else { 200 };
    let names = ["a", "b", "c"];
    println!("fleet benchmark ({} bans, {samples} latency samples)", n);

    // 1 and 2: latency and burst, A -> B and C.
    let lab = Lab::new(1, 3);
    let members = lab.members(&names, |_| String::new());
    let [a, b, c] = [0, 1, 2].map(|i| &members[i]);
    for m in [a, b, c] {
        assert!(m.wait_caught_up(WAIT));
    }
    let later = Expiry::At(unix_now() + 7200);
    let p = a.fleet().publisher();
    let mut lat = Vec::new();
    for i in 0..samples {
        let before = b.sink.with(|r| r.batches.len());
        let t0 = Instant::now();
        p.ban(addr(i), BanSource::Watch, later, REASON);
        assert!(b.sink.wait(WAIT, |r| r.batches.len() > before));
        lat.push(b.sink.with(|r| r.batches[before].0) - t0);
    }
    lat.sort();
    println!(
        "one ban A -> B sink: median {}, p99 {}, max {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
    assert!(c.sink.wait(WAIT, |r| r.ban_count == samples as usize));

    let base = samples as usize;
    let t0 = Instant::now();
    for i in 0..n {
        p.ban(addr(1_000 + i), BanSource::Watch, later, REASON);
    }
    let queued = t0.elapsed();
    let mut done = Vec::new();
    for m in [b, c] {
        if !m.sink.wait(WAIT, |r| r.ban_count == base + n as usize) {
            panic!(
                "{} got {} of {}\nA: {}\n{}: {}",
                m.name,
                m.sink.with(|r| r.ban_count),
                base + n as usize,
                a.status(),
                m.name,
                m.status()
            );
        }
        let (last, batches) = m
            .sink
            .with(|r| (r.batches.last().unwrap().0, r.batches.len()));
        done.push((last - t0, batches));
    }
    println!(
        "{n} bans A -> B and C: handed to the publisher in {}, at B after {} ({} batches), at C after {} ({} batches)",
        ms(queued),
        ms(done[0].0),
        done[0].1 - base,
        ms(done[1].0),
        done[1].1 - base,
    );
    println!(
        "  A sent {} records in {} envelopes",
        a.status().records_out,
        a.status().envelopes_out
    );
    drop(members);
    drop(lab);

    // 3: a host started with no state catches up on N bans.
    let lab = Lab::new(1, 3);
    lab.keys(&names);
    let a = lab.member(0, "a", &names, "");
    let b = lab.member(1, "b", &names, "");
    assert!(a.wait_caught_up(WAIT) && b.wait_caught_up(WAIT));
    let p = a.fleet().publisher();
    for i in 0..n {
        p.ban(addr(i), BanSource::Watch, later, REASON);
    }
    assert!(b.sink.wait(WAIT, |r| r.ban_count == n as usize));
    let t0 = Instant::now();
    let c = lab.member(2, "c", &names, "");
    assert!(c.wait_caught_up(WAIT));
    let (at, count) = c.sink.with(|r| (r.batches[0].0, r.batches[0].1.bans.len()));
    println!(
        "catch-up of {n} bans by a host started with no state: {} from start to one batch of {count}",
        ms(at - t0)
    );
    drop(c);

    // 4: a host whose link was down catches up on what it missed.
    let mut c = lab.member(2, "c", &names, "");
    assert!(c.wait_caught_up(WAIT));
    let had = c.sink.with(|r| (r.ban_count, r.batches.len()));
    lab.hosts[2].link_down();
    assert!(palisade_lab::eventually(WAIT, || c.status().connection == Connection::Disconnected));
    for i in 0..n {
        p.ban(addr(n + i), BanSource::Watch, later, REASON);
    }
    assert!(b.sink.wait(WAIT, |r| r.ban_count == 2 * n as usize));
    let t0 = Instant::now();
    lab.hosts[2].link_up();
    assert!(palisade_lab::eventually(WAIT, || c.status().connection == Connection::Connected));
    let reconnected = t0.elapsed();
    assert!(c.sink.wait(WAIT, |r| r.ban_count == had.0 + n as usize));
    let (last, batches) = c
        .sink
        .with(|r| (r.batches.last().unwrap().0, r.batches.len()));
    println!(
        "catch-up of {n} bans missed while the link was down: reconnected {} after link up, all delivered {} after link up ({} after reconnect) in {} batch(es)",
        ms(reconnected),
        ms(last - t0),
        ms((last - t0).saturating_sub(reconnected)),
        batches - had.1
    );
    c.stop();

    // 5: sizes.
    let key = load_key_file(&lab.key_path("a")).unwrap();
    let ban = |i| Record::Ban {
        target: addr(i),
        source: BanSource::Watch,
        expires: later,
        reason: REASON.into(),
    };
    let one = seal(
        &Envelope {
            origin: "web-01".into(),
            seq: 1,
            records: vec![ban(0)],
        },
        &key,
    );
    let full_records: Vec<Record> = (0..1_500).map(ban).collect();
    let full = seal(
        &Envelope {
            origin: "web-01".into(),
            seq: 1,
            records: full_records,
        },
        &key,
    );
    println!(
        "size: one IPv4 ban alone {} bytes on the wire (payload; NATS/JetStream headers add ~100); \
         in a full envelope {:.1} bytes per ban",
        one.len(),
        full.len() as f64 / 1500.0
    );
}
