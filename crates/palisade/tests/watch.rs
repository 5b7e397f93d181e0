//! The log watcher against real programs and the real kernel: a real sshd in the lab's server
//! namespace logging to a file, failed password logins from the client namespace, and the ban
//! that follows; restarts keep bans with their remaining time.

mod common;
#[path = "watch_support/mod.rs"]
mod watch_support;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use watch_support::*;

/// sshd, run by the test in the server namespace with a configuration and host key of its
/// own, logging to a file; killed on drop.
struct Sshd {
    child: Child,
    log: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd(lab: &Lab, dir: &Path) -> Sshd {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let key = dir.join("hostkey");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client, scripts/deps.sh)");
    assert!(status.success());
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port 22\nListenAddress 0.0.0.0\nListenAddress ::\nHostKey {}\nPidFile {}/sshd.pid\n\
             PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\n\
             PermitRootLogin no\nMaxAuthTries 3\nLogLevel INFO\n",
            key.display(),
            dir.display()
        ),
    )
    .unwrap();
    let log = dir.join("sshd.log");
    std::fs::write(&log, "").unwrap();
    let child = lab
        .server
        .command("/usr/sbin/sshd")
        .arg("-D")
        .arg("-f")
        .arg(&config)
        .arg("-E")
        .arg(&log)
        .stdin(Stdio::null())
        .spawn()
        .expect("sshd (openssh-server, scripts/deps.sh)");
    let s = Sshd { child, log };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !tcp_ok(lab, ALLOWED4, 22) {
        assert!(Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// Does a TCP connection from `source` to the server's `port` get through? (sshd talks first
/// and waits, so the lab's read-a-reply probe does not fit.)
fn tcp_ok(lab: &Lab, source: &str, port: u16) -> bool {
    let source: std::net::IpAddr = source.parse().unwrap();
    let server: std::net::IpAddr = if source.is_ipv4() { SERVER4 } else { SERVER6 }
        .parse()
        .unwrap();
    lab.client
        .run(move || {
            palisade_lab::connect_from(
                source,
                std::net::SocketAddr::new(server, port),
                Duration::from_millis(800),
            )
            .is_ok()
        })
        .unwrap()
}

/// One password login with a wrong password, from `source` in the client namespace.
fn failed_login(lab: &Lab, dir: &Path, source: &str) {
    let askpass = dir.join("askpass");
    if !askpass.exists() {
        std::fs::write(&askpass, "#!/bin/sh\necho wrong-password\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _ = Command::new("setsid")
        .args(["-w", "ip", "netns", "exec", lab.client.name(), "ssh"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "ConnectTimeout=2",
            "-o",
            "LogLevel=ERROR",
            "-b",
            source,
        ])
        .arg(format!("nobody@{SERVER4}"))
        .arg("true")
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", "none")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[test]
fn brute_forcing_sshd_gets_the_client_banned_until_bantime() {
    let Some(lab) = Lab::new() else { return };
    let dir = lab.state.join("sshd");
    let sshd = sshd(&lab, &dir);
    let config = lab.state.join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[jails.sshd]\nfile = \"{}\"\nmaxretry = 3\nfindtime = \"10m\"\nbantime = \"4s\"\n",
            sshd.log.display()
        ),
    )
    .unwrap();
    let check = lab.ok(&["check", "-c", config.to_str().unwrap()]);
    assert!(check.contains("1 jails"), "{check}");
    let w = Watcher::start(&lab, &config);

    let mut logins = 0;
    while !banned(&lab, ALLOWED4) {
        assert!(
            logins < 3,
            "not banned after {logins} failed logins (maxretry 3)"
        );
        failed_login(&lab, &dir, ALLOWED4);
        logins += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(&sshd.log).unwrap();
    assert!(log.contains("Failed password"), "{log}");
    assert!(
        !tcp_ok(&lab, ALLOWED4, 22),
        "the banned client's next connection fails"
    );
    assert!(tcp_ok(&lab, BLOCKED4, 22), "other clients still connect");
    let bans = lab.ok(&["bans", "--json", "-c", config.to_str().unwrap()]);
    assert!(bans.contains(ALLOWED4) && bans.contains("sshd"), "{bans}");
    assert!(
        palisade_lab::eventually(Duration::from_secs(15), || !banned(&lab, ALLOWED4)),
        "the kernel lifted the ban after bantime"
    );
    assert!(tcp_ok(&lab, ALLOWED4, 22), "and the client connects again");
    drop(w);
}

#[test]
fn bans_survive_a_restart_with_their_remaining_time() {
    let Some(lab) = Lab::new() else { return };
    let (log, config) = file_jail(&lab, "maxretry = 2\nbantime = \"1h\"\n");
    let w = Watcher::start(&lab, &config);
    fail(&log, "203.0.113.5", 2);
    fail(&log, "203.0.113.6", 2);
    fail(&log, "2001:db8::bad", 1);
    assert!(
        palisade_lab::eventually(Duration::from_secs(3), || banned(&lab, "203.0.113.5")
            && banned(&lab, "203.0.113.6")),
        "not banned"
    );
    w.stop(); // SIGTERM: state saved
              // While it is down, one banned address becomes the host's own: not restored.
    lab.server
        .ip(&["addr", "add", "203.0.113.6/32", "dev", "lo"])
        .unwrap();
    // As after a reboot: the set is emptied, then the watcher starts again.
    lab.ok(&["set", "flush", "bans"]);
    assert!(!banned(&lab, "203.0.113.5"));
    let w = Watcher::start(&lab, &config);
    assert!(banned(&lab, "203.0.113.5"), "restored by the restart");
    assert!(
        !banned(&lab, "203.0.113.6"),
        "the host's own address restored"
    );
    let listing = lab
        .server
        .output("nft", &["list", "set", "inet", "palisade", "bans_v4_addrs"])
        .unwrap();
    assert!(
        listing.contains("expires 59m") || listing.contains("expires 58m"),
        "{listing}"
    );
    // The IPv6 source's one failure before the restart is not kept (only bans and ban counts
    // are); after the restart, maxretry new failures ban it, IPv6 as IPv4.
    fail(&log, "2001:db8::bad", 2);
    assert!(
        palisade_lab::eventually(Duration::from_secs(3), || banned(&lab, "2001:db8::bad")),
        "IPv6 source not banned"
    );
    lab.ok(&["unban", "203.0.113.5", "-c", config.to_str().unwrap()]);
    assert!(!banned(&lab, "203.0.113.5"));
    drop(w);
}

/// A global address of the namespace this test runs in (not the lab's), if it has one.
fn test_namespace_address() -> Option<String> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let word = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)?;
    Some(word.split('/').next()?.to_string())
}

#[test]
fn the_namespaces_own_addresses_are_never_banned_as_they_come_and_go() {
    let Some(lab) = Lab::new() else { return };
    let (log, config) = file_jail(&lab, "maxretry = 2\nbantime = \"1h\"\n");
    let w = Watcher::start(&lab, &config);
    // A banned address that becomes the host's loses its ban.
    fail(&log, "198.51.100.30", 2);
    assert!(
        palisade_lab::eventually(Duration::from_secs(5), || banned(&lab, "198.51.100.30")),
        "198.51.100.30 was not banned"
    );
    lab.server
        .ip(&["addr", "add", "198.51.100.30/32", "dev", "lo"])
        .unwrap();
    assert!(
        palisade_lab::eventually(Duration::from_secs(5), || !banned(&lab, "198.51.100.30")),
        "198.51.100.30 became the host's own address and is still banned"
    );
    // The namespace's addresses at start: the lab's, not those of the namespace palisade
    // itself runs in.
    let mut own = vec![SERVER4.to_string(), SERVER6.to_string()];
    // Addresses added after the watcher started.
    let mut announced = palisade_nft::HostAddrs::open_in_netns(&lab.server.path()).unwrap();
    lab.server
        .ip(&["addr", "add", "198.51.100.10/32", "dev", "lo"])
        .unwrap();
    lab.server
        .ip(&["addr", "add", "2001:db8:99::10/128", "dev", "lo", "nodad"])
        .unwrap();
    // The kernel announces an IPv6 address from a work queue just after `ip` returns (an
    // IPv4 one before): the lines come once it did.
    assert!(palisade_lab::eventually(Duration::from_secs(2), || {
        announced.refresh().unwrap();
        announced
            .addresses()
            .contains(&"2001:db8:99::10".parse().unwrap())
    }));
    own.extend(["198.51.100.10".to_string(), "2001:db8:99::10".to_string()]);
    for a in &own {
        fail(&log, a, 3);
    }
    // An address of the namespace the test (and palisade) runs in is not the lab's own.
    let elsewhere = test_namespace_address();
    if let Some(a) = &elsewhere {
        fail(&log, a, 2);
    }
    // The control comes last in the log: once it is banned, every line before it was read
    // and every ban they made is in the kernel.
    fail(&log, "203.0.113.20", 2);
    assert!(
        palisade_lab::eventually(Duration::from_secs(5), || banned(&lab, "203.0.113.20")),
        "the control address was not banned"
    );
    for a in &own {
        assert!(
            !banned(&lab, a),
            "{a}, the namespace's own address, was banned"
        );
    }
    match &elsewhere {
        Some(a) => assert!(banned(&lab, a), "{a} is not the lab namespace's: bannable"),
        None => eprintln!("(the test's namespace has no global IPv4 address to check)"),
    }
    // An address removed from the namespace is a stranger again.
    lab.server
        .ip(&["addr", "del", "198.51.100.10/32", "dev", "lo"])
        .unwrap();
    fail(&log, "198.51.100.10", 2);
    assert!(
        palisade_lab::eventually(Duration::from_secs(5), || banned(&lab, "198.51.100.10")),
        "198.51.100.10, no longer the namespace's, was not banned"
    );
    drop(w);
}
