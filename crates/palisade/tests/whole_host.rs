//! Blocking that covers the whole host (issue 13), against the real kernel: a client, the host,
//! a "container" behind a DNAT rule (as Docker publishes ports) and a routed network behind
//! the host, over IPv4 and IPv6. Blocked sources reach none of them; sets on destinations
//! stop the host's and the container's connections; the allowlist always wins; the admin's
//! session survives its own address in a drop set; `explain` agrees with the kernel's
//! counters for forwarded and DNATed packets too.

use palisade_lab::{eventually, Netns};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::time::Duration;

/// Client sources: blocked, allowlisted inside the blocked network, and clean.
const BLOCKED: [&str; 2] = ["10.231.0.2", "fd00:231::2"];
const ALLOWED_INSIDE: [&str; 2] = ["10.231.0.4", "fd00:231::4"];
const CLEAN: [&str; 2] = ["10.231.0.130", "fd00:231::82"];
/// The host, on the client's side.
const HOST: [&str; 2] = ["10.231.0.1", "fd00:231::1"];
/// The container, and the routed network's hosts (the second one allowlisted).
const CONTAINER: [&str; 2] = ["172.17.0.2", "fd00:17::2"];
const ROUTED: [&str; 2] = ["10.232.0.2", "fd00:232::2"];
const ROUTED_ALLOWED: [&str; 2] = ["10.232.0.3", "fd00:232::3"];
/// The host's own service, the published container port, the container's real port, the
/// routed network's service, and an echo service for the admin's "SSH session".
const HOST_PORT: u16 = 8000;
const PUBLISHED: u16 = 8080;
const CONTAINER_PORT: u16 = 80;
const ROUTED_PORT: u16 = 9000;
const ECHO_PORT: u16 = 8001;

struct WholeHost {
    client: Netns,
    host: Netns,
    container: Netns,
    routed: Netns,
    state: std::path::PathBuf,
}

impl Drop for WholeHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// A service that answers "ok" and closes, on every address of `ns`.
fn serve(ns: &Netns, port: u16) {
    let l = ns
        .run(move || TcpListener::bind(("::", port)).unwrap())
        .unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(b"ok");
        }
    });
}

fn v(i: usize, pair: [&'static str; 2]) -> &'static str {
    pair[i]
}

impl WholeHost {
    fn new() -> Option<Self> {
        if !palisade_lab::require() {
            return None;
        }
        let client = Netns::create("cli").unwrap();
        let host = Netns::create("host").unwrap();
        let container = Netns::create("ctr").unwrap();
        let routed = Netns::create("rtr").unwrap();
        palisade_lab::link(
            &host,
            &["10.231.0.1/24", "fd00:231::1/64"],
            &client,
            &[
                "10.231.0.2/24",
                "10.231.0.4/24",
                "10.231.0.130/24",
                "fd00:231::2/64",
                "fd00:231::4/64",
                "fd00:231::82/64",
            ],
        )
        .unwrap();
        palisade_lab::link(
            &host,
            &["172.17.0.1/24", "fd00:17::1/64"],
            &container,
            &["172.17.0.2/24", "fd00:17::2/64"],
        )
        .unwrap();
        palisade_lab::link(
            &host,
            &["10.232.0.1/24", "fd00:232::1/64"],
            &routed,
            &[
                "10.232.0.2/24",
                "10.232.0.3/24",
                "fd00:232::2/64",
                "fd00:232::3/64",
            ],
        )
        .unwrap();
        for (ns, gw4, gw6) in [
            (&client, "10.231.0.1", "fd00:231::1"),
            (&container, "172.17.0.1", "fd00:17::1"),
            (&routed, "10.232.0.1", "fd00:232::1"),
        ] {
            ns.ip(&["route", "add", "default", "via", gw4]).unwrap();
            ns.ip(&["-6", "route", "add", "default", "via", gw6])
                .unwrap();
        }
        let sysctl = host
            .command("sysctl")
            .args([
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ])
            .status()
            .unwrap();
        assert!(sysctl.success());
        // Docker's way of publishing a port: DNAT at prerouting, in a table of its own.
        nft(
            &host,
            "table inet dockerish {\n\
               chain pre { type nat hook prerouting priority dstnat; policy accept;\n\
                 ip daddr 10.231.0.1 tcp dport 8080 dnat ip to 172.17.0.2:80\n\
                 ip6 daddr fd00:231::1 tcp dport 8080 dnat ip6 to [fd00:17::2]:80\n }\n\
             }\n",
        );
        serve(&host, HOST_PORT);
        palisade_lab::echo_service(&host, ECHO_PORT).unwrap();
        serve(&container, CONTAINER_PORT);
        serve(&routed, ROUTED_PORT);
        let state = std::env::temp_dir().join(format!("palisade-state-{}", host.name()));
        Some(Self {
            client,
            host,
            container,
            routed,
            state,
        })
    }

    fn palisade_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
        cmd.env("PALISADE_STATE_DIR", &self.state)
            .env_remove("SSH_CONNECTION")
            .arg("--netns")
            .arg(self.host.name())
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.palisade_env(args, &[]);
        assert!(
            out.status.success(),
            "palisade {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::create_dir_all(&self.state).unwrap();
        let p = self.state.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

/// Load an `nft -f` script into a namespace (the reference tool, in tests only).
fn nft(ns: &Netns, script: &str) {
    let mut child = ns
        .command("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft -f: {script}");
}

/// A TCP exchange from `source` in `ns` to `dest:port`: the reply, or the error.
fn tcp(ns: &Netns, source: &str, dest: &str, port: u16) -> std::io::Result<String> {
    let source: IpAddr = source.parse().unwrap();
    let dest: IpAddr = dest.parse().unwrap();
    ns.run(move || {
        let s = palisade_lab::connect_from(
            source,
            SocketAddr::new(dest, port),
            Duration::from_millis(1200),
        )?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut reply = String::new();
        (&s).read_to_string(&mut reply)?;
        Ok(reply)
    })
    .unwrap()
}

fn reaches(ns: &Netns, source: &str, dest: &str, port: u16) -> bool {
    tcp(ns, source, dest, port).is_ok_and(|r| r == "ok")
}

#[test]
fn blocked_sources_reach_neither_the_host_nor_the_container_nor_the_routed_network() {
    let Some(lab) = WholeHost::new() else { return };
    let docker_before = lab
        .host
        .output("nft", &["list", "table", "inet", "dockerish"])
        .unwrap();
    lab.ok(&["set", "create", "bl", "--block", "drop"]);
    lab.ok(&["set", "add", "bl", "10.231.0.0/25", "fd00:231::/121"]);
    lab.ok(&["block", "10.231.0.2", "fd00:231::2"]);
    lab.ok(&["set", "create", "trusted", "--allowlist"]);
    lab.ok(&[
        "set",
        "add",
        "trusted",
        ALLOWED_INSIDE[0],
        ALLOWED_INSIDE[1],
    ]);
    for i in 0..2 {
        let (blocked, inside, clean) = (v(i, BLOCKED), v(i, ALLOWED_INSIDE), v(i, CLEAN));
        let (host, routed) = (v(i, HOST), v(i, ROUTED));
        for (what, dest, port) in [
            ("the host", host, HOST_PORT),
            ("the published container port", host, PUBLISHED),
            ("the routed network", routed, ROUTED_PORT),
        ] {
            assert!(
                !reaches(&lab.client, blocked, dest, port),
                "{blocked} reached {what}"
            );
            assert!(
                reaches(&lab.client, inside, dest, port),
                "allowlisted {inside} must reach {what}"
            );
            assert!(
                reaches(&lab.client, clean, dest, port),
                "{clean} must reach {what}"
            );
        }
    }
    let sets: serde_json::Value =
        serde_json::from_str(&lab.ok(&["set", "list", "--json"])).unwrap();
    let dropped = sets
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "bl" || s["name"] == "blocklist")
        .map(|s| s["blocked_packets"].as_u64().unwrap())
        .sum::<u64>();
    assert!(dropped > 0, "the block rules counted the drops: {sets}");
    assert_eq!(
        lab.host
            .output("nft", &["list", "table", "inet", "dockerish"])
            .unwrap(),
        docker_before,
        "Docker's table is never touched"
    );
}

#[test]
fn a_reject_set_answers_at_once_on_input_and_forward() {
    let Some(lab) = WholeHost::new() else { return };
    lab.ok(&["set", "create", "rj", "--block", "reject"]);
    lab.ok(&["set", "add", "rj", BLOCKED[0], BLOCKED[1]]);
    for i in 0..2 {
        for (dest, port) in [
            (v(i, HOST), HOST_PORT),
            (v(i, HOST), PUBLISHED),
            (v(i, ROUTED), ROUTED_PORT),
        ] {
            let e = tcp(&lab.client, v(i, BLOCKED), dest, port).unwrap_err();
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{dest}:{port}: {e}"
            );
        }
        assert!(reaches(&lab.client, v(i, CLEAN), v(i, HOST), HOST_PORT));
    }
}

#[test]
fn destination_sets_stop_the_hosts_and_the_containers_connections() {
    let Some(lab) = WholeHost::new() else { return };
    lab.ok(&[
        "set",
        "create",
        "c2",
        "--block",
        "drop",
        "--direction",
        "out",
    ]);
    lab.ok(&["set", "add", "c2", "10.232.0.0/24", "fd00:232::/64"]);
    lab.ok(&[
        "set",
        "create",
        "trusted",
        "--allowlist",
        "--direction",
        "out",
    ]);
    lab.ok(&[
        "set",
        "add",
        "trusted",
        ROUTED_ALLOWED[0],
        ROUTED_ALLOWED[1],
    ]);
    for i in 0..2 {
        let (routed, allowed) = (v(i, ROUTED), v(i, ROUTED_ALLOWED));
        let from = [
            ("the host", &lab.host, v(i, ["10.232.0.1", "fd00:232::1"])),
            ("the container", &lab.container, v(i, CONTAINER)),
            ("a forwarded client", &lab.client, v(i, CLEAN)),
        ];
        for (who, ns, src) in from {
            assert!(
                !reaches(ns, src, routed, ROUTED_PORT),
                "{who} reached a listed destination"
            );
            assert!(
                reaches(ns, src, allowed, ROUTED_PORT),
                "{who} must reach the allowlisted destination"
            );
        }
        // It stops every packet to those addresses: replies to connections they open too.
        assert!(!reaches(
            &lab.routed,
            routed,
            v(i, ["10.232.0.1", "fd00:232::1"]),
            HOST_PORT
        ));
    }
}

#[test]
fn the_admins_session_survives_its_address_in_a_drop_set_and_check_warned() {
    let Some(lab) = WholeHost::new() else { return };
    let (source, host) = (BLOCKED[0], HOST[0]);
    let (src, dst): (IpAddr, IpAddr) = (source.parse().unwrap(), host.parse().unwrap());
    let session = lab
        .client
        .run(move || {
            palisade_lab::connect_from(src, SocketAddr::new(dst, ECHO_PORT), Duration::from_secs(2))
                .unwrap()
        })
        .unwrap();
    session
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let ssh = format!(
        "{source} {} {host} {ECHO_PORT}",
        session.local_addr().unwrap().port()
    );
    let env = [("SSH_CONNECTION", ssh.as_str())];
    let config = lab.write(
        "p.toml",
        &format!("[input]\npolicy = \"accept\"\n[sets.bl]\nelements = [\"{source}\"]\n"),
    );
    let check = lab.palisade_env(&["check", "-c", &config], &env);
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        said.contains("set bl holds 10.231.0.2") && said.contains("SSH session"),
        "check warns before the apply: {said}"
    );
    let out = lab.palisade_env(&["apply", "-c", &config], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = &session;
    for round in 0..3 {
        s.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("round {round}: the session was cut: {e}"));
        assert_eq!(&buf, b"ping");
    }
    assert!(
        !reaches(&lab.client, source, host, HOST_PORT),
        "a new connection is dropped"
    );
    // And from the command line: a set created and filled over the session keeps it too.
    let out = lab.palisade_env(&["block", CLEAN[0]], &env);
    assert!(out.status.success());
    s.write_all(b"pong").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
}

#[test]
fn a_flood_ban_never_holds_the_allowlist_back() {
    let Some(lab) = WholeHost::new() else { return };
    let config = lab.write(
        "flood.toml",
        &format!(
            "[input]\npolicy = \"accept\"\nallow = [{{ port = {HOST_PORT}, limit = \"5/second burst 5\", over = \"ban\", ban_for = \"1m\" }}]\n\
             [allowlist]\nnetworks = [\"{}\", \"{}\"]\n",
            ALLOWED_INSIDE[0], ALLOWED_INSIDE[1]
        ),
    );
    lab.ok(&["apply", "-c", &config]);
    for source in [ALLOWED_INSIDE[0], CLEAN[0]] {
        for _ in 0..20 {
            let _ = tcp(&lab.client, source, HOST[0], HOST_PORT);
        }
    }
    assert!(
        eventually(Duration::from_secs(10), || reaches(
            &lab.client,
            ALLOWED_INSIDE[0],
            HOST[0],
            HOST_PORT
        )),
        "the allowlisted flooder is served again once its rate allows"
    );
    assert!(
        !reaches(&lab.client, CLEAN[0], HOST[0], HOST_PORT),
        "the other flooder is banned"
    );
}

/// One packet of the differential test: who sends, from where, to where (as sent, and as
/// `explain` sees it after DNAT), and the direction it takes through the host.
struct Probe {
    from: &'static str,
    src: &'static str,
    dst: &'static str,
    port: u16,
    seen_dst: &'static str,
    seen_port: u16,
    direction: &'static str,
}

#[test]
fn explain_agrees_with_the_kernel_on_forwarded_and_dnated_packets() {
    let Some(lab) = WholeHost::new() else { return };
    lab.ok(&["set", "create", "bl", "--block", "drop"]);
    lab.ok(&["set", "add", "bl", "10.231.0.0/25", "fd00:231::/121"]);
    lab.ok(&["set", "create", "rj", "--block", "reject"]);
    lab.ok(&["set", "add", "rj", CLEAN[0]]);
    lab.ok(&[
        "set",
        "create",
        "c2",
        "--block",
        "drop",
        "--direction",
        "out",
    ]);
    lab.ok(&["set", "add", "c2", ROUTED[0], ROUTED[1]]);
    lab.ok(&[
        "set",
        "create",
        "trusted",
        "--allowlist",
        "--direction",
        "both",
    ]);
    lab.ok(&[
        "set",
        "add",
        "trusted",
        ALLOWED_INSIDE[0],
        ALLOWED_INSIDE[1],
    ]);
    let config = lab.write(
        "open.toml",
        "[input]\npolicy = \"accept\"\n[forward]\npolicy = \"accept\"\n[output]\npolicy = \"accept\"\n",
    );
    let mut probes = Vec::new();
    for i in 0..2 {
        for src in [v(i, BLOCKED), v(i, ALLOWED_INSIDE), v(i, CLEAN)] {
            probes.push(Probe {
                from: "client",
                src,
                dst: v(i, HOST),
                port: HOST_PORT,
                seen_dst: v(i, HOST),
                seen_port: HOST_PORT,
                direction: "input",
            });
            probes.push(Probe {
                from: "client",
                src,
                dst: v(i, HOST),
                port: PUBLISHED,
                seen_dst: v(i, CONTAINER),
                seen_port: CONTAINER_PORT,
                direction: "forward",
            });
            probes.push(Probe {
                from: "client",
                src,
                dst: v(i, ROUTED),
                port: ROUTED_PORT,
                seen_dst: v(i, ROUTED),
                seen_port: ROUTED_PORT,
                direction: "forward",
            });
        }
        probes.push(Probe {
            from: "container",
            src: v(i, CONTAINER),
            dst: v(i, ROUTED),
            port: ROUTED_PORT,
            seen_dst: v(i, ROUTED),
            seen_port: ROUTED_PORT,
            direction: "forward",
        });
        probes.push(Probe {
            from: "container",
            src: v(i, CONTAINER),
            dst: v(i, ROUTED_ALLOWED),
            port: ROUTED_PORT,
            seen_dst: v(i, ROUTED_ALLOWED),
            seen_port: ROUTED_PORT,
            direction: "forward",
        });
    }
    let counters = || -> std::collections::BTreeMap<String, u64> {
        let sets: serde_json::Value =
            serde_json::from_str(&lab.ok(&["set", "list", "--json"])).unwrap();
        sets.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["blocked_packets"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    for p in &probes {
        let before = counters();
        let ns = if p.from == "client" {
            &lab.client
        } else {
            &lab.container
        };
        let _ = tcp(ns, p.src, p.dst, p.port);
        let after = counters();
        let moved: Vec<&String> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        let kernel = moved.first().map_or("none".to_string(), |s| s.to_string());
        let port = p.seen_port.to_string();
        // `explain` exits 1 for a packet it says is dropped.
        let out = lab.palisade_env(
            &[
                "explain",
                "--json",
                "-c",
                &config,
                "--from",
                p.src,
                "--to",
                p.seen_dst,
                "--dport",
                &port,
                "--direction",
                p.direction,
            ],
            &[],
        );
        let d: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let explained = match d["by"].as_str().unwrap() {
            "block_set" => d["set"].as_str().unwrap().to_string(),
            _ => "none".to_string(),
        };
        assert_eq!(
            explained, kernel,
            "{} {} -> {}:{} ({}): explain says {explained}, the kernel counted {kernel} ({moved:?})",
            p.from, p.src, p.dst, p.port, p.direction
        );
    }
}
