//! Blocklist feeds: sets whose lists are downloaded from URLs and kept current.
//!
//! ```toml
//! [sets.firehol]
//! urls = ["https://iplists.firehol.org/files/firehol_level1.netset"]
//! every = "6h"        # how often `palisade serve` fetches it (default 6h)
//! max_shrink = 50     # refuse a list that lost more than 50% of its entries (default 50)
//! ```
//!
//! `palisade serve` refreshes each feed every `every`; `palisade feeds update` does it once,
//! for a systemd timer instead (`packaging/palisade-feeds.timer`). Each update is a
//! conditional GET with a deadline and a size limit ([`fetch`]); what arrives is checked
//! ([`judge`]) and kept as the URL's last good copy ([`copies`]) only if it is a plausible
//! list; a changed copy is loaded into the set by difference ([`update`]). A failed or
//! implausible download leaves the set as it was, and says so in the log, in
//! `palisade feeds status` and in the metrics.

pub mod copies;
pub mod fetch;
pub mod judge;
pub mod update;

use std::time::Duration;

use anyhow::{bail, Result};
use palisade_core::policy::SetDecl;
use serde::Serialize;

use crate::cli::{FeedsStatusArgs, FeedsUpdateArgs, FetchArgs};
use crate::policy::config::{config_dir, read_config, Compiled};
use crate::policy::env::Env;
use crate::policy::records::now;
use copies::{FeedState, SetCopies};
use fetch::{Fetcher, Limits};
use update::{Loaded, Updater};

/// The download limits the flags give.
pub fn limits(a: &FetchArgs) -> Limits {
    Limits {
        timeout: Duration::from_secs(a.fetch_timeout),
        max_bytes: a.max_download << 20,
    }
}

/// The config's sets with feeds; with `only`, that one (an error if it has no `urls`).
pub fn feed_sets<'c>(c: &'c Compiled, only: Option<&str>) -> Result<Vec<&'c SetDecl>> {
    let sets: Vec<&SetDecl> = c.ruleset.sets.iter().filter(|s| s.feed.is_some()).collect();
    match only {
        None => Ok(sets),
        Some(name) => match sets.into_iter().find(|s| s.name == name) {
            Some(s) => Ok(vec![s]),
            None => bail!(
                "{}: no set `{name}` with urls: a feed is [sets.{name}] urls = [\"https://...\"]",
                c.file
            ),
        },
    }
}

/// `palisade feeds update [SET]`: fetch once; exit 1 if any feed failed or was refused (so a
/// timer's service shows it).
pub fn update_cmd(env: &mut Env, a: &FeedsUpdateArgs) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.policy.config, &facts)?;
    let sets = feed_sets(&c, a.set.as_deref())?;
    if sets.is_empty() {
        eprintln!("{}: no set has urls: nothing to update", c.file);
        return Ok(0);
    }
    let fetcher = Fetcher::new(limits(&a.fetch));
    let base = config_dir(&a.policy.config);
    let updater = Updater {
        compiled: &c,
        base: &base,
        state: &env.state,
        fetcher: &fetcher,
    };
    let mut problems = 0;
    for decl in sets {
        let u = updater.update(&mut env.store, decl)?;
        problems += usize::from(u.result.is_problem());
        match u.loaded {
            Loaded::Loaded { added, removed } => {
                eprintln!("palisade feeds: set {}: loaded: {added} added, {removed} removed", u.set)
            }
            Loaded::NotInKernel => eprintln!(
                "palisade feeds: set {}: not in the kernel (the policy declaring it is not applied): the copies go in with the next `palisade apply`",
                u.set
            ),
            Loaded::NotNeeded => {}
        }
    }
    Ok(i32::from(problems > 0))
}

/// One set's feeds, as `feeds status --json` prints them.
#[derive(Serialize)]
struct SetStatus<'a> {
    set: &'a str,
    urls: &'a [String],
    every_secs: u64,
    /// Seconds since the oldest copy was last confirmed current (`None`: some URL has none).
    data_age_secs: Option<u64>,
    state: FeedState,
}

/// `palisade feeds status`: exit 1 if a feed's last update had a problem.
pub fn status_cmd(env: &mut Env, a: &FeedsStatusArgs) -> Result<i32> {
    let c = read_config(&a.policy.config, &env.facts())?;
    let now = now();
    let ago = |t: Option<u64>| {
        t.map_or("never".to_string(), |t| {
            format!("{} s ago", now.saturating_sub(t))
        })
    };
    let mut all = Vec::new();
    for decl in feed_sets(&c, None)? {
        let feed = decl.feed.as_ref().expect("feed sets");
        let state = SetCopies::new(&env.state.feeds(), &decl.name).state();
        all.push(SetStatus {
            set: &decl.name,
            urls: &feed.urls,
            every_secs: feed.every_secs,
            data_age_secs: state
                .data_confirmed_at(&feed.urls)
                .map(|t| now.saturating_sub(t)),
            state,
        });
    }
    let problems = all
        .iter()
        .filter(|s| s.state.last_result.is_some_and(|r| r.is_problem()))
        .count();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(i32::from(problems > 0));
    }
    for s in &all {
        println!(
            "set {}: last update {} ({}), last success {}, every {} s",
            s.set,
            ago(s.state.last_attempt),
            s.state.last_result.map_or("never run", |r| r.name()),
            ago(s.state.last_success),
            s.every_secs
        );
        if let Some(p) = &s.state.last_problem {
            println!("  problem: {p}");
        }
        for url in s.urls {
            match s.state.url(url) {
                Some(u) => println!(
                    "  {url}: {} entries, confirmed {}",
                    u.entries,
                    ago(Some(u.confirmed_at))
                ),
                None => println!("  {url}: no copy yet"),
            }
        }
    }
    Ok(i32::from(problems > 0))
}
