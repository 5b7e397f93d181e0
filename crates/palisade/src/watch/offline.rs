//! `palisade watch --test FILE`: what the jails would ban from a log, offline.
//!
//! The file is streamed in chunks through the daemon's own line splitter, so memory stays
//! bounded whatever it holds: a line longer than the daemon's limit is skipped whole and
//! counted, as the daemon skips it. A file with no line end in its first megabyte is no text
//! log (a core dump, a database, `/dev/zero`): reading it would never end or never match, so
//! it is refused with an error naming it.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use palisade_watch::{Tracker, WatchConfig};

use super::lines::{LineSplitter, MAX_LINE};
use crate::policy::records::now;

/// A text log has a line end within this many bytes of its start.
pub const FIRST_LINE_END_WITHIN: u64 = 1 << 20;

/// `palisade watch --test FILE`: what each jail would ban from a log file, offline. Every
/// line counts as seen now, so `findtime` does not split them.
pub fn test_file(cfg: &WatchConfig, file: &Path, jail: Option<&str>) -> Result<i32> {
    let name = file.display();
    let mut input = std::fs::File::open(file).with_context(|| format!("cannot read {name}"))?;
    for j in cfg
        .jails
        .iter()
        .filter(|j| jail.is_none_or(|n| n == j.name))
    {
        if let Some(set) = &j.genuine {
            eprintln!(
                "note: jail {}: hits are not checked against its genuine set {set} here \
                 (--test looks nothing up in the kernel; the daemon does)",
                j.name
            );
        }
    }
    let mut tracker = Tracker::new();
    let (mut lines, mut matched) = (0usize, 0usize);
    let mut bans = Vec::new();
    let t = Instant::now();
    let now = now();
    // Each jail reads the file in order, as the daemon's reader would.
    let mut matchers: Vec<(usize, palisade_watch::JailMatcher)> = cfg
        .jails
        .iter()
        .enumerate()
        .filter(|(_, j)| jail.is_none_or(|n| n == j.name))
        .map(|(i, j)| (i, j.matcher()))
        .collect();
    let mut each = |line: &[u8]| {
        lines += 1;
        for (i, m) in &mut matchers {
            m.feed_each(line, now, &mut |host| {
                matched += 1;
                bans.extend(tracker.observe(cfg, *i, host, now));
            });
        }
    };
    let mut splitter = LineSplitter::new();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut read, mut seen_line_end) = (0u64, false);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {name}")),
        };
        let chunk = &buf[..n];
        seen_line_end = seen_line_end || chunk.contains(&b'\n');
        read += n as u64;
        if !seen_line_end && read >= FIRST_LINE_END_WITHIN {
            bail!(
                "{name}: no line end in the first {FIRST_LINE_END_WITHIN} bytes: not a text log? \
                 (give --test a log file such as /var/log/auth.log)"
            );
        }
        splitter.feed(chunk, &mut each);
    }
    splitter.finish(&mut each);
    let secs = t.elapsed().as_secs_f64();
    let skipped = match splitter.skipped() {
        0 => String::new(),
        1 => format!(" (1 line longer than {} KiB skipped)", MAX_LINE / 1024),
        n => format!(" ({n} lines longer than {} KiB skipped)", MAX_LINE / 1024),
    };
    println!(
        "{name}: {lines} lines{skipped}, {matched} failures matched, {} bans ({:.0} lines/s)",
        bans.len(),
        lines as f64 / secs.max(1e-9)
    );
    for b in &bans {
        if b.until == palisade_watch::PERMANENT {
            println!("would ban {} permanently: {}", b.target, b.reason);
        } else {
            println!(
                "would ban {} for {} s: {}",
                b.target,
                b.until - b.since,
                b.reason
            );
        }
    }
    Ok(0)
}
