//! Every file the module touches in the user's home: the hash file, the lock and the failure
//! count. All system calls of the module's file handling are here; call these inside
//! [`crate::account::as_user`] so they run with the user's rights.

use palisade_otp::{
    FailureRecord, FormatError, HashFile, FAILURE_FILE_NAME, HASH_FILE_NAME, LOCK_FILE_NAME,
    STALE_LOCK_SECS,
};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A hash file is a few kilobytes; anything much larger is not one.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why a hash file cannot be used: each means "no one-time passwords for this user"
/// (PAM_AUTHINFO_UNAVAIL), so a `sufficient` stack falls through to the next method.
#[derive(Debug, Error)]
pub enum Unusable {
    #[error("no {HASH_FILE_NAME} file")]
    Missing,
    #[error("{path}: refusing it: {why}; fix with `chown USER {path}; chmod 600 {path}` or run `palisade otp gen`")]
    Unsafe { path: String, why: String },
    #[error("{path}: {source}")]
    Format { path: String, source: FormatError },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("no one-time passwords left")]
    Exhausted,
}

/// The open hash file and what it says.
pub struct Opened {
    pub file: File,
    pub parsed: HashFile,
}

pub fn hash_path(home: &Path) -> PathBuf {
    home.join(HASH_FILE_NAME)
}

/// Seconds since the Unix epoch: lock ages and failure times.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Open the user's hash file, refusing one that others could have written: it must be a
/// regular file (not a symbolic link), owned by `uid`, not writable by group or others.
pub fn open_hash_file(home: &Path, uid: u32, write: bool) -> Result<Opened, Unusable> {
    let path = hash_path(home);
    let shown = path.display().to_string();
    let io = |source| Unusable::Io {
        path: shown.clone(),
        source,
    };
    let mut file = match OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Unusable::Unsafe {
                path: shown,
                why: "it is a symbolic link".into(),
            })
        }
        Err(e) => {
            // Unreadable as the user: say why when it is the owner (stat needs no read right).
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                if meta.uid() != uid {
                    return Err(Unusable::Unsafe {
                        path: shown,
                        why: format!("it is owned by uid {}, not by the user", meta.uid()),
                    });
                }
            }
            return Err(io(e));
        }
    };
    let meta = file.metadata().map_err(io)?;
    let why = if !meta.file_type().is_file() {
        Some("it is not a regular file".to_string())
    } else if meta.uid() != uid {
        Some(format!(
            "it is owned by uid {}, not by the user",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "its mode {:o} lets group or others write it",
            meta.mode() & 0o777
        ))
    } else if meta.len() > MAX_FILE_BYTES {
        Some(format!("it is {} bytes, too large", meta.len()))
    } else {
        None
    };
    if let Some(why) = why {
        return Err(Unusable::Unsafe { path: shown, why });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).map_err(io)?;
    let parsed = HashFile::parse(&bytes).map_err(|source| Unusable::Format {
        path: shown.clone(),
        source,
    })?;
    Ok(Opened { file, parsed })
}

/// Overwrite the entries at `indices` with `-` and flush them to the disk before returning,
/// so a password that let someone in is burnt even if the machine dies a moment later
/// (OTPW neither syncs nor checks). The file is re-read under an exclusive `flock`, and
/// nothing is written unless every entry still holds the hash `expected` has there: a
/// concurrent login that burnt one first, or a new sheet written meanwhile, makes this
/// return `Ok(false)` and the login fail.
pub fn burn(
    home: &Path,
    uid: u32,
    expected: &HashFile,
    indices: &[usize],
) -> Result<bool, Unusable> {
    let opened = open_hash_file(home, uid, true)?;
    let io = |source| Unusable::Io {
        path: hash_path(home).display().to_string(),
        source,
    };
    // SAFETY: flock on an open descriptor; released when the file is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&opened.file), libc::LOCK_EX) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    // Re-read under the lock: what open_hash_file read may predate another burn.
    let mut bytes = Vec::new();
    let len = opened.file.metadata().map_err(io)?.len();
    bytes.resize(len as usize, 0);
    opened.file.read_exact_at(&mut bytes, 0).map_err(io)?;
    let current = match HashFile::parse(&bytes) {
        Ok(f) => f,
        Err(_) => return Ok(false),
    };
    let unchanged = indices.iter().all(|&i| {
        matches!(expected.entries.get(i), Some(e @ palisade_otp::Entry::Unused { .. }) if current.entries.get(i) == Some(e))
            && current.entry_offset(i) == expected.entry_offset(i)
    });
    if !unchanged {
        return Ok(false);
    }
    let dashes = vec![b'-'; current.entry_chars()];
    for &i in indices {
        opened
            .file
            .write_all_at(&dashes, current.entry_offset(i))
            .map_err(io)?;
    }
    opened.file.sync_data().map_err(io)?;
    Ok(true)
}

/// The lock a login holds on its challenge: `~/.otpw.lock`, a symbolic link to the number.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    number: String,
}

/// What came of trying to lock a password.
pub enum Locking {
    Acquired(Lock),
    /// Another login holds the lock, on this number if the link is readable.
    HeldElsewhere(Option<u32>),
}

impl Lock {
    /// Lock `number` by creating the link, atomically (`symlink` fails if the name exists).
    /// A lock older than a day was left by a crash and is removed first.
    pub fn acquire(home: &Path, number: &str, now: u64) -> std::io::Result<Locking> {
        let path = home.join(LOCK_FILE_NAME);
        for _ in 0..5 {
            match std::os::unix::fs::symlink(number, &path) {
                Ok(()) => {
                    return Ok(Locking::Acquired(Lock {
                        path,
                        number: number.to_string(),
                    }))
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            match std::fs::symlink_metadata(&path) {
                Ok(meta) => {
                    let age = now.saturating_sub(meta.mtime().max(0) as u64);
                    if age <= STALE_LOCK_SECS {
                        let held = std::fs::read_link(&path)
                            .ok()
                            .and_then(|t| t.to_str()?.parse::<u32>().ok());
                        return Ok(Locking::HeldElsewhere(held));
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Locking::HeldElsewhere(None))
    }

    /// Remove the lock if it still is ours (a stale-lock cleanup may have replaced it).
    pub fn release(&self) {
        let ours = std::fs::read_link(&self.path)
            .map(|target| target.as_os_str() == self.number.as_str())
            .unwrap_or(false);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The lock's target and age in seconds, if there is one (for `palisade otp status`).
pub fn lock_state(home: &Path, now: u64) -> Option<(String, u64)> {
    let path = home.join(LOCK_FILE_NAME);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    let target = std::fs::read_link(&path)
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    Some((target, now.saturating_sub(meta.mtime().max(0) as u64)))
}

fn failure_path(home: &Path) -> PathBuf {
    home.join(FAILURE_FILE_NAME)
}

/// Consecutive failures so far; none when the file is missing or unreadable.
pub fn read_failures(home: &Path) -> FailureRecord {
    let mut bytes = Vec::new();
    let read = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(failure_path(home))
        .and_then(|f| f.take(64).read_to_end(&mut bytes));
    match read {
        Ok(_) => FailureRecord::parse(&bytes),
        Err(_) => FailureRecord::default(),
    }
}

/// Record the failures (replacing the file atomically).
pub fn write_failures(home: &Path, record: FailureRecord) -> std::io::Result<()> {
    write_atomically(&failure_path(home), record.to_text().as_bytes())
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new file, never
/// a mix: a temporary file in the same directory, mode 0600, synced, renamed over `path`,
/// and the directory synced so the rename itself survives.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Forget the failures after a correct answer.
pub fn clear_failures(home: &Path) {
    let _ = std::fs::remove_file(failure_path(home));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    struct TempHome(PathBuf);
    impl TempHome {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("pam-palisade-unit-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempHome(dir)
        }
    }
    impl Drop for TempHome {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const FILE: &str = "OTPW1\n2 3 12 8\n001QOOyuUOP8DKm\n000snDPEESgZChE\n";

    fn me() -> u32 {
        // SAFETY: no preconditions.
        unsafe { libc::geteuid() }
    }

    fn write_file(home: &Path, text: &str, mode: u32) {
        let p = hash_path(home);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn refuses_missing_unsafe_and_malformed_files() {
        let home = TempHome::new("refuse");
        assert!(matches!(
            open_hash_file(&home.0, me(), false),
            Err(Unusable::Missing)
        ));
        write_file(&home.0, FILE, 0o620);
        let e = open_hash_file(&home.0, me(), false).err().unwrap();
        assert!(
            e.to_string().contains("lets group or others write it"),
            "{e}"
        );
        write_file(&home.0, FILE, 0o602);
        assert!(matches!(
            open_hash_file(&home.0, me(), false),
            Err(Unusable::Unsafe { .. })
        ));
        write_file(&home.0, FILE, 0o644);
        assert!(open_hash_file(&home.0, me(), false).is_ok());
        let e = open_hash_file(&home.0, me() + 1, false).err().unwrap();
        assert!(e.to_string().contains("not by the user"), "{e}");
        write_file(&home.0, "OTPW1\n2 3 12 8\n", 0o600);
        let e = open_hash_file(&home.0, me(), false).err().unwrap();
        assert!(matches!(e, Unusable::Format { .. }), "{e}");
        std::fs::remove_file(hash_path(&home.0)).unwrap();
        std::fs::write(home.0.join("real"), FILE).unwrap();
        std::os::unix::fs::symlink("real", hash_path(&home.0)).unwrap();
        let e = open_hash_file(&home.0, me(), false).err().unwrap();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn burns_in_place_once() {
        let home = TempHome::new("burn");
        write_file(&home.0, FILE, 0o600);
        let parsed = open_hash_file(&home.0, me(), false).unwrap().parsed;
        assert!(burn(&home.0, me(), &parsed, &[1]).unwrap());
        let after = std::fs::read_to_string(hash_path(&home.0)).unwrap();
        assert_eq!(after, "OTPW1\n2 3 12 8\n001QOOyuUOP8DKm\n---------------\n");
        // The same entry again: already burnt, nothing written.
        assert!(!burn(&home.0, me(), &parsed, &[1]).unwrap());
        // A new file written meanwhile: the old parse no longer matches.
        write_file(
            &home.0,
            "OTPW1\n2 3 12 8\n001snDPEESgZChE\n000QOOyuUOP8DKm\n",
            0o600,
        );
        assert!(!burn(&home.0, me(), &parsed, &[0]).unwrap());
    }

    #[test]
    fn lock_is_exclusive_and_stale_after_a_day() {
        let home = TempHome::new("lock");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let Locking::Acquired(lock) = Lock::acquire(&home.0, "017", now).unwrap() else {
            panic!("first lock must succeed");
        };
        assert!(matches!(
            Lock::acquire(&home.0, "003", now).unwrap(),
            Locking::HeldElsewhere(Some(17))
        ));
        // A day and a bit later the same link counts as stale and is taken over.
        let Locking::Acquired(later) =
            Lock::acquire(&home.0, "003", now + STALE_LOCK_SECS + 2).unwrap()
        else {
            panic!("a stale lock must be replaced");
        };
        lock.release(); // no longer ours: must stay
        assert_eq!(
            std::fs::read_link(home.0.join(LOCK_FILE_NAME)).unwrap(),
            Path::new("003")
        );
        later.release();
        assert!(std::fs::symlink_metadata(home.0.join(LOCK_FILE_NAME)).is_err());
    }

    #[test]
    fn failures_round_trip_and_clear() {
        let home = TempHome::new("fail");
        assert_eq!(read_failures(&home.0), FailureRecord::default());
        let r = FailureRecord { count: 3, last: 99 };
        write_failures(&home.0, r).unwrap();
        assert_eq!(read_failures(&home.0), r);
        clear_failures(&home.0);
        assert_eq!(read_failures(&home.0), FailureRecord::default());
    }
}
