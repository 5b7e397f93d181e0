//! Throw-away network labs: namespaces joined by veth pairs, and a BPF filesystem of their own.
//!
//! Everything palisade does to netfilter in its demo, tests and benchmarks happens inside
//! namespaces made here, never in the host's own. Each namespace is removed when its handle is
//! dropped (also on panic), on SIGINT/SIGTERM once [`remove_on_signals`] is installed, and
//! namespaces left by a process that died hard are swept by the next [`Netns::create`].
//!
//! Links and addresses are set up with iproute2's `ip`, the standard tool for the job.
//!
//! [`mmdb`] writes small geolocation databases for the tests of country and AS sets.

pub mod mmdb;

mod bpf;
pub mod inject;

pub use bpf::BpfMount;

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Prefix of every namespace a lab creates: `pal-<role>-<pid>-<n>`.
const PREFIX: &str = "pal-";

/// Namespaces alive in this process, for the signal handler.
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Run `ip` with arguments; a failure carries its stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    check(&out, &format!("ip {}", args.join(" ")))
}

fn check(out: &Output, what: &str) -> io::Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{what}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A network namespace, removed on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create a fresh namespace with loopback up. `role` makes the name readable (`srv`, `cli`).
    pub fn create(role: &str) -> io::Result<Self> {
        sweep_stale();
        let name = format!(
            "{PREFIX}{role}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file, for `setns` (and `Netlink::open_in_netns`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Run `ip` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// A command that runs inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Run a program inside the namespace and return its standard output; a failure carries
    /// its standard error.
    pub fn output(&self, program: &str, args: &[&str]) -> io::Result<String> {
        let out = self.command(program).args(args).output()?;
        check(&out, &format!("{program} {}", args.join(" ")))?;
        String::from_utf8(out.stdout).map_err(io::Error::other)
    }

    /// Run `f` on a thread that has entered this namespace. Sockets it creates stay in the
    /// namespace after it returns, so a listener or client can be opened here and used anywhere.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let file = std::fs::File::open(self.path())?;
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns(2) on a namespace fd we hold; affects only this scoped thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(f())
            })
            .join()
            .map_err(|_| io::Error::other("thread in namespace panicked"))?
        })
    }

    /// Spawn a long-lived thread inside the namespace (a server).
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<std::thread::JoinHandle<io::Result<T>>> {
        let file = std::fs::File::open(self.path())?;
        Ok(std::thread::spawn(move || {
            // SAFETY: as in `run`; this thread stays in the namespace until it ends.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(f())
        }))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|n| n != &self.name);
    }
}

/// Connect two namespaces with a veth pair and give each end its addresses (CIDR strings,
/// IPv4 or IPv6). IPv6 duplicate address detection is turned off so addresses work at once.
/// Returns the interface names (in `a`, in `b`).
pub fn link(
    a: &Netns,
    a_addrs: &[&str],
    b: &Netns,
    b_addrs: &[&str],
) -> io::Result<(String, String)> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let (a_if, b_if) = (format!("pv{n}a"), format!("pv{n}b"));
    a.ip(&[
        "link", "add", &a_if, "type", "veth", "peer", "name", &b_if, "netns", &b.name,
    ])?;
    for (ns, ifname, addrs) in [(a, &a_if, a_addrs), (b, &b_if, b_addrs)] {
        ns.ip(&["link", "set", ifname, "up"])?;
        for addr in addrs {
            if addr.contains(':') {
                ns.ip(&["-6", "addr", "add", addr, "dev", ifname, "nodad"])?;
            } else {
                ns.ip(&["addr", "add", addr, "dev", ifname])?;
            }
        }
    }
    Ok((a_if, b_if))
}

/// A TCP service on `port` in `ns` that echoes what it reads, for as long as each connection
/// lasts (standing in for sshd: a session that must survive, or be cut).
pub fn echo_service(ns: &Netns, port: u16) -> io::Result<()> {
    use std::io::{Read, Write};
    let l = ns.run(move || std::net::TcpListener::bind(("::", port)))??;
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(())
}

/// Open a TCP connection from a chosen local address, with a connect timeout.
///
/// std cannot bind before connecting, and a lab client needs to pick which of its addresses
/// the server sees (a blocked one or an allowed one).
pub fn connect_from(source: IpAddr, dest: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let family = if source.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); ownership passes to TcpStream right away.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket owned by nobody else.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let (local, len) = sockaddr(SocketAddr::new(source, 0));
    // SAFETY: `local` holds a valid sockaddr of `len` bytes.
    if unsafe { libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    stream.set_nonblocking(true)?;
    let (remote, len) = sockaddr(dest);
    // SAFETY: as above.
    if unsafe { libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } == 0 {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
        }
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; the family-specific part is filled below.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
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
            std::mem::size_of::<libc::sockaddr_in>()
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
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Remove this process's namespaces on SIGINT, SIGTERM or SIGHUP, then exit with 128+signal.
///
/// The signals are blocked in the calling thread (call this first in `main`, before other
/// threads start, so they inherit the mask) and a dedicated thread waits for them.
pub fn remove_on_signals() {
    // SAFETY: building and applying a signal mask; sigset_t is plain data.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: waits for one of the blocked signals.
        unsafe { libc::sigwait(&set, &mut sig) };
        let names: Vec<String> = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for n in names {
            let _ = ip(&["netns", "del", &n]);
        }
        let mounts: Vec<PathBuf> = bpf::LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for m in mounts {
            bpf::unmount(&m);
        }
        eprintln!("interrupted: lab namespaces removed");
        std::process::exit(128 + sig);
    });
}

/// Remove namespaces this crate made in processes that no longer exist.
fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !PathBuf::from(format!("/proc/{pid}")).exists() {
                let _ = ip(&["netns", "del", &name]);
            }
        }
    }
}

/// True when this process can make namespaces (root with CAP_SYS_ADMIN and iproute2 present).
pub fn available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && Command::new("ip")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// For tests: a lab that cannot be built must fail the test loudly under CI, never skip.
/// Outside CI, returns `false` (and says why) so a developer without root can run unit tests.
pub fn require() -> bool {
    require_with("root and iproute2 (network namespaces)", true)
}

/// [`require`], for tests that also need `program` (e.g. `nats-server`): it must answer
/// `program --version`.
pub fn require_program(program: &str) -> bool {
    let present = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    require_with(
        &format!("root, iproute2 and {program} (scripts/deps.sh)"),
        present,
    )
}

/// `true` when namespaces can be made and `also` holds; else a panic under CI, and `false`
/// (saying what `needs` names) outside it.
fn require_with(needs: &str, also: bool) -> bool {
    if available() && also {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("these tests need {needs}, and CI=true forbids skipping them");
    }
    eprintln!("skipping: needs {needs}");
    false
}

/// For tests that wait for the kernel (a timeout to expire, a ban to appear): poll `done`
/// every 50 ms until it holds or `limit` has passed; whether it held. Never a fixed sleep: a
/// fast machine does not wait longer than it must, a slow one gets until the deadline.
pub fn eventually(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
