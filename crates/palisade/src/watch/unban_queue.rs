//! How `palisade unban` tells a running daemon to forget a ban.
//!
//! The kernel side of an unban is immediate (the command deletes the elements itself); the
//! daemon must also forget the ban, or it would write it back at its next restart. Each
//! `unban` writes one file (atomically, under a unique name) into a queue directory; the daemon
//! reads and removes each file by name. A file written while the daemon reads is simply taken
//! next time: nothing written between a read and a delete can be lost, as it could with one
//! shared file that is read and then removed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use palisade_core::{parse_addr_range, AddrRange};

use crate::state::write_atomic;

pub struct UnbanQueue {
    dir: PathBuf,
}

impl UnbanQueue {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Queue targets for the daemon, as one entry.
    pub fn push(&self, targets: &[AddrRange]) -> io::Result<()> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "{nanos}-{}-{}.unban",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let text: String = targets.iter().map(|t| format!("{t}\n")).collect();
        write_atomic(&self.dir.join(name), text.as_bytes())
    }

    /// Every queued target, each entry removed once read.
    pub fn take(&self) -> Vec<AddrRange> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "unban"))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for path in names {
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.extend(
                    text.lines()
                        .filter_map(|l| parse_addr_range(l.trim(), false).ok()),
                );
            }
            let _ = std::fs::remove_file(&path);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_written_while_taking_are_kept_for_next_time() {
        let dir = std::env::temp_dir().join(format!("palisade-unban-{}", std::process::id()));
        let q = UnbanQueue::new(&dir);
        let a = parse_addr_range("192.0.2.1", false).unwrap();
        let b = parse_addr_range("192.0.2.2", false).unwrap();
        q.push(&[a]).unwrap();
        assert_eq!(q.take(), vec![a]);
        q.push(&[b]).unwrap();
        q.push(&[a]).unwrap();
        let mut got = q.take();
        got.sort();
        assert_eq!(got, vec![a, b]);
        assert!(q.take().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
