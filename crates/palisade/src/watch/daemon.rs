//! The daemon's main loop: hits in, bans out in batches (and to the fleet daemon's spool, when
//! this host is in a fleet), state saved, unbans taken.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use palisade_core::AddrRange;
use palisade_watch::{Ban, Tracker, WatchConfig};

use super::bans::{ban_sets, commit_bans, BATCH_MAX, BATCH_WAIT};
use super::readers::{start_readers, Hit};
use super::saver::{save, saver, SAVE_EVERY};
use super::sys::{catch_signals, own_addresses, stopping};
use super::unban_queue::UnbanQueue;
use super::WatchPaths;
use crate::fleet::spool::{watch_records, Spool};
use crate::policy::records::now;
use crate::store::Store;

pub fn run(
    store: &mut Store,
    mut cfg: WatchConfig,
    paths: &WatchPaths,
    from_start: bool,
) -> Result<i32> {
    for a in own_addresses() {
        cfg.allow.add(AddrRange::from(a));
    }
    let (all, _) = ban_sets(&cfg);
    let all = store.ensure(&all)?;
    let mut tracker = match std::fs::read_to_string(&paths.state) {
        Ok(text) => Tracker::load(&text, now()).unwrap_or_else(|e| {
            eprintln!(
                "palisade watch: ignoring damaged state {}: {e}",
                paths.state.display()
            );
            Tracker::new()
        }),
        Err(_) => Tracker::new(),
    };
    let queue = UnbanQueue::new(&paths.unban_queue);
    let fleet = Spool::new(&paths.fleet_spool);
    for target in queue.take() {
        tracker.unban(target);
    }
    let restored = tracker.active_bans(now());
    if !restored.is_empty() {
        commit_bans(store, &cfg, &all, &restored, now())?;
        eprintln!(
            "palisade watch: {} bans restored with their remaining time",
            restored.len()
        );
    }
    catch_signals();
    let (tx, rx) = mpsc::sync_channel::<Hit>(1 << 16);
    start_readers(&cfg, from_start, tx)?;
    eprintln!(
        "palisade watch: {} jails ({}), banning into set {}",
        cfg.jails.len(),
        cfg.jails
            .iter()
            .map(|j| j.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.set
    );
    let mut pending: Vec<Ban> = Vec::new();
    let mut first_pending: Option<Instant> = None;
    let mut last_housekeeping = Instant::now();
    let mut dirty = false;
    let mut last_save = Instant::now();
    let to_saver = saver(paths.state.clone());
    while !stopping() {
        let wait = match first_pending {
            Some(t) => BATCH_WAIT.saturating_sub(t.elapsed()),
            None => Duration::from_millis(250),
        };
        let mut got = rx.recv_timeout(wait).ok();
        while let Some(hit) = got {
            if let Some(ban) = tracker.observe(&cfg, hit.jail, hit.host, now()) {
                first_pending.get_or_insert_with(Instant::now);
                pending.push(ban);
            }
            if pending.len() >= BATCH_MAX
                || first_pending.is_some_and(|t| t.elapsed() >= BATCH_WAIT)
            {
                break;
            }
            got = rx.try_recv().ok();
        }
        // Nothing more waiting, the batch is full, or it waited long enough: write it.
        if !pending.is_empty() {
            let t = Instant::now();
            match commit_bans(store, &cfg, &all, &pending, now()) {
                Ok(()) => {
                    fleet.send_or_warn(&watch_records(&pending), "palisade watch");
                    for b in pending.iter().take(20) {
                        eprintln!(
                            "palisade watch: banned {} until {} ({})",
                            b.target, b.until, b.reason
                        );
                    }
                    if pending.len() > 20 {
                        eprintln!(
                            "palisade watch: {} bans in one transaction ({:.1} ms)",
                            pending.len(),
                            t.elapsed().as_secs_f64() * 1000.0
                        );
                    }
                }
                Err(e) => eprintln!(
                    "palisade watch: cannot ban {} sources: {e:#}",
                    pending.len()
                ),
            }
            pending.clear();
            first_pending = None;
            dirty = true;
        }
        if last_housekeeping.elapsed() >= Duration::from_secs(1) {
            last_housekeeping = Instant::now();
            tracker.expire(now());
            for target in queue.take() {
                tracker.unban(target);
                dirty = true;
            }
            if dirty && last_save.elapsed() >= SAVE_EVERY {
                let _ = to_saver.send(tracker.save());
                last_save = Instant::now();
                dirty = false;
            }
        }
    }
    drop(to_saver);
    save(&paths.state, &tracker.save());
    eprintln!("palisade watch: stopped; state saved");
    Ok(0)
}
