//! The rtnetlink socket behind `rtnl`: one request, one answer.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Result, XdpError};
use crate::rtnl::{self, LinkReply, XdpPrograms};

/// What the kernel says about interface `ifindex` in this thread's network namespace: its
/// name and the XDP program in each mode. `None` if the interface does not exist.
pub fn query(ifindex: u32) -> Result<Option<(String, XdpPrograms)>> {
    let err = |e: io::Error| XdpError::Kernel {
        what: format!("asking the kernel (rtnetlink) about interface index {ifindex}"),
        source: e,
    };
    // SAFETY: plain socket(2); ownership passes to OwnedFd right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh socket owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let seq = 1;
    let req = rtnl::getlink_request(ifindex, seq);
    // SAFETY: send(2) reads `req.len()` bytes from a live buffer; the kernel is the default
    // destination of an unbound netlink socket.
    let sent = unsafe {
        libc::send(
            sock.as_raw_fd(),
            req.as_ptr() as *const libc::c_void,
            req.len(),
            0,
        )
    };
    if sent < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: recv(2) writes at most `buf.len()` bytes into a live buffer.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            0,
        )
    };
    if n < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    match rtnl::parse_reply(&buf[..n as usize], seq).map_err(|m| err(io::Error::other(m)))? {
        LinkReply::Link { name, xdp } => Ok(Some((name, xdp))),
        LinkReply::Error(libc::ENODEV) => Ok(None),
        LinkReply::Error(errno) => Err(err(io::Error::from_raw_os_error(errno))),
    }
}
