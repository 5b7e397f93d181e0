//! `palisade watch`: follows logs, counts failures per source, and bans in kernel batches.
//!
//! Each followed source has a reader thread ([`readers`], [`journal`]) that matches its lines
//! against the jails reading it and sends on only the hits, so matching runs at full speed on
//! its own core. The main loop ([`daemon`]) counts hits ([`palisade_watch::Tracker`]) and writes bans
//! to the kernel ([`bans`]): at once when nothing else is waiting (a single ban is in the
//! kernel milliseconds after its log line), coalesced into one transaction of up to 5,000
//! bans (or 100 ms) under load. State is written off that loop ([`saver`]); `palisade unban`
//! talks to a running daemon through a queue ([`unban_queue`]). The host's own addresses,
//! never banned, are followed as they come and go ([`own_addrs`]); the signal handling is in
//! [`sys`]; what it reports for metrics, in [`stats`]; hits from a jail's genuine set (the
//! real Googlebot's networks) are not counted ([`genuine`]).
//!
//! - [`follow`]: following a file through rotation; [`lines`]: cutting input into lines
//!   with bounded memory; [`offline`]: `watch --test`;
//!   [`listing`]: `palisade bans` and `palisade unban`.

pub mod bans;
pub mod daemon;
pub mod follow;
pub mod genuine;
mod journal;
pub mod lines;
pub mod listing;
pub mod offline;
pub(crate) mod own_addrs;
mod readers;
mod saver;
pub mod stats;
pub mod sys;
pub mod unban_queue;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use palisade_watch::{parse_watch_config, WatchConfig};

use crate::fleet::FleetPaths;
use crate::policy::config::services;
use crate::state::StateDir;

/// Where the daemon keeps its state, and where it hands bans to the fleet daemon.
pub struct WatchPaths {
    pub state: PathBuf,
    pub unban_queue: PathBuf,
    /// The fleet daemon's spool (see [`crate::fleet::spool`]).
    pub fleet_spool: PathBuf,
}

impl WatchPaths {
    pub fn new(state: &StateDir) -> Self {
        let dir = state.watch();
        Self {
            state: dir.join("watch.state"),
            unban_queue: dir.join("unban.d"),
            fleet_spool: FleetPaths::new(state).outbox,
        }
    }
}

/// The `[watch]` and `[jails.*]` tables of the config.
pub fn read_config(path: &Path) -> Result<WatchConfig> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {file} (choose another with -c FILE)"))?;
    Ok(parse_watch_config(
        &file,
        &text,
        &services(),
        &palisade_watch::filter_files_on_disk,
    )?)
}
