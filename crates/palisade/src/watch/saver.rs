//! Writing the watcher's state on a thread of its own, so the fsync never delays a ban.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::state::write_atomic;

pub fn save(path: &Path, text: &str) {
    if let Err(e) = write_atomic(path, text.as_bytes()) {
        eprintln!(
            "palisade watch: cannot save state to {}: {e}",
            path.display()
        );
    }
}

/// How often changed state is written while running: serializing 100,000 bans takes tens of
/// milliseconds of the loop that writes bans, so not every second.
pub const SAVE_EVERY: Duration = Duration::from_secs(10);

/// Writes state on a thread of its own, so the fsync never delays a ban.
pub fn saver(path: PathBuf) -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        while let Ok(mut text) = rx.recv() {
            // Only the newest snapshot matters.
            while let Ok(newer) = rx.try_recv() {
                text = newer;
            }
            save(&path, &text);
        }
    });
    tx
}
