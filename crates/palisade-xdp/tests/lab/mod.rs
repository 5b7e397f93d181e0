//! The XDP lab: a host namespace and a client namespace joined by a veth pair, a private BPF
//! filesystem for the pins, and an nftables counter per client source in the host namespace
//! (the baseline: a packet XDP dropped never reaches it).

#![allow(dead_code)] // each test binary uses a part

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use palisade_lab::{connect_from, Netns};

pub const SERVER_V4: &str = "192.0.2.1";
pub const SERVER_V6: &str = "2001:db8::1";
/// Client sources: a listed address, an unlisted one, one allowlisted inside a listed network,
/// one for timed bans, and the same roles in IPv6.
pub const LISTED: &str = "192.0.2.10";
pub const UNLISTED: &str = "192.0.2.11";
pub const TIMED: &str = "192.0.2.12";
pub const LISTED_NET: &str = "192.0.2.16";
pub const LISTED_NET_LAST: &str = "192.0.2.31";
pub const NET_MEMBER: &str = "192.0.2.18";
pub const ALLOWED_IN_NET: &str = "192.0.2.17";
pub const LISTED6: &str = "2001:db8::10";
pub const UNLISTED6: &str = "2001:db8::11";
pub const CLIENT_ADDRS: [&str; 7] = [
    LISTED,
    UNLISTED,
    TIMED,
    NET_MEMBER,
    ALLOWED_IN_NET,
    LISTED6,
    UNLISTED6,
];
pub const PORT: u16 = 7070;

/// A private bpffs for the pins (see `palisade_lab::BpfMount`).
pub use palisade_lab::BpfMount;

pub struct Lab {
    pub host: Netns,
    pub client: Netns,
    /// The host's end of the veth pair, where XDP runs.
    pub host_if: String,
    pub host_mac: String,
    pub client_if: String,
    pub client_mac: String,
    pub bpf: BpfMount,
}

impl Lab {
    /// `None` (skip) only outside CI without root; under CI a missing capability panics.
    /// The host namespace gets the nftables baseline counters.
    pub fn start() -> Option<Lab> {
        if !palisade_lab::require() {
            return None;
        }
        let lab = Lab::bare();
        lab.nft_baseline();
        Some(lab)
    }

    /// The namespaces, link and bpffs without any nftables rule (for benchmarks, where a
    /// counting rule would add to the cost being measured).
    pub fn bare() -> Lab {
        let host = Netns::create("host").unwrap();
        let client = Netns::create("cli").unwrap();
        let client_addrs: Vec<String> = CLIENT_ADDRS
            .iter()
            .map(|a| {
                if a.contains(':') {
                    format!("{a}/64")
                } else {
                    format!("{a}/24")
                }
            })
            .collect();
        let client_refs: Vec<&str> = client_addrs.iter().map(String::as_str).collect();
        let (client_if, host_if) = palisade_lab::link(
            &client,
            &client_refs,
            &host,
            &[&format!("{SERVER_V4}/24"), &format!("{SERVER_V6}/64")],
        )
        .unwrap();
        // The client knows the host's MAC address without asking: neighbour solicitations from
        // a listed IPv6 source are dropped by XDP like any other packet from it, which would
        // leave the client unable to send anything from that source at all.
        let mac = mac_of(&host, &host_if);
        for server in [SERVER_V4, SERVER_V6] {
            client
                .ip(&[
                    "neigh",
                    "replace",
                    server,
                    "lladdr",
                    &mac,
                    "dev",
                    &client_if,
                    "nud",
                    "permanent",
                ])
                .unwrap();
        }
        let client_mac = mac_of(&client, &client_if);
        Lab {
            host,
            client,
            host_if,
            host_mac: mac,
            client_if,
            client_mac,
            bpf: BpfMount::new().unwrap(),
        }
    }

    /// One counting rule per client source at prerouting, raw priority: the earliest point
    /// netfilter sees a packet.
    fn nft_baseline(&self) {
        let mut script = String::from(
            "table inet xdptest {\n chain pre {\n  type filter hook prerouting priority -300;\n",
        );
        for a in CLIENT_ADDRS {
            let fam = if a.contains(':') { "ip6" } else { "ip" };
            script.push_str(&format!("  {fam} saddr {a} counter\n"));
        }
        script.push_str(" }\n}\n");
        let path = self.bpf.path.with_extension("nft");
        std::fs::write(&path, script).unwrap();
        self.host
            .output("nft", &["-f", path.to_str().unwrap()])
            .unwrap();
        let _ = std::fs::remove_file(path);
    }

    /// Packets from `source` that reached netfilter in the host namespace.
    pub fn nft_packets(&self, source: &str) -> u64 {
        let text = self
            .host
            .output("nft", &["list", "chain", "inet", "xdptest", "pre"])
            .unwrap();
        let needle = format!("saddr {source} counter packets ");
        let at = text
            .find(&needle)
            .unwrap_or_else(|| panic!("no counter for {source} in:\n{text}"));
        text[at + needle.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Send `n` UDP datagrams from `source` to the host.
    pub fn send_udp(&self, source: &str, n: usize) {
        let src: IpAddr = source.parse().unwrap();
        let dst: IpAddr = if src.is_ipv4() { SERVER_V4 } else { SERVER_V6 }
            .parse()
            .unwrap();
        self.client
            .run(move || {
                let s = UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
                for _ in 0..n {
                    s.send_to(b"palisade xdp test", SocketAddr::new(dst, PORT))
                        .unwrap();
                }
            })
            .unwrap();
    }

    /// Start a TCP listener in the host namespace (the kernel completes handshakes into its
    /// backlog, which is all a connect test needs).
    pub fn listen(&self) -> (TcpListener, TcpListener) {
        self.host
            .run(|| {
                (
                    TcpListener::bind((SERVER_V4, PORT)).unwrap(),
                    TcpListener::bind((SERVER_V6, PORT)).unwrap(),
                )
            })
            .unwrap()
    }

    /// Whether a TCP connection from `source` to the host's listener succeeds.
    pub fn connects(&self, source: &str, timeout: Duration) -> bool {
        let src: IpAddr = source.parse().unwrap();
        let dst: IpAddr = if src.is_ipv4() { SERVER_V4 } else { SERVER_V6 }
            .parse()
            .unwrap();
        self.client
            .run(move || connect_from(src, SocketAddr::new(dst, PORT), timeout).is_ok())
            .unwrap()
    }

    /// Run `f` on a thread inside the host namespace (XDP calls resolve interfaces and pin
    /// state for the calling thread's namespace).
    pub fn in_host<T: Send>(&self, f: impl FnOnce(&Path, &str) -> T + Send) -> T {
        let root = self.bpf.root();
        let ifname = self.host_if.clone();
        self.host.run(move || f(&root, &ifname)).unwrap()
    }
}

/// The MAC address of interface `ifname` in namespace `ns`.
fn mac_of(ns: &Netns, ifname: &str) -> String {
    let text = ns
        .output("ip", &["-o", "link", "show", "dev", ifname])
        .unwrap();
    let at = text.find("link/ether ").expect("an Ethernet interface") + "link/ether ".len();
    text[at..].split_whitespace().next().unwrap().to_string()
}

/// Poll `check` until it holds or `deadline` passes; the last value is returned.
pub fn wait_until(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
