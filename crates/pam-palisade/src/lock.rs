//! The lock a login holds on its challenge: OTPW's `~/.otpw.lock`, a symbolic link whose
//! target is the password's number (shared with `pam_otpw.so`, which must keep reading it),
//! and palisade's `~/.otpw.lock.owner` beside it, saying which process holds it, so a lock
//! left by a killed login is taken over at once rather than after a day (the rules, and why
//! the owner cannot go into the link, are in `palisade_otp::lock_owner`).
//!
//! Every palisade login takes an exclusive `flock` on the owner file before it looks at the
//! lock and keeps it until the link and the record are in place (or gone, on release): two
//! logins cannot both judge the same lock stale, remove it, and one of them then remove the
//! other's new lock; and a record is never read half-written. `pam_otpw.so` knows nothing of
//! the owner file; it makes links without a record, which palisade then holds for a day, as
//! OTPW does.

use crate::files::{flock, open_in_home, Access, OpenError, Unusable};
use crate::process;
use palisade_otp::{judge, Host, LinkId, OwnerRecord, Stale, LOCK_FILE_NAME, LOCK_OWNER_FILE_NAME};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A lock this login holds.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    owner_path: PathBuf,
    uid: u32,
    /// The link this login created: only that one is removed on release.
    link: LinkId,
}

/// What came of trying to lock a password.
pub enum Locking {
    /// Locked; `took_over` says why a lock that was there before was stale.
    Acquired {
        lock: Lock,
        took_over: Option<Stale>,
    },
    /// Another login holds the lock, on this number if the link is readable.
    HeldElsewhere(Option<u32>),
}

impl Lock {
    /// Lock `number` for the user `uid` in `home`: create the link (atomically: `symlink`
    /// fails if the name exists) and record this process as its owner. A lock already there
    /// is removed first if it is stale ([`judge`]).
    pub fn acquire(home: &Path, uid: u32, number: &str, now: u64) -> Result<Locking, Unusable> {
        let path = home.join(LOCK_FILE_NAME);
        let owner_path = home.join(LOCK_OWNER_FILE_NAME);
        let io = |source| Unusable::Io {
            path: path.display().to_string(),
            source,
        };
        let owner_file = open_owner_file(&owner_path, uid)?;
        flock(&owner_file, libc::LOCK_EX).map_err(|source| Unusable::Io {
            path: owner_path.display().to_string(),
            source,
        })?;
        let here = process::this_host();
        let mut took_over = None;
        for _ in 0..5 {
            match std::os::unix::fs::symlink(number, &path) {
                Ok(()) => {
                    let link = link_id(&std::fs::symlink_metadata(&path).map_err(io)?);
                    record_owner(&owner_file, &link, here);
                    let lock = Lock {
                        path,
                        owner_path,
                        uid,
                        link,
                    };
                    return Ok(Locking::Acquired { lock, took_over });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            };
            let age = now.saturating_sub(meta.mtime().max(0) as u64);
            let record = OwnerRecord::parse(&read_content(&owner_file));
            match judge(
                age,
                &link_id(&meta),
                record.as_ref(),
                here.as_ref(),
                process::observe,
            ) {
                None => return Ok(Locking::HeldElsewhere(link_number(&path))),
                Some(stale) => {
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                        _ => {}
                    }
                    took_over = Some(stale);
                }
            }
        }
        Ok(Locking::HeldElsewhere(link_number(&path)))
    }

    /// Remove the lock if it still is the link this login made (a stale-lock cleanup may have
    /// replaced it), and its record with it.
    pub fn release(&self) {
        let owner_file = open_owner_file(&self.owner_path, self.uid).ok();
        if let Some(f) = &owner_file {
            let _ = flock(f, libc::LOCK_EX);
        }
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| link_id(&m) == self.link);
        if ours && std::fs::remove_file(&self.path).is_ok() {
            if let Some(f) = &owner_file {
                let _ = f.set_len(0);
            }
        }
    }
}

/// Write that this process holds `link`. Without a record the lock is still a lock: it just
/// ages as OTPW's do, so a failure here is not a reason to refuse the login.
fn record_owner(owner_file: &File, link: &LinkId, host: Option<Host>) {
    if let (Some(process), Some(host)) = (process::this_process(), host) {
        let record = OwnerRecord {
            link: link.clone(),
            process,
            host,
        };
        let _ = replace_content(owner_file, record.to_text().as_bytes());
    }
}

/// Open (creating it, mode 0600) the owner record, refusing one that is not the user's own
/// regular file.
fn open_owner_file(path: &Path, uid: u32) -> Result<File, Unusable> {
    let access = Access {
        write: true,
        create: true,
    };
    open_in_home(path, Some(&[uid]), access)
        .map(|(file, _)| file)
        .map_err(|e: OpenError| {
            e.unusable(path, |p, _| {
                format!("remove it (`rm {p}`): palisade writes it anew")
            })
        })
}

/// The owner file's content (a record is one short line; more is not a record).
fn read_content(file: &File) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut reader = file;
    let _ = std::io::Seek::rewind(&mut reader);
    let _ = reader.take(512).read_to_end(&mut bytes);
    bytes
}

/// Replace the owner file's content in place (the file must stay: it carries the `flock`),
/// and sync it, so that after a crash the record survives to say the boot has changed.
fn replace_content(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    file.set_len(0)?;
    file.write_all_at(bytes, 0)?;
    file.sync_data()
}

fn link_id(meta: &std::fs::Metadata) -> LinkId {
    LinkId {
        inode: meta.ino(),
        mtime_secs: meta.mtime(),
        mtime_nanos: meta.mtime_nsec(),
    }
}

/// The number a lock link points to, if it is one.
fn link_number(path: &Path) -> Option<u32> {
    std::fs::read_link(path)
        .ok()
        .and_then(|t| t.to_str()?.parse::<u32>().ok())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::test_home::{me, TempHome};
    use palisade_otp::{Process, STALE_LOCK_SECS};

    fn acquired(locking: Locking) -> (Lock, Option<Stale>) {
        match locking {
            Locking::Acquired { lock, took_over } => (lock, took_over),
            Locking::HeldElsewhere(n) => panic!("held elsewhere, on {n:?}"),
        }
    }

    #[test]
    fn lock_is_exclusive_and_stale_after_a_day() {
        let home = TempHome::new("lock");
        let now = crate::files::unix_now();
        let (lock, _) = acquired(Lock::acquire(&home.0, me(), "017", now).unwrap());
        assert!(matches!(
            Lock::acquire(&home.0, me(), "003", now).unwrap(),
            Locking::HeldElsewhere(Some(17))
        ));
        // A day and a bit later the same link counts as stale and is taken over.
        let later = now + STALE_LOCK_SECS + 2;
        let (later, took_over) = acquired(Lock::acquire(&home.0, me(), "003", later).unwrap());
        assert!(
            matches!(took_over, Some(Stale::Old { .. })),
            "{took_over:?}"
        );
        lock.release(); // no longer ours: must stay
        assert_eq!(
            std::fs::read_link(home.0.join(LOCK_FILE_NAME)).unwrap(),
            Path::new("003")
        );
        later.release();
        assert!(std::fs::symlink_metadata(home.0.join(LOCK_FILE_NAME)).is_err());
        let record = std::fs::read(home.0.join(LOCK_OWNER_FILE_NAME)).unwrap();
        assert!(record.is_empty(), "the record goes with the lock");
    }

    /// The record as a login in another process, now ended, would have left it.
    fn record_of_an_ended_login(home: &Path) {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let link = link_id(&std::fs::symlink_metadata(home.join(LOCK_FILE_NAME)).unwrap());
        let record = OwnerRecord {
            link,
            process: Process {
                pid,
                start_ticks: 1,
            },
            host: process::this_host().unwrap(),
        };
        std::fs::write(home.join(LOCK_OWNER_FILE_NAME), record.to_text()).unwrap();
    }

    #[test]
    fn a_lock_whose_owner_ended_is_taken_over_but_not_a_newer_link() {
        let home = TempHome::new("owner");
        let now = crate::files::unix_now();
        let (_abandoned, _) = acquired(Lock::acquire(&home.0, me(), "017", now).unwrap());
        record_of_an_ended_login(&home.0);
        let (lock, took_over) = acquired(Lock::acquire(&home.0, me(), "017", now).unwrap());
        assert!(
            matches!(took_over, Some(Stale::OwnerEnded { .. })),
            "{took_over:?}"
        );
        let record = OwnerRecord::parse(&std::fs::read(home.0.join(LOCK_OWNER_FILE_NAME)).unwrap())
            .expect("the new owner's record");
        assert_eq!(record.process.pid, std::process::id());
        lock.release();

        // pam_otpw makes a link of its own (no record) while a record of an ended login is
        // still there: the record is about another link, so the lock holds.
        let link = home.0.join(LOCK_FILE_NAME);
        std::os::unix::fs::symlink("017", &link).unwrap();
        record_of_an_ended_login(&home.0);
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("017", &link).unwrap();
        // The file system may well give the new link the old one's inode, and, within the
        // same clock tick, its time: a minute earlier makes it certainly another link.
        let earlier = libc::timespec {
            tv_sec: now as libc::time_t - 60,
            tv_nsec: 0,
        };
        let c_link = std::ffi::CString::new(link.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path and two valid timespecs.
        let set = unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                c_link.as_ptr(),
                [earlier, earlier].as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
        assert!(matches!(
            Lock::acquire(&home.0, me(), "005", now).unwrap(),
            Locking::HeldElsewhere(Some(17))
        ));
    }

    #[test]
    fn an_unsafe_owner_file_is_refused() {
        let home = TempHome::new("owner-link");
        let path = home.0.join(LOCK_OWNER_FILE_NAME);
        std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        let e = Lock::acquire(&home.0, me(), "017", 0).err().unwrap();
        assert!(e.to_string().contains("it is a symbolic link"), "{e}");
        assert!(std::fs::symlink_metadata(home.0.join(LOCK_FILE_NAME)).is_err());
    }
}
