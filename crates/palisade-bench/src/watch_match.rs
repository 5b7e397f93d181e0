//! `palisade-bench watch-match` (and the first part of `watch`): lines per second of a
//! generated sshd log matched on one core, in process, through the two ways a jail can
//! read sshd's lines, against `fail2ban-regex` on the same file in the same run:
//!
//! - the built-in `sshd` jail (palisade's own rules, connections followed by process id);
//! - `filter = "sshd"`: fail2ban's own `sshd.conf` read by palisade-f2b, as an admin who
//!   keeps their fail2ban filters gets it (needs `/etc/fail2ban/filter.d`, from Debian's
//!   `fail2ban` package);
//! - `fail2ban-regex FILE sshd`, fail2ban's own tool with the same filter.
//!
//! Both palisade jails go through [`palisade_watch::JailMatcher`], the daemon's stateful
//! matcher, so multi-line bookkeeping is part of the cost measured.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use palisade_core::policy::Services;
use palisade_watch::{filter_files_on_disk, parse_watch_config};

use crate::Args;

/// A deterministic generator, so every run reads the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Attacker `i`: distinct public-looking addresses in 100.64.0.0/10 and beyond.
pub fn attacker(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x6440_0000u32 + i * 3 + 1)
}

/// A realistic auth.log: mostly sessions, some failures from a few thousand addresses.
/// Returns the number of failure lines.
fn generate_log(path: &Path, lines: usize) -> std::io::Result<usize> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut failures = 0;
    for n in 0..lines {
        let r = rng.next();
        let pid = 1000 + (r % 60000) as u32;
        let host = attacker((r >> 20) as u32 % 5000);
        let port = 1024 + (r >> 40) as u32 % 60000;
        let line = match r % 10 {
            0 | 1 => {
                failures += 1;
                format!("Nov 24 12:{:02}:{:02} web1 sshd[{pid}]: Failed password for invalid user admin from {host} port {port} ssh2\n", n / 60 % 60, n % 60)
            }
            2 => {
                failures += 1;
                format!("Nov 24 12:00:01 web1 sshd[{pid}]: Invalid user oracle from {host} port {port}\n")
            }
            3 | 4 => format!("Nov 24 12:00:02 web1 sshd[{pid}]: Accepted publickey for deploy from 10.0.0.7 port {port} ssh2: ED25519 SHA256:Xq2v1cH8kQp0bM3n9sL5fT7uW4yZ6aE1dG2hJ3kR8o\n"),
            5 | 6 => format!("Nov 24 12:00:03 web1 sshd[{pid}]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)\n"),
            7 => format!("Nov 24 12:00:04 web1 sshd[{pid}]: Received disconnect from 10.0.0.7 port {port}:11: disconnected by user\n"),
            8 => format!("Nov 24 12:00:05 web1 systemd[1]: Started session-{pid}.scope - Session {pid} of User deploy.\n"),
            _ => format!("Nov 24 12:00:06 web1 CRON[{pid}]: pam_unix(cron:session): session closed for user root\n"),
        };
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(failures)
}

/// Best of `runs` passes of jail `jail_toml` over `data` with a fresh matcher each:
/// (seconds, failures found).
fn time_jail(jail_toml: &str, data: &[u8], runs: usize) -> Result<(f64, usize), String> {
    let cfg = parse_watch_config(
        "bench.toml",
        jail_toml,
        &Services::new(""),
        &filter_files_on_disk,
    )
    .map_err(|e| e.to_string())?;
    let jail = &cfg.jails[0];
    let (mut best, mut found) = (f64::MAX, 0);
    for _ in 0..runs {
        let mut matcher = jail.matcher();
        let mut n = 0usize;
        let t = Instant::now();
        for line in data.split(|b| *b == b'\n') {
            matcher.feed_each(line, 1_700_000_000, &mut |_| n += 1);
        }
        best = best.min(t.elapsed().as_secs_f64());
        found = n;
    }
    Ok((best, found))
}

/// `fail2ban-regex FILE sshd`: seconds, or why it could not run.
fn time_fail2ban(log: &Path) -> Result<f64, String> {
    let t = Instant::now();
    let status = std::process::Command::new("fail2ban-regex")
        .arg(log)
        .arg("sshd")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("not installed here ({e})"))?;
    if !status.success() {
        return Err(format!("failed ({status})"));
    }
    Ok(t.elapsed().as_secs_f64())
}

/// The matching rows of the report (markdown table rows), measured in `dir`.
pub fn rows(args: &Args, dir: &Path) -> Result<String, String> {
    let (lines, runs) = if args.quick {
        (200_000, 1)
    } else {
        (3_000_000, 3)
    };
    let log = dir.join("auth.log");
    let failures = generate_log(&log, lines).map_err(|e| e.to_string())?;
    let data = std::fs::read(&log).map_err(|e| e.to_string())?;
    let mb = data.len() as f64 / 1e6;
    let mut md = String::new();
    let mut timed = Vec::new();
    let jails = [
        ("built-in sshd jail", "[jails.sshd]\nfile = \"/dev/null\"\n"),
        (
            "fail2ban's sshd.conf (`filter = \"sshd\"`)",
            "[jails.sshd]\nfile = \"/dev/null\"\nfilter = \"sshd\"\n",
        ),
    ];
    for (what, toml) in jails {
        match time_jail(toml, &data, runs) {
            Ok((secs, found)) => {
                timed.push((
                    if toml.contains("filter") {
                        "sshd.conf"
                    } else {
                        "built-in"
                    },
                    secs,
                ));
                md.push_str(&format!(
                    "| matching, {what}, one core | {lines} lines ({mb:.0} MB), {found} failures of {failures} | {secs:.2} s | **{:.2} M lines/s** |\n",
                    lines as f64 / secs / 1e6
                ));
                if found != failures {
                    eprintln!("warning: {what} found {found} failures, the log has {failures}");
                }
            }
            Err(e) => md.push_str(&format!("| matching, {what} | {e} | | |\n")),
        }
    }
    match time_fail2ban(&log) {
        Ok(f2b) => {
            let ratios: Vec<String> = timed
                .iter()
                .map(|(what, secs)| format!("{what} {:.0}x", f2b / secs))
                .collect();
            md.push_str(&format!(
                "| fail2ban-regex FILE sshd, same file | {lines} lines | {f2b:.2} s | {:.3} M lines/s (palisade faster: {}) |\n",
                lines as f64 / f2b / 1e6,
                ratios.join(", ")
            ));
        }
        Err(e) => md.push_str(&format!("| fail2ban-regex | {e} | | |\n")),
    }
    Ok(md)
}

/// `palisade-bench watch-match`: the matching rows alone (no namespace, no daemon).
pub fn bench(args: &Args) -> Result<bool, String> {
    let tmp = crate::TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let md = rows(args, &tmp.0)?;
    let table = format!("| measurement | input | time | rate |\n|---|---|---:|---:|\n{md}");
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("watch-match.md"), &table).map_err(|e| e.to_string())?;
    println!("{table}");
    Ok(true)
}
