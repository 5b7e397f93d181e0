//! A fleet lab for the binary: a nats-server with JetStream, three palisade hosts (a, b, c)
//! and an attacker, each in its own network namespace, all on one bridge (in a "switch"
//! namespace), so a host's link can be cut without touching anything outside the lab. Each
//! host has its own state directory and config; its `palisade fleet run` is started and
//! stopped by the test, and everything is driven through the real binary.

#![allow(dead_code)]

mod nats;
mod proc;

pub use nats::permissions;
pub use proc::Proc;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use palisade_lab::{eventually, Netns};

pub const NATS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const NATS_PORT: u16 = 4222;
/// The attacker's addresses: `.66` and up.
pub const ATTACKER: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 77, 0, 66),
    Ipv4Addr::new(10, 77, 0, 67),
    Ipv4Addr::new(10, 77, 0, 68),
];
pub const NAMES: [&str; 3] = ["a", "b", "c"];
pub const WAIT: Duration = Duration::from_secs(30);

/// Root, iproute2 and nats-server are needed; under CI their absence is a failure.
pub fn require() -> bool {
    palisade_lab::require_program("nats-server")
}

pub struct Host {
    pub name: &'static str,
    pub ns: Netns,
    pub addr: Ipv4Addr,
    /// The host's end of its link to the bridge.
    pub link: String,
    pub state: PathBuf,
    pub config: PathBuf,
    pub daemon: Option<Proc>,
    pub watcher: Option<Proc>,
}

pub struct FleetLab {
    pub hosts: Vec<Host>,
    pub attacker: Netns,
    pub dir: PathBuf,
    pub nats: Option<Proc>,
    nats_ns: Netns,
    switch: Netns,
    /// Environment every palisade command and daemon of the hosts gets (a test's own bpffs).
    pub env: Vec<(&'static str, PathBuf)>,
}

impl Drop for FleetLab {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            h.watcher.take();
            h.daemon.take();
        }
        self.nats.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn attach(switch: &Netns, ns: &Netns, addrs: &[&str]) -> String {
    let (inside, outside) = palisade_lab::link(ns, addrs, switch, &[]).unwrap();
    switch
        .ip(&["link", "set", &outside, "master", "br0"])
        .unwrap();
    inside
}

impl FleetLab {
    /// The lab, with `extra(name)` added to each host's `[fleet]` table (and any tables
    /// after it). Daemons are not started. `None` when it cannot be built outside CI.
    pub fn new(extra: impl Fn(&str) -> String) -> Option<FleetLab> {
        Self::build(extra, false)
    }

    /// The same, with the NATS server requiring each host's NKey and letting it publish bans
    /// only on its own subject ([`permissions`]).
    pub fn with_permissions(extra: impl Fn(&str) -> String) -> Option<FleetLab> {
        Self::build(extra, true)
    }

    fn build(extra: impl Fn(&str) -> String, secure: bool) -> Option<FleetLab> {
        if !require() {
            return None;
        }
        palisade_lab::remove_on_signals();
        let switch = Netns::create("fsw").unwrap();
        switch
            .ip(&["link", "add", "br0", "type", "bridge"])
            .unwrap();
        switch.ip(&["link", "set", "br0", "up"]).unwrap();
        let dir = std::env::temp_dir().join(format!("palisade-fleetlab-{}", switch.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let nats_ns = Netns::create("fnats").unwrap();
        attach(&switch, &nats_ns, &[&format!("{NATS}/24")]);
        let attacker = Netns::create("fatk").unwrap();
        let attacker_addrs: Vec<String> = ATTACKER.iter().map(|a| format!("{a}/24")).collect();
        let refs: Vec<&str> = attacker_addrs.iter().map(String::as_str).collect();
        attach(&switch, &attacker, &refs);

        let mut lab = FleetLab {
            hosts: Vec::new(),
            attacker,
            dir,
            nats: None,
            nats_ns,
            switch,
            env: Vec::new(),
        };
        let mut keys = Vec::new();
        let mut users = String::new();
        for (i, name) in NAMES.into_iter().enumerate() {
            let ns = Netns::create(&format!("f{name}")).unwrap();
            let addr = Ipv4Addr::new(10, 77, 0, 101 + i as u8);
            let link = attach(&lab.switch, &ns, &[&format!("{addr}/24")]);
            let state = lab.dir.join(format!("state-{name}"));
            let config = lab.dir.join(format!("{name}.toml"));
            lab.hosts.push(Host {
                name,
                ns,
                addr,
                link,
                state,
                config,
                daemon: None,
                watcher: None,
            });
            keys.push(lab.keygen(i));
            if secure {
                let nkey = lab.nkey(i);
                users.push_str(&format!(
                    "    {{ nkey: {nkey}, permissions: {} }}\n",
                    permissions(name)
                ));
            }
        }
        for (i, name) in NAMES.into_iter().enumerate() {
            let peers: String = NAMES
                .iter()
                .zip(&keys)
                .filter(|(n, _)| **n != name)
                .map(|(n, k)| format!("{n} = \"{k}\"\n"))
                .collect();
            let auth = if secure {
                format!("nkey_file = \"{}\"\n", lab.nkey_path(i).display())
            } else {
                String::new()
            };
            let text = format!(
                "[fleet]\nhost = \"{name}\"\nservers = [\"nats://{NATS}:{NATS_PORT}\"]\nkey_file = \"{}\"\n{auth}\n[fleet.peers]\n{peers}\n{}\n",
                lab.key_path(i).display(),
                extra(name)
            );
            std::fs::write(&lab.hosts[i].config, text).unwrap();
        }
        let authorization = if secure {
            format!("authorization {{\n  users: [\n{users}  ]\n}}\n")
        } else {
            String::new()
        };
        lab.start_nats(&authorization);
        Some(lab)
    }

    fn start_nats(&mut self, authorization: &str) {
        let conf = self.dir.join("nats.conf");
        let listen = format!("{NATS}:{NATS_PORT}");
        std::fs::write(
            &conf,
            nats::config(&listen, &self.dir.join("js"), authorization),
        )
        .unwrap();
        let mut cmd = self.nats_ns.command("nats-server");
        cmd.args(["-c", conf.to_str().unwrap()]);
        self.nats = Some(Proc::spawn(cmd, "nats".into(), None));
        let up = eventually(WAIT, || {
            self.nats_ns
                .run(|| {
                    TcpStream::connect_timeout(
                        &SocketAddr::from((NATS, NATS_PORT)),
                        Duration::from_millis(200),
                    )
                    .is_ok()
                })
                .unwrap()
        });
        assert!(up, "nats-server did not come up");
    }

    pub fn nkey_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}.nk", self.hosts[i].name))
    }

    /// `palisade fleet nkey` for host `i`; its public NKey.
    fn nkey(&self, i: usize) -> String {
        let path = self.nkey_path(i);
        let out = self.ok(i, &["fleet", "nkey", "--nkey-file", path.to_str().unwrap()]);
        out.trim().to_string()
    }

    pub fn key_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}.key", self.hosts[i].name))
    }

    /// `palisade fleet keygen` for host `i`; its public key.
    fn keygen(&self, i: usize) -> String {
        let key = self.key_path(i);
        let out = self.ok(
            i,
            &[
                "fleet",
                "keygen",
                "--host",
                self.hosts[i].name,
                "--key-file",
                key.to_str().unwrap(),
            ],
        );
        out.trim().to_string()
    }

    /// The palisade binary for host `i`: its namespace and its state directory.
    pub fn palisade(&self, i: usize, args: &[&str]) -> Output {
        self.command_for(i, args).output().unwrap()
    }

    /// A palisade command for host `i` (its namespace and state), not yet run.
    pub fn command_for(&self, i: usize, args: &[&str]) -> Command {
        let h = &self.hosts[i];
        let mut c = command_in(&h.ns, &h.state, args);
        c.envs(self.env.iter().cloned());
        c
    }

    /// palisade in the attacker's namespace, with a state directory of its own: a fourth
    /// host the fleet does not expect.
    pub fn attacker_palisade(&self, args: &[&str]) -> Command {
        command_in(&self.attacker, &self.dir.join("state-attacker"), args)
    }

    /// `palisade fleet run` in the attacker's namespace with `config`.
    pub fn attacker_daemon(&self, config: &Path) -> Proc {
        let cmd = self.attacker_palisade(&["fleet", "run", "-c", config.to_str().unwrap()]);
        Proc::spawn(cmd, "attacker fleet".into(), Some("palisade fleet: host"))
    }

    /// Like `palisade`, but it must succeed; its stdout.
    pub fn ok(&self, i: usize, args: &[&str]) -> String {
        let out = self.palisade(i, args);
        assert!(
            out.status.success(),
            "{}: palisade {args:?} failed: {}",
            self.hosts[i].name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Start host `i`'s fleet daemon and wait until it is connected and caught up.
    pub fn start(&mut self, i: usize) {
        let config = self.hosts[i].config.to_str().unwrap().to_string();
        let cmd = self.command_for(i, &["fleet", "run", "-c", &config]);
        let tag = format!("{} fleet", self.hosts[i].name);
        self.hosts[i].daemon = Some(Proc::spawn(cmd, tag, Some("palisade fleet: host")));
        let ready = eventually(WAIT, || {
            self.status(i).is_some_and(|s| {
                s["running"] == true
                    && s["engine"]["connection"] == "connected"
                    && s["engine"]["caught_up"] == true
            })
        });
        assert!(
            ready,
            "{}: the fleet daemon did not connect and catch up: {:?}",
            self.hosts[i].name,
            self.status(i)
        );
    }

    pub fn start_all(&mut self) {
        for i in 0..self.hosts.len() {
            self.start(i);
        }
    }

    /// Stop host `i`'s fleet daemon (SIGTERM).
    pub fn stop(&mut self, i: usize) {
        self.hosts[i].daemon.take();
    }

    /// Start host `i`'s log watcher with its config.
    pub fn start_watcher(&mut self, i: usize) {
        let config = self.hosts[i].config.to_str().unwrap().to_string();
        let cmd = self.command_for(i, &["watch", "-c", &config]);
        let tag = format!("{} watch", self.hosts[i].name);
        self.hosts[i].watcher = Some(Proc::spawn(cmd, tag, Some("banning into set")));
    }

    /// `fleet status --json` of host `i`, if it printed any.
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        let out = self.palisade(i, &["fleet", "status", "--json"]);
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Is `addr` in host `i`'s set `set`?
    pub fn holds(&self, i: usize, set: &str, addr: impl ToString) -> bool {
        self.palisade(i, &["set", "test", set, &addr.to_string()])
            .status
            .success()
    }

    /// What `nft` lists for one kernel set of host `i` (elements with timeouts and comments).
    pub fn nft_set(&self, i: usize, kernel_set: &str) -> String {
        self.hosts[i]
            .ns
            .output("nft", &["list", "set", "inet", "palisade", kernel_set])
            .unwrap()
    }

    pub fn link_down(&self, i: usize) {
        let h = &self.hosts[i];
        h.ns.ip(&["link", "set", &h.link, "down"]).unwrap();
    }

    pub fn link_up(&self, i: usize) {
        let h = &self.hosts[i];
        h.ns.ip(&["link", "set", &h.link, "up"]).unwrap();
        let _ =
            h.ns.ip(&["addr", "add", &format!("{}/24", h.addr), "dev", &h.link]);
    }

    /// A TCP service on host `i` that answers every connection.
    pub fn listen(&self, i: usize, port: u16) {
        let l = self.hosts[i]
            .ns
            .run(move || TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap())
            .unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                drop(s);
            }
        });
    }

    /// Does a TCP connection from the attacker's `source` to host `i`'s `port` get through?
    pub fn connects(&self, source: Ipv4Addr, i: usize, port: u16) -> bool {
        let dest = SocketAddr::new(IpAddr::V4(self.hosts[i].addr), port);
        self.attacker
            .run(move || {
                palisade_lab::connect_from(IpAddr::V4(source), dest, Duration::from_millis(800))
                    .is_ok()
            })
            .unwrap()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// The palisade binary: cargo's for the tests; beside `target/*/examples/` for the benchmark.
pub fn binary() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_palisade") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("palisade"))
        .filter(|p| p.exists())
        .expect("build the palisade binary first (cargo build --release -p palisade)")
}

fn command_in(ns: &Netns, state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.env("PALISADE_STATE_DIR", state)
        .args(["--netns", ns.name()])
        .args(args);
    c
}

/// Append `text` to a file (a log the watcher follows).
pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}
