//! Loading a million entries into the tries: sync times and kernel memory.
//!
//! Two data sets, as the issue asks: a million distinct random IPv4 addresses, and a million
//! distinct random IPv4 networks (prefix lengths 12 to 28, so they nest and overlap as real
//! blocklists do). For each: the first sync (everything new), an unchanged resync (reads the
//! whole trie back and writes nothing), a resync with 1% of the entries replaced, and a final
//! sync to empty. Memory is the kernel's own accounting of the tries (`memlock` in the maps'
//! fdinfo) and the growth of slab memory (machine-wide, so only indicative).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use palisade_core::{AddrRange, Interval};
use palisade_xdp::{Capacity, DropSet, Entry, Mode, SetId, Xdp};

use crate::lab::Lab;

pub fn run(quick: bool) -> Result<(), String> {
    let n = if quick { 100_000 } else { 1_000_000 };
    println!("sync: {n} entries per data set (IPv4); times are wall/CPU");
    println!(
        "{:<23} {:>10} {:>12} {:>12} {:>12} {:>12} {:>11} {:>11}",
        "data set",
        "entries",
        "first sync",
        "resync same",
        "resync 1%",
        "clear",
        "memlock",
        "slab growth"
    );
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let addrs = distinct(n, || (rng.next() as u32, 32));
    run_one("random /32 addresses", &addrs)?;
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let nets = distinct(n, || {
        let r = rng.next();
        (r as u32, 12 + (r >> 32) as u8 % 17)
    });
    run_one("random networks /12-/28", &nets)
}

/// `n` distinct prefixes (address with host bits cleared, length).
fn distinct(n: usize, mut gen: impl FnMut() -> (u32, u8)) -> Vec<(u32, u8)> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (a, len) = gen();
        let p = (
            a & (u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)),
            len,
        );
        if seen.insert(p) {
            out.push(p);
        }
    }
    out
}

fn set_of(prefixes: &[(u32, u8)]) -> Vec<DropSet> {
    let entries = prefixes
        .iter()
        .map(|&(a, len)| Entry {
            range: AddrRange::V4(Interval::from_prefix(a, len).unwrap()),
            expires: None,
        })
        .collect();
    vec![DropSet {
        id: SetId(0),
        name: "bench".into(),
        entries,
    }]
}

/// Wall and CPU time of this thread (system calls included) for one step. On a shared
/// machine the CPU time is the steadier figure.
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

impl std::fmt::Display for Took {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = format!(
            "{:.2}s/{:.2}s",
            self.wall.as_secs_f64(),
            self.cpu.as_secs_f64()
        );
        f.pad(&s)
    }
}

fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<(T, Took), String> {
    let (t, c) = (Instant::now(), palisade_lab::inject::thread_cpu_time());
    let v = f()?;
    Ok((
        v,
        Took {
            wall: t.elapsed(),
            cpu: palisade_lab::inject::thread_cpu_time() - c,
        },
    ))
}

fn run_one(name: &str, prefixes: &[(u32, u8)]) -> Result<(), String> {
    let lab = Lab::bare();
    lab.in_host(|root, ifname| Xdp::attach(root, ifname, Mode::Generic, Capacity::default()))
        .map_err(|e| e.to_string())?;
    let mut x = lab
        .in_host(|root, _| Xdp::open(root))
        .map_err(|e| e.to_string())?
        .ok_or("no XDP state after attach")?;
    let sets = set_of(prefixes);
    let slab_before = slab_kib()?;
    let (report, first) = timed(|| x.sync(&sets, &[]).map_err(|e| e.to_string()))?;
    if report.entries.0 != prefixes.len() || report.written != prefixes.len() {
        return Err(format!(
            "{name}: {report:?} for {} prefixes",
            prefixes.len()
        ));
    }
    let counted = x.drop_entry_counts().map_err(|e| e.to_string())?.0;
    if counted != prefixes.len() {
        return Err(format!(
            "{name}: the trie holds {counted} entries, not {}",
            prefixes.len()
        ));
    }
    let memlock = memlock_kib()?;
    let slab_growth = slab_kib()?.saturating_sub(slab_before);
    let (same, resync) = timed(|| x.sync(&sets, &[]).map_err(|e| e.to_string()))?;
    if same.written + same.deleted != 0 {
        return Err(format!("{name}: an unchanged resync wrote {same:?}"));
    }
    let mut changed = prefixes.to_vec();
    let step = 100;
    for p in changed.iter_mut().step_by(step) {
        p.0 ^= 0x8000_0000 >> (p.1 - 1); // flip the last network bit: a different prefix
    }
    let changed_sets = set_of(&changed);
    let (diff, resync_1) = timed(|| x.sync(&changed_sets, &[]).map_err(|e| e.to_string()))?;
    let (_, clear) = timed(|| x.sync(&[], &[]).map_err(|e| e.to_string()))?;
    println!(
        "{:<23} {:>10} {:>12} {:>12} {:>12} {:>12} {:>8} MiB {:>7} MiB",
        name,
        prefixes.len(),
        first,
        resync,
        resync_1,
        clear,
        memlock / 1024,
        slab_growth / 1024
    );
    eprintln!(
        "  1% change wrote {} and deleted {}",
        diff.written, diff.deleted
    );
    Ok(())
}

/// The kernel's accounting of this process's LPM trie maps, from /proc/self/fdinfo.
fn memlock_kib() -> Result<u64, String> {
    let mut total = 0;
    let dir = std::fs::read_dir("/proc/self/fdinfo").map_err(|e| e.to_string())?;
    for entry in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if !text.lines().any(|l| l == "map_type:\t11") {
            continue;
        }
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("memlock:\t") {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total / 1024)
}

fn slab_kib() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/meminfo").map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no Slab line in /proc/meminfo".into())
}

/// A small deterministic generator: the data sets are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
