//! The host facts the XDP shell needs: interface indexes, the kernel's clock, which network
//! namespace this thread is in, and the BPF filesystem the state is pinned on.
//!
//! Everything here is the calling *thread's* view: a thread that entered another network
//! namespace (`setns`) resolves interfaces and pins state for that namespace, which is how the
//! tests drive namespaces they create.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, XdpError};
use crate::pins;
use crate::time::{self, KernelTime};

/// `BPF_FS_MAGIC` from linux/magic.h: the `f_type` statfs reports for bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The index of interface `name` in this thread's network namespace.
pub fn ifindex(name: &str) -> Result<u32> {
    pins::check_ifname(name)?;
    let c = CString::new(name).expect("check_ifname refuses NUL");
    // SAFETY: if_nametoindex reads the NUL-terminated string only.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(XdpError::NoSuchInterface { name: name.into() }),
        i => Ok(i),
    }
}

/// Now, on the clock the XDP program compares deadlines with (see `time`).
pub fn kernel_now() -> Result<KernelTime> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a live local.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return Err(XdpError::Kernel {
            what: "reading CLOCK_MONOTONIC".into(),
            source: io::Error::last_os_error(),
        });
    }
    let reading = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
    let offsets = std::fs::read_to_string("/proc/thread-self/timens_offsets").unwrap_or_default();
    let bad = || XdpError::Kernel {
        what: "reading this time namespace's clock offset".into(),
        source: io::Error::other("/proc/thread-self/timens_offsets does not parse"),
    };
    let offset = time::monotonic_offset_ns(&offsets).ok_or_else(bad)?;
    time::unshift(reading, offset).ok_or_else(bad)
}

/// A name for this thread's network namespace that is never reused while the machine is up:
/// the namespace cookie. (Inode numbers of dead namespaces are reused, and pinned state left
/// by a dead namespace must not be picked up by a new one.) Kernels before 5.14 have no
/// cookie; there the inode is used.
pub fn netns_key() -> Result<String> {
    // SAFETY: plain socket(2); ownership passes to OwnedFd at once.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(XdpError::Kernel {
            what: "opening a socket to identify the network namespace".into(),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: fd is a fresh socket owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cookie`, a live u64.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            &mut cookie as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    if r == 0 {
        return Ok(pins::netns_dir_name(cookie, None));
    }
    let ino = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| XdpError::Kernel {
            what: "reading /proc/thread-self/ns/net".into(),
            source: e,
        })?
        .ino();
    Ok(pins::netns_dir_name(0, Some(ino)))
}

fn is_bpffs(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: an all-zero statfs is a valid out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs reads the NUL-terminated path and writes one statfs into `st`.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

/// Make sure `root` exists on a BPF filesystem, creating its directories.
///
/// bpffs is mounted only at its standard place, `/sys/fs/bpf`, and only when the pin root is
/// under it and nothing is mounted there yet: that directory exists for this purpose, is empty
/// until bpffs is mounted (sysfs provides it), and systemd mounts bpffs there at boot, so the
/// mount hides nothing and is what every BPF tool expects. Anywhere else palisade mounts
/// nothing and says what to do.
pub fn prepare_root(root: &Path) -> Result<()> {
    let pin_err = |problem: String| XdpError::PinDir {
        path: root.to_path_buf(),
        problem,
    };
    if !root.is_absolute() {
        return Err(pin_err("the pin directory must be an absolute path".into()));
    }
    let existing = root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let on_bpffs = is_bpffs(existing).map_err(|e| pin_err(e.to_string()))?;
    if !on_bpffs {
        let standard = Path::new(pins::BPFFS_MOUNT);
        if pins::may_mount_standard_bpffs(root, existing) {
            mount_bpffs(standard).map_err(|e| {
                pin_err(format!(
                    "it is not on a BPF filesystem, and mounting one at {} failed: {e}",
                    pins::BPFFS_MOUNT
                ))
            })?;
        } else {
            return Err(pin_err(format!(
                "it is not on a BPF filesystem (bpffs), so BPF objects cannot be pinned there; \
                 use a directory under {} or mount one first (`mount -t bpf bpf DIR`)",
                pins::BPFFS_MOUNT
            )));
        }
    }
    std::fs::create_dir_all(root).map_err(|e| pin_err(format!("cannot create it: {e}")))
}

fn mount_bpffs(at: &Path) -> io::Result<()> {
    let target = CString::new(at.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // mode=700: as systemd mounts it; pinned objects are root's business.
    // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            target.as_ptr(),
            c"bpf".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"mode=700".as_ptr() as *const libc::c_void,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An exclusive lock on a netns state directory, so two palisade processes (an attach and a
/// sync, say) do not interleave their writes. Released on drop.
pub struct DirLock {
    _dir: OwnedFd,
}

pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    let err = |e: io::Error| XdpError::PinDir {
        path: dir.to_path_buf(),
        problem: format!("cannot lock it: {e}"),
    };
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(|e| err(io::Error::other(e)))?;
    // SAFETY: open(2) of a NUL-terminated path; the fd is owned right below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: fd is new and owned by nobody else.
    let dir_fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: flock on an fd we own; blocks until the other holder is done.
    if unsafe { libc::flock(dir_fd.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(DirLock { _dir: dir_fd })
}

/// The files in a state directory (names only); empty if it does not exist.
pub fn list_dir(dir: &Path) -> Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(XdpError::PinDir {
            path: dir.to_path_buf(),
            problem: format!("cannot list it: {e}"),
        }),
    }
}

/// Remove one pinned object; absent is fine.
pub fn unpin(path: &PathBuf) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(XdpError::PinDir {
            path: path.clone(),
            problem: format!("cannot remove it: {e}"),
        }),
    }
}
