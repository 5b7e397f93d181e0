//! Processes the fleet lab starts: killed on drop, their stderr passed on and kept.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use palisade_lab::eventually;

use super::WAIT;

/// A process killed (SIGTERM, then waited for) on drop, and what it wrote to stderr.
pub struct Proc(Child, Arc<Mutex<Vec<String>>>);

impl Proc {
    /// Spawn with stderr forwarded to the test's, each line prefixed with `tag`; returns once
    /// a line contains `marker` (if given).
    pub fn spawn(mut cmd: Command, tag: String, marker: Option<&'static str>) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tag}: cannot start: {e}"));
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(marker.is_none()));
        let flag = seen.clone();
        let stderr = child.stderr.take().unwrap();
        let prefix = tag.clone();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                kept.lock().unwrap().push(line.clone());
                if marker.is_some_and(|m| line.contains(m)) {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                eprintln!("[{prefix}] {line}");
            }
        });
        assert!(
            eventually(WAIT, || seen.load(std::sync::atomic::Ordering::SeqCst)),
            "{tag} did not start"
        );
        Proc(child, lines)
    }

    /// Has it written a line containing every one of `words`?
    pub fn said(&self, words: &[&str]) -> bool {
        self.1
            .lock()
            .unwrap()
            .iter()
            .any(|l| words.iter().all(|w| l.contains(w)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}
