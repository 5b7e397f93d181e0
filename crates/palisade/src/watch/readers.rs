//! One reader thread per followed file, and one for the journal, each matching its lines
//! against the jails that read it and sending on only the hits.
//!
//! A reader owns one [`JailMatcher`] per jail: matching is stateful (sshd tells one
//! failure over several lines of a connection, fail2ban filters keep `maxlines`), and the
//! state belongs to the lines of one source, in order.
//!
//! When the daemon is told to stop, each file reader reads its file once more to the end,
//! sends what it found and then [`Event::Drained`]: every line written before the stop
//! signal is counted, and a ban it makes is saved with the rest. (The journal reader has no
//! end to read to: its hits already sent are counted, the rest are not.)

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use palisade_watch::{JailMatcher, Source, WatchConfig};

use super::follow;
use super::journal::start_journal_reader;
use super::lines::MAX_LINE;
use super::stats::LineCounters;
use super::sys::stopping;
use crate::policy::records::now;

/// What reader threads tell the main loop.
pub enum Event {
    /// A failure: which jail saw it, from which host, and when its line was read (the start
    /// of the ban latency the metrics show).
    Hit {
        jail: usize,
        host: IpAddr,
        seen: Instant,
    },
    /// A file reader read its file to the end after the stop signal and ended.
    Drained,
}

/// The jails reading one source, each with its own matcher.
pub struct Readers {
    pub jails: Vec<(usize, JailMatcher)>,
    pub events: mpsc::SyncSender<Event>,
    /// Lines read and matched per jail, for the metrics.
    pub counters: Arc<LineCounters>,
}

impl Readers {
    /// One line of the source, read at `now`, through every jail.
    pub fn line(&mut self, line: &[u8], now: u64) {
        for (jail, m) in &mut self.jails {
            let jail = *jail;
            let events = &self.events;
            let mut matched = false;
            // The clock is read on a hit only: most lines are not one.
            m.feed_each(line, now, &mut |host| {
                matched = true;
                let seen = Instant::now();
                let _ = events.send(Event::Hit { jail, host, seen });
            });
            self.counters.line(jail, matched);
        }
    }
}

/// Start a reader thread for each file (jails reading the same file share it) and one for
/// the journal; how many of them will send [`Event::Drained`] when stopping.
pub fn start_readers(
    cfg: &WatchConfig,
    from_start: bool,
    events: mpsc::SyncSender<Event>,
    counters: &Arc<LineCounters>,
) -> Result<usize> {
    let mut files: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
    let mut journal = Vec::new();
    for (i, j) in cfg.jails.iter().enumerate() {
        match &j.source {
            Source::File(p) => files.entry(p.clone()).or_default().push(i),
            Source::Journal(_) => journal.push(i),
        }
    }
    let readers = |jails: &[usize]| Readers {
        jails: jails
            .iter()
            .map(|i| (*i, cfg.jails[*i].matcher()))
            .collect(),
        events: events.clone(),
        counters: Arc::clone(counters),
    };
    let mut drains = 0;
    for (path, jails) in &files {
        start_file_reader(path.clone(), from_start, readers(jails), events.clone())?;
        drains += 1;
    }
    if !journal.is_empty() {
        start_journal_reader(cfg, &journal, from_start, readers(&journal))?;
    }
    Ok(drains)
}

fn start_file_reader(
    path: PathBuf,
    from_start: bool,
    mut readers: Readers,
    done: mpsc::SyncSender<Event>,
) -> Result<()> {
    let wake = follow::Wakeup::new(std::slice::from_ref(&path))
        .with_context(|| format!("cannot watch {}", path.display()))?;
    let mut f = follow::Follower::open(&path, from_start);
    std::thread::spawn(move || {
        let mut skipped = 0;
        loop {
            // Seen before the read: a stop then finds every line written before it.
            let last = stopping();
            let t = now();
            if let Err(e) = f.poll(&mut |line| readers.line(line, t)) {
                eprintln!("palisade watch: reading {}: {e}", path.display());
            }
            report_skipped(&path.display().to_string(), &mut skipped, f.skipped());
            if last {
                let _ = done.send(Event::Drained);
                return;
            }
            // inotify wakes it at once for a change; the timeout bounds how long a stop
            // waits for this reader.
            wake.wait(Duration::from_millis(100));
        }
    });
    Ok(())
}

/// Tell the admin about lines skipped for their length since the last report (once per
/// read, not per line: a flood of long lines must not flood the daemon's own log).
pub fn report_skipped(source: &str, reported: &mut u64, now: u64) {
    if now > *reported {
        eprintln!(
            "palisade watch: {source}: skipped {} lines longer than {} KiB ({now} in all)",
            now - *reported,
            MAX_LINE / 1024
        );
        *reported = now;
    }
}
