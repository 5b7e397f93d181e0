//! Writing the watcher's state on a thread of its own, so saving never delays a ban.
//!
//! The main loop hands over a copy of the tracker; the saver thread serializes and writes it.
//! Serializing is the expensive part (about 0.4 s for 100,000 bans and their repeat-offender
//! counts in a release build), copying the tracker a fraction of it, so the loop that writes
//! bans pauses for the copy only.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use palisade_watch::Tracker;

use crate::state::write_atomic;

fn save(path: &Path, text: &str) {
    if let Err(e) = write_atomic(path, text.as_bytes()) {
        eprintln!(
            "palisade watch: cannot save state to {}: {e}",
            path.display()
        );
    }
}

/// How often changed state is written while running. A ban made just after a save is on disk
/// after this, one turn of the main loop and one save: what a SIGKILL can lose.
pub const SAVE_EVERY: Duration = Duration::from_secs(10);

/// The saver thread.
pub struct Saver {
    to_thread: mpsc::Sender<Tracker>,
    thread: JoinHandle<()>,
    path: PathBuf,
}

impl Saver {
    pub fn start(path: PathBuf) -> Self {
        let (to_thread, rx) = mpsc::channel::<Tracker>();
        let at = path.clone();
        let thread = std::thread::spawn(move || {
            while let Ok(mut tracker) = rx.recv() {
                // Only the newest snapshot matters.
                while let Ok(newer) = rx.try_recv() {
                    tracker = newer;
                }
                save(&at, &tracker.save());
            }
        });
        Self {
            to_thread,
            thread,
            path,
        }
    }

    /// Save a copy of `tracker` in the background.
    pub fn send(&self, tracker: &Tracker) {
        let _ = self.to_thread.send(tracker.clone());
    }

    /// The last save, at stop: after the thread's own (two writes of one file at once would
    /// share its temporary file).
    pub fn finish(self, tracker: &Tracker) {
        drop(self.to_thread);
        let _ = self.thread.join();
        save(&self.path, &tracker.save());
    }
}
