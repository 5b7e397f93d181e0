//! The XDP benchmark's lab: a server namespace with palisade on its end of a veth pair, a
//! client namespace, a private bpffs, and each drop mechanism armed through the palisade
//! binary (or `nft` for the reference rule on input).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use palisade_lab::{BpfMount, Netns};

use crate::Palisade;

pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The legitimate client.
pub const LEGIT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The flood's source, listed in palisade's blocklist.
pub const FLOODER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 66);
pub const PORT: u16 = 8080;

/// How the flood's packets are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// Nothing drops them: the stack answers (the latency reference).
    None,
    /// palisade's XDP program, native mode: `palisade block` + `palisade xdp attach`.
    Xdp,
    /// palisade's block chain alone: prerouting at raw priority, before conntrack.
    NftPrerouting,
    /// An `nft` drop rule on input (after conntrack and routing), for reference: where
    /// palisade matched its block sets before they moved to prerouting.
    NftInput,
    /// An `ipset` matched by an iptables rule in the raw table's PREROUTING, the classic
    /// "drop before conntrack" recipe.
    IpsetRaw,
}

/// What the flood is and what the server runs besides the drop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Setup {
    /// TCP SYNs to the service's port instead of UDP frames.
    pub syn: bool,
    /// Connection tracking in use in the server namespace, as on every server with a stateful
    /// firewall (palisade's policy, Docker's NAT): a packet that reaches conntrack costs an
    /// entry, made and thrown away when the packet is dropped.
    pub stateful: bool,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::None => "no firewall",
            Mechanism::Xdp => "palisade XDP (native)",
            Mechanism::NftPrerouting => "palisade nftables (prerouting, raw)",
            Mechanism::NftInput => "nftables input chain",
            Mechanism::IpsetRaw => "ipset in raw PREROUTING (iptables)",
        }
    }
}

pub struct Lab {
    pub server: Netns,
    pub client: Netns,
    pub server_if: String,
    pub server_mac: String,
    pub client_mac: String,
    pub bpf: BpfMount,
    pal: Palisade,
    setup: Setup,
}

fn mac_of(ns: &Netns, ifname: &str) -> Result<String, String> {
    let text = ns
        .output("ip", &["-o", "link", "show", "dev", ifname])
        .map_err(|e| e.to_string())?;
    let at = text.find("link/ether ").ok_or("no MAC address")? + "link/ether ".len();
    Ok(text[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string())
}

impl Lab {
    pub fn new(pal: &Palisade) -> Result<Lab, String> {
        Lab::with(pal, Setup::default())
    }

    pub fn with(pal: &Palisade, setup: Setup) -> Result<Lab, String> {
        let e = |e: std::io::Error| e.to_string();
        let server = Netns::create("xdp-srv").map_err(e)?;
        let client = Netns::create("xdp-cli").map_err(e)?;
        let (server_if, client_if) = palisade_lab::link(
            &server,
            &[&format!("{SERVER}/24")],
            &client,
            &[&format!("{LEGIT}/24"), &format!("{FLOODER}/24")],
        )
        .map_err(e)?;
        let server_mac = mac_of(&server, &server_if)?;
        let client_mac = mac_of(&client, &client_if)?;
        Ok(Lab {
            server,
            client,
            server_if,
            server_mac,
            client_mac,
            bpf: BpfMount::new().map_err(e)?,
            pal: Palisade {
                bin: pal.bin.clone(),
                state_dir: pal.state_dir.clone(),
            },
            setup,
        })
    }

    /// `nft -f` of `script` in the server namespace.
    fn nft(&self, script: &str) -> Result<(), String> {
        let path = self.bpf.path.with_extension("nft");
        std::fs::write(&path, script).map_err(|e| e.to_string())?;
        let r = self.server.output("nft", &["-f", &path.to_string_lossy()]);
        let _ = std::fs::remove_file(&path);
        r.map(drop).map_err(|e| e.to_string())
    }

    /// `PROGRAM ARGS` in the server namespace.
    fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        self.server
            .output(program, args)
            .map_err(|e| format!("{program} {}: {e}", args.join(" ")))
    }

    /// `palisade ARGS` in the server namespace, with this lab's bpffs; its stderr.
    pub fn palisade(&self, args: &[&str]) -> Result<String, String> {
        self.palisade_pinned_at(&self.bpf.root().to_string_lossy(), args)
    }

    fn palisade_pinned_at(&self, root: &str, args: &[&str]) -> Result<String, String> {
        let out = self
            .pal
            .cmd(&self.server, args)
            .env("PALISADE_BPF_DIR", root)
            .output()
            .map_err(|e| format!("palisade: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(format!("palisade {}: {stderr}", args.join(" ")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &stderr)
    }

    /// Put `m` in place. Every mechanism but `Xdp` also gets palisade's program attached with
    /// nothing to drop: the frames are injected through it (one trie miss each, then the stack).
    pub fn arm(&self, m: Mechanism) -> Result<(), String> {
        let flooder = FLOODER.to_string();
        if self.setup.stateful {
            self.nft(
                "table inet stateful {\n chain input { type filter hook input priority 0; \
                 ct state established,related accept; }\n}\n",
            )?;
        }
        if m == Mechanism::Xdp {
            self.palisade(&["-q", "block", &flooder])?;
        }
        self.palisade(&["-q", "xdp", "attach", &self.server_if, "--mode", "native"])?;
        match m {
            Mechanism::None | Mechanism::Xdp => Ok(()),
            // Pinned elsewhere, so palisade finds no XDP state and blocks in nftables only.
            Mechanism::NftPrerouting => {
                let elsewhere = self.bpf.path.join("not-attached");
                self.palisade_pinned_at(&elsewhere.to_string_lossy(), &["-q", "block", &flooder])
                    .map(drop)
            }
            Mechanism::NftInput => self.nft(&format!(
                "table inet bench {{\n set s {{ type ipv4_addr; elements = {{ {flooder} }}; }}\n \
                 chain c {{ type filter hook input priority -10; ip saddr @s counter drop; }}\n}}\n"
            )),
            Mechanism::IpsetRaw => {
                self.run("ipset", &["create", "bench", "hash:ip"])?;
                self.run("ipset", &["add", "bench", &flooder])?;
                let rule = ["-t", "raw", "-A", "PREROUTING", "-m", "set"];
                let rule = [&rule[..], &["--match-set", "bench", "src", "-j", "DROP"]].concat();
                self.run("iptables", &rule).map(drop)
            }
        }
    }

    /// Packets `m` dropped so far (0 for no firewall).
    pub fn dropped(&self, m: Mechanism) -> Result<u64, String> {
        // The blocklist's counter `key` in a JSON list of sets.
        let blocklist =
            |args: &[&str],
             key: &str,
             sets: fn(&serde_json::Value) -> Option<&Vec<serde_json::Value>>| {
                let v: serde_json::Value =
                    serde_json::from_str(&self.palisade(args)?).map_err(|e| e.to_string())?;
                sets(&v)
                    .and_then(|a| a.iter().find(|s| s["name"] == "blocklist"))
                    .and_then(|s| s[key].as_u64())
                    .ok_or_else(|| format!("no blocklist counter in {v}"))
            };
        match m {
            Mechanism::None => Ok(0),
            Mechanism::Xdp => blocklist(&["xdp", "status", "--json"], "dropped_packets", |v| {
                v["sets"].as_array()
            }),
            Mechanism::NftPrerouting => {
                blocklist(&["set", "list", "--json"], "blocked_packets", |v| {
                    v.as_array()
                })
            }
            Mechanism::NftInput => {
                let text = self
                    .server
                    .output("nft", &["list", "chain", "inet", "bench", "c"])
                    .map_err(|e| e.to_string())?;
                let counts: Vec<u64> = text
                    .split("counter packets ")
                    .skip(1)
                    .filter_map(|c| c.split_whitespace().next()?.parse().ok())
                    .collect();
                if counts.is_empty() {
                    return Err(format!("no counter in {text}"));
                }
                Ok(counts.iter().sum())
            }
            Mechanism::IpsetRaw => {
                let text = self.run(
                    "iptables",
                    &["-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n"],
                )?;
                text.lines()
                    .find(|l| l.contains("match-set bench"))
                    .and_then(|l| l.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("no ipset rule counter in {text}"))
            }
        }
    }

    /// The flood's frame, as received on the server's interface.
    pub fn frame(&self) -> Vec<u8> {
        if self.setup.syn {
            let (from, to) = ((FLOODER, 40_000), (SERVER, PORT));
            palisade_lab::inject::syn_frame(&self.server_mac, &self.client_mac, from, to)
        } else {
            palisade_lab::inject::udp_frame(&self.server_mac, &self.client_mac, FLOODER, SERVER)
        }
    }

    /// A file descriptor of palisade's program on the server's interface.
    pub fn program(&self) -> Result<std::os::fd::OwnedFd, String> {
        let s: serde_json::Value =
            serde_json::from_str(&self.palisade(&["xdp", "status", "--json"])?)
                .map_err(|e| e.to_string())?;
        let id = s["interfaces"][0]["program_id"]
            .as_u64()
            .ok_or_else(|| format!("no program in {s}"))?;
        palisade_lab::inject::prog_fd_by_id(id as u32).map_err(|e| e.to_string())
    }

    /// The server's interface index (in its namespace).
    pub fn ifindex(&self) -> Result<u32, String> {
        let name = std::ffi::CString::new(self.server_if.clone()).map_err(|e| e.to_string())?;
        self.server
            // SAFETY: if_nametoindex reads the NUL-terminated name only.
            .run(move || unsafe { libc::if_nametoindex(name.as_ptr()) })
            .map_err(|e| e.to_string())
    }

    /// A tiny service in the server namespace, on CPU 0: one reply per connection.
    pub fn serve(&self) -> Result<(), String> {
        let listener = self
            .server
            .run(|| TcpListener::bind((SERVER, PORT)))
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            let _ = palisade_lab::inject::pin_to_cpu(0);
            for mut s in listener.incoming().flatten() {
                let mut req = [0u8; 16];
                let _ = s.read(&mut req);
                let _ = s.write_all(b"ok");
            }
        });
        Ok(())
    }
}

/// One request from the legitimate client: connect, ask, read the reply. Its time, if served.
pub fn request(timeout: Duration) -> Option<Duration> {
    let t = std::time::Instant::now();
    let dest = SocketAddr::new(IpAddr::V4(SERVER), PORT);
    let mut s = palisade_lab::connect_from(IpAddr::V4(LEGIT), dest, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.write_all(b"hello").ok()?;
    let mut buf = [0u8; 8];
    let n = s.read(&mut buf).ok()?;
    (n == 2).then(|| t.elapsed())
}
