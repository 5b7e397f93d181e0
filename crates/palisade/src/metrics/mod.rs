//! Prometheus metrics: `palisade metrics` prints them once, `palisade serve` serves them over
//! HTTP at `[metrics] listen`.
//!
//! Two ways in, because admins have two setups: a node_exporter already scraped on every host
//! (then a timer runs `palisade metrics -o /var/lib/prometheus/node-exporter/palisade.prom`
//! and its textfile collector does the rest), or a Prometheus that scrapes services directly
//! (then `palisade serve` listens). Both produce the same text from the same code.
//!
//! Each scrape reads the state afresh ([`readings`]): the kernel's counters and element counts
//! (metadata dumps only, never set elements, so a scrape stays cheap at a million entries),
//! palisade's records, and the files the daemons leave in the state directory: the log
//! watcher's statistics (`watch/stats.json`), the feed updater's results (`feeds/*/state.json`),
//! the fleet daemon's status (`fleet/status.json`). Nothing is kept between scrapes, so the
//! numbers are the kernel's and the daemons' own, whichever process serves them; counters that
//! live in a daemon (lines read, bans made) restart from zero with it, which Prometheus'
//! `rate()` expects. The text is made by [`exposition`], which is pure.

pub mod exposition;
pub mod readings;

use std::time::Instant;

use anyhow::Result;

use crate::cli::MetricsArgs;
use crate::policy::env::Env;
use crate::state::write_atomic;

/// Read and render the metrics of `env`'s namespace.
pub fn collect(env: &mut Env) -> Result<String> {
    let t = Instant::now();
    let mut r = readings::read(env)?;
    r.collect_seconds = t.elapsed().as_secs_f64();
    Ok(exposition::render(&r))
}

/// `palisade metrics [-o FILE]`.
pub fn print(env: &mut Env, a: &MetricsArgs) -> Result<i32> {
    let text = collect(env)?;
    match &a.output {
        // Atomically: the textfile collector must never read half a file. The temporary file
        // does not end in `.prom`, so the collector ignores it.
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(0)
}
