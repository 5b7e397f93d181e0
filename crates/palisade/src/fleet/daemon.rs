//! `palisade fleet run`: the daemon that speaks for this host on the bus.
//!
//! It starts the engine with the `[fleet]` config (this host's own addresses added to the
//! allowlist: no peer can make a host drop itself; the sink follows them as they change) and [`KernelSink`] for peers' bans, then
//! loops: whatever the spool or the forget queue holds is taken at once (inotify wakes the
//! loop), and every second the flood sets are read and the status written; every ten
//! seconds the shared lists are checked and the flood set names re-read from the applied
//! policy. With `--netns`, the whole process enters that namespace first, so its connection
//! to NATS and the addresses it calls its own are that namespace's.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use palisade_core::AddrRange;
use palisade_fleet::wire::Record;
use palisade_fleet::{BanSource, Fleet, FleetConfig, Publisher};
use palisade_watch::Allowlist;

use super::flood::{read_flood_sets, FloodWatch};
use super::lists::ListPublisher;
use super::sink::{KernelSink, SinkCounters};
use super::spool::Spool;
use super::status_file::{DaemonCounters, StatusFile};
use super::{now, read_config, FleetPaths, FLEET_SET};
use crate::lock::Lock;
use crate::netns::Namespace;
use crate::policy::records::Records;
use crate::state::StateDir;
use crate::store::Store;
use crate::watch::own_addrs::OwnAddresses;
use crate::watch::sys::{catch_signals, stopping};

const TICK: Duration = Duration::from_secs(1);
const SLOW_TICK: Duration = Duration::from_secs(10);
/// How long queued bans get to reach the bus when the daemon stops.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Move the whole process into the namespace at `file`. Called before any thread starts, so
/// every thread (the engine's too) lives there.
fn enter_namespace(file: &Path) -> Result<()> {
    let f = std::fs::File::open(file)
        .with_context(|| format!("cannot open network namespace {}", file.display()))?;
    // SAFETY: setns(2) on a namespace descriptor we hold open; it changes only which network
    // namespace this (so far only) thread is in.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot enter network namespace {}", file.display()));
    }
    Ok(())
}

/// Sets whose dynamic elements are not flood bans: the log watcher's (its bans come through
/// the spool) and the fleet's own (peers' bans must never come back as this host's).
fn not_flood_sets(config: &Path) -> Vec<String> {
    let watch_set = crate::watch::read_config(config)
        .map(|c| c.set)
        .unwrap_or_else(|_| palisade_watch::config::DEFAULT_SET.to_string());
    vec![
        FLEET_SET.to_string(),
        format!("{watch_set}-ports"),
        watch_set,
    ]
}

/// The sets the kernel puts flood bans in: the applied policy's dynamic sets, but none of
/// `not_flood`.
fn flood_sets(state: &StateDir, not_flood: &[String]) -> Vec<String> {
    let Some(applied) = Records::new(state.policy()).applied() else {
        return Vec::new();
    };
    applied
        .policy
        .ruleset
        .sets
        .into_iter()
        .filter(|s| s.dynamic && !not_flood.contains(&s.name))
        .map(|s| s.name)
        .collect()
}

/// Hand spooled records to the engine; how many it took.
fn publish(publisher: &Publisher, records: Vec<Record>, now: u64) -> u64 {
    let mut n = 0;
    for r in records {
        let taken = match r {
            Record::Ban { expires, .. } if expires.is_over(now) => false,
            Record::Ban {
                target,
                source,
                expires,
                reason,
            } => publisher.ban(target, source, expires, &reason),
            Record::Lift { target, source } => publisher.lift(target, source),
        };
        n += u64::from(taken);
    }
    n
}

struct Daemon {
    fleet: Fleet,
    publisher: Publisher,
    store: Store,
    spool: Spool,
    paths: FleetPaths,
    state: StateDir,
    config_path: std::path::PathBuf,
    not_flood: Vec<String>,
    share_lists: Vec<String>,
    flood: FloodWatch,
    lists: ListPublisher,
    counters: DaemonCounters,
    sink_counters: Arc<SinkCounters>,
}

impl Daemon {
    fn take_queues(&mut self) {
        let (records, bad) = self.spool.take();
        self.counters.spool_unreadable += bad as u64;
        self.counters.spooled += publish(&self.publisher, records, now());
        for text in self.paths.forget_queue().take() {
            for origin in text.split_whitespace() {
                eprintln!("palisade fleet: forgetting every ban from {origin}");
                self.fleet.forget(origin);
                self.counters.forgets += 1;
            }
        }
    }

    /// Note a problem in the status; say it in the log once, not every second it lasts.
    fn note(&mut self, e: String) {
        if self.counters.last_error.as_ref() != Some(&e) {
            eprintln!("palisade fleet: {e}");
        }
        self.counters.last_error = Some(e);
    }

    fn poll_flood(&mut self) {
        let now = now();
        let held = match read_flood_sets(&mut self.store, &self.counters.flood_sets, now) {
            Ok(h) => h,
            Err(e) => return self.note(format!("reading the flood ban sets: {e}")),
        };
        let changes = self.flood.observe(&held, now);
        for (target, expires) in changes.bans {
            let reason = "flood limit exceeded";
            if self
                .publisher
                .ban(target, BanSource::Flood, expires, reason)
            {
                self.counters.flood_bans += 1;
            }
        }
        for target in changes.lifts {
            if self.publisher.lift(target, BanSource::Flood) {
                self.counters.flood_lifts += 1;
            }
        }
    }

    fn poll_lists(&mut self) {
        if self.share_lists.is_empty() {
            return;
        }
        match self
            .lists
            .poll(&mut self.store, &self.publisher, &self.share_lists)
        {
            Ok(n) => self.counters.lists_published += n as u64,
            Err(e) => self.note(e),
        }
    }

    fn write_status(&mut self) {
        self.counters.fleet_set_addresses = self.sink_counters.held.load(Ordering::Relaxed);
        self.counters.lists_loaded = self.sink_counters.lists_loaded.load(Ordering::Relaxed);
        let file = StatusFile::new(
            &self.config_path,
            &self.fleet.status(),
            self.counters.clone(),
        );
        if let Err(e) = file.write(&self.paths.status) {
            eprintln!("palisade fleet: cannot write the status: {e:#}");
        }
    }
}

/// A server URL without the user and password it may carry, for the log.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn describe(config: &FleetConfig) -> String {
    let peers: Vec<&str> = config.peers.keys().map(String::as_str).collect();
    let servers: Vec<String> = config.servers.iter().map(|s| redact(s)).collect();
    format!(
        "host {} on {}, trusting {}; peers' bans go into set {FLEET_SET}",
        config.host,
        servers.join(", "),
        if peers.is_empty() {
            "no peer".to_string()
        } else {
            peers.join(", ")
        }
    )
}

pub fn run(ns: &Namespace, config_path: &Path) -> Result<i32> {
    if let Some(file) = ns.named_file() {
        enter_namespace(&file)?;
    }
    let mut config = read_config(config_path)?;
    // The process is in the namespace now: its addresses are the host's own.
    let own = palisade_nft::HostAddrs::open().context("cannot read this host's addresses")?;
    config
        .allow
        .extend(own.addresses().into_iter().map(AddrRange::from));
    let state = StateDir::for_namespace(ns)?;
    let paths = FleetPaths::new(&state);
    let _lock = Lock::acquire(
        &state.fleet().join("daemon.lock"),
        "fleet run",
        Duration::ZERO,
    )
    .context("another `palisade fleet run` is already running for this namespace")?;
    let spool = Spool::new(&paths.outbox);
    spool
        .open()
        .with_context(|| format!("cannot create the spool {}", paths.outbox.display()))?;
    std::fs::create_dir_all(&paths.forget)
        .with_context(|| format!("cannot create {}", paths.forget.display()))?;
    let sink_counters = Arc::new(SinkCounters::default());
    let sink = KernelSink::new(
        Store::new(ns.netlink()?, Some(state.sets())).with_observer(crate::xdp::observer(ns)),
        sink_counters.clone(),
        super::forgotten::read(&paths.forgotten)?,
        Some(OwnAddresses::open(ns, Allowlist::default())?),
    )
    .context("cannot create the set `fleet` for peers' bans")?;
    let wake =
        crate::watch::follow::Wakeup::new(&[paths.outbox.join("any"), paths.forget.join("any")])
            .context("cannot watch the fleet spool")?;
    catch_signals();
    eprintln!("palisade fleet: {}", describe(&config));
    let share_lists = config.share_lists.iter().cloned().collect();
    let fleet = Fleet::start(config, sink).context("cannot start the fleet engine")?;
    let mut d = Daemon {
        publisher: fleet.publisher(),
        fleet,
        store: Store::new(ns.netlink()?, Some(state.sets()))
            .with_observer(crate::xdp::observer(ns)),
        spool,
        paths,
        config_path: config_path.to_path_buf(),
        share_lists,
        flood: FloodWatch::new(),
        lists: ListPublisher::new(),
        counters: DaemonCounters::default(),
        not_flood: not_flood_sets(config_path),
        state,
        sink_counters,
    };
    let mut next_tick = Instant::now();
    let mut next_slow = Instant::now();
    while !stopping() {
        d.take_queues();
        if Instant::now() >= next_slow {
            next_slow = Instant::now() + SLOW_TICK;
            d.counters.flood_sets = flood_sets(&d.state, &d.not_flood);
            d.poll_lists();
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            d.poll_flood();
            d.write_status();
        }
        wake.wait(next_tick.saturating_duration_since(Instant::now()));
    }
    d.take_queues();
    eprintln!("palisade fleet: stopping; giving queued bans up to 5 s to reach the bus");
    let Daemon { fleet, .. } = d;
    let left = fleet.status().queued;
    fleet.stop(STOP_GRACE);
    if left > 0 {
        eprintln!("palisade fleet: stopped with up to {left} bans not yet on the bus");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_server_urls_stay_out_of_the_log() {
        assert_eq!(
            redact("nats://route:s3cret@10.0.0.1:4222"),
            "nats://***@10.0.0.1:4222"
        );
        assert_eq!(redact("tls://10.0.0.1:4222"), "tls://10.0.0.1:4222");
    }
}
