//! A two-host lab for the binary's integration tests: a server namespace running a tiny TCP
//! service, a client namespace with several source addresses, joined by a veth pair.

#![allow(dead_code)]

pub mod publisher;

use palisade_lab::Netns;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
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
    /// palisade's state directory for this lab (set caches), removed with the lab.
    pub state: std::path::PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
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
        let state = std::env::temp_dir().join(format!("palisade-state-{}", server.name()));
        Some(Self {
            server,
            client,
            state,
        })
    }

    /// An echo service on `port` in the server namespace (standing in for sshd): every
    /// connection gets back what it sends.
    pub fn echo(&self, port: u16) {
        palisade_lab::echo_service(&self.server, port).unwrap();
    }

    /// A TCP connection from `source` to the server's `port` (an admin's SSH session).
    pub fn open(&self, source: &str, port: u16) -> std::net::TcpStream {
        self.dial(source, port, Duration::from_secs(2)).unwrap()
    }

    /// Connect from `source` (in the client namespace) to the server's `port`.
    fn dial(
        &self,
        source: &str,
        port: u16,
        wait: Duration,
    ) -> std::io::Result<std::net::TcpStream> {
        let source: std::net::IpAddr = source.parse().unwrap();
        let server: std::net::IpAddr = if source.is_ipv4() { SERVER4 } else { SERVER6 }
            .parse()
            .unwrap();
        self.client
            .run(move || palisade_lab::connect_from(source, SocketAddr::new(server, port), wait))
            .unwrap()
    }

    /// Run the palisade binary against the server namespace.
    pub fn palisade(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .env("PALISADE_STATE_DIR", &self.state)
            .arg("--netns")
            .arg(self.server.name())
            .args(args)
            .output()
            .unwrap()
    }

    /// Run the palisade binary inside the server namespace (`ip netns exec`): for commands
    /// that talk to the network themselves (feed downloads, the metrics listener).
    pub fn inside(&self) -> Command {
        let mut c = self.server.command(env!("CARGO_BIN_EXE_palisade"));
        c.env("PALISADE_STATE_DIR", &self.state);
        c
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

    /// Write a config file into the lab's state directory; its path.
    pub fn write_config(&self, name: &str, text: &str) -> String {
        std::fs::create_dir_all(&self.state).unwrap();
        let path = self.state.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// A chain of palisade's table in the server namespace, as `nft` lists it.
    pub fn nft_chain(&self, chain: &str) -> String {
        self.server
            .output("nft", &["list", "chain", "inet", "palisade", chain])
            .unwrap()
    }

    /// Connect from `source` to the server on `port`: Ok(reply) or the connect error.
    pub fn connect(&self, source: &str, port: u16) -> std::io::Result<String> {
        let stream = self.dial(source, port, Duration::from_millis(1500))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut reply = String::new();
        (&stream).read_to_string(&mut reply)?;
        Ok(reply)
    }
}

/// Whether `msg` sent on `s` comes back within 2 s (through an [`Lab::echo`] service).
pub fn echoes(s: &std::net::TcpStream, msg: &[u8]) -> bool {
    let mut s = s;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    if s.write_all(msg).is_err() {
        return false;
    }
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf).is_ok() && buf == msg
}

/// Run palisade against `lab`'s server namespace from the admin's SSH `session` (the
/// connection's addresses and ports go into `SSH_CONNECTION`).
pub fn palisade_from_session(lab: &Lab, session: &std::net::TcpStream, args: &[&str]) -> Output {
    let local = session.local_addr().unwrap();
    let peer = session.peer_addr().unwrap();
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .env("PALISADE_STATE_DIR", &lab.state)
        .env(
            "SSH_CONNECTION",
            format!(
                "{} {} {} {}",
                local.ip(),
                local.port(),
                peer.ip(),
                peer.port()
            ),
        )
        .args(["--netns", lab.server.name()])
        .args(args)
        .output()
        .unwrap()
}

/// Path of a blocklist shipped in the repository.
pub fn list(name: &str) -> String {
    format!(
        "{}/../../data/blocklists/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}
