//! The three BPF link commands aya does not expose: open a pinned link, read which program
//! and interface it holds, and detach it.
//!
//! Why detach explicitly rather than only removing the pin: the kernel frees an unreferenced
//! link from a work queue, a moment after the last reference goes, so `detach` would return
//! while the program may still run. `BPF_LINK_DETACH` takes the program off the interface
//! before the call returns.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Commands and the XDP link type from include/uapi/linux/bpf.h.
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_DETACH: libc::c_long = 34;
const BPF_LINK_TYPE_XDP: u32 = 6;

/// `union bpf_attr` is at most this large for the commands used here; unused bytes stay zero,
/// which the kernel requires.
type Attr = [u64; 16];

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: bpf(2) reads (and for some commands writes) at most `size_of::<Attr>()` bytes of
    // `attr`, which is a live, writable buffer of that size; pointers inside it were set by the
    // caller to live buffers of the sizes stated next to them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of::<Attr>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Open a pinned BPF object (here: a link) by its path on bpffs.
pub fn open_pinned(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut attr: Attr = [0; 16];
    attr[0] = c.as_ptr() as u64; // pathname; bpf_fd and file_flags stay 0
    let fd = bpf(BPF_OBJ_GET, &mut attr)?;
    // SAFETY: BPF_OBJ_GET returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// What an XDP link holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpLinkInfo {
    pub link_id: u32,
    pub prog_id: u32,
    /// The interface the program is attached to; `None` once the link is defunct (its
    /// interface was removed, or it was detached).
    pub ifindex: Option<u32>,
}

/// Read a link's kernel information; an error if the object is not an XDP link.
pub fn xdp_link_info(fd: &OwnedFd) -> io::Result<XdpLinkInfo> {
    // struct bpf_link_info: type, id, prog_id (u32 each), then an 8-byte aligned union whose
    // xdp member starts with the ifindex.
    let mut info = [0u64; 32];
    let mut attr: Attr = [0; 16];
    attr[0] = fd.as_raw_fd() as u32 as u64 | ((std::mem::size_of_val(&info) as u64) << 32);
    attr[1] = info.as_mut_ptr() as u64;
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let kind = info[0] as u32;
    if kind != BPF_LINK_TYPE_XDP {
        return Err(io::Error::other(format!(
            "the pinned object is a BPF link of type {kind}, not an XDP link"
        )));
    }
    let ifindex = info[2] as u32;
    Ok(XdpLinkInfo {
        link_id: (info[0] >> 32) as u32,
        prog_id: info[1] as u32,
        ifindex: (ifindex != 0).then_some(ifindex),
    })
}

/// Detach a link's program from its interface now (the link object lives on, defunct, until
/// its last reference goes).
pub fn detach(fd: &OwnedFd) -> io::Result<()> {
    let mut attr: Attr = [0; 16];
    attr[0] = fd.as_raw_fd() as u32 as u64;
    bpf(BPF_LINK_DETACH, &mut attr).map(drop)
}
