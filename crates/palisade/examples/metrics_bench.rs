//! Metrics benchmark: how long one collection takes with a million elements in the kernel,
//! against the same with none, and against reading the elements themselves (what a collector
//! that counted by dumping would pay). In a network namespace of its own.
//!
//! ```text
//! cargo run --release -p palisade --example metrics_bench            # 1,000,000 elements
//! cargo run --release -p palisade --example metrics_bench -- --quick # 100,000
//! ```
//!
//! Two sets are loaded: one of single addresses (the singles hash part) and one of /30
//! networks (a hash part of their prefix length), half the elements each. Collection is `palisade::metrics::collect`, what
//! both `palisade metrics` and a scrape of `palisade serve` run. Needs root.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use palisade::netns::Namespace;
use palisade::policy::env::Env;
use palisade::store::{BlockAction, SetDef, FAMILY, TABLE};
use palisade_core::{AddrRange, Contents, Interval};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Time `runs` collections; (median, fastest, slowest) and the text's size.
fn collect(env: &mut Env, runs: usize) -> (Duration, Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        size = palisade::metrics::collect(env).expect("collect").len();
        times.push(t.elapsed());
    }
    let (min, max) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    (median(times), min, max, size)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if !palisade_lab::available() {
        eprintln!("metrics_bench needs root and iproute2 (it works in a network namespace)");
        std::process::exit(1);
    }
    palisade_lab::remove_on_signals();
    let total: u32 = if quick { 100_000 } else { 1_000_000 };
    let runs = if quick { 10 } else { 30 };
    let ns = palisade_lab::Netns::create("metrics").expect("a namespace");
    let state = std::env::temp_dir().join(format!("palisade-metrics-bench-{}", std::process::id()));
    std::env::set_var("PALISADE_STATE_DIR", &state);
    let mut env = Env::open(&Namespace::new(Some(ns.name().to_string()))).expect("env");

    let empty = collect(&mut env, runs);

    let half = total / 2;
    // Addresses 10.0.0.0 upwards, one apart; /30 networks from 64.0.0.0 upwards, a gap between.
    let addrs = Contents::from_ranges((0..half).map(|i| {
        (
            AddrRange::from(std::net::IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i * 2))),
            None,
        )
    }));
    let nets = Contents::from_ranges((0..half).map(|i| {
        let net = Interval::from_prefix(0x4000_0000 + i * 8, 30).expect("a /30");
        (AddrRange::V4(net), None)
    }));
    let t = Instant::now();
    for (name, contents) in [("addrs", &addrs), ("nets", &nets)] {
        let def = SetDef {
            block: Some(BlockAction::Drop),
            ..SetDef::new(name)
        };
        env.store.create(&def).expect("create");
        env.store.load(&def, contents).expect("load");
    }
    let load = t.elapsed();
    let full = collect(&mut env, runs);
    let text = palisade::metrics::collect(&mut env).unwrap();
    let elements: f64 = text
        .lines()
        .filter(|l| l.starts_with("palisade_set_elements{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();

    // What counting by reading the elements back would cost: one dump of every kernel set.
    let mut nl = Namespace::new(Some(ns.name().to_string()))
        .netlink()
        .expect("netlink");
    let t = Instant::now();
    let mut dumped = 0u64;
    for info in env.store.set_infos().expect("sets") {
        nl.elements(FAMILY, TABLE, &info.name, |_| dumped += 1)
            .expect("dump");
    }
    let dump = t.elapsed();

    println!("metrics collection ({runs} runs each; median, fastest, slowest)");
    println!(
        "  empty table:            {} ({} .. {}), {} bytes of text",
        ms(empty.0),
        ms(empty.1),
        ms(empty.2),
        empty.3
    );
    println!(
        "  {total} elements:     {} ({} .. {}), {} bytes of text; the kernel counts {elements} elements",
        ms(full.0),
        ms(full.1),
        ms(full.2),
        full.3
    );
    println!(
        "  for comparison: dumping the elements to count them: {} ({dumped} kernel elements); loading them: {:.1} s",
        ms(dump),
        load.as_secs_f64()
    );
    drop(env);
    drop(ns);
    let _ = std::fs::remove_dir_all(state);
}
