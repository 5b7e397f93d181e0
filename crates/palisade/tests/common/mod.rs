//! A two-host lab for the binary's integration tests: a server namespace running a tiny TCP
//! service, a client namespace with several source addresses, joined by a veth pair.

#![allow(dead_code)]

use palisade_lab::Netns;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

pub const SERVER4: &str = "198.18.0.1";
pub const SERVER6: &str = "2001:db8:1::1";
/// Client sources: `.2`/`::2` stay allowed, `.3`/`::3` get blocked by the tests.
pub const ALLOWED4: &str = "198.18.0.2";
pub const BLOCKED4: &str = "198.18.0.3";
pub const ALLOWED6: &str = "2001:db8:1::2";
pub const BLOCKED6: &str = "2001:db8:1::3";
pub const PORT: u16 = 8080;
pub const PORT2: u16 = 8081;

pub struct Lab {
    pub server: Netns,
    pub client: Netns,
}

impl Lab {
    /// None when the lab can't be built outside CI (see `palisade_lab::require`).
    pub fn new() -> Option<Self> {
        if !palisade_lab::require() {
            return None;
        }
        let server = Netns::create("srv").unwrap();
        let client = Netns::create("cli").unwrap();
        palisade_lab::link(
            &server,
            &["198.18.0.1/24", "2001:db8:1::1/64"],
            &client,
            &[
                "198.18.0.2/24",
                "198.18.0.3/24",
                "2001:db8:1::2/64",
                "2001:db8:1::3/64",
            ],
        )
        .unwrap();
        for port in [PORT, PORT2] {
            // One dual-stack listener serves IPv4 and IPv6.
            let l = server
                .run(move || TcpListener::bind(("::", port)).unwrap())
                .unwrap();
            std::thread::spawn(move || {
                for mut s in l.incoming().flatten() {
                    let _ = s.write_all(b"ok");
                }
            });
        }
        Some(Self { server, client })
    }

    /// Run the palisade binary against the server namespace.
    pub fn palisade(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .arg("--netns")
            .arg(self.server.name())
            .args(args)
            .output()
            .unwrap()
    }

    /// Like `palisade`, but the command must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.palisade(args);
        assert!(
            out.status.success(),
            "palisade {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Connect from `source` to the server on `port`: Ok(reply) or the connect error.
    pub fn connect(&self, source: &str, port: u16) -> std::io::Result<String> {
        let source: std::net::IpAddr = source.parse().unwrap();
        let server: std::net::IpAddr = if source.is_ipv4() { SERVER4 } else { SERVER6 }
            .parse()
            .unwrap();
        self.client
            .run(move || {
                let sock = if source.is_ipv4() {
                    socket2_v4()
                } else {
                    socket2_v6()
                };
                bind_and_connect(
                    sock,
                    SocketAddr::new(source, 0),
                    SocketAddr::new(server, port),
                )
            })
            .unwrap()
    }
}

fn socket2_v4() -> i32 {
    // SAFETY: plain socket(2).
    unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) }
}

fn socket2_v6() -> i32 {
    // SAFETY: plain socket(2).
    unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) }
}

/// std has no bind-before-connect, so bind the raw socket, then hand it to std with a
/// non-blocking connect bounded by a timeout.
fn bind_and_connect(fd: i32, local: SocketAddr, remote: SocketAddr) -> std::io::Result<String> {
    use std::os::fd::FromRawFd;
    assert!(fd >= 0);
    let (storage, len) = sockaddr(local);
    // SAFETY: storage holds a valid sockaddr of `len` bytes.
    if unsafe { libc::bind(fd, &storage as *const _ as *const libc::sockaddr, len) } != 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    // SAFETY: fd is a fresh, owned TCP socket; TcpStream takes ownership.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    stream.set_nonblocking(true)?;
    let (storage, len) = sockaddr(remote);
    // SAFETY: as above.
    let r = unsafe { libc::connect(fd, &storage as *const _ as *const libc::sockaddr, len) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 1500) };
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ));
        }
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
    }
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reply = String::new();
    (&stream).read_to_string(&mut reply)?;
    Ok(reply)
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: zeroed sockaddr_storage is valid; we fill the family-specific part.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// Path of a blocklist shipped in the repository.
pub fn list(name: &str) -> String {
    format!(
        "{}/../../data/blocklists/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}
