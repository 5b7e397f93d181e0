//! The XDP tests' lab: the lab of `common`, a bpffs of its own (`PALISADE_BPF_DIR`), and the
//! palisade binary driven against the server namespace, with XDP's and nftables' counters.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Command, Output};

use crate::common::*;
use palisade_lab::{BpfMount, Netns};
use serde_json::Value;

/// The lab of `common`, a bpffs of its own, and the server's end of the link.
pub struct XdpLab {
    pub lab: Lab,
    pub bpf: BpfMount,
    pub server_if: String,
}

/// The veth end in `ns` and its MAC address.
fn veth_of(ns: &Netns) -> (String, String) {
    let text = ns
        .output("ip", &["-o", "link", "show", "type", "veth"])
        .unwrap();
    let line = text.lines().next().expect("a veth in the namespace");
    let name = line.split(": ").nth(1).unwrap().split('@').next().unwrap();
    let mac = line.split("link/ether ").nth(1).unwrap();
    (name.into(), mac.split_whitespace().next().unwrap().into())
}

impl XdpLab {
    pub fn new() -> Option<Self> {
        let lab = Lab::new()?;
        let (server_if, server_mac) = veth_of(&lab.server);
        let (client_if, _) = veth_of(&lab.client);
        // The client knows the server's MAC without asking: XDP drops a listed source's
        // neighbour solicitations like anything else from it.
        for server in [SERVER4, SERVER6] {
            let args = ["neigh", "replace", server, "lladdr", &server_mac];
            let dev = ["dev", &client_if, "nud", "permanent"];
            lab.client.ip(&[&args[..], &dev[..]].concat()).unwrap();
        }
        Some(XdpLab {
            lab,
            bpf: BpfMount::new().unwrap(),
            server_if,
        })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
        c.env("PALISADE_STATE_DIR", &self.lab.state)
            .env("PALISADE_BPF_DIR", self.bpf.root())
            .env_remove("SSH_CONNECTION")
            .arg("--netns")
            .arg(self.lab.server.name())
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The command must succeed; its stderr (where palisade reports and warns).
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "palisade {args:?} failed: {stderr}");
        stderr
    }

    /// The command must fail; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "palisade {args:?} succeeded: {stderr}"
        );
        stderr
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn attach(&self, mode: &str) -> String {
        self.ok(&["xdp", "attach", &self.server_if, "--mode", mode])
    }

    pub fn status(&self) -> Value {
        self.json(&["xdp", "status", "--json"])
    }

    /// XDP's counters and entries for set `name`: (dropped packets, IPv4 entries, IPv6 entries).
    pub fn xdp_set(&self, name: &str) -> (u64, u64, u64) {
        let s = self.status();
        let Some(set) = s["sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
        else {
            return (0, 0, 0);
        };
        let n = |k: &str| set[k].as_u64().unwrap();
        (n("dropped_packets"), n("entries_v4"), n("entries_v6"))
    }

    pub fn xdp_dropped(&self, name: &str) -> u64 {
        self.xdp_set(name).0
    }

    /// Packets nftables' block rules of set `name` counted.
    pub fn nft_blocked(&self, name: &str) -> u64 {
        let sets = self.json(&["set", "list", "--json"]);
        sets.as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no set {name} in {sets}"))["blocked_packets"]
            .as_u64()
            .unwrap()
    }

    /// Send `n` UDP datagrams from `source` to the server.
    pub fn send_udp(&self, source: &str, n: usize) {
        let src: IpAddr = source.parse().unwrap();
        let dst: IpAddr = if src.is_ipv4() { SERVER4 } else { SERVER6 }
            .parse()
            .unwrap();
        self.lab
            .client
            .run(move || {
                let s = UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
                for _ in 0..n {
                    s.send_to(b"flood", SocketAddr::new(dst, 9)).unwrap();
                }
            })
            .unwrap();
    }

    pub fn connects(&self, source: &str) -> bool {
        self.lab.connect(source, PORT).is_ok()
    }
}
