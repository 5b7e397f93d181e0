//! The netlink socket: the only place in this crate that makes system calls.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// `SOL_NETLINK` options (linux/netlink.h).
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A netlink socket: `NETLINK_NETFILTER` for nftables, or `NETLINK_ROUTE` for addresses.
pub struct NlSocket {
    fd: OwnedFd,
    sndbuf: usize,
}

impl NlSocket {
    /// Open a `NETLINK_NETFILTER` socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
        let sock = Self::bound(libc::NETLINK_NETFILTER, 0)?;
        // Errors then carry the kernel's explanation and the offending attribute's offset, and
        // do not echo back the failed message (which can be 64 KiB of elements).
        sock.set_int(libc::SOL_NETLINK, NETLINK_EXT_ACK, 1)?;
        sock.set_int(libc::SOL_NETLINK, NETLINK_CAP_ACK, 1)?;
        sock.set_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 8 << 20)
            .or_else(|_| sock.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, 8 << 20))?;
        Ok(sock)
    }

    /// Open a `NETLINK_ROUTE` socket in the calling thread's network namespace, subscribed to
    /// the multicast `groups` (`nl_groups` bits; 0 for a socket that only sends requests).
    /// A subscribed socket gets a 1 MiB receive buffer: notifications that overflow it are
    /// lost (the next `recv` says `ENOBUFS`), and a burst of address changes should fit.
    pub fn open_route(groups: u32) -> io::Result<Self> {
        let sock = Self::bound(libc::NETLINK_ROUTE, groups)?;
        if groups != 0 {
            sock.set_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 1 << 20)
                .or_else(|_| sock.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20))?;
        }
        Ok(sock)
    }

    fn bound(protocol: libc::c_int, groups: u32) -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the returned descriptor is owned below.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        })?;
        // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sock = Self { fd, sndbuf: 0 };
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value (pid 0: the kernel assigns one).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = groups;
        // SAFETY: addr is a valid sockaddr_nl and its size is passed.
        check(unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        Ok(sock)
    }

    /// Open a `NETLINK_NETFILTER` socket inside the network namespace at `path`
    /// (e.g. `/run/netns/NAME`).
    pub fn open_in_netns(path: &Path) -> io::Result<Self> {
        in_netns(path, Self::open)
    }

    fn set_int(&self, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
        // SAFETY: v lives for the call and its size is passed.
        check(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                opt,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
        .map(drop)
    }

    /// The network namespace's cookie: a number the kernel never gives another namespace
    /// while it runs (unlike the namespace file's inode, which is reused).
    pub fn netns_cookie(&self) -> io::Result<u64> {
        const SO_NETNS_COOKIE: libc::c_int = 71;
        let mut v: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: v and len live for the call; the kernel writes at most len bytes into v.
        check(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_NETNS_COOKIE,
                &mut v as *mut u64 as *mut libc::c_void,
                &mut len,
            )
        })?;
        Ok(v)
    }

    /// Make sure one `sendmsg` of `len` bytes fits: the kernel reads a batch from one message.
    pub fn reserve_send(&mut self, len: usize) -> io::Result<()> {
        if len + 4096 <= self.sndbuf {
            return Ok(());
        }
        let want = (len + 65536).min(i32::MAX as usize / 2) as libc::c_int;
        self.set_int(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, want)
            .or_else(|_| self.set_int(libc::SOL_SOCKET, libc::SO_SNDBUF, want))?;
        self.sndbuf = want as usize;
        Ok(())
    }

    /// Send one datagram to the kernel. For nfnetlink the kernel processes it before this
    /// returns, so every reply is already queued on the socket afterwards.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl zeroed is the kernel's address (pid 0).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: buf and addr are valid for the call's duration.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                0,
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != buf.len() {
            return Err(io::Error::other(format!(
                "short netlink send: {n} of {} bytes",
                buf.len()
            )));
        }
        Ok(())
    }

    /// Receive one datagram. With `wait == false`, `WouldBlock` means nothing is queued.
    pub fn recv(&self, buf: &mut [u8], wait: bool) -> io::Result<usize> {
        let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
        loop {
            // SAFETY: buf is valid for writes of buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    flags,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Run `open` inside the network namespace at `path` (e.g. `/run/netns/NAME`), for the
/// sockets it creates: a socket stays in the namespace it was created in, so a short-lived
/// thread enters the namespace, creates the sockets and ends; the rest of the process is
/// not moved.
pub fn in_netns<T: Send>(
    path: &Path,
    open: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let ns = std::fs::File::open(path)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns(2) on a namespace file descriptor we hold open; it only affects
            // this thread, which ends right after creating the sockets.
            check(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
            open()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}
