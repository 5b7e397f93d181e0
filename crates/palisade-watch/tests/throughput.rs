//! How many lines per second the sshd jail's matcher gets through, on a generated auth.log
//! that looks like a real one: mostly cron, sudo, logind and successful sessions, with a
//! share of failures. Ignored by default (timing belongs in release builds):
//! `cargo test --release -p palisade-watch --test throughput -- --ignored --nocapture`.
//! The formal benchmark is `palisade-bench`'s.

use std::time::Instant;

use palisade_core::policy::Services;
use palisade_watch::{parse_watch_config, MemorySource};

/// The next step of a deterministic generator (xorshift), as a public-looking address.
fn next_address(x: &mut u32) -> String {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    format!(
        "{}.{}.{}.{}",
        1 + *x % 223,
        (*x >> 8) % 256,
        (*x >> 16) % 256,
        1 + (*x >> 24) % 254
    )
}

/// A deterministic mixed auth.log of `n` lines; about one line in eight is a failure.
fn auth_log(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut x: u32 = 0x9e37_79b9;
    for i in 0..n {
        let ip = next_address(&mut x);
        let pid = 1000 + (x % 60000);
        let ts = format!(
            "Mar {:2} {:02}:{:02}:{:02}",
            1 + i % 28,
            i % 24,
            i % 60,
            (i / 7) % 60
        );
        let line = match x % 16 {
            0 => format!("{ts} web1 sshd[{pid}]: Failed password for root from {ip} port {} ssh2", 1024 + x % 60000),
            1 => format!("{ts} web1 sshd[{pid}]: Invalid user admin{} from {ip} port {}", x % 97, 1024 + x % 60000),
            2 => format!("{ts} web1 sshd[{pid}]: Accepted publickey for deploy from {ip} port {} ssh2: ED25519 SHA256:Hx2m0k7yTq9ZVd3pG1fXcL8bN5aRwUeJtY6sKoQiMvA", 1024 + x % 60000),
            3 => format!("{ts} web1 sshd[{pid}]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"),
            4 => format!("{ts} web1 sshd[{pid}]: Received disconnect from {ip} port {}:11: disconnected by user", 1024 + x % 60000),
            5 => format!("{ts} web1 sshd[{pid}]: Disconnected from user deploy {ip} port {}", 1024 + x % 60000),
            6 | 7 => format!("{ts} web1 CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"),
            8 | 9 => format!("{ts} web1 CRON[{pid}]: pam_unix(cron:session): session closed for user root"),
            10 => format!("{ts} web1 sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"),
            11 => format!("{ts} web1 systemd-logind[612]: New session {} of user deploy.", x % 9999),
            12 => format!("{ts} web1 systemd-logind[612]: Session {} logged out. Waiting for processes to exit.", x % 9999),
            13 => format!("{ts} web1 sshd[{pid}]: Connection closed by {ip} port {} [preauth]", 1024 + x % 60000),
            14 => format!("{ts} web1 sshd[{pid}]: pam_unix(sshd:session): session closed for user deploy"),
            _ => format!("{ts} web1 systemd[1]: Started session-{}.scope - Session {} of User deploy.", x % 9999, x % 9999),
        };
        out.push(line);
    }
    out
}

/// What Debian's sshd (UsePAM yes, OpenSSH 9) writes for `n` brute-force connections of
/// one password each, among sessions of a legitimate user: PAM's line, sshd's, the bot's
/// disconnect, sshd's end of the connection.
fn pam_auth_log(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n * 6);
    let mut x: u32 = 0x2545_f491;
    for i in 0..n {
        let ip = next_address(&mut x);
        let pid = 1000 + (x % 60000);
        let port = 1024 + (x >> 3) % 60000;
        let ts = format!(
            "Mar {:2} {:02}:{:02}:{:02} web1 sshd[{pid}]:",
            1 + i % 28,
            i % 24,
            i % 60,
            (i / 7) % 60
        );
        if x % 4 == 0 {
            out.push(format!(
                "{ts} Invalid user admin{} from {ip} port {port}",
                x % 97
            ));
            out.push(format!(
                "{ts} pam_unix(sshd:auth): check pass; user unknown"
            ));
            out.push(format!("{ts} pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}"));
            out.push(format!(
                "{ts} Failed password for invalid user admin{} from {ip} port {port} ssh2",
                x % 97
            ));
            out.push(format!(
                "{ts} Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"
            ));
            out.push(format!(
                "{ts} Disconnected from invalid user admin{} {ip} port {port} [preauth]",
                x % 97
            ));
        } else if x % 4 == 1 {
            out.push(format!("{ts} pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"));
            out.push(format!(
                "{ts} Failed password for root from {ip} port {port} ssh2"
            ));
            out.push(format!(
                "{ts} Connection closed by authenticating user root {ip} port {port} [preauth]"
            ));
        } else {
            out.push(format!("{ts} Accepted publickey for deploy from 10.0.0.7 port {port} ssh2: ED25519 SHA256:Hx2m0k7yTq9ZVd3pG1fXcL8bN5aRwUeJtY6sKoQiMvA"));
            out.push(format!(
                "{ts} pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"
            ));
            out.push(format!(
                "Mar {:2} 12:00:00 web1 systemd-logind[612]: New session {} of user deploy.",
                1 + i % 28,
                x % 9999
            ));
            out.push(format!(
                "{ts} Received disconnect from 10.0.0.7 port {port}:11: disconnected by user"
            ));
            out.push(format!(
                "{ts} Disconnected from user deploy 10.0.0.7 port {port}"
            ));
            out.push(format!(
                "{ts} pam_unix(sshd:session): session closed for user deploy"
            ));
        }
    }
    out
}

#[test]
#[ignore]
fn sshd_lines_per_second() {
    // A smaller run (for profilers): PALISADE_THROUGHPUT_SCALE=0.01.
    let scale: f64 = std::env::var("PALISADE_THROUGHPUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let n = |lines: f64| (lines * scale) as usize;
    measure("mixed auth.log", auth_log(n(2_000_000.0)));
    measure(
        "UsePAM auth.log, half of it brute force",
        pam_auth_log(n(400_000.0)),
    );
    // The worst case: every line a failure, so every line runs a capturing regex.
    let failures: Vec<String> = auth_log(n(4_000_000.0))
        .into_iter()
        .filter(|l| l.contains("Failed password") || l.contains("Invalid user"))
        .collect();
    measure("failures only", failures);
}

fn measure(what: &str, lines: Vec<String>) {
    let no_filters = |_: &std::path::Path| Box::new(MemorySource::new()) as _;
    let cfg =
        parse_watch_config("t.toml", "[jails.sshd]\n", &Services::new(""), &no_filters).unwrap();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut best = f64::MAX;
    let mut hits = 0;
    for _ in 0..3 {
        // The daemon's way: one stateful matcher per source, lines in order.
        let mut m = cfg.jails[0].matcher();
        let start = Instant::now();
        hits = 0;
        for l in &lines {
            m.feed_each(l.as_bytes(), 1_700_000_000, &mut |_| hits += 1);
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let rate = lines.len() as f64 / best;
    println!(
        "sshd, {what}: {} lines ({} MB, {} matched) in {:.3} s: {:.0} lines/s, {:.0} MB/s",
        lines.len(),
        bytes / 1_000_000,
        hits,
        best,
        rate,
        bytes as f64 / best / 1e6
    );
    assert!(hits > lines.len() / 10);
}
