//! Fleet benchmark through the product: nats-server 2.9 with JetStream and three hosts, each
//! running `palisade fleet run` in its own namespace (the integration tests' lab), all on this
//! machine's cores. Bans enter host A's spool exactly as the log watcher and `palisade block`
//! hand them over; times end when host B's *kernel* holds them (polled in-process with
//! netlink lookups and element counts), so they include the spool, both engines, the bus,
//! signatures, and B's kernel transactions.
//!
//! ```text
//! cargo build --release -p palisade --examples
//! ./target/release/examples/fleet_bench            # 100,000 bans, 100 latency samples
//! ./target/release/examples/fleet_bench --quick    # 5,000 bans, 20 samples
//! ```
//!
//! Measures: one ban, A's spool to B's kernel (median, p90, max); N bans handed over in
//! batches of 5,000 (the watcher's batch), until B's and C's kernels hold all of them; the
//! catch-up of a host restarted with no state and an empty kernel, from starting its daemon
//! until its kernel holds every ban. Needs root and nats-server.

#[path = "../tests/fleet_lab/mod.rs"]
mod fleet_lab;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fleet_lab::{FleetLab, Proc};
use palisade::fleet::spool::{manual_records, Spool, Spooled};
use palisade::fleet::FleetPaths;
use palisade::netns::Namespace;
use palisade::state::StateDir;
use palisade::store::{SetDef, Store};
use palisade_core::AddrRange;
use palisade_nft::Netlink;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const LIMIT: Duration = Duration::from_secs(120);

fn addr(i: u32) -> AddrRange {
    AddrRange::from(std::net::IpAddr::V4(Ipv4Addr::from(0x6440_0000 + i)))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A host's kernel, read in-process.
struct Kernel {
    store: Store,
    def: SetDef,
}

impl Kernel {
    fn open(lab: &FleetLab, i: usize) -> Kernel {
        let mut store = Store::new(
            Netlink::open_in_netns(&lab.hosts[i].ns.path()).unwrap(),
            None,
        );
        let def = store.get("fleet").unwrap();
        Kernel { store, def }
    }

    fn holds(&mut self, a: AddrRange) -> bool {
        self.store.test(&self.def, a, None).unwrap()
    }

    /// Addresses in the fleet set's IPv4 hash part, as the kernel counts them.
    fn count(&mut self) -> u32 {
        self.store
            .set_infos()
            .unwrap()
            .iter()
            .find(|s| s.name == "fleet_v4_addrs")
            .and_then(|s| s.count)
            .unwrap_or(0)
    }

    /// Poll until `done`; the time it took.
    fn until(&mut self, start: Instant, mut done: impl FnMut(&mut Self) -> bool) -> Duration {
        while !done(self) {
            assert!(start.elapsed() < LIMIT, "not done after {LIMIT:?}");
            std::thread::sleep(Duration::from_micros(200));
        }
        start.elapsed()
    }
}

fn spool_of(lab: &FleetLab, i: usize) -> Spool {
    let ns = Namespace::new(Some(lab.hosts[i].ns.name().to_string()));
    let state = StateDir::under(&lab.hosts[i].state, ns.key().unwrap());
    Spool::new(&FleetPaths::new(&state).outbox)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, samples) = if quick {
        (5_000u32, 20u32)
    } else {
        (100_000, 100)
    };
    println!("fleet benchmark through palisade fleet run ({n} bans, {samples} latency samples)");
    let Some(mut lab) = FleetLab::new(|_| String::new()) else {
        std::process::exit(1);
    };
    lab.start_all();
    let spool = spool_of(&lab, A);
    let mut b = Kernel::open(&lab, B);
    let mut c = Kernel::open(&lab, C);

    let mut lat = Vec::new();
    for i in 0..samples {
        let t = Instant::now();
        let sent = spool.send(&manual_records(&[addr(i)], Some(7200), "bench"));
        assert_eq!(sent.unwrap(), Spooled::Queued);
        lat.push(b.until(t, |k| k.holds(addr(i))));
    }
    lat.sort();
    let pick = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    println!(
        "one ban, A's spool to B's kernel: median {}, p90 {}, max {}",
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(pick(1.0))
    );

    let targets: Vec<AddrRange> = (samples..samples + n).map(addr).collect();
    let total = samples + n;
    let t = Instant::now();
    for chunk in targets.chunks(5000) {
        spool
            .send(&manual_records(chunk, Some(7200), "bench burst"))
            .unwrap();
    }
    let handed = t.elapsed();
    let at_b = b.until(t, |k| k.count() >= total);
    let at_c = c.until(t, |k| k.count() >= total);
    assert!(b.holds(addr(total - 1)) && c.holds(addr(total - 1)));
    println!(
        "{n} bans handed over in {} (spool files of 5,000): in B's kernel after {}, in C's after {} ({:.0} bans/s)",
        ms(handed),
        ms(at_b),
        ms(at_c),
        f64::from(n) / at_b.as_secs_f64()
    );

    // B comes back as after a reboot with its disk wiped.
    lab.stop(B);
    lab.ok(B, &["set", "destroy", "fleet"]);
    std::fs::remove_dir_all(&lab.hosts[B].state).unwrap();
    let config = lab.hosts[B].config.to_str().unwrap().to_string();
    let cmd = lab.command_for(B, &["fleet", "run", "-c", &config]);
    let t = Instant::now();
    lab.hosts[B].daemon = Some(Proc::spawn(
        cmd,
        "b fleet".into(),
        Some("palisade fleet: host"),
    ));
    let mut store = Store::new(
        Netlink::open_in_netns(&lab.hosts[B].ns.path()).unwrap(),
        None,
    );
    while store.get("fleet").is_err() {
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut b = Kernel::open(&lab, B);
    let caught_up = b.until(t, |k| k.count() >= total);
    println!(
        "catch-up of {total} bans by a host restarted with no state and no set: {} from starting its daemon to its kernel holding all",
        ms(caught_up)
    );
}
