//! One lab: a server namespace running nginx, a client namespace, and a veth pair between them.
//!
//! Each firewall method gets a lab of its own, so rules loaded for one method never lie in the
//! path of another's packets (netfilter hooks are per namespace), and all labs can stay up for
//! the whole run, which lets the measurements of every method at one N be interleaved in time.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use palisade_lab::Netns;

use crate::measure::die_with_parent;

/// The server's address (TEST-NET-1, so it can never be a real host).
pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The client's address. Odd, so never one of the blocked addresses, which are all even (see
/// `data::generate`).
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const PORT: u16 = 80;
/// The file every request asks for, and its size (10 KiB, as in the classic measurement).
pub const FILE: &str = "/10k.bin";
pub const FILE_SIZE: usize = 10 * 1024;

/// The CPUs nginx and the client (and wrk) are pinned to, when the machine has two or more. On
/// two cores, letting the scheduler place them anew for every request made the medians of
/// identical setups differ by several percent; pinned, the client spins on one core while
/// nginx serves on the other, the same way for every method.
pub const CLIENT_CPU: usize = 0;
const SERVER_CPU: usize = 1;

/// How long nginx may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Server and client namespaces with nginx serving [`FILE`] on [`SERVER`].
///
/// Field order is drop order: nginx is killed before its namespace goes.
pub struct Lab {
    nginx: Nginx,
    pub server: Netns,
    pub client: Netns,
    client_if: String,
}

impl Lab {
    /// Build the lab for one method; `scratch` holds nginx's files (a subdirectory per lab).
    pub fn start(role: &str, scratch: &Path) -> io::Result<Self> {
        let server = Netns::create(&format!("{role}-srv"))?;
        let client = Netns::create(&format!("{role}-cli"))?;
        let (_, client_if) = palisade_lab::link(
            &server,
            &[&format!("{SERVER}/24")],
            &client,
            &[&format!("{CLIENT}/24")],
        )?;
        // A blocked probe address on the client (see `add_probe`) is outside the /24: routes
        // back to it must exist, or the server's answer would be lost rather than blocked.
        server.ip(&["route", "add", "default", "via", &CLIENT.to_string()])?;
        let nginx = Nginx::start(&server, &scratch.join(format!("nginx-{role}")))?;
        let mut lab = Lab {
            nginx,
            server,
            client,
            client_if,
        };
        lab.wait_until_served()?;
        Ok(lab)
    }

    fn wait_until_served(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let attempt = self.client.run(|| {
                palisade_lab::connect_from(
                    IpAddr::V4(CLIENT),
                    SocketAddr::from((SERVER, PORT)),
                    Duration::from_millis(200),
                )
            })?;
            match attempt {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(io::Error::other(format!(
                        "nginx did not answer on {SERVER}:{PORT} within {START_TIMEOUT:?} ({e}); \
                         its log: {}",
                        self.nginx.log_tail()
                    )))
                }
                Err(_) => {
                    self.nginx.check_alive()?;
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Give the client a second address, `addr`, to show a listed source is really blocked.
    pub fn add_probe(&self, addr: Ipv4Addr) -> io::Result<()> {
        self.client
            .ip(&["addr", "add", &format!("{addr}/32"), "dev", &self.client_if])
    }

    pub fn remove_probe(&self, addr: Ipv4Addr) -> io::Result<()> {
        self.client
            .ip(&["addr", "del", &format!("{addr}/32"), "dev", &self.client_if])
    }

    /// CPU time nginx (one process: `master_process off`) has used, user plus system, in
    /// seconds.
    pub fn server_cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.nginx.child.id()))
            .unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        (ticks(11) + ticks(12)) / hz
    }

    /// Does a TCP connection from `source` to the web server get through within `wait`?
    pub fn connects_from(&self, source: Ipv4Addr, wait: Duration) -> io::Result<bool> {
        let attempt = self.client.run(move || {
            palisade_lab::connect_from(IpAddr::V4(source), SocketAddr::from((SERVER, PORT)), wait)
        })?;
        Ok(attempt.is_ok())
    }
}

/// nginx as a child process with a configuration, prefix, pid file and logs of its own (never
/// the system's service), killed on drop and, through `PR_SET_PDEATHSIG`, when the benchmark dies.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    fn start(ns: &Netns, dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join("www"))?;
        std::fs::create_dir_all(dir.join("tmp"))?;
        std::fs::write(dir.join("www").join(&FILE[1..]), body())?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir))?;
        let log = std::fs::File::create(dir.join("stderr.log"))?;
        let mut cmd = ns.command("nginx");
        cmd.arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        die_with_parent(&mut cmd);
        pin_command(&mut cmd, SERVER_CPU);
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::other(format!("starting nginx: {e}")))?;
        Ok(Self {
            child,
            dir: dir.to_path_buf(),
        })
    }

    fn check_alive(&mut self) -> io::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(io::Error::other(format!(
                "nginx exited ({status}): {}",
                self.log_tail()
            ))),
        }
    }

    fn log_tail(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        crate::measure::last_lines(&(read("stderr.log") + &read("error.log")), 5)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pinning() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

/// Pin the calling thread to `cpu` (nothing on a one-core machine).
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if !pinning() {
        return Ok(());
    }
    let set = cpu_set(cpu);
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size given.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Have a spawned program run on `cpu` only (nothing on a one-core machine).
pub fn pin_command(cmd: &mut std::process::Command, cpu: usize) {
    use std::os::unix::process::CommandExt;
    if !pinning() {
        return;
    }
    let set = cpu_set(cpu);
    // SAFETY: only sched_setaffinity, async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// 10 KiB of printable bytes (content does not matter; a fixed pattern keeps it checkable).
pub fn body() -> Vec<u8> {
    (0..FILE_SIZE).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A minimal nginx configuration: one process (`master_process off`: nothing to orphan, and one
/// core left for the client on a two-core machine), no access log (disk writes would be noise),
/// every path inside `dir`.
fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 1000000;
    server {{
        listen {SERVER}:{PORT} backlog=4096;
        root {d}/www;
    }}
}}
"
    )
}
