//! The failure count, `~/.otpw.failures` (`COUNT UNIX_TIME`; the policy is in
//! `palisade_otp::failures`).
//!
//! Counting is a read-modify-write, and parallel wrong answers used to overwrite each other's
//! counts (12 at once were counted as 8), which let an attacker guess in parallel beyond the
//! lock-out. Every change now happens under an exclusive `flock` on the file: read, count,
//! write a new file and rename it over the old one (so a crash leaves the old count or the
//! new, never a torn one). The lock is on the old file, so once it has it, a login checks
//! that the name still leads to that file; if another login has replaced or removed it
//! meanwhile, it starts again on the new one. Reading alone needs no lock: a rename is atomic.
//!
//! The file must be a regular file owned by the user or by root (an admin may write it), and
//! not writable by group or others (who could otherwise reset the count).

use crate::files::{flock, open_in_home, write_atomically, Access, OpenError, Unusable};
use palisade_otp::{FailureRecord, FAILURE_FILE_NAME};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Attempts to lock a file that others keep replacing before giving up.
const ATTEMPTS: usize = 50;

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
    match open_in_home(&path, Some(&[uid, 0]), access) {
        Ok((file, _)) => read_record(&file).map_err(|source| Unusable::Io {
            path: path.display().to_string(),
            source,
        }),
        Err(OpenError::Missing) => Ok(FailureRecord::default()),
        Err(e) => Err(refuse(e, &path)),
    }
}

/// Count one more failure at `now`, atomically with respect to every other login; the record
/// after it.
pub(crate) fn record_failure(home: &Path, uid: u32, now: u64) -> Result<FailureRecord, Unusable> {
    let path = failure_path(home);
    let io = |source| Unusable::Io {
        path: path.display().to_string(),
        source,
    };
    for _ in 0..ATTEMPTS {
        let Some(file) = lock_current(&path, uid)? else {
            continue;
        };
        let record = read_record(&file).map_err(io)?.failed(now);
        write_atomically(&path, record.to_text().as_bytes()).map_err(io)?;
        return Ok(record);
    }
    Err(io(std::io::Error::other(format!(
        "replaced by others {ATTEMPTS} times while waiting for its lock"
    ))))
}

/// Forget the failures after a correct answer (under the same lock, so a failure counted
/// at the same moment is not written into a file already removed).
pub(crate) fn clear_failures(home: &Path, uid: u32) -> Result<(), Unusable> {
    let path = failure_path(home);
    for _ in 0..ATTEMPTS {
        match lock_current(&path, uid) {
            Ok(Some(_locked)) => {
                return std::fs::remove_file(&path).map_err(|source| Unusable::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
            Ok(None) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Open the failure file (creating an empty one, so there is something to lock) and lock it;
/// `None` when the name no longer leads to the file locked (replaced or removed while this
/// login waited): try again.
fn lock_current(path: &Path, uid: u32) -> Result<Option<File>, Unusable> {
    let access = Access {
        write: false,
        create: true,
    };
    let (file, meta) = open_in_home(path, Some(&[uid, 0]), access).map_err(|e| refuse(e, path))?;
    flock(&file, libc::LOCK_EX).map_err(|source| Unusable::Io {
        path: path.display().to_string(),
        source,
    })?;
    let current = std::fs::symlink_metadata(path)
        .is_ok_and(|now| now.ino() == meta.ino() && now.dev() == meta.dev());
    Ok(current.then_some(file))
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
