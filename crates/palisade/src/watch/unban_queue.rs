//! How `palisade unban` tells a running daemon to forget a ban.
//!
//! The kernel side of an unban is immediate (the command deletes the elements itself); the
//! daemon must also forget the ban, or it would write it back at its next restart. Each
//! `unban` writes one file (atomically, under a unique name) into a queue directory; the daemon
//! reads and removes each file by name (see [`crate::queue_dir`]).

use std::io;
use std::path::Path;

use palisade_core::{parse_addr_range, AddrRange};

use crate::queue_dir::QueueDir;

pub struct UnbanQueue {
    queue: QueueDir,
}

impl UnbanQueue {
    pub fn new(dir: &Path) -> Self {
        Self {
            queue: QueueDir::new(dir, "unban"),
        }
    }

    /// Queue targets for the daemon, as one entry.
    pub fn push(&self, targets: &[AddrRange]) -> io::Result<()> {
        let text: String = targets.iter().map(|t| format!("{t}\n")).collect();
        self.queue.push(&text)
    }

    /// Every queued target, each entry removed once read.
    pub fn take(&self) -> Vec<AddrRange> {
        self.queue
            .take()
            .iter()
            .flat_map(|text| text.lines())
            .filter_map(|l| parse_addr_range(l.trim(), false).ok())
            .collect()
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
