//! The failure count, `~/.otpw.failures` (`COUNT UNIX_TIME`; the policy is in
//! `palisade_otp::failures`).
//!
//! Counting is a read-modify-write, and parallel wrong answers used to overwrite each other's
//! counts (12 at once were counted as 8), which let an attacker guess in parallel beyond the
//! lock-out. Every change now happens under an exclusive `flock` on the file, and reading
//! under a shared one. The count is rewritten in place, so the locked file stays the file:
//! the new text is written over the old and the file cut to its length (counts only grow,
//! and the record is read as its first two words, so even a write cut short by a crash reads
//! sensibly). A correct answer removes the file under the lock; a login that waited on the
//! removed file notices (the name no longer leads to it) and starts again on a new one.
//!
//! The file must be a regular file owned by the user or by root (an admin may write it), and
//! not writable by group or others (who could otherwise reset the count). One written by root
//! that the user cannot write is replaced, once, by one of the user's own.

use crate::files::{flock, open_in_home, write_atomically, Access, OpenError, Unusable};
use palisade_otp::{FailureRecord, FAILURE_FILE_NAME};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Attempts to lock a file that was removed or replaced meanwhile (each time, by a correct
/// answer or the one-time replacement of a root's file) before giving up.
const ATTEMPTS: usize = 20;

/// The failure file, locked.
struct Locked {
    file: File,
    /// False for a root's file the user can only read.
    writable: bool,
}

fn failure_path(home: &Path) -> PathBuf {
    home.join(FAILURE_FILE_NAME)
}

/// Consecutive failures so far, for `palisade otp status`: none when the file is missing or
/// cannot be used (a login says why).
pub fn read_failures(home: &Path) -> FailureRecord {
    let access = Access {
        write: false,
        create: false,
    };
    match open_in_home(&failure_path(home), None, access) {
        Ok((file, _)) => read_record(&file).unwrap_or_default(),
        Err(_) => FailureRecord::default(),
    }
}

/// Consecutive failures so far, refusing a file someone else could have written.
pub(crate) fn load_failures(home: &Path, uid: u32) -> Result<FailureRecord, Unusable> {
    let path = failure_path(home);
    let access = Access {
        write: false,
        create: false,
    };
    let file = match open_in_home(&path, Some(&[uid, 0]), access) {
        Ok((file, _)) => file,
        Err(OpenError::Missing) => return Ok(FailureRecord::default()),
        Err(e) => return Err(refuse(e, &path)),
    };
    flock(&file, libc::LOCK_SH)
        .and_then(|()| read_record(&file))
        .map_err(|source| io_error(&path, source))
}

/// Count one more failure at `now`, atomically with respect to every other login; the record
/// after it.
pub(crate) fn record_failure(home: &Path, uid: u32, now: u64) -> Result<FailureRecord, Unusable> {
    let path = failure_path(home);
    let locked = lock_current(&path, uid)?;
    let record = read_record(&locked.file)
        .map_err(|e| io_error(&path, e))?
        .failed(now);
    let text = record.to_text();
    let written = if locked.writable {
        locked
            .file
            .write_all_at(text.as_bytes(), 0)
            .and_then(|()| locked.file.set_len(text.len() as u64))
            .and_then(|()| locked.file.sync_data())
    } else {
        write_atomically(&path, text.as_bytes())
    };
    written.map_err(|e| io_error(&path, e))?;
    Ok(record)
}

/// Forget the failures after a correct answer (under the lock, so that a failure counted at
/// the same moment goes into a new file rather than one already removed).
pub(crate) fn clear_failures(home: &Path, uid: u32) -> Result<(), Unusable> {
    let path = failure_path(home);
    let _locked = lock_current(&path, uid)?;
    std::fs::remove_file(&path).map_err(|e| io_error(&path, e))
}

/// Open the failure file (creating an empty one, so there is something to lock) and lock it,
/// again if the file was removed or replaced while this login waited for the lock.
fn lock_current(path: &Path, uid: u32) -> Result<Locked, Unusable> {
    for _ in 0..ATTEMPTS {
        let (file, meta, writable) = open_for_count(path, uid)?;
        flock(&file, libc::LOCK_EX).map_err(|e| io_error(path, e))?;
        let current = std::fs::symlink_metadata(path)
            .is_ok_and(|now| now.ino() == meta.ino() && now.dev() == meta.dev());
        if current {
            return Ok(Locked { file, writable });
        }
    }
    Err(io_error(
        path,
        std::io::Error::other(format!(
            "removed or replaced {ATTEMPTS} times while waiting for its lock"
        )),
    ))
}

/// Open for writing, or, for a root's file the user may only read, for reading.
fn open_for_count(path: &Path, uid: u32) -> Result<(File, std::fs::Metadata, bool), Unusable> {
    let owners: &[u32] = &[uid, 0];
    let read_write = Access {
        write: true,
        create: true,
    };
    match open_in_home(path, Some(owners), read_write) {
        Ok((file, meta)) => Ok((file, meta, true)),
        Err(OpenError::Io(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let read = Access {
                write: false,
                create: false,
            };
            let (file, meta) =
                open_in_home(path, Some(owners), read).map_err(|e| refuse(e, path))?;
            Ok((file, meta, false))
        }
        Err(e) => Err(refuse(e, path)),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Unusable {
    Unusable::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read_record(file: &File) -> std::io::Result<FailureRecord> {
    let mut bytes = Vec::new();
    file.take(64).read_to_end(&mut bytes)?;
    Ok(FailureRecord::parse(&bytes))
}

fn refuse(e: OpenError, path: &Path) -> Unusable {
    e.unusable(path, |p, _| {
        format!("remove it (`rm {p}`): it only counts failed one-time passwords")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::test_home::{me, TempHome};

    #[test]
    fn failures_count_up_and_clear() {
        let home = TempHome::new("fail");
        assert_eq!(read_failures(&home.0), FailureRecord::default());
        assert_eq!(
            load_failures(&home.0, me()).unwrap(),
            FailureRecord::default()
        );
        record_failure(&home.0, me(), 5).unwrap();
        let r = record_failure(&home.0, me(), 99).unwrap();
        assert_eq!(r, FailureRecord { count: 2, last: 99 });
        assert_eq!(read_failures(&home.0), r);
        assert_eq!(load_failures(&home.0, me()).unwrap(), r);
        clear_failures(&home.0, me()).unwrap();
        assert!(!failure_path(&home.0).exists());
        assert_eq!(read_failures(&home.0), FailureRecord::default());
    }

    /// Issue 12, item 12, at the file layer: many logins counting at once lose no count.
    #[test]
    fn parallel_failures_are_all_counted() {
        const THREADS: usize = 16;
        const EACH: usize = 5;
        let home = TempHome::new("fail-parallel");
        let dir = &home.0;
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for _ in 0..EACH {
                        record_failure(dir, me(), 7).unwrap();
                    }
                });
            }
        });
        assert_eq!(read_failures(dir).count as usize, THREADS * EACH);
    }

    #[test]
    fn an_unsafe_failure_file_is_refused() {
        let home = TempHome::new("fail-unsafe");
        let path = failure_path(&home.0);
        std::fs::write(&path, "3 5\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = load_failures(&home.0, me()).err().unwrap();
        assert!(
            e.to_string().contains("lets group or others write it"),
            "{e}"
        );
        assert!(record_failure(&home.0, me(), 9).is_err());
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        let e = load_failures(&home.0, me()).err().unwrap();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }
}
