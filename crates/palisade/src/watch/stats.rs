//! What the log watcher reports for metrics: per jail, lines read, lines matched, bans made
//! and bans in force; and how long a ban takes from its log line to the kernel.
//!
//! A snapshot file, `STATE/watch/stats.json`, rewritten once a second: `palisade metrics` and
//! `palisade serve` are other processes, the watcher's loop must not serve anything (it writes
//! bans), and a file stays readable when the watcher is stuck or gone (its `written_at` says
//! so). Counting is cheap: one relaxed atomic add per line and jail in the reader threads;
//! the snapshot is built on the main loop and written by a thread of its own.
//! Bans in force are counted from the tracker every [`ACTIVE_EVERY`] only, since that walks
//! every ban.
//!
//! The latency runs from the moment a reader thread read the line that completed a ban to
//! the moment the kernel acknowledged the transaction holding it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use palisade_watch::{Tracker, WatchConfig};
use serde::{Deserialize, Serialize};

use crate::policy::records::now;
use crate::state::write_atomic;

/// Upper bounds (seconds) of the ban latency histogram's buckets: the target is under 10 ms.
pub const LATENCY_BOUNDS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often the bans in force are counted.
pub const ACTIVE_EVERY: Duration = Duration::from_secs(10);

/// The snapshot file in the watcher's state directory.
pub fn path(watch_dir: &Path) -> PathBuf {
    watch_dir.join("stats.json")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchStats {
    /// Unix seconds.
    pub written_at: u64,
    pub started_at: u64,
    pub pid: u32,
    /// The set bans go to (and its `-ports` twin).
    pub set: String,
    pub jails: Vec<JailStats>,
    pub ban_latency: Histogram,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailStats {
    pub name: String,
    pub lines_read: u64,
    pub lines_matched: u64,
    /// Bans written to the kernel since the watcher started.
    pub bans: u64,
    /// Bans in force (counted every [`ACTIVE_EVERY`]).
    pub active_bans: u64,
}

/// Observations counted into buckets with upper bounds `bounds`; `counts` has one more entry,
/// for the observations above the last bound. Not cumulative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

/// The counters the reader threads add to, one pair per jail.
pub struct LineCounters {
    read: Vec<AtomicU64>,
    matched: Vec<AtomicU64>,
}

impl LineCounters {
    /// A line read by `jail`, and whether it matched.
    pub fn line(&self, jail: usize, matched: bool) {
        self.read[jail].fetch_add(1, Ordering::Relaxed);
        if matched {
            self.matched[jail].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The main loop's side: bans and latencies, and the snapshot.
pub struct Stats {
    lines: Arc<LineCounters>,
    snapshot: WatchStats,
    last_active: Option<Instant>,
    to_writer: mpsc::Sender<String>,
}

impl Stats {
    pub fn new(cfg: &WatchConfig, file: PathBuf) -> Self {
        let n = cfg.jails.len();
        let zeros = || (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            lines: Arc::new(LineCounters {
                read: zeros(),
                matched: zeros(),
            }),
            snapshot: WatchStats {
                written_at: 0,
                started_at: now(),
                pid: std::process::id(),
                set: cfg.set.clone(),
                jails: cfg
                    .jails
                    .iter()
                    .map(|j| JailStats {
                        name: j.name.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ban_latency: Histogram::new(&LATENCY_BOUNDS),
            },
            last_active: None,
            to_writer: writer(file),
        }
    }

    /// For the reader threads.
    pub fn lines(&self) -> Arc<LineCounters> {
        Arc::clone(&self.lines)
    }

    /// A ban of `jail`, whose last line was read at `seen`, is in the kernel.
    pub fn banned(&mut self, jail: usize, seen: Instant) {
        if let Some(j) = self.snapshot.jails.get_mut(jail) {
            j.bans += 1;
        }
        self.snapshot
            .ban_latency
            .observe(seen.elapsed().as_secs_f64());
    }

    /// Once a second: take the line counts, count bans in force when due, write the file.
    pub fn tick(&mut self, tracker: &Tracker) {
        let now = now();
        for (i, j) in self.snapshot.jails.iter_mut().enumerate() {
            j.lines_read = self.lines.read[i].load(Ordering::Relaxed);
            j.lines_matched = self.lines.matched[i].load(Ordering::Relaxed);
        }
        if self.last_active.is_none_or(|t| t.elapsed() >= ACTIVE_EVERY) {
            self.last_active = Some(Instant::now());
            let active = tracker.active_bans(now);
            for j in &mut self.snapshot.jails {
                j.active_bans = active.iter().filter(|b| b.jail == j.name).count() as u64;
            }
        }
        self.snapshot.written_at = now;
        if let Ok(json) = serde_json::to_string(&self.snapshot) {
            let _ = self.to_writer.send(json);
        }
    }
}

/// A thread that writes the newest snapshot it was sent, so the fsync never delays a ban.
fn writer(file: PathBuf) -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        while let Ok(mut text) = rx.recv() {
            while let Ok(newer) = rx.try_recv() {
                text = newer;
            }
            if let Err(e) = write_atomic(&file, text.as_bytes()) {
                eprintln!("palisade watch: cannot write statistics: {e}");
            }
        }
    });
    tx
}

/// The snapshot the watcher last wrote under `watch_dir`, if any.
pub fn read(watch_dir: &Path) -> Option<WatchStats> {
    let text = std::fs::read_to_string(path(watch_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_their_buckets() {
        let mut h = Histogram::new(&[0.001, 0.01]);
        for v in [0.0005, 0.001, 0.002, 0.5] {
            h.observe(v);
        }
        assert_eq!(h.counts, vec![2, 1, 1]);
        assert_eq!(h.count, 4);
        assert!((h.sum - 0.5035).abs() < 1e-9);
    }
}
