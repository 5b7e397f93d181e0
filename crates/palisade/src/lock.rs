//! One palisade at a time changes a namespace's policy and sets.
//!
//! Two `apply`s at once both read the kernel, both commit, and the second works from what the
//! first had replaced: the result matched neither config. Commands that change the policy or
//! load sets take this lock (an `flock` on a file in the namespace's state directory) for
//! their whole read-modify-write; a second one waits, saying for whom, and gives up with a
//! clear error after a while. The kernel releases an `flock` when its holder dies, so a killed
//! palisade never leaves the lock behind.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Held until dropped.
pub struct Lock {
    _file: File,
}

/// How long a second command waits for the first.
pub const WAIT: Duration = Duration::from_secs(120);

impl Lock {
    /// Take the lock at `path` for `what` (shown to whoever waits), waiting up to `wait`.
    pub fn acquire(path: &Path, what: &str, wait: Duration) -> Result<Lock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open the lock {}", path.display()))?;
        let start = Instant::now();
        let mut said = false;
        loop {
            // SAFETY: flock on a descriptor we own; it only changes the lock's state.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
            let holder = holder(&mut file);
            if start.elapsed() >= wait {
                bail!(
                    "another palisade ({holder}) has been changing this namespace for over {} s; \
                     nothing was changed. Try again when it is done",
                    wait.as_secs()
                );
            }
            if !said {
                eprintln!("palisade: waiting for another palisade ({holder}) to finish");
                said = true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Say who holds it, for whoever waits next.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "pid {}: {what}", std::process::id());
        Ok(Lock { _file: file })
    }
}

fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut s);
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_then_gives_up_clearly() {
        let dir = std::env::temp_dir().join(format!("palisade-lock-{}", std::process::id()));
        let path = dir.join("lock");
        let first = Lock::acquire(&path, "apply", WAIT).unwrap();
        let e = Lock::acquire(&path, "load", Duration::from_millis(200))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("apply") && e.contains("nothing was changed"),
            "{e}"
        );
        drop(first);
        Lock::acquire(&path, "load", Duration::from_millis(200)).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
