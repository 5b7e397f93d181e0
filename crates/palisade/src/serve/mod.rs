//! `palisade serve`: the long-running side of operations. It serves the metrics over HTTP at
//! `[metrics] listen`, fetches each feed every `every`, and rebuilds country and AS sets when
//! their database file changes (packaging/palisade-serve.service).
//!
//! Why one daemon for the three, apart from `palisade watch`: they are all slow, periodic and
//! allowed to be late by seconds, while the watcher's loop must put a ban in the kernel within
//! milliseconds of its log line; a feed download stuck on a slow publisher must never sit
//! between an attacker and their ban. They also share what they need: the config, the state
//! directory, a kernel handle. And each can be had without the daemon: `palisade metrics`
//! for node_exporter, `palisade feeds update` from a timer (packaging/palisade-feeds.timer),
//! `palisade apply` for a new database. The metrics listener runs on a thread of its own with
//! its own kernel handle, so a scrape is answered while a feed loads.
//!
//! Failed or refused feeds are tried again after [`RETRY`] (or `every`, if shorter), not
//! hammered. A change of the config (new feeds, another listen address) needs a restart.

pub mod http;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use palisade_core::policy::SetDecl;

use crate::cli::ServeArgs;
use crate::feeds::copies::SetCopies;
use crate::feeds::fetch::Fetcher;
use crate::feeds::update::{Loaded, Updater};
use crate::feeds::{feed_sets, limits};
use crate::geo;
use crate::policy::config::{config_dir, read_config};
use crate::policy::env::Env;
use crate::policy::records::now;
use crate::watch::sys::{catch_signals, stopping};

/// How soon a failed or refused feed is tried again (at most; `every` if that is shorter).
pub const RETRY: Duration = Duration::from_secs(15 * 60);

/// Database files as last seen: inode (a new file renamed over the old one), modification
/// time and size.
type Seen = Vec<(PathBuf, Option<(u64, SystemTime, u64)>)>;

fn seen(files: &[PathBuf]) -> Seen {
    use std::os::unix::fs::MetadataExt;
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.ino(), m.modified().ok()?, m.len())));
            (f.clone(), m)
        })
        .collect()
}

/// When a feed set is due, in Unix seconds.
fn due(env: &Env, decl: &SetDecl) -> u64 {
    let every = decl.feed.as_ref().map_or(u64::MAX, |f| f.every_secs);
    let state = SetCopies::new(&env.state.feeds(), &decl.name).state();
    let wait = match state.last_result {
        Some(r) if r.is_problem() => every.min(RETRY.as_secs()),
        _ => every,
    };
    state.last_attempt.map_or(0, |t| t.saturating_add(wait))
}

/// Start the metrics listener, if one is configured.
fn start_metrics(env: &Env, listen: Option<std::net::SocketAddr>) -> Result<()> {
    let Some(addr) = listen else {
        eprintln!(
            "palisade serve: no [metrics] listen in the config (or --listen): no metrics listener"
        );
        return Ok(());
    };
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("cannot listen for metrics on {addr} ([metrics] listen)"))?;
    let ns = env.ns.clone();
    let mut metrics_env = Env::open(&ns)?;
    std::thread::spawn(move || {
        http::serve(listener, || crate::metrics::collect(&mut metrics_env));
    });
    eprintln!("palisade serve: metrics at http://{addr}/metrics");
    Ok(())
}

pub fn run(env: &mut Env, a: &ServeArgs) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.policy.config, &facts)?;
    let base = config_dir(&a.policy.config);
    catch_signals();
    start_metrics(env, a.listen.or(c.policy.metrics_listen))?;
    let fetcher = Fetcher::new(limits(&a.fetch));
    let geo_files = geo::resolve(&c.policy.geo, &base);
    let feeds = feed_sets(&c, None)?;
    let geo_sets: Vec<&SetDecl> = c.ruleset.sets.iter().filter(|s| s.geo.is_some()).collect();
    eprintln!(
        "palisade serve: {} feed sets, {} country/AS sets",
        feeds.len(),
        geo_sets.len()
    );
    let updater = Updater {
        compiled: &c,
        base: &base,
        state: &env.state,
        fetcher: &fetcher,
    };
    // Country sets are rebuilt once at start (the file may have changed while nothing was
    // running), then whenever their file changes.
    let mut geo_seen: Vec<Option<Seen>> = vec![None; geo_sets.len()];
    let geo_poll = Duration::from_secs(a.geo_check);
    let mut next_geo = Instant::now();
    let mut next_feed: Vec<u64> = feeds.iter().map(|d| due(env, d)).collect();
    while !stopping() {
        if Instant::now() >= next_geo {
            next_geo = Instant::now() + geo_poll;
            for (decl, last) in geo_sets.iter().zip(&mut geo_seen) {
                let now_seen = seen(&geo::files_of(decl, &geo_files));
                if last.as_ref() == Some(&now_seen) {
                    continue;
                }
                match updater.load_set(&mut env.store, decl) {
                    Ok(loaded) => {
                        report_geo(&decl.name, &loaded);
                        *last = Some(now_seen);
                    }
                    Err(e) => eprintln!(
                        "palisade serve: set {}: {e:#}; the set keeps what it holds",
                        decl.name
                    ),
                }
            }
        }
        for (decl, next) in feeds.iter().zip(&mut next_feed) {
            if now() < *next || stopping() {
                continue;
            }
            if let Err(e) = updater.update(&mut env.store, decl) {
                eprintln!(
                    "palisade serve: set {}: feed update failed: {e:#}",
                    decl.name
                );
            }
            *next = due(env, decl).max(now() + 1);
        }
        let until_feed = next_feed
            .iter()
            .map(|t| Duration::from_secs(t.saturating_sub(now())))
            .min()
            .unwrap_or(geo_poll);
        let wait = until_feed
            .min(next_geo.saturating_duration_since(Instant::now()))
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
        std::thread::sleep(wait);
    }
    eprintln!("palisade serve: stopped");
    Ok(0)
}

fn report_geo(set: &str, loaded: &Loaded) {
    match loaded {
        Loaded::Loaded { added, removed } => eprintln!(
            "palisade serve: set {set}: built from the geolocation database: {added} added, {removed} removed"
        ),
        Loaded::NotInKernel => eprintln!(
            "palisade serve: set {set}: not in the kernel (the policy declaring it is not applied)"
        ),
        Loaded::NotNeeded => {}
    }
}
