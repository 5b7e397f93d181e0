//! The default-deny policy against the real kernel, in namespaces: real TCP, UDP and ICMP
//! from a client namespace, `explain` checked packet by packet against the kernel's own
//! counters, confirm-or-rollback, failed applies that change nothing, and a simulated boot.

mod common;

use common::*;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

/// A policy like the classic hardening script, on the lab's ports: 8080/tcp and 5300/udp
/// and ping in; DNS, NTP, web and 9000/tcp out.
const HARDENING: &str = r#"
[input]
policy = "drop"
allow = ["8080/tcp", "5300/udp", "ping"]

[forward]
policy = "drop"

[output]
policy = "drop"
allow = ["dns", "ntp", "http", "https", "ping", "9000/tcp"]
"#;

/// Send one UDP datagram from `source` to the server's `port`; the reply, if any in time.
fn udp_exchange(lab: &Lab, source: &str, port: u16) -> Option<String> {
    let source: IpAddr = source.parse().unwrap();
    let server: IpAddr = if source.is_ipv4() { SERVER4 } else { SERVER6 }
        .parse()
        .unwrap();
    lab.client
        .run(move || {
            let s = UdpSocket::bind(SocketAddr::new(source, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(700)))
                .unwrap();
            s.send_to(b"hello", SocketAddr::new(server, port)).unwrap();
            let mut buf = [0u8; 64];
            s.recv(&mut buf)
                .ok()
                .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
        })
        .unwrap()
}

/// A UDP echo service in the server namespace.
fn udp_echo(lab: &Lab, port: u16) {
    let s = lab
        .server
        .run(move || UdpSocket::bind(("::", port)).unwrap())
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    });
}

/// The ICMP(v6) echo request packet for a raw socket. Conntrack tells echo exchanges apart
/// by identifier, so each call gets its own.
fn echo_request(v6: bool, id: u16) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend(id.to_be_bytes());
    p.extend([0, 1]);
    p.extend(b"palisade");
    if !v6 {
        // ICMPv6 checksums are filled in by the kernel; ICMP ones are ours.
        let mut sum: u32 = p
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        p[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
    p
}

fn sockaddr_of(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: zeroed sockaddr_storage is valid; we fill the family-specific part.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = &mut ss as *mut _ as *mut libc::sockaddr_in;
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            unsafe {
                (*sin).sin_family = libc::AF_INET as _;
                (*sin).sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            }
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = &mut ss as *mut _ as *mut libc::sockaddr_in6;
            // SAFETY: as above, for sockaddr_in6.
            unsafe {
                (*sin6).sin6_family = libc::AF_INET6 as _;
                (*sin6).sin6_addr.s6_addr = v6.ip().octets();
            }
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// Send an echo request from `source` to `dest` over a raw socket; with `wait`, whether a
/// reply came back.
fn ping(source: IpAddr, dest: IpAddr, seq: u16, wait: Option<Duration>) -> bool {
    let v6 = source.is_ipv6();
    let (family, proto) = if v6 {
        (libc::AF_INET6, libc::IPPROTO_ICMPV6)
    } else {
        (libc::AF_INET, libc::IPPROTO_ICMP)
    };
    // SAFETY: plain socket calls on a descriptor this function owns and closes.
    unsafe {
        let fd = libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let (local, len) = sockaddr_of(SocketAddr::new(source, 0));
        assert_eq!(
            libc::bind(fd, &local as *const _ as *const libc::sockaddr, len),
            0
        );
        let (remote, len) = sockaddr_of(SocketAddr::new(dest, 0));
        let p = echo_request(v6, seq);
        libc::sendto(
            fd,
            p.as_ptr().cast(),
            p.len(),
            0,
            &remote as *const _ as *const libc::sockaddr,
            len,
        );
        let mut got = false;
        if let Some(wait) = wait {
            let deadline = std::time::Instant::now() + wait;
            let mut buf = [0u8; 1500];
            while std::time::Instant::now() < deadline {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                if libc::poll(&mut pfd, 1, 50) <= 0 {
                    continue;
                }
                let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
                // IPv4 raw sockets see the IP header; the reply type is after it.
                let icmp = if v6 {
                    &buf[..n.max(0) as usize]
                } else {
                    buf.get(20..n.max(0) as usize).unwrap_or(&[])
                };
                if icmp.first() == Some(&if v6 { 129 } else { 0 }) {
                    got = true;
                    break;
                }
            }
        }
        libc::close(fd);
        got
    }
}

fn ping_server(lab: &Lab, source: &str) -> bool {
    let source: IpAddr = source.parse().unwrap();
    let dest: IpAddr = if source.is_ipv4() { SERVER4 } else { SERVER6 }
        .parse()
        .unwrap();
    lab.client
        .run(move || ping(source, dest, 1, Some(Duration::from_millis(800))))
        .unwrap()
}

/// A TCP listener in the client namespace (for the server's outgoing connections).
fn client_listener(lab: &Lab, port: u16) {
    let l = lab
        .client
        .run(move || std::net::TcpListener::bind(("::", port)).unwrap())
        .unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            use std::io::Write;
            let _ = s.write_all(b"out-ok");
        }
    });
}

/// Connect from the server namespace to the client: what an outgoing connection sees.
fn connect_out(lab: &Lab, dest: &str, port: u16) -> std::io::Result<()> {
    let dest: IpAddr = dest.parse().unwrap();
    let source: IpAddr = if dest.is_ipv4() { SERVER4 } else { SERVER6 }
        .parse()
        .unwrap();
    lab.server
        .run(move || {
            let s = palisade_lab::connect_from(
                source,
                SocketAddr::new(dest, port),
                Duration::from_millis(1500),
            )?;
            use std::io::Read;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut reply = String::new();
            (&s).read_to_string(&mut reply)?;
            if reply == "out-ok" {
                Ok(())
            } else {
                Err(std::io::Error::other(format!("reply {reply:?}")))
            }
        })
        .unwrap()
}

#[test]
fn hardening_policy_against_real_traffic() {
    let Some(lab) = Lab::new() else { return };
    udp_echo(&lab, 5300);
    udp_echo(&lab, 5301);
    client_listener(&lab, 9000);
    client_listener(&lab, 9001);
    let config = lab.write_config("hardening.toml", HARDENING);
    let check = lab.ok(&["check", "-c", &config]);
    assert!(check.contains("valid"), "{check}");
    lab.ok(&["apply", "-c", &config]);

    for (src, dest) in [(ALLOWED4, CLIENT_DEST4), (ALLOWED6, CLIENT_DEST6)] {
        assert_eq!(
            lab.connect(src, PORT).unwrap(),
            "ok",
            "open port from {src}"
        );
        assert!(
            lab.connect(src, PORT2).is_err(),
            "closed port from {src} must be dropped"
        );
        assert_eq!(
            udp_exchange(&lab, src, 5300).as_deref(),
            Some("hello"),
            "udp 5300 from {src}"
        );
        assert_eq!(udp_exchange(&lab, src, 5301), None, "udp 5301 from {src}");
        assert!(ping_server(&lab, src), "ping from {src}");
        // Outgoing: allowed port connects (and its replies come in as established),
        // another port is refused by the output policy.
        connect_out(&lab, dest, 9000).unwrap_or_else(|e| panic!("out to {dest}:9000: {e}"));
        assert!(
            connect_out(&lab, dest, 9001).is_err(),
            "out to {dest}:9001 must be dropped"
        );
    }
    // Loopback is open, even to ports closed from outside.
    let local = lab
        .server
        .run(|| {
            std::net::TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], PORT2)),
                Duration::from_secs(1),
            )
            .is_ok()
        })
        .unwrap();
    assert!(local, "loopback must be accepted");

    // What palisade put in the kernel, as nft sees it.
    let nft = lab.nft_chain("filter_input");
    assert!(nft.contains("policy drop"), "{nft}");
    assert!(
        nft.contains("tcp dport 8080") && nft.contains("udp dport 5300"),
        "{nft}"
    );
    let status = lab.ok(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let input = &v["chains"][0];
    assert_eq!(input["chain"], "filter_input");
    let accepted_8080: u64 = input["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"].as_str().unwrap().contains("dport 8080"))
        .map(|r| r["packets"].as_u64().unwrap())
        .sum();
    assert!(accepted_8080 >= 2, "counters: {status}");
}

const CLIENT_DEST4: &str = ALLOWED4;
const CLIENT_DEST6: &str = ALLOWED6;

#[test]
fn confirm_or_roll_back() {
    let Some(lab) = Lab::new() else { return };
    let open = lab.write_config(
        "open.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\"]\n",
    );
    let closed = lab.write_config(
        "closed.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8081/tcp\"]\n",
    );
    lab.ok(&["apply", "-c", &open]);
    assert!(lab.connect(ALLOWED4, PORT).is_ok());

    // Not confirmed: the previous policy comes back by itself.
    let out = lab.ok(&["apply", "-c", &closed, "--confirm", "2"]);
    assert!(out.contains("palisade confirm"), "{out}");
    assert!(
        lab.connect(ALLOWED4, PORT).is_err(),
        "the new policy is in force"
    );
    assert!(lab.ok(&["status"]).contains("PENDING"));
    assert!(
        palisade_lab::eventually(Duration::from_secs(20), || lab
            .connect(ALLOWED4, PORT)
            .is_ok()),
        "rolled back after the timeout"
    );
    assert!(lab.connect(ALLOWED4, PORT2).is_err());
    assert!(lab.ok(&["status"]).contains("not confirmed"));

    // Confirmed: it stays.
    lab.ok(&["apply", "-c", &closed, "--confirm", "2"]);
    lab.ok(&["confirm"]);
    assert!(
        palisade_lab::eventually(Duration::from_secs(20), || !confirm_timer_running(&lab)),
        "the confirm timer ends after its time"
    );
    assert!(
        lab.connect(ALLOWED4, PORT2).is_ok(),
        "confirmed policy stays"
    );
    assert!(lab.connect(ALLOWED4, PORT).is_err());

    // And rollback goes back one step.
    lab.ok(&["rollback"]);
    assert!(lab.connect(ALLOWED4, PORT).is_ok());
}

/// palisade's table as nft lists it, with counter values left out (background traffic such as
/// IPv6 multicast listener reports moves them while the test runs).
fn table_listing(lab: &Lab) -> String {
    let text = lab
        .server
        .output("nft", &["list", "table", "inet", "palisade"])
        .unwrap();
    let mut out = Vec::new();
    let mut words = text.split(' ').peekable();
    while let Some(w) = words.next() {
        out.push(w);
        if w == "packets" || w == "bytes" {
            words.next();
        }
    }
    out.join(" ")
}

#[test]
fn a_failed_apply_changes_nothing() {
    let Some(lab) = Lab::new() else { return };
    let good = lab.write_config("good.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\"]\n[sets.bad]\nelements = [\"198.18.0.3\"]\n",
    );
    lab.ok(&["apply", "-c", &good]);
    let before = table_listing(&lab);

    // A bad line in a set's file: named, and nothing applied.
    let list = lab.state.join("list.txt");
    std::fs::write(&list, "192.0.2.1\n192.0.2.999\n").unwrap();
    let bad_file = lab.write_config(
        "bad-file.toml",
        &format!(
            "[input]\npolicy = \"accept\"\n[sets.bad]\nfiles = [\"{}\"]\n",
            list.display()
        ),
    );
    let out = lab.palisade(&["apply", "-c", &bad_file]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("list.txt:2"), "{err}");
    assert_eq!(table_listing(&lab), before);

    // A bad config: file, line and key, nothing applied.
    let bad_config = lab.write_config(
        "bad.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"ssh\", 99999]\n",
    );
    let out = lab.palisade(&["apply", "-c", &bad_config]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3: input.allow[1]"), "{err}");
    assert_eq!(table_listing(&lab), before);

    // A kernel error in the middle of the transaction: someone re-made the input chain at
    // another priority, so palisade's chain update is refused. All or nothing.
    for cmd in [
        "flush chain inet palisade filter_input",
        "delete chain inet palisade filter_input",
        "add chain inet palisade filter_input { type filter hook input priority 5; policy accept; }",
    ] {
        let args: Vec<&str> = cmd.split(' ').collect();
        let status = Command::new("ip").args(["netns", "exec", lab.server.name(), "nft"]).args(&args).status().unwrap();
        assert!(status.success(), "{cmd}");
    }
    let tampered = table_listing(&lab);
    let other = lab.write_config("other.toml", "[input]\npolicy = \"drop\"\nallow = [\"8081/tcp\"]\n[sets.new]\nelements = [\"192.0.2.0/24\"]\n");
    let out = lab.palisade(&["apply", "-c", &other]);
    assert!(!out.status.success(), "the kernel must refuse");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("filter_input"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        table_listing(&lab),
        tampered,
        "a refused transaction changes nothing"
    );
}

#[test]
fn boot_restore_and_a_corrupt_saved_file() {
    let Some(lab) = Lab::new() else { return };
    let config = lab.write_config("p.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\"]\n[sets.bad]\nelements = [\"198.18.0.3\"]\ntimeout = \"1h\"\n",
    );
    lab.ok(&["apply", "-c", &config]);
    lab.ok(&["set", "add", "bad", "2001:db8:1::3", "--timeout", "1h"]);
    let saved = lab.state.join("saved.state");
    lab.ok(&["save", saved.to_str().unwrap()]);

    // A simulated boot: a fresh namespace with nothing in it, then restore.
    let Some(fresh) = Lab::new() else { return };
    assert!(
        fresh.connect(ALLOWED4, PORT2).is_ok(),
        "a fresh namespace is open"
    );
    let out = fresh.ok(&["restore", saved.to_str().unwrap()]);
    assert!(out.contains("one transaction"), "{out}");
    assert!(fresh.connect(ALLOWED4, PORT).is_ok());
    assert!(fresh.connect(ALLOWED4, PORT2).is_err(), "rules are back");
    assert!(
        fresh.connect(BLOCKED4, PORT).is_err(),
        "set contents are back"
    );
    assert!(
        fresh.connect(BLOCKED6, PORT).is_err(),
        "timed additions are back"
    );
    let listing = fresh
        .server
        .output("nft", &["list", "set", "inet", "palisade", "bad_v6_recent"])
        .unwrap();
    assert!(
        listing.contains("expires"),
        "remaining timeout kept: {listing}"
    );

    // A damaged file: the safe policy goes up, loudly, never an open host.
    let text = std::fs::read_to_string(&saved).unwrap();
    let broken = lab.state.join("broken.state");
    std::fs::write(&broken, &text[..text.len() / 2]).unwrap();
    let Some(third) = Lab::new() else { return };
    let out = third.palisade(&["restore", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CANNOT RESTORE") && err.contains("SAFE POLICY"),
        "{err}"
    );
    assert!(
        third.connect(ALLOWED4, PORT).is_err(),
        "safe policy drops input"
    );
    assert!(third.ok(&["status"]).contains("safe policy"));
}

#[test]
fn the_admins_session_survives_a_policy_that_would_cut_it() {
    let Some(lab) = Lab::new() else { return };
    // An echo service standing in for sshd.
    lab.echo(2222);
    let session = lab.open(ALLOWED4, 2222);
    // Even established traffic is not accepted by this policy; only the pin keeps the session.
    let config = lab.write_config("cut.toml", "[input]\npolicy = \"drop\"\n[output]\npolicy = \"drop\"\n[connections]\naccept_established = false\n");
    let out = palisade_from_session(&lab, &session, &["apply", "-c", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(echoes(&session, b"still here"));
    assert!(
        lab.connect(ALLOWED4, 2222).is_err(),
        "a new connection is dropped"
    );
}

/// Rule counters of filter_input by index, plus packets blocked per set.
fn counters(lab: &Lab) -> (Vec<(String, String, u64)>, Vec<u64>) {
    let v: serde_json::Value = serde_json::from_str(&lab.ok(&["status", "--json"])).unwrap();
    let rules = v["chains"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_string(),
                r["origin"].as_str().unwrap().to_string(),
                r["packets"].as_u64().unwrap(),
            )
        })
        .collect();
    let blocked = v["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["blocked_packets"].as_u64().unwrap())
        .collect();
    (rules, blocked)
}

/// What decided a packet, from counter deltas: a blocking set, the first deciding rule that
/// counted it, or the policy counter. Neighbour discovery and other background ICMPv6 is
/// decided by the essentials rules and left out.
fn kernel_decision(
    before: &(Vec<(String, String, u64)>, Vec<u64>),
    after: &(Vec<(String, String, u64)>, Vec<u64>),
) -> String {
    if before.1.iter().zip(&after.1).any(|(b, a)| a > b) {
        return "block".into();
    }
    let last = after.0.len() - 1;
    for (i, ((text, origin, b), (_, _, a))) in before.0.iter().zip(&after.0).enumerate() {
        let decides =
            text.ends_with("accept") || text.ends_with("drop") || text.ends_with("reject");
        if a > b && decides && origin != "icmp.essentials" {
            return format!("rule {i}");
        }
        if i == last && a > b {
            return "policy".into();
        }
    }
    "nothing counted".into()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.next() as usize % from.len()]
    }
}

/// The name of the lab's veth end in a namespace.
fn veth_name(ns: &palisade_lab::Netns) -> String {
    let links = ns
        .output("ip", &["-o", "link", "show", "type", "veth"])
        .unwrap();
    let name = links.split(':').nth(1).unwrap().trim();
    name.split('@').next().unwrap().to_string()
}

#[test]
fn explain_agrees_with_the_kernel_packet_by_packet() {
    let Some(lab) = Lab::new() else { return };
    let iface = veth_name(&lab.server);
    let client_if = veth_name(&lab.client);
    lab.client
        .ip(&["addr", "add", "198.18.0.4/24", "dev", &client_if])
        .unwrap();
    lab.client
        .ip(&[
            "-6",
            "addr",
            "add",
            "2001:db8:1::4/64",
            "dev",
            &client_if,
            "nodad",
        ])
        .unwrap();
    // The client answers nothing (but neighbour discovery), so only the packets sent here
    // reach the server's input.
    for cmd in [
        "add table inet quiet",
        "add chain inet quiet in { type filter hook input priority 0; policy drop; }",
        "add rule inet quiet in meta l4proto ipv6-icmp accept",
    ] {
        let args: Vec<&str> = cmd.split(' ').collect();
        assert!(Command::new("ip")
            .args(["netns", "exec", lab.client.name(), "nft"])
            .args(&args)
            .status()
            .unwrap()
            .success());
    }
    let config = lab.write_config(
        "diff.toml",
        &format!(
            r#"
[input]
policy = "drop"
allow = [
  {{ service = "ssh", from_set = "admins" }},
  {{ port = 8080, from = ["198.18.0.2", "2001:db8:1::3"] }},
  {{ port = "8000-8100", proto = ["tcp", "udp"], interface = "{iface}" }},
  {{ port = "9000-9100", interface = "nomatch0" }},
  "5300/udp",
  "ping",
  {{ port = 443, from = ["2001:db8:1::/64"] }},
]
[sets.admins]
action = "none"
elements = ["198.18.0.3", "2001:db8:1::2"]
[sets.trusted]
action = "accept"
elements = ["2001:db8:1::3"]
[sets.bad]
action = "drop"
elements = ["198.18.0.4", "2001:db8:1::4"]
"#
        ),
    );
    lab.ok(&["apply", "-c", &config]);
    let sources = [
        ALLOWED4,
        BLOCKED4,
        "198.18.0.4",
        ALLOWED6,
        BLOCKED6,
        "2001:db8:1::4",
    ];
    let ports = [22u16, 443, 5300, 8000, 8080, 8081, 8100, 8101, 9050, 53, 1];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for n in 0..150u16 {
        let src: IpAddr = rng.pick(&sources).parse().unwrap();
        let dst: IpAddr = if src.is_ipv4() { SERVER4 } else { SERVER6 }
            .parse()
            .unwrap();
        let proto = rng.pick(&["tcp", "udp", "icmp"]);
        let port = rng.pick(&ports);
        let before = counters(&lab);
        lab.client
            .run(move || match proto {
                "tcp" => {
                    let _ = palisade_lab::connect_from(
                        src,
                        SocketAddr::new(dst, port),
                        Duration::from_millis(1),
                    );
                }
                "udp" => {
                    let s = UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
                    s.send_to(b"x", SocketAddr::new(dst, port)).unwrap();
                }
                _ => {
                    ping(src, dst, n, None);
                }
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let after = counters(&lab);
        let kernel = kernel_decision(&before, &after);
        let icmp_proto = if src.is_ipv4() { "icmp" } else { "icmpv6" };
        let src_s = src.to_string();
        let dst_s = dst.to_string();
        let port_s = port.to_string();
        let mut args = vec![
            "explain", "--json", "--from", &src_s, "--to", &dst_s, "--iif", &iface,
        ];
        if proto == "icmp" {
            args.extend(["--proto", icmp_proto]);
        } else {
            args.extend(["--proto", proto, "--dport", &port_s]);
        }
        let out = lab.palisade(&args);
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let explained = match d["by"].as_str().unwrap() {
            "block_set" => "block".to_string(),
            "rule" => format!("rule {}", d["index"]),
            _ => "policy".into(),
        };
        assert_eq!(
            explained, kernel,
            "packet {n}: {proto} {src} -> {dst} port {port}: explain says {explained}, the kernel counted {kernel}"
        );
        checked += 1;
    }
    assert_eq!(checked, 150);
}

#[test]
fn check_warns_before_a_lockout_and_plan_shows_the_change() {
    let Some(lab) = Lab::new() else { return };
    let no_ssh = lab.write_config(
        "no-ssh.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\"]\n",
    );
    let out = lab.palisade(&["check", "-c", &no_ssh]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("lockout risk"),
        "{err}"
    );

    // Docker's tables are noticed, and its bridges keep forwarding.
    let docker = ["add", "table", "ip", "docker-bridges"];
    assert!(Command::new("ip")
        .args(["netns", "exec", lab.server.name(), "nft"])
        .args(docker)
        .status()
        .unwrap()
        .success());
    let err = String::from_utf8_lossy(&lab.palisade(&["check", "-c", &no_ssh]).stderr).into_owned();
    assert!(
        err.contains("docker-bridges (Docker)") && err.contains("stays accepted"),
        "{err}"
    );

    lab.ok(&["apply", "-c", &no_ssh]);
    assert_eq!(
        lab.ok(&["plan", "-c", &no_ssh]).lines().last(),
        Some("0 changes")
    );
    let more = lab.write_config("more.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\", \"8081/tcp\"]\n[sets.bad]\nelements = [\"192.0.2.0/24\"]\n",
    );
    let plan = lab.ok(&["plan", "-c", &more]);
    assert!(
        plan.contains("+ meta l4proto tcp th dport 8081 accept"),
        "{plan}"
    );
    assert!(plan.contains("set bad: created with 1 IPv4"), "{plan}");
    assert!(plan.ends_with("2 changes\n"), "{plan}");
    let nft = lab.nft_chain("filter_forward");
    assert!(
        nft.contains("iifname \"docker0\"") && nft.contains("oifname \"br-*\""),
        "{nft}"
    );
}

/// Whether a confirm timer of this lab's namespace is still waiting.
fn confirm_timer_running(lab: &Lab) -> bool {
    let needle = format!("--netns\0{}\0confirm-timer", lab.server.name());
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
    })
}
