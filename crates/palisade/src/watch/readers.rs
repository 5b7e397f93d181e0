//! One reader thread per followed source (file or journal), matching lines against the jails
//! that read it and sending on only the hits.
//!
//! When the daemon is told to stop, each file reader reads its file once more to the end,
//! sends what it found and then [`Event::Drained`]: every line written before the stop
//! signal is counted, and a ban it makes is saved with the rest. (The journal reader has no
//! end to read to: its hits already sent are counted, the rest are not.)

use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use palisade_watch::{Source, WatchConfig};

use super::follow;
use super::lines::{LineSplitter, MAX_LINE};
use super::stats::LineCounters;
use super::sys::stopping;

/// What reader threads tell the main loop.
pub enum Event {
    /// A failure: which jail saw it, from which host, and when its line was read.
    Hit {
        jail: usize,
        host: IpAddr,
        seen: Instant,
    },
    /// A file reader read its file to the end after the stop signal and ended.
    Drained,
}

/// Start a reader thread for each source (jails reading the same source share it); how many
/// of them will send [`Event::Drained`] when stopping.
pub fn start_readers(
    cfg: &WatchConfig,
    from_start: bool,
    events: mpsc::SyncSender<Event>,
    counters: &Arc<LineCounters>,
) -> Result<usize> {
    let mut drains = 0;
    let mut by_source: BTreeMap<String, (Source, Vec<usize>)> = BTreeMap::new();
    for (i, j) in cfg.jails.iter().enumerate() {
        let key = match &j.source {
            Source::File(p) => format!("file:{}", p.display()),
            Source::Journal { unit } => format!("journal:{}", unit.as_deref().unwrap_or("")),
        };
        by_source
            .entry(key)
            .or_insert_with(|| (j.source.clone(), Vec::new()))
            .1
            .push(i);
    }
    for (_, (source, jails)) in by_source {
        let matchers: Vec<(usize, palisade_watch::Matcher)> = jails
            .iter()
            .map(|i| (*i, cfg.jails[*i].matcher.clone()))
            .collect();
        let events = events.clone();
        let done = events.clone();
        let counters = Arc::clone(counters);
        let mut on_line = move |line: &[u8]| {
            for (jail, m) in &matchers {
                let host = m.find_host(line);
                counters.line(*jail, host.is_some());
                if let Some(host) = host {
                    let seen = Instant::now();
                    let _ = events.send(Event::Hit {
                        jail: *jail,
                        host,
                        seen,
                    });
                }
            }
        };
        match source {
            Source::File(path) => {
                let wake = follow::Wakeup::new(std::slice::from_ref(&path))
                    .with_context(|| format!("cannot watch {}", path.display()))?;
                let mut f = follow::Follower::open(&path, from_start);
                drains += 1;
                std::thread::spawn(move || {
                    let mut skipped = 0;
                    loop {
                        // Seen before the read: a stop then finds every line written before it.
                        let last = stopping();
                        if let Err(e) = f.poll(&mut on_line) {
                            eprintln!("palisade watch: reading {}: {e}", path.display());
                        }
                        report_skipped(&path.display().to_string(), &mut skipped, f.skipped());
                        if last {
                            let _ = done.send(Event::Drained);
                            return;
                        }
                        // inotify wakes it at once for a change; the timeout bounds how long
                        // a stop waits for this reader.
                        wake.wait(Duration::from_millis(100));
                    }
                });
            }
            Source::Journal { unit } => {
                let mut cmd = std::process::Command::new("journalctl");
                cmd.args(["--follow", "--output=cat", "--lines=0"]);
                if let Some(u) = &unit {
                    cmd.args(["--unit", u]);
                }
                let mut child = cmd
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .context("cannot start journalctl to follow the journal")?;
                let mut out = child.stdout.take().expect("piped");
                let what = format!("the journal of {}", unit.as_deref().unwrap_or("every unit"));
                std::thread::spawn(move || {
                    let mut lines = LineSplitter::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut skipped = 0;
                    loop {
                        match out.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => lines.feed(&buf[..n], &mut on_line),
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                        report_skipped(&what, &mut skipped, lines.skipped());
                    }
                    let _ = child.wait();
                });
            }
        }
    }
    Ok(drains)
}

/// Tell the admin about lines skipped for their length since the last report (once per
/// read, not per line: a flood of long lines must not flood the daemon's own log).
fn report_skipped(source: &str, reported: &mut u64, now: u64) {
    if now > *reported {
        eprintln!(
            "palisade watch: {source}: skipped {} lines longer than {} KiB ({now} in all)",
            now - *reported,
            MAX_LINE / 1024
        );
        *reported = now;
    }
}
