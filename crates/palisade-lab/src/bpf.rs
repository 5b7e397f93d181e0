//! A BPF filesystem of the lab's own, so nothing is ever pinned in the host's `/sys/fs/bpf`.
//!
//! XDP state is pinned on bpffs. A test, the demo or a benchmark mounts a fresh bpffs on a
//! temporary directory and points palisade at it (`PALISADE_BPF_DIR`); the mount goes when the
//! handle is dropped, on SIGINT/SIGTERM (see [`crate::remove_on_signals`]), and mounts left by
//! a process that died hard are swept by the next [`BpfMount::new`].

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Prefix of every mount point: `palisade-bpf-<pid>-<n>` in the temporary directory.
const PREFIX: &str = "palisade-bpf-";

static MOUNTS: AtomicU32 = AtomicU32::new(0);
/// Mounts alive in this process, for the signal handler.
pub(crate) static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A bpffs mounted on a fresh temporary directory; unmounted and removed on drop.
#[derive(Debug)]
pub struct BpfMount {
    pub path: PathBuf,
}

impl BpfMount {
    pub fn new() -> io::Result<Self> {
        sweep_stale();
        let path = std::env::temp_dir().join(format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            MOUNTS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        let target = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
        let r = unsafe {
            libc::mount(
                c"bpf".as_ptr(),
                target.as_ptr(),
                c"bpf".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            let _ = std::fs::remove_dir(&path);
            return Err(io::Error::new(
                e.kind(),
                format!("mounting a bpffs at {}: {e}", path.display()),
            ));
        }
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.clone());
        Ok(BpfMount { path })
    }

    /// The pin root to give palisade: a directory inside the mount.
    pub fn root(&self) -> PathBuf {
        self.path.join("palisade")
    }
}

/// Unmount (lazily: pinned objects may still be open) and remove the mount point.
pub(crate) fn unmount(path: &Path) {
    if let Ok(target) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: umount2 of a path this crate mounted.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = std::fs::remove_dir(path);
}

impl Drop for BpfMount {
    fn drop(&mut self) {
        unmount(&self.path);
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != &self.path);
    }
}

/// Unmount the bpffs mounts of processes that no longer exist.
fn sweep_stale() {
    let tmp = std::env::temp_dir();
    let Ok(dir) = std::fs::read_dir(&tmp) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                unmount(&entry.path());
            }
        }
    }
}
