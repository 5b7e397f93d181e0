//! A fleet lab: NATS servers and palisade hosts, each in a network namespace of its own,
//! all on one bridge (in a "switch" namespace), so a host's link can be cut with
//! `ip link set ... down` without touching anything outside the lab.
//!
//! Shared by the integration tests and the benchmark example.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use palisade_fleet::{
    generate_key_file, parse_fleet_config, BanBatch, Fleet, FleetConfig, FleetSink, SharedList,
    SinkError, Status, VerifiedBan, VerifiedLift,
};
use palisade_lab::{eventually, Netns};

pub const NATS_PORT: u16 = 4222;
pub const CLUSTER_PORT: u16 = 6222;
/// nats-server's HTTP monitoring port (`/healthz`), inside each server's namespace.
pub const MONITOR_PORT: u16 = 8222;

/// Root, iproute2 and nats-server are needed; under CI their absence is a failure.
pub fn require() -> bool {
    palisade_lab::require_program("nats-server")
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("palisade-fleet-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything a sink was handed, in order, with arrival times.
#[derive(Default)]
pub struct Recorded {
    pub batches: Vec<(Instant, BanBatch)>,
    pub lifts: Vec<VerifiedLift>,
    pub forgotten: Vec<String>,
    pub lists: Vec<SharedList>,
    /// Bans received in all batches.
    pub ban_count: usize,
}

#[derive(Clone, Default)]
pub struct Recorder(Arc<(Mutex<Recorded>, Condvar)>);

impl Recorder {
    pub fn with<T>(&self, f: impl FnOnce(&Recorded) -> T) -> T {
        f(&self.0 .0.lock().unwrap())
    }

    /// Wait (on the sink's signal, with a deadline) until `check` holds.
    pub fn wait(&self, timeout: Duration, check: impl Fn(&Recorded) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.0;
        let mut r = lock.lock().unwrap();
        loop {
            if check(&r) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            r = cv.wait_timeout(r, deadline - now).unwrap().0;
        }
    }

    pub fn bans(&self) -> Vec<VerifiedBan> {
        self.with(|r| {
            r.batches
                .iter()
                .flat_map(|(_, b)| b.bans.iter().cloned())
                .collect()
        })
    }

    fn record(&self, f: impl FnOnce(&mut Recorded)) {
        let (lock, cv) = &*self.0;
        f(&mut lock.lock().unwrap());
        cv.notify_all();
    }
}

impl FleetSink for Recorder {
    fn apply(&mut self, batch: BanBatch) -> Result<(), SinkError> {
        self.record(|r| {
            r.ban_count += batch.bans.len();
            r.batches.push((Instant::now(), batch));
        });
        Ok(())
    }
    fn lift(&mut self, lifts: Vec<VerifiedLift>) -> Result<(), SinkError> {
        self.record(|r| r.lifts.extend(lifts));
        Ok(())
    }
    fn forget(&mut self, origin: &str) -> Result<(), SinkError> {
        self.record(|r| r.forgotten.push(origin.to_string()));
        Ok(())
    }
    fn load_list(&mut self, list: SharedList) -> Result<(), SinkError> {
        self.record(|r| r.lists.push(list));
        Ok(())
    }
}

/// A nats-server with JetStream in its own namespace.
pub struct NatsServer {
    pub ns: Netns,
    pub addr: Ipv4Addr,
    pub name: String,
    conf: PathBuf,
    child: Option<Child>,
    _dir: TempDir,
}

impl NatsServer {
    pub fn url(&self) -> String {
        format!("nats://{}:{NATS_PORT}", self.addr)
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let child = self
            .ns
            .command("nats-server")
            .args(["-c", self.conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let addr = SocketAddr::from((self.addr, NATS_PORT));
        let up = eventually(Duration::from_secs(10), || {
            self.ns
                .run(|| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
                .unwrap()
        });
        assert!(up, "nats-server {} did not come up", self.name);
    }

    /// Whether the server says it is healthy (`/healthz`): up and, in a cluster, current with
    /// the JetStream metadata leader and with every stream and consumer it holds a replica
    /// of. A server that restarted a moment ago is not, until it has caught up.
    pub fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let addr = SocketAddr::from((self.addr, MONITOR_PORT));
        self.ns
            .run(|| {
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                s.write_all(b"GET /healthz HTTP/1.0\r\nHost: nats\r\n\r\n")
                    .ok()?;
                let mut reply = String::new();
                s.read_to_string(&mut reply).ok()?;
                Some(reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"))
            })
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    /// Kill the server process (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A host namespace on the bridge.
pub struct HostNs {
    pub ns: Netns,
    pub addr: Ipv4Addr,
    /// The host's end of its link, for cutting it.
    pub link: String,
}

impl HostNs {
    pub fn link_down(&self) {
        self.ns.ip(&["link", "set", &self.link, "down"]).unwrap();
    }

    pub fn link_up(&self) {
        self.ns.ip(&["link", "set", &self.link, "up"]).unwrap();
        // The connected route comes back with the link; restore the address if it went.
        let _ = self.ns.ip(&[
            "addr",
            "add",
            &format!("{}/24", self.addr),
            "dev",
            &self.link,
        ]);
    }
}

/// Servers and host namespaces on one bridge.
pub struct Lab {
    pub servers: Vec<NatsServer>,
    pub hosts: Vec<HostNs>,
    pub dir: TempDir,
    switch: Netns,
}

fn attach(switch: &Netns, ns: &Netns, addr: Ipv4Addr) -> String {
    let (inside, outside) = palisade_lab::link(ns, &[&format!("{addr}/24")], switch, &[]).unwrap();
    switch
        .ip(&["link", "set", &outside, "master", "br0"])
        .unwrap();
    inside
}

impl Lab {
    /// `servers` NATS servers (a JetStream cluster when more than one) and `hosts` host
    /// namespaces.
    pub fn new(servers: usize, hosts: usize) -> Lab {
        palisade_lab::remove_on_signals();
        let switch = Netns::create("sw").unwrap();
        switch
            .ip(&["link", "add", "br0", "type", "bridge"])
            .unwrap();
        switch.ip(&["link", "set", "br0", "up"]).unwrap();
        let dir = TempDir::new("lab");
        let server_addrs: Vec<Ipv4Addr> = (0..servers)
            .map(|i| Ipv4Addr::new(10, 77, 0, 1 + i as u8))
            .collect();
        let mut list = Vec::new();
        for (i, addr) in server_addrs.iter().enumerate() {
            let ns = Netns::create("nats").unwrap();
            attach(&switch, &ns, *addr);
            let name = format!("n{i}");
            let store = TempDir::new("js");
            let routes: Vec<String> = server_addrs
                .iter()
                .filter(|a| *a != addr)
                .map(|a| format!("\"nats-route://{a}:{CLUSTER_PORT}\""))
                .collect();
            let cluster = if servers > 1 {
                format!(
                    "cluster {{\n  name: palisade\n  listen: \"{addr}:{CLUSTER_PORT}\"\n  routes: [{}]\n}}\n",
                    routes.join(", ")
                )
            } else {
                String::new()
            };
            let conf = store.0.join("nats.conf");
            std::fs::write(
                &conf,
                format!(
                    "server_name: {name}\nlisten: \"{addr}:{NATS_PORT}\"\nhttp: \"{addr}:{MONITOR_PORT}\"\n\
                     jetstream {{\n  store_dir: \"{}\"\n  max_memory_store: 256MB\n  max_file_store: 2GB\n}}\n{cluster}",
                    store.0.display()
                ),
            )
            .unwrap();
            list.push(NatsServer {
                ns,
                addr: *addr,
                name,
                conf,
                child: None,
                _dir: store,
            });
        }
        for s in &mut list {
            s.start();
        }
        let hosts = (0..hosts)
            .map(|i| {
                let ns = Netns::create("host").unwrap();
                let addr = Ipv4Addr::new(10, 77, 0, 101 + i as u8);
                let link = attach(&switch, &ns, addr);
                HostNs { ns, addr, link }
            })
            .collect();
        Lab {
            servers: list,
            hosts,
            dir,
            switch,
        }
    }

    pub fn server_urls(&self) -> Vec<String> {
        self.servers.iter().map(NatsServer::url).collect()
    }

    /// The public keys of `names`, making a key file for each one that has none yet.
    pub fn keys(&self, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .map(|n| {
                let path = self.key_path(n);
                if path.exists() {
                    palisade_fleet::public_key_of(&path).unwrap()
                } else {
                    generate_key_file(&path, n).unwrap()
                }
            })
            .collect()
    }

    /// Start (or restart, with no state) host namespace `i` as `name`, trusting every one
    /// of `names`, with `extra` lines in its `[fleet]` table.
    pub fn member(&self, i: usize, name: &str, names: &[&str], extra: &str) -> Member {
        let keys = self.keys(names);
        let peers: Vec<(&str, &str)> = names
            .iter()
            .copied()
            .zip(keys.iter().map(String::as_str))
            .collect();
        let text = config_text(
            name,
            &self.server_urls(),
            &self.key_path(name),
            &peers,
            extra,
        );
        Member::start(&self.hosts[i].ns, name, parse(&text))
    }

    /// One member per name, on host namespaces 0, 1, ..., all trusting each other.
    pub fn members(&self, names: &[&str], extra: impl Fn(&str) -> String) -> Vec<Member> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| self.member(i, n, names, &extra(n)))
            .collect()
    }

    pub fn key_path(&self, name: &str) -> PathBuf {
        self.dir.0.join(format!("{name}.key"))
    }
}

/// palisade.toml text for one host of the lab: every name in `peers` is trusted.
pub fn config_text(
    host: &str,
    servers: &[String],
    key_file: &Path,
    peers: &[(&str, &str)],
    extra: &str,
) -> String {
    let servers: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let peers: Vec<String> = peers
        .iter()
        .filter(|(n, _)| *n != host)
        .map(|(n, k)| format!("{n} = \"{k}\""))
        .collect();
    format!(
        "[fleet]\nhost = \"{host}\"\nservers = [{}]\nkey_file = \"{}\"\n{extra}\n[fleet.peers]\n{}\n",
        servers.join(", "),
        key_file.display(),
        peers.join("\n")
    )
}

pub fn parse(text: &str) -> FleetConfig {
    parse_fleet_config("palisade.toml", text)
        .unwrap()
        .expect("a [fleet] table")
}

/// A running fleet host: its engine (started inside its namespace) and its sink's record.
pub struct Member {
    pub fleet: Option<Fleet>,
    pub sink: Recorder,
    pub name: String,
}

impl Member {
    pub fn start(ns: &Netns, name: &str, config: FleetConfig) -> Member {
        let sink = Recorder::default();
        let s = sink.clone();
        let fleet = ns.run(move || Fleet::start(config, s)).unwrap().unwrap();
        Member {
            fleet: Some(fleet),
            sink,
            name: name.to_string(),
        }
    }

    pub fn fleet(&self) -> &Fleet {
        self.fleet.as_ref().unwrap()
    }

    pub fn status(&self) -> Status {
        self.fleet().status()
    }

    pub fn stop(&mut self) {
        if let Some(f) = self.fleet.take() {
            f.stop(Duration::from_secs(5));
        }
    }

    /// Wait for the catch-up batch after start.
    pub fn wait_caught_up(&self, timeout: Duration) -> bool {
        self.sink
            .wait(timeout, |r| r.batches.iter().any(|(_, b)| b.catch_up))
    }
}

/// Run an async block on a fresh single-threaded runtime inside `ns`, for talking to NATS
/// directly (the tests' attacker and inspector).
pub fn in_ns<T: Send>(ns: &Netns, f: impl std::future::Future<Output = T> + Send) -> T {
    ns.run(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .unwrap()
}
