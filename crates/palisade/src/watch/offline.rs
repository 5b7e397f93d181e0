//! `palisade watch --test FILE`: what the jails would ban from a log, offline.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use palisade_watch::{Tracker, WatchConfig};

use crate::policy::records::now;

/// `palisade watch --test FILE`: what each jail would ban from a log file, offline. Every
/// line counts as seen now, so `findtime` does not split them.
pub fn test_file(cfg: &WatchConfig, file: &Path, jail: Option<&str>) -> Result<i32> {
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut tracker = Tracker::new();
    let (mut lines, mut matched) = (0usize, 0usize);
    let mut bans = Vec::new();
    let t = Instant::now();
    let now = now();
    for line in data.split(|b| *b == b'\n') {
        lines += 1;
        for (i, j) in cfg.jails.iter().enumerate() {
            if jail.is_some_and(|n| n != j.name) {
                continue;
            }
            if let Some(host) = j.matcher.find_host(line) {
                matched += 1;
                bans.extend(tracker.observe(cfg, i, host, now));
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{}: {lines} lines, {matched} failures matched, {} bans ({:.0} lines/s)",
        file.display(),
        bans.len(),
        lines as f64 / secs.max(1e-9)
    );
    for b in &bans {
        println!(
            "would ban {} for {} s: {}",
            b.target,
            b.until - b.since,
            b.reason
        );
    }
    Ok(0)
}
