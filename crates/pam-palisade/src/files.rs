//! The hash file `~/.otpw`, and how the module opens any file in the user's home
//! ([`open_in_home`]: no links followed, never waiting on a FIFO, type, owner and mode checked
//! on the descriptor). The lock is in `lock.rs`, the failure count in `failures.rs`; call all
//! of them inside [`crate::account::as_user`] so they run with the user's rights.

pub use crate::failures::read_failures;
pub use crate::lock::lock_state;
use palisade_otp::{FormatError, HashFile, HASH_FILE_NAME};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
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
    #[error("{path}: refusing it: {why}; {fix}")]
    Unsafe {
        path: String,
        why: Untrusted,
        fix: String,
    },
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

/// Why a file in the user's home is not trusted: someone other than the user could have
/// written it, or it is not a plain file (reading a FIFO would wait for a writer forever).
#[derive(Debug, Error)]
pub enum Untrusted {
    #[error("it is a symbolic link")]
    Symlink,
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is owned by uid {0}, not by the user")]
    Owner(u32),
    #[error("its mode {0:o} lets group or others write it")]
    Writable(u32),
    #[error("it is {0} bytes, too large")]
    TooLarge(u64),
}

/// How opening a file in the home went wrong.
#[derive(Debug)]
pub(crate) enum OpenError {
    Missing,
    Untrusted(Untrusted),
    Io(std::io::Error),
}

impl OpenError {
    /// As a reason to refuse one-time passwords, with `fix` telling the admin what to do.
    pub(crate) fn unusable(
        self,
        path: &Path,
        fix: impl FnOnce(&str, &Untrusted) -> String,
    ) -> Unusable {
        let shown = path.display().to_string();
        match self {
            OpenError::Missing => Unusable::Io {
                path: shown,
                source: std::io::ErrorKind::NotFound.into(),
            },
            OpenError::Untrusted(why) => Unusable::Unsafe {
                fix: fix(&shown, &why),
                path: shown,
                why,
            },
            OpenError::Io(source) => Unusable::Io {
                path: shown,
                source,
            },
        }
    }
}

/// What to do with the file being opened.
#[derive(Clone, Copy)]
pub(crate) struct Access {
    pub write: bool,
    /// Create it (mode 0600) if it does not exist.
    pub create: bool,
}

/// Open a file in the user's home without trusting what is there. The open itself neither
/// follows a symbolic link nor waits (O_NOFOLLOW, O_NONBLOCK: opening a FIFO would otherwise
/// block until someone writes to it), and type, owner and mode are then checked on the open
/// descriptor, so nothing can be swapped in between: it must be a regular file, owned by one
/// of `owners` (when given), not writable by group or others.
pub(crate) fn open_in_home(
    path: &Path,
    owners: Option<&[u32]>,
    access: Access,
) -> Result<(File, std::fs::Metadata), OpenError> {
    let foreign = |uid: u32| owners.is_some_and(|owners| !owners.contains(&uid));
    // O_CREAT directly: `OpenOptions::create` insists on write access, and a file an admin
    // wrote as root may only be readable (enough to `flock` it).
    let create = if access.create { libc::O_CREAT } else { 0 };
    let file = OpenOptions::new()
        .read(true)
        .write(access.write)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | create)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(OpenError::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(OpenError::Untrusted(Untrusted::Symlink))
        }
        Err(e) => {
            // Unreadable as the user: say why when it is the owner (stat needs no read right).
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if foreign(meta.uid()) {
                    return Err(OpenError::Untrusted(Untrusted::Owner(meta.uid())));
                }
            }
            return Err(OpenError::Io(e));
        }
    };
    let meta = file.metadata().map_err(OpenError::Io)?;
    let why = if !meta.file_type().is_file() {
        Some(Untrusted::NotRegular(type_name(&meta)))
    } else if foreign(meta.uid()) {
        Some(Untrusted::Owner(meta.uid()))
    } else if meta.mode() & 0o022 != 0 {
        Some(Untrusted::Writable(meta.mode() & 0o777))
    } else {
        None
    };
    match why {
        Some(why) => Err(OpenError::Untrusted(why)),
        None => Ok((file, meta)),
    }
}

/// What kind of file something that is not a regular file is, for the admin.
fn type_name(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Take (or, with LOCK_UN, give up) an advisory `flock` on an open file, waiting for it.
pub(crate) fn flock(file: &File, operation: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor `file` keeps open; it is released when closed.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
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

/// Open the user's hash file, refusing one that others could have written or that is not a
/// regular file (see [`open_in_home`]), then read and parse it.
pub fn open_hash_file(home: &Path, uid: u32, write: bool) -> Result<Opened, Unusable> {
    let path = hash_path(home);
    let refuse = |e: OpenError| match e {
        OpenError::Missing => Unusable::Missing,
        e => e.unusable(&path, |p, why| match why {
            Untrusted::Owner(_) | Untrusted::Writable(_) => {
                format!("fix with `chown USER {p}; chmod 600 {p}` or run `palisade otp gen`")
            }
            _ => format!("remove {p} and run `palisade otp gen` for a new sheet"),
        }),
    };
    let access = Access {
        write,
        create: false,
    };
    let (mut file, meta) = open_in_home(&path, Some(&[uid]), access).map_err(refuse)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(refuse(OpenError::Untrusted(Untrusted::TooLarge(
            meta.len(),
        ))));
    }
    let shown = path.display().to_string();
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)
        .map_err(|source| Unusable::Io {
            path: shown.clone(),
            source,
        })?;
    let parsed = HashFile::parse(&bytes).map_err(|source| Unusable::Format {
        path: shown,
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
    flock(&opened.file, libc::LOCK_EX).map_err(io)?;
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

/// A throw-away home directory for the file layer's tests.
#[cfg(test)]
pub(crate) mod test_home {
    use std::path::PathBuf;

    pub struct TempHome(pub PathBuf);

    impl TempHome {
        pub fn new(tag: &str) -> Self {
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

    /// The user the tests run as, who owns what they create.
    pub fn me() -> u32 {
        // SAFETY: no preconditions.
        unsafe { libc::geteuid() }
    }
}

#[cfg(test)]
mod tests {
    use super::test_home::{me, TempHome};
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const FILE: &str = "OTPW1\n2 3 12 8\n001QOOyuUOP8DKm\n000snDPEESgZChE\n";

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
    fn a_fifo_or_directory_is_refused_without_waiting() {
        let home = TempHome::new("fifo");
        let path = hash_path(&home.0);
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        // Opening a FIFO for reading blocks until a writer comes: run it aside, with a deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = home.0.clone();
        std::thread::spawn(move || {
            let _ = tx.send(
                open_hash_file(&dir, me(), false)
                    .err()
                    .map(|e| e.to_string()),
            );
        });
        let refused = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("opening a FIFO hash file must not wait for a writer");
        let e = refused.expect("a FIFO is refused");
        assert!(e.contains("it is a FIFO, not a regular file"), "{e}");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let e = open_hash_file(&home.0, me(), false).err().unwrap();
        assert!(e.to_string().contains("it is a directory"), "{e}");
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
}
