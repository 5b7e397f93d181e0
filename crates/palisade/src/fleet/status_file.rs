//! The running fleet daemon's status, as a file: `palisade fleet run` rewrites it every
//! second, `palisade fleet status` reads it and says how old it is.
//!
//! Why a file and not a socket: the status must be readable when the daemon is stuck or gone
//! (then its age and a dead pid say so, which is what the admin needs to know), and it is
//! small. It carries the engine's [`Status`] twice: as data for `--json` and scripts, and as
//! the engine's own text for people.

use std::path::Path;

use anyhow::{Context, Result};
use palisade_fleet::Status;
use serde::{Deserialize, Serialize};

use crate::state::write_atomic;

/// A status older than this means the daemon is not running (or stuck).
pub const STALE_MS: u64 = 5_000;

/// What the daemon adds to the engine's status: what this host handed to the fleet, and
/// what it holds from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonCounters {
    /// Records taken from the spool (log watcher, `block`, `unban`) and handed to the engine.
    pub spooled: u64,
    /// Spool lines that could not be read (and were dropped).
    pub spool_unreadable: u64,
    /// Flood bans (and early lifts) read from the kernel and handed to the engine.
    pub flood_bans: u64,
    pub flood_lifts: u64,
    /// The sets flood bans are read from.
    pub flood_sets: Vec<String>,
    /// Versions of shared lists handed to the engine, and received lists loaded.
    pub lists_published: u64,
    pub lists_loaded: u64,
    /// Origins forgotten at `palisade fleet forget`'s request.
    pub forgets: u64,
    /// Addresses the `fleet` set holds for peers.
    pub fleet_set_addresses: usize,
    /// The daemon's own last problem (reading the kernel, the spool...).
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusFile {
    /// Unix milliseconds.
    pub written_at_ms: u64,
    pub pid: u32,
    pub config: String,
    /// The engine's [`Status`], as data.
    pub engine: serde_json::Value,
    /// The engine's [`Status`], as its text.
    pub text: String,
    pub daemon: DaemonCounters,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl StatusFile {
    pub fn new(config: &Path, engine: &Status, daemon: DaemonCounters) -> Self {
        Self {
            written_at_ms: now_ms(),
            pid: std::process::id(),
            config: config.display().to_string(),
            engine: serde_json::to_value(engine).unwrap_or(serde_json::Value::Null),
            text: engine.to_string(),
            daemon,
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        Ok(write_atomic(path, &json)?)
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "no fleet status at {}: `palisade fleet run` has not run in this namespace \
                 (is the palisade-fleet service started?)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{}: damaged status", path.display()))
    }

    /// Milliseconds since the daemon wrote it.
    pub fn age_ms(&self) -> u64 {
        now_ms().saturating_sub(self.written_at_ms)
    }

    /// The daemon that wrote it is alive and writing.
    pub fn running(&self) -> bool {
        self.age_ms() <= STALE_MS && Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    /// The status as `fleet status` prints it.
    pub fn render(&self) -> String {
        let age = self.age_ms() as f64 / 1000.0;
        let d = &self.daemon;
        let mut out = if self.running() {
            format!(
                "fleet daemon pid {} ({}), status written {age:.1} s ago\n",
                self.pid, self.config
            )
        } else {
            format!(
                "fleet daemon NOT RUNNING: pid {} last wrote its status {age:.0} s ago; \
                 start it with `systemctl start palisade-fleet` (or `palisade fleet run`). \
                 The last status:\n",
                self.pid
            )
        };
        out.push_str(&self.text);
        out.push_str(&format!(
            "kernel: set fleet holds {} addresses from peers; {} shared lists loaded\n",
            d.fleet_set_addresses, d.lists_loaded
        ));
        out.push_str(&format!(
            "shared from this host: {} spooled records ({} unreadable), {} flood bans and {} \
             flood lifts (from sets: {}), {} list versions\n",
            d.spooled,
            d.spool_unreadable,
            d.flood_bans,
            d.flood_lifts,
            if d.flood_sets.is_empty() {
                "none".to_string()
            } else {
                d.flood_sets.join(", ")
            },
            d.lists_published
        ));
        if d.forgets > 0 {
            out.push_str(&format!("origins forgotten: {}\n", d.forgets));
        }
        if let Some(e) = &d.last_error {
            out.push_str(&format!("daemon's last error: {e}\n"));
        }
        out
    }

    /// The status as `fleet status --json` prints it: the file, with its age and whether the
    /// daemon runs.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("text");
            o.insert("age_ms".into(), self.age_ms().into());
            o.insert("running".into(), self.running().into());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_status_reads_back_and_ages() {
        let dir = std::env::temp_dir().join(format!("palisade-fstatus-{}", std::process::id()));
        let path = dir.join("status.json");
        let engine = Status::new("web1");
        let f = StatusFile::new(
            Path::new("/etc/palisade/palisade.toml"),
            &engine,
            DaemonCounters::default(),
        );
        f.write(&path).unwrap();
        let back = StatusFile::read(&path).unwrap();
        assert!(back.running(), "our own pid, just written");
        assert_eq!(back.engine["host"], "web1");
        assert_eq!(back.engine["connection"], "connecting");
        assert!(back.render().contains("host web1: connecting"));
        let json = back.to_json();
        assert_eq!(json["running"], true);
        assert!(json.get("text").is_none());
        let old = StatusFile {
            written_at_ms: now_ms() - STALE_MS - 1000,
            ..back
        };
        assert!(!old.running());
        assert!(old.render().contains("NOT RUNNING"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_status_says_what_to_do() {
        let e = StatusFile::read(Path::new("/nonexistent/status.json")).unwrap_err();
        assert!(format!("{e:#}").contains("palisade fleet run"), "{e:#}");
    }
}
