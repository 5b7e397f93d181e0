//! The daemon's main loop: hits in, bans out in batches (and to the fleet daemon's spool, when
//! this host is in a fleet), state saved, unbans taken.
//!
//! Stopping (SIGTERM, SIGINT) is orderly: the file readers read their files once more to the
//! end, the loop counts what they found and writes the bans it makes, then the state is
//! saved; only if that takes longer than [`DRAIN_LIMIT`] are the remaining lines left unread.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Result;
use palisade_core::AddrRange;
use palisade_watch::{Ban, Tracker, WatchConfig};

use super::bans::{ban_sets, commit_bans, lift, BATCH_MAX, BATCH_WAIT};
use super::genuine::GenuineSets;
use super::own_addrs::OwnAddresses;
use super::readers::{start_readers, Event};
use super::saver::{Saver, SAVE_EVERY};
use super::stats::{self, Stats};
use super::sys::{catch_signals, stopping};
use super::unban_queue::UnbanQueue;
use super::WatchPaths;
use crate::fleet::spool::{watch_records, Spool};
use crate::netns::Namespace;
use crate::policy::records::now;
use crate::store::{SetDef, Store};

/// The longest a stop waits for the readers to reach the ends of their files.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Longest wait for a hit when no ban is pending: how soon a stop or an unban is noticed.
const IDLE_WAIT: Duration = Duration::from_millis(250);

pub fn run(
    store: &mut Store,
    cfg: WatchConfig,
    paths: &WatchPaths,
    from_start: bool,
    ns: &Namespace,
) -> Result<i32> {
    // From here on a stop signal is a request to save and stop, even during the restore.
    catch_signals();
    let own = OwnAddresses::open(ns, cfg.allow.clone())?;
    let (all, _) = ban_sets(&cfg);
    let all = store.ensure(&all)?;
    let tracker = match std::fs::read_to_string(&paths.state) {
        Ok(text) => Tracker::load(&text, now()).unwrap_or_else(|e| {
            eprintln!(
                "palisade watch: ignoring damaged state {}: {e}",
                paths.state.display()
            );
            Tracker::new()
        }),
        Err(_) => Tracker::new(),
    };
    let watch_dir = paths.state.parent().unwrap_or(std::path::Path::new("."));
    let stats = Stats::new(&cfg, stats::path(watch_dir));
    let mut d = Daemon {
        store,
        cfg,
        all,
        tracker,
        own,
        pending: Vec::new(),
        pending_seen: Vec::new(),
        first_pending: None,
        stats,
        fleet: Spool::new(&paths.fleet_spool),
        genuine: GenuineSets::default(),
    };
    d.cfg.allow = d.own.allowlist();
    let queue = UnbanQueue::new(&paths.unban_queue);
    for target in queue.take() {
        d.tracker.unban(target);
    }
    d.restore()?;
    let (tx, rx) = mpsc::sync_channel::<Event>(1 << 16);
    let drains = start_readers(&d.cfg, from_start, tx, &d.stats.lines())?;
    eprintln!(
        "palisade watch: {} jails ({}), banning into set {}",
        d.cfg.jails.len(),
        d.cfg
            .jails
            .iter()
            .map(|j| j.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        d.cfg.set
    );
    let (mut drained, mut stop_by) = (0, None);
    let mut last_housekeeping = Instant::now();
    let mut dirty = false;
    let mut last_save = Instant::now();
    let saver = Saver::start(paths.state.clone());
    loop {
        if stop_by.is_none() && stopping() {
            stop_by = Some(Instant::now() + DRAIN_LIMIT);
        }
        if let Some(by) = stop_by {
            if drained >= drains {
                break;
            }
            if Instant::now() >= by {
                eprintln!(
                    "palisade watch: the logs were not read to their end within {} s; \
                     stopping without the rest",
                    DRAIN_LIMIT.as_secs()
                );
                break;
            }
        }
        let wait = match d.first_pending {
            Some(t) => BATCH_WAIT.saturating_sub(t.elapsed()),
            None => IDLE_WAIT,
        };
        let mut got = match rx.recv_timeout(wait) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                // Every reader ended (and said why): nothing more will come but a stop.
                std::thread::sleep(wait);
                None
            }
        };
        // Failures are judged with the host's addresses as they are now (and an idle
        // daemon still lifts the ban of an address that became the host's).
        d.follow_own_addresses();
        while let Some(event) = got {
            match event {
                Event::Hit { jail, host, seen } => d.observe(jail, host, seen),
                Event::Drained => drained += 1,
            }
            if d.pending.len() >= BATCH_MAX
                || d.first_pending.is_some_and(|t| t.elapsed() >= BATCH_WAIT)
            {
                break;
            }
            got = rx.try_recv().ok();
        }
        // Nothing more waiting, the batch is full, or it waited long enough: write it.
        if !d.pending.is_empty() {
            d.follow_own_addresses();
        }
        if !d.pending.is_empty() {
            d.commit();
            dirty = true;
        }
        if last_housekeeping.elapsed() >= Duration::from_secs(1) {
            last_housekeeping = Instant::now();
            d.tracker.expire(&d.cfg, now());
            d.stats.tick(&d.tracker);
            for target in queue.take() {
                d.tracker.unban(target);
                dirty = true;
            }
        }
        if dirty && last_save.elapsed() >= SAVE_EVERY {
            saver.send(&d.tracker);
            last_save = Instant::now();
            dirty = false;
        }
    }
    saver.finish(&d.tracker);
    eprintln!("palisade watch: stopped; state saved");
    Ok(0)
}

/// What the main loop works on.
struct Daemon<'a> {
    store: &'a mut Store,
    cfg: WatchConfig,
    /// The ban set, as the kernel has it.
    all: SetDef,
    tracker: Tracker,
    own: OwnAddresses,
    /// Bans decided and not yet in the kernel, and since when the oldest waits.
    pending: Vec<Ban>,
    /// Each pending ban's target, jail and the moment its line was read (for the metrics).
    pending_seen: Vec<(AddrRange, usize, Instant)>,
    first_pending: Option<Instant>,
    /// What the metrics report.
    stats: Stats,
    /// The fleet daemon's spool: written bans are shared (when this host is in a fleet).
    fleet: Spool,
    /// Jails' genuine sets, asked for each of their hits.
    genuine: GenuineSets,
}

impl Daemon<'_> {
    /// Put the saved bans back in the kernel with their remaining time, but for targets the
    /// allowlist now covers (the admin allowed them, or they became the host's own).
    fn restore(&mut self) -> Result<()> {
        let mut restored = self.tracker.active_bans(now());
        let allowed: Vec<AddrRange> = restored
            .iter()
            .map(|b| b.target)
            .filter(|t| self.cfg.allow.overlaps(*t))
            .collect();
        for t in &allowed {
            self.tracker.unban(*t);
        }
        restored.retain(|b| !allowed.contains(&b.target));
        if !allowed.is_empty() {
            lift(self.store, &self.cfg, &allowed)?;
        }
        if !restored.is_empty() {
            commit_bans(self.store, &self.cfg, &self.all, &restored, now())?;
            eprintln!(
                "palisade watch: {} bans restored with their remaining time",
                restored.len()
            );
        }
        Ok(())
    }

    fn observe(&mut self, jail: usize, host: std::net::IpAddr, seen: Instant) {
        if self.genuine.holds(self.store, &self.cfg, jail, host) {
            return;
        }
        if let Some(ban) = self.tracker.observe(&self.cfg, jail, host, now()) {
            self.first_pending.get_or_insert_with(Instant::now);
            self.pending_seen.push((ban.target, jail, seen));
            self.pending.push(ban);
        }
    }

    /// Take in changes of the host's addresses: the allowlist follows them, and an address
    /// that became the host's loses its ban, whether written or still pending.
    fn follow_own_addresses(&mut self) {
        let Some(added) = self.own.refresh() else {
            return;
        };
        self.cfg.allow = self.own.allowlist();
        let lifted: Vec<AddrRange> = added
            .into_iter()
            .flat_map(|a| self.tracker.unban(AddrRange::from(a)))
            .map(|b| b.target)
            .collect();
        if lifted.is_empty() {
            return;
        }
        let written: Vec<AddrRange> = lifted
            .iter()
            .filter(|t| !self.pending.iter().any(|b| b.target == **t))
            .copied()
            .collect();
        self.pending.retain(|b| !lifted.contains(&b.target));
        self.pending_seen.retain(|(t, _, _)| !lifted.contains(t));
        if self.pending.is_empty() {
            self.first_pending = None;
        }
        for t in &lifted {
            eprintln!("palisade watch: {t} is now an address of this host: ban lifted");
        }
        if let Err(e) = lift(self.store, &self.cfg, &written) {
            eprintln!("palisade watch: cannot lift the bans of the host's new addresses: {e:#}");
        }
    }

    /// Write the pending bans in one transaction.
    fn commit(&mut self) {
        let t = Instant::now();
        match commit_bans(self.store, &self.cfg, &self.all, &self.pending, now()) {
            Ok(()) => {
                self.fleet
                    .send_or_warn(&watch_records(&self.pending), "palisade watch");
                for (_, jail, seen) in &self.pending_seen {
                    self.stats.banned(*jail, *seen);
                }
                for b in self.pending.iter().take(20) {
                    eprintln!(
                        "palisade watch: banned {} until {} ({})",
                        b.target, b.until, b.reason
                    );
                }
                if self.pending.len() > 20 {
                    eprintln!(
                        "palisade watch: {} bans in one transaction ({:.1} ms)",
                        self.pending.len(),
                        t.elapsed().as_secs_f64() * 1000.0
                    );
                }
            }
            Err(e) => eprintln!(
                "palisade watch: cannot ban {} sources: {e:#}",
                self.pending.len()
            ),
        }
        self.pending.clear();
        self.pending_seen.clear();
        self.first_pending = None;
    }
}
