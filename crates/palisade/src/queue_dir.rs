//! A queue between processes as a directory of small files: one file per message, written
//! atomically under a unique name, read and removed one by one, in the order written.
//!
//! Why files and not one shared file or a socket: the writer (`palisade unban`, `palisade
//! block`, the log watcher) must never wait for the reader (a daemon that may be stopped,
//! restarting or stuck), and nothing written between a read and a delete may be lost, as it
//! could be with one file that is read and then truncated. A message written while the
//! reader reads is simply taken next time. What a message says is the caller's business
//! (`watch/unban_queue.rs`, `fleet/spool.rs`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::state::write_atomic;

pub struct QueueDir {
    dir: PathBuf,
    /// File name extension of this queue's messages (`unban`, `bans`...).
    ext: &'static str,
}

impl QueueDir {
    pub fn new(dir: &Path, ext: &'static str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            ext,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queue one message.
    pub fn push(&self, text: &str) -> io::Result<()> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Zero-padded so that names sort in the order written.
        let name = format!(
            "{nanos:020}-{}-{:010}.{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            self.ext
        );
        write_atomic(&self.dir.join(name), text.as_bytes())
    }

    /// How many messages wait (for writers that bound the queue).
    pub fn len(&self) -> usize {
        self.names().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn names(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == self.ext))
            .collect();
        names.sort();
        names
    }

    /// Every queued message, oldest first, each removed once read.
    pub fn take(&self) -> Vec<String> {
        let mut out = Vec::new();
        for path in self.names() {
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.push(text);
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
    fn messages_come_out_in_order_once_and_other_files_are_left_alone() {
        let dir = std::env::temp_dir().join(format!("palisade-queue-{}", std::process::id()));
        let q = QueueDir::new(&dir, "msg");
        assert!(q.take().is_empty(), "no directory yet: nothing queued");
        for i in 0..12 {
            q.push(&format!("m{i}")).unwrap();
        }
        std::fs::write(dir.join("notes.txt"), "not a message").unwrap();
        assert_eq!(q.len(), 12);
        let got = q.take();
        assert_eq!(got, (0..12).map(|i| format!("m{i}")).collect::<Vec<_>>());
        assert!(q.is_empty());
        q.push("late").unwrap();
        assert_eq!(q.take(), ["late"]);
        assert!(dir.join("notes.txt").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
