//! `palisade-bench watch`: the log watcher's speed.
//!
//! - **Matching**: lines per second of a generated sshd log, on one core, in process
//!   ([`crate::watch_match`]).
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

use crate::watch_match::attacker;
use crate::{Args, Palisade, TempDir};

/// NFPROTO_INET, and the kernel set single bans of IPv4 addresses go to (the ban set's hash part).
const INET: u8 = 1;
const BANS_V4: &str = "bans_v4_addrs";

fn failure(i: u32, port: u32) -> String {
    format!(
        "Nov 24 12:00:00 web1 sshd[{}]: Failed password for root from {} port {} ssh2\n",
        1000 + i % 30000,
        attacker(i),
        port
    )
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
    let (bans, singles) = if args.quick {
        (5_000, 5)
    } else {
        (100_000, 21)
    };
    let tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let (pal, _) = Palisade::snapshot(args, &tmp.0);
    let mut md = String::new();

    // Matching speed, in process, one core.
    md.push_str(&crate::watch_match::rows(args, &tmp.0)?);

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
