//! Lines per second of fail2ban's own `sshd.conf` read by palisade-f2b, against
//! `fail2ban-regex` on the same generated log.

use std::io::Write;
use std::time::Instant;

use palisade_f2b::{load_filter, DirSource, FilterSpec};

/// A deterministic sshd log: brute force (invalid and valid users), scanners, normal
/// logins and other daemons' lines, in realistic proportions.
pub fn generate(lines: usize) -> String {
    let mut out = String::with_capacity(lines * 100);
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..lines {
        let r = next();
        let ip = format!(
            "{}.{}.{}.{}",
            1 + r % 223,
            (r >> 8) % 256,
            (r >> 16) % 256,
            1 + (r >> 24) % 254
        );
        let pid = 1000 + (r >> 32) % 60000;
        let port = 1024 + (r >> 40) % 60000;
        let (h, m, s) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
        let ts = format!("Mar  5 {h:02}:{m:02}:{s:02} host");
        let msg = match r % 20 {
            0..=5 => format!("sshd[{pid}]: Failed password for invalid user admin{} from {ip} port {port} ssh2", r % 97),
            6..=8 => format!("sshd[{pid}]: Failed password for root from {ip} port {port} ssh2"),
            9..=10 => format!("sshd[{pid}]: Invalid user oracle from {ip} port {port}"),
            11 => format!("sshd[{pid}]: Connection closed by authenticating user root {ip} port {port} [preauth]"),
            12 => format!("sshd[{pid}]: Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"),
            13 => format!("sshd[{pid}]: Accepted publickey for deploy from {ip} port {port} ssh2: ED25519 SHA256:abc"),
            14 => format!("sshd[{pid}]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"),
            15 => format!("sshd[{pid}]: Disconnected from user deploy {ip} port {port}"),
            16 => format!("CRON[{pid}]: pam_unix(cron:session): session closed for user root"),
            17 => format!("systemd[1]: Started session-{pid}.scope - Session {pid} of User deploy."),
            18 => format!("sshd[{pid}]: Connection closed by {ip} port {port} [preauth]"),
            _ => format!("kernel: [12345.678] audit: type=1400 audit({}.123:{pid}): apparmor=\"ALLOWED\"", 1_700_000_000 + i),
        };
        out.push_str(&ts);
        out.push(' ');
        out.push_str(&msg);
        out.push('\n');
    }
    out
}

pub fn run(lines: usize) {
    let text = generate(lines);
    let path = std::env::temp_dir().join(format!("palisade-f2b-bench-{lines}.log"));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write the generated log");
    let source = DirSource::new(crate::filter_dir());
    let filter = load_filter(&FilterSpec::named("sshd"), &source).expect("sshd.conf loads");
    // Best of three runs, each with a fresh matcher.
    let mut best = f64::MAX;
    let mut failures = 0;
    for _ in 0..3 {
        let mut m = filter.matcher();
        let start = Instant::now();
        failures = text
            .lines()
            .filter(|l| m.feed(l.as_bytes()).is_some())
            .count();
        best = best.min(start.elapsed().as_secs_f64());
    }
    let ours = lines as f64 / best;
    println!(
        "== bench: {lines} generated sshd lines ({})",
        path.display()
    );
    println!("palisade-f2b, fail2ban's sshd.conf: {failures} failures, {best:.3} s, {ours:.0} lines/s (best of 3, one core)");
    let start = Instant::now();
    let out = std::process::Command::new("fail2ban-regex")
        .args(["-r", "--no-check-all", "-o", "ip"])
        .arg(&path)
        .arg(crate::filter_dir().join("sshd.conf"))
        .output();
    let secs = start.elapsed().as_secs_f64();
    match out {
        Ok(out) if out.status.success() => {
            let theirs = String::from_utf8_lossy(&out.stdout).lines().count();
            let rate = lines as f64 / secs;
            println!("fail2ban-regex: {theirs} failures, {secs:.3} s, {rate:.0} lines/s");
            println!("ratio: palisade-f2b is {:.1}x fail2ban-regex", ours / rate);
        }
        Ok(out) => println!(
            "fail2ban-regex failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("fail2ban-regex not run: {e}"),
    }
    let _ = std::fs::remove_file(&path);
}
