//! `palisade fleet`: this host in a fleet that shares bans and blocklists over NATS JetStream.
//!
//! The engine (signatures, trust, replay, catch-up, batching) is `palisade-fleet`; this module
//! is what ties it to this host: peers' bans into the kernel, this host's bans onto the bus.
//!
//! One process per host speaks for it on the bus: `palisade fleet run` ([`daemon`]). Every
//! other part of palisade that bans (the log watcher, `palisade block`, `palisade unban`)
//! hands its bans to it through a spool directory ([`spool`]) rather than running a publisher
//! of its own, because:
//! - the origin's envelopes must come from one place: the engine numbers them from one clock
//!   and re-announces the origin's long bans from what it reads back; two publishers for one
//!   origin would trip each other's replay window;
//! - `palisade block` is a command that exits at once and cannot hold a connection;
//! - a ban written to the spool survives a restart of the fleet daemon, and the writer never
//!   waits for the bus: a bus outage (or a stopped daemon) never delays a local ban.
//!
//! The daemon follows the spool with inotify, so a ban is on its way within microseconds of
//! the writer's rename. It also reads the kernel's own flood bans ([`flood`]) and the shared
//! lists this host publishes ([`lists`]) every second or so. Peers' bans go into the palisade
//! set `fleet` through [`sink::KernelSink`], which keeps, per address, which peers ban it
//! until when ([`holdings`]). The daemon writes its status to a file every second
//! ([`status_file`]) for `palisade fleet status`; `palisade fleet forget` reaches it through a
//! queue directory. [`commands`] are the other subcommands.

pub mod commands;
pub mod daemon;
pub mod flood;
pub mod forgotten;
pub mod holdings;
pub mod lists;
pub mod sink;
pub mod spool;
pub mod status_file;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use palisade_fleet::{parse_fleet_config, FleetConfig};

use crate::queue_dir::QueueDir;
use crate::state::StateDir;

/// The palisade set peers' bans go into.
pub const FLEET_SET: &str = "fleet";

/// The fleet daemon's files in a namespace's state directory.
#[derive(Clone, Debug)]
pub struct FleetPaths {
    /// Bans this host made, waiting for the daemon (see [`spool`]).
    pub outbox: PathBuf,
    /// Origins `palisade fleet forget` asked the daemon to drop.
    pub forget: PathBuf,
    /// The daemon's status, rewritten every second.
    pub status: PathBuf,
    /// Origins forgotten, and when (see [`forgotten`]).
    pub forgotten: PathBuf,
}

impl FleetPaths {
    pub fn new(state: &StateDir) -> Self {
        let dir = state.fleet();
        Self {
            outbox: dir.join("outbox.d"),
            forget: dir.join("forget.d"),
            status: dir.join("status.json"),
            forgotten: dir.join("forgotten.json"),
        }
    }

    pub fn forget_queue(&self) -> QueueDir {
        QueueDir::new(&self.forget, "forget")
    }
}

/// `[fleet]` of the config at `path`; an error if the table is missing.
pub fn read_config(path: &Path) -> Result<FleetConfig> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {file} (choose another with -c FILE)"))?;
    parse_fleet_config(&file, &text)?.with_context(|| {
        format!(
            "{file}: no [fleet] table: this host is not in a fleet (see FLEET.md for host, \
             servers, key_file and peers)"
        )
    })
}

/// For `palisade check`: `[fleet]` validated as `fleet run` reads it (errors name the file,
/// line and key), in a few words; `None` when the host is not in a fleet. A missing key
/// file is a warning (it is made on the host, after the config is written).
pub fn check_config(path: &Path) -> Result<Option<String>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {file} (choose another with -c FILE)"))?;
    let Some(c) = parse_fleet_config(&file, &text)? else {
        return Ok(None);
    };
    if !c.key_file.exists() {
        eprintln!(
            "{file}: warning: fleet.key_file {} does not exist: create it with `palisade fleet \
             keygen --host {} --key-file {}`",
            c.key_file.display(),
            c.host,
            c.key_file.display()
        );
    }
    Ok(Some(format!(
        "fleet host {} trusting {} peers",
        c.host,
        c.peers.len()
    )))
}

/// Unix seconds now.
pub fn now() -> u64 {
    crate::policy::records::now()
}
