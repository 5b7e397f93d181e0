//! What palisade remembers about applied policies, per network namespace: the applied
//! ruleset and where it came from, the state before the last apply (for `rollback` and the
//! confirm timer), and a pending confirmation.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::intent::Intent;
use super::saved::SavedPolicy;
use crate::state::write_atomic;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Applied {
    /// Seconds since the epoch.
    pub at: u64,
    /// `/etc/palisade/palisade.toml`, `restore /var/lib/palisade/saved.state`, `rollback`...
    pub source: String,
    pub policy: SavedPolicy,
}

/// An apply waiting for `palisade confirm`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub token: u64,
    /// Seconds since the epoch when the previous state comes back.
    pub deadline: u64,
}

pub struct Records {
    dir: PathBuf,
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Records {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Option<T> {
        let text = std::fs::read_to_string(self.dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        Ok(write_atomic(
            &self.dir.join(name),
            serde_json::to_string_pretty(value)?.as_bytes(),
        )?)
    }

    pub fn applied(&self) -> Option<Applied> {
        self.read_json("applied.json")
    }

    pub fn set_applied(&self, a: &Applied) -> Result<()> {
        self.write_json("applied.json", a)
    }

    /// The saved state from before the last apply.
    pub fn previous_path(&self) -> PathBuf {
        self.dir.join("previous.state")
    }

    /// The saved state from before `palisade panic`, which `panic off` restores (a file of
    /// its own, so `rollback` is not affected by a panic).
    pub fn panic_path(&self) -> PathBuf {
        self.dir.join("panic.state")
    }

    pub fn pending(&self) -> Option<Pending> {
        self.read_json("pending.json")
    }

    pub fn set_pending(&self, p: &Pending) -> Result<()> {
        self.write_json("pending.json", p)
    }

    /// Remove the pending confirmation; true if there was one.
    pub fn clear_pending(&self) -> bool {
        std::fs::remove_file(self.dir.join("pending.json")).is_ok()
    }

    /// A transaction's intent, left behind only if palisade died during it.
    pub fn intent(&self) -> Option<Intent> {
        self.read_json("intent.json")
    }

    pub fn set_intent(&self, i: &Intent) -> Result<()> {
        self.write_json("intent.json", i)
    }

    pub fn clear_intent(&self) {
        let _ = std::fs::remove_file(self.dir.join("intent.json"));
    }

    /// Where the confirm timer writes what it did.
    pub fn timer_log(&self) -> PathBuf {
        self.dir.join("confirm.log")
    }
}
