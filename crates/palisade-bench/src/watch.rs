//! `palisade-bench watch`: the log watcher's speed.
//!
//! - **Matching**: lines per second of a generated sshd log through the built-in sshd jail,
//!   on one core, in process; and `fail2ban-regex` on the same file when it is installed.
//! - **100,000 bans**: a running `palisade watch` in a namespace, a log that gets 100,000
//!   failures from distinct addresses in one write; the time until the last one is banned in
//!   the kernel.
//! - **One ban**: one failure line appended; the time until its ban is in the kernel.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use palisade_lab::Netns;
use palisade_nft::{Key, Netlink};

use crate::{Args, Palisade, TempDir};

/// NFPROTO_INET, and the kernel set single bans of IPv4 addresses go to (the ban set's hash part).
const INET: u8 = 1;
const BANS_V4: &str = "bans_v4_addrs";

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
fn attacker(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x6440_0000u32 + i * 3 + 1)
}

fn failure(i: u32, port: u32) -> String {
    format!(
        "Nov 24 12:00:00 web1 sshd[{}]: Failed password for root from {} port {} ssh2\n",
        1000 + i % 30000,
        attacker(i),
        port
    )
}

/// A realistic auth.log: mostly sessions, some failures from a few thousand addresses.
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

struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn banned(nl: &mut Netlink, a: Ipv4Addr) -> bool {
    let key = Key::new(&a.octets()).expect("4 bytes");
    matches!(nl.get_element(INET, "palisade", BANS_V4, key), Ok(Some(_)))
}

/// Poll the kernel until `a` is banned; false if it is not within `limit`.
fn wait_banned(nl: &mut Netlink, a: Ipv4Addr, limit: Duration) -> Option<()> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if banned(nl, a) {
            return Some(());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(text.as_bytes())
}

pub fn bench(args: &Args) -> Result<bool, String> {
    let (lines, bans, singles) = if args.quick {
        (200_000, 5_000, 5)
    } else {
        (3_000_000, 100_000, 21)
    };
    let tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let (pal, _) = Palisade::snapshot(args, &tmp.0);
    let mut md = String::new();

    // Matching speed, in process, one core.
    let log = tmp.0.join("auth.log");
    let failures = generate_log(&log, lines).map_err(|e| e.to_string())?;
    let services = palisade_core::policy::Services::new("");
    let cfg = palisade_watch::parse_watch_config(
        "bench.toml",
        "[jails.sshd]\nfile = \"/dev/null\"\n",
        &services,
    )
    .map_err(|e| e.to_string())?;
    let matcher = &cfg.jails[0].matcher;
    let data = std::fs::read(&log).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let matched = data
        .split(|b| *b == b'\n')
        .filter(|l| matcher.find_host(l).is_some())
        .count();
    let secs = t.elapsed().as_secs_f64();
    let rate = lines as f64 / secs;
    md.push_str(&format!(
        "| matching, built-in sshd jail, one core | {lines} lines ({:.0} MB), {matched} matched of {failures} failures | {:.2} s | **{:.2} M lines/s** |\n",
        data.len() as f64 / 1e6,
        secs,
        rate / 1e6
    ));
    if matched != failures {
        eprintln!("warning: matched {matched} lines, {failures} were failures");
    }
    let fail2ban = std::process::Command::new("fail2ban-regex")
        .arg(&log)
        .arg("sshd")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match fail2ban {
        Ok(mut child) => {
            let t = Instant::now();
            let _ = child.wait();
            let f2b = t.elapsed().as_secs_f64();
            md.push_str(&format!(
                "| fail2ban-regex, same file | {lines} lines | {f2b:.2} s | {:.3} M lines/s ({:.0}x slower) |\n",
                lines as f64 / f2b / 1e6,
                f2b / secs
            ));
        }
        Err(_) => md.push_str("| fail2ban-regex | not installed here | | |\n"),
    }

    // Bans through a running watcher, into the kernel, in a namespace.
    let ns = Netns::create("watch").map_err(|e| e.to_string())?;
    let live = tmp.0.join("live.log");
    std::fs::write(&live, "").map_err(|e| e.to_string())?;
    let config = tmp.0.join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[jails.sshd]\nfile = \"{}\"\nmaxretry = 1\nbantime = \"1h\"\n",
            live.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = pal
        .cmd(&ns, &["watch", "-c", &config.to_string_lossy()])
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("palisade watch: {e}"))?;
    let _watcher = Watcher(child);
    let mut nl = Netlink::open_in_netns(&ns.path()).map_err(|e| e.to_string())?;
    let ready = Instant::now();
    while nl
        .sets(INET, "palisade")
        .map_or(true, |s| !s.iter().any(|i| i.name == BANS_V4))
    {
        if ready.elapsed() > Duration::from_secs(10) {
            return Err("palisade watch did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    crate::settle(
        Duration::ZERO,
        Duration::from_secs(if args.quick { 5 } else { 60 }),
    );

    let text: String = (0..bans).map(|i| failure(i, 40000)).collect();
    let t = Instant::now();
    append(&live, &text).map_err(|e| e.to_string())?;
    let last = attacker(bans - 1);
    wait_banned(&mut nl, last, Duration::from_secs(60))
        .ok_or_else(|| format!("{last} never banned"))?;
    let took = t.elapsed();
    let all = (0..bans).step_by(997).all(|i| banned(&mut nl, attacker(i)));
    md.push_str(&format!(
        "| {bans} distinct attackers, log write to the last ban in the kernel | {bans} lines in one write | {:.3} s | {:.0} bans/s{} |\n",
        took.as_secs_f64(),
        f64::from(bans) / took.as_secs_f64(),
        if all { "" } else { " (SOME MISSING)" }
    ));

    let mut single = Vec::new();
    for k in 0..singles {
        let i = bans + 10 + k;
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        append(&live, &failure(i, 41000)).map_err(|e| e.to_string())?;
        wait_banned(&mut nl, attacker(i), Duration::from_secs(5))
            .ok_or("a single ban never arrived")?;
        single.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    single.sort_by(f64::total_cmp);
    md.push_str(&format!(
        "| one failure line to its ban in the kernel | {singles} times | median {:.2} ms | max {:.2} ms |\n",
        single[single.len() / 2],
        single[single.len() - 1]
    ));
    let table = format!("| measurement | input | time | rate |\n|---|---|---:|---:|\n{md}");
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("watch.md"), &table).map_err(|e| e.to_string())?;
    println!("{table}");
    Ok(all)
}
