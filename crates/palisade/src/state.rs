//! Where palisade keeps what it must remember, per network namespace, and how it writes it.
//!
//! Every path palisade writes is built here, from the state directory (`PALISADE_STATE_DIR`,
//! else `/var/lib/palisade`) and the network namespace the command works in:
//!
//! ```text
//! /var/lib/palisade/saved.state          what boot restores: the root namespace's only
//! /var/lib/palisade/policy/              applied.json, previous.state, pending.json, ...
//! /var/lib/palisade/sets/NAME.cache      what the last load put in a set
//! /var/lib/palisade/watch/               the log watcher's bans and unban queue
//! /var/lib/palisade/xdp.json             the interfaces palisade keeps XDP on
//! /var/lib/palisade/fleet/               the fleet daemon's status, outgoing bans, forgets
//! /var/lib/palisade/feeds/NAME/          a feed set's last good copies and update results
//! /var/lib/palisade/netns/INODE/...      the same for any other network namespace
//! ```
//!
//! The root namespace's files are written only by a palisade running in (or told to work in)
//! the root namespace, so an `apply` inside a container or `ip netns exec` never changes
//! what the host boots with.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::netns::Namespace;

/// The files of one network namespace.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The state directory palisade uses: `PALISADE_STATE_DIR`, or `/var/lib/palisade`.
    pub fn root() -> PathBuf {
        std::env::var_os("PALISADE_STATE_DIR")
            .map(Into::into)
            .unwrap_or_else(|| "/var/lib/palisade".into())
    }

    /// The files of `ns` under the state directory.
    pub fn for_namespace(ns: &Namespace) -> std::io::Result<Self> {
        Ok(Self::under(&Self::root(), ns.key()?))
    }

    /// `key` is `None` for the root namespace, else the namespace's inode.
    pub fn under(root: &Path, key: Option<u64>) -> Self {
        let dir = match key {
            None => root.to_path_buf(),
            Some(inode) => root.join("netns").join(inode.to_string()),
        };
        Self { dir }
    }

    /// The saved state boot restores (for the root namespace), or `restore` reads by default.
    pub fn saved_state(&self) -> PathBuf {
        self.dir.join("saved.state")
    }

    /// The records of applied policies.
    pub fn policy(&self) -> PathBuf {
        self.dir.join("policy")
    }

    /// Set caches.
    pub fn sets(&self) -> PathBuf {
        self.dir.join("sets")
    }

    /// The lock commands that change the policy or load sets hold (see [`crate::lock`]).
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// The log watcher's state.
    pub fn watch(&self) -> PathBuf {
        self.dir.join("watch")
    }

    /// The interfaces palisade keeps its XDP program on (see `crate::xdp::record`).
    pub fn xdp(&self) -> PathBuf {
        self.dir.join("xdp.json")
    }

    /// The fleet daemon's files (see [`crate::fleet::FleetPaths`]).
    pub fn fleet(&self) -> PathBuf {
        self.dir.join("fleet")
    }

    /// The feed updater's copies and results (see [`crate::feeds::copies`]).
    pub fn feeds(&self) -> PathBuf {
        self.dir.join("feeds")
    }
}

/// Write `bytes` to `path` atomically and durably: a temporary file beside it, fsync, rename,
/// fsync of the directory. A crash leaves the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.tmp");
    remove_orphans(dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(std::io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", path.display()),
        ));
    }
    std::fs::File::open(dir)?.sync_all()
}

/// Temporary files of writers that were killed before their rename (`PREFIXpid` of a
/// process that no longer exists): removed, so a crash leaves no litter behind for long.
fn remove_orphans(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_namespace_alone_owns_the_boot_state() {
        let root = Path::new("/s");
        assert_eq!(
            StateDir::under(root, None).saved_state(),
            Path::new("/s/saved.state")
        );
        let other = StateDir::under(root, Some(4026532281));
        assert_eq!(
            other.saved_state(),
            Path::new("/s/netns/4026532281/saved.state")
        );
        assert!(other.policy().starts_with("/s/netns/4026532281"));
        assert!(other.sets().starts_with("/s/netns/4026532281"));
        assert!(other.watch().starts_with("/s/netns/4026532281"));
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = std::env::temp_dir().join(format!("palisade-state-{}", std::process::id()));
        let p = dir.join("a/b.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(dir.join("a")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        // A writer killed before its rename left its temporary file: the next write removes it.
        let orphan = dir.join("a/.b.json.tmp999999999");
        std::fs::write(&orphan, b"half").unwrap();
        write_atomic(&p, b"three").unwrap();
        assert!(!orphan.exists(), "the orphan of a dead writer is removed");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
