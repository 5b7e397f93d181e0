//! `palisade watch`: follows logs, counts failures per source, and bans in kernel batches.
//!
//! Each followed source has a reader thread that matches its lines against the jails reading
//! it and sends on only the hits, so matching runs at full speed on its own core. The main
//! loop counts hits ([`palisade_watch::Tracker`]) and writes bans to the kernel: at once when
//! nothing else is waiting (a single ban is in the kernel milliseconds after its log line),
//! coalesced into one transaction of up to 5,000 bans (or 100 ms) under load.

pub mod follow;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use palisade_core::policy::Services;
use palisade_core::{AddrRange, ProtoPort};
use palisade_watch::{parse_watch_config, Ban, BanPorts, Source, Tracker, WatchConfig};

use crate::policy::records::{now, write_atomic};
use crate::store::{BlockAction, Contents, SetDef, Store, Timed};

/// Most bans in one transaction, and the longest a ban waits for others to join it.
pub const BATCH_MAX: usize = 5000;
pub const BATCH_WAIT: Duration = Duration::from_millis(100);

/// A failure a reader thread saw: which jail, which host.
struct Hit {
    jail: usize,
    host: IpAddr,
}

/// Where the daemon keeps its state.
pub struct WatchPaths {
    pub state: PathBuf,
    pub unban_queue: PathBuf,
}

impl WatchPaths {
    pub fn new(dir: &Path) -> Self {
        Self {
            state: dir.join("watch.state"),
            unban_queue: dir.join("unban.queue"),
        }
    }
}

pub fn read_config(path: &Path) -> Result<WatchConfig> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {file} (choose another with -c FILE)"))?;
    let services = Services::new(&std::fs::read_to_string("/etc/services").unwrap_or_default());
    Ok(parse_watch_config(&file, &text, &services)?)
}

/// The set bans go to: `bans` blocks every port; `bans-ports` holds address+port pairs for
/// jails that block only their service.
fn ban_sets(cfg: &WatchConfig) -> (SetDef, SetDef) {
    let all = SetDef {
        block: Some(BlockAction::Drop),
        dynamic: true,
        ..SetDef::new(&cfg.set)
    };
    let ports = SetDef {
        block: Some(BlockAction::Drop),
        with_ports: true,
        dynamic: true,
        ..SetDef::new(&format!("{}-ports", cfg.set))
    };
    (all, ports)
}

/// The ports a jail's bans block, one by one; none for a jail that blocks every port.
fn ban_ports(ports: &BanPorts) -> Vec<ProtoPort> {
    match ports {
        BanPorts::All => Vec::new(),
        BanPorts::Some(list) => list
            .iter()
            .flat_map(|(proto, range)| {
                (range.first..=range.last).map(|port| ProtoPort {
                    proto: proto.number(),
                    port,
                })
            })
            .collect(),
    }
}

/// The kernel elements of a ban: the address (or /64) on every port, or on the jail's ports.
fn elements(cfg: &WatchConfig, ban: &Ban, now: u64) -> (bool, Vec<Timed>) {
    let remaining = Some(Duration::from_secs(ban.until.saturating_sub(now).max(1)));
    let comment = Some(format!("{}: {}", ban.jail, ban.reason));
    let jail = cfg.jails.iter().find(|j| j.name == ban.jail);
    match jail.map(|j| &j.ports) {
        Some(ports @ BanPorts::Some(_)) => {
            let out = ban_ports(ports)
                .into_iter()
                .map(|p| Timed {
                    addr: ban.target,
                    port: Some(p),
                    remaining,
                    comment: comment.clone(),
                })
                .collect();
            (true, out)
        }
        _ => (
            false,
            vec![Timed {
                addr: ban.target,
                port: None,
                remaining,
                comment,
            }],
        ),
    }
}

/// Write bans to the kernel: one transaction per set (usually one in all). `all` is the ban
/// set as the kernel has it.
fn commit_bans(
    store: &mut Store,
    cfg: &WatchConfig,
    all: &SetDef,
    bans: &[Ban],
    now: u64,
) -> Result<()> {
    let (_, ports) = ban_sets(cfg);
    let (mut on_all, mut on_ports) = (Vec::new(), Vec::new());
    for b in bans {
        let (with_ports, elems) = elements(cfg, b, now);
        if with_ports {
            on_ports.extend(elems);
        } else {
            on_all.extend(elems);
        }
    }
    if !on_all.is_empty() {
        store.add_timed(all, &on_all)?;
    }
    if !on_ports.is_empty() {
        let ports = store.ensure(&ports)?;
        store.add_timed(&ports, &on_ports)?;
    }
    Ok(())
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn catch_signals() {
    // A parent may have started us with these blocked (blocked signals survive exec): a
    // daemon that cannot be stopped cleanly would lose its state.
    // SAFETY: plain signal-mask calls on a set we build here.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// The host's own addresses: never banned, whatever the logs say.
fn own_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we free with freeifaddrs below.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return out;
    }
    let mut p = ifap;
    while !p.is_null() {
        // SAFETY: p walks the list getifaddrs returned.
        let ifa = unsafe { &*p };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr of the family it names.
            match unsafe { (*ifa.ifa_addr).sa_family } as i32 {
                libc::AF_INET => {
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    out.push(IpAddr::from(
                        u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                    ));
                }
                libc::AF_INET6 => {
                    let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                }
                _ => {}
            }
        }
        p = ifa.ifa_next;
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(ifap) };
    out
}

/// Start a reader thread for each source; jails reading the same source share it.
fn start_readers(cfg: &WatchConfig, from_start: bool, hits: mpsc::SyncSender<Hit>) -> Result<()> {
    let mut by_source: BTreeMap<String, (Source, Vec<usize>)> = BTreeMap::new();
    for (i, j) in cfg.jails.iter().enumerate() {
        let key = match &j.source {
            Source::File(p) => format!("file:{}", p.display()),
            Source::Journal { unit } => format!("journal:{}", unit.as_deref().unwrap_or("")),
        };
        by_source
            .entry(key)
            .or_insert_with(|| (j.source.clone(), Vec::new()))
            .1
            .push(i);
    }
    for (_, (source, jails)) in by_source {
        let matchers: Vec<(usize, palisade_watch::Matcher)> = jails
            .iter()
            .map(|i| (*i, cfg.jails[*i].matcher.clone()))
            .collect();
        let hits = hits.clone();
        let mut on_line = move |line: &[u8]| {
            for (jail, m) in &matchers {
                if let Some(host) = m.find_host(line) {
                    let _ = hits.send(Hit { jail: *jail, host });
                }
            }
        };
        match source {
            Source::File(path) => {
                let wake = follow::Wakeup::new(std::slice::from_ref(&path))
                    .with_context(|| format!("cannot watch {}", path.display()))?;
                let mut f = follow::Follower::open(&path, from_start);
                std::thread::spawn(move || loop {
                    if let Err(e) = f.poll(&mut on_line) {
                        eprintln!("palisade watch: reading {}: {e}", path.display());
                    }
                    wake.wait(Duration::from_millis(500));
                });
            }
            Source::Journal { unit } => {
                let mut cmd = std::process::Command::new("journalctl");
                cmd.args(["--follow", "--output=cat", "--lines=0"]);
                if let Some(u) = &unit {
                    cmd.args(["--unit", u]);
                }
                let mut child = cmd
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .context("cannot start journalctl to follow the journal")?;
                let out = child.stdout.take().expect("piped");
                std::thread::spawn(move || {
                    let mut r = BufReader::new(out);
                    let mut line = Vec::new();
                    while r
                        .read_until(b'\n', &mut line)
                        .map(|n| n > 0)
                        .unwrap_or(false)
                    {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        on_line(&line);
                        line.clear();
                    }
                    let _ = child.wait();
                });
            }
        }
    }
    Ok(())
}

fn save(path: &Path, text: &str) {
    if let Err(e) = write_atomic(path, text.as_bytes()) {
        eprintln!(
            "palisade watch: cannot save state to {}: {e}",
            path.display()
        );
    }
}

/// How often changed state is written while running: serializing 100,000 bans takes tens of
/// milliseconds of the loop that writes bans, so not every second.
const SAVE_EVERY: Duration = Duration::from_secs(10);

/// Writes state on a thread of its own, so the fsync never delays a ban.
fn saver(path: PathBuf) -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        while let Ok(mut text) = rx.recv() {
            // Only the newest snapshot matters.
            while let Ok(newer) = rx.try_recv() {
                text = newer;
            }
            save(&path, &text);
        }
    });
    tx
}

/// Addresses `palisade unban` queued while the daemon ran.
fn take_unbans(paths: &WatchPaths) -> Vec<AddrRange> {
    let Ok(text) = std::fs::read_to_string(&paths.unban_queue) else {
        return Vec::new();
    };
    let _ = std::fs::remove_file(&paths.unban_queue);
    text.lines()
        .filter_map(|l| palisade_core::parse_addr_range(l.trim(), false).ok())
        .collect()
}

pub fn run(
    store: &mut Store,
    mut cfg: WatchConfig,
    paths: &WatchPaths,
    from_start: bool,
) -> Result<i32> {
    for a in own_addresses() {
        cfg.allow.add(AddrRange::from(a));
    }
    let (all, _) = ban_sets(&cfg);
    let all = store.ensure(&all)?;
    let mut tracker = match std::fs::read_to_string(&paths.state) {
        Ok(text) => Tracker::load(&text, now()).unwrap_or_else(|e| {
            eprintln!(
                "palisade watch: ignoring damaged state {}: {e}",
                paths.state.display()
            );
            Tracker::new()
        }),
        Err(_) => Tracker::new(),
    };
    for target in take_unbans(paths) {
        tracker.unban(target);
    }
    let restored = tracker.active_bans(now());
    if !restored.is_empty() {
        commit_bans(store, &cfg, &all, &restored, now())?;
        eprintln!(
            "palisade watch: {} bans restored with their remaining time",
            restored.len()
        );
    }
    catch_signals();
    let (tx, rx) = mpsc::sync_channel::<Hit>(1 << 16);
    start_readers(&cfg, from_start, tx)?;
    eprintln!(
        "palisade watch: {} jails ({}), banning into set {}",
        cfg.jails.len(),
        cfg.jails
            .iter()
            .map(|j| j.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.set
    );
    let mut pending: Vec<Ban> = Vec::new();
    let mut first_pending: Option<Instant> = None;
    let mut last_housekeeping = Instant::now();
    let mut dirty = false;
    let mut last_save = Instant::now();
    let to_saver = saver(paths.state.clone());
    while !STOP.load(Ordering::Relaxed) {
        let wait = match first_pending {
            Some(t) => BATCH_WAIT.saturating_sub(t.elapsed()),
            None => Duration::from_millis(250),
        };
        let mut got = rx.recv_timeout(wait).ok();
        while let Some(hit) = got {
            if let Some(ban) = tracker.observe(&cfg, hit.jail, hit.host, now()) {
                first_pending.get_or_insert_with(Instant::now);
                pending.push(ban);
            }
            if pending.len() >= BATCH_MAX
                || first_pending.is_some_and(|t| t.elapsed() >= BATCH_WAIT)
            {
                break;
            }
            got = rx.try_recv().ok();
        }
        // Nothing more waiting, the batch is full, or it waited long enough: write it.
        if !pending.is_empty() {
            let t = Instant::now();
            match commit_bans(store, &cfg, &all, &pending, now()) {
                Ok(()) => {
                    for b in pending.iter().take(20) {
                        eprintln!(
                            "palisade watch: banned {} until {} ({})",
                            b.target, b.until, b.reason
                        );
                    }
                    if pending.len() > 20 {
                        eprintln!(
                            "palisade watch: {} bans in one transaction ({:.1} ms)",
                            pending.len(),
                            t.elapsed().as_secs_f64() * 1000.0
                        );
                    }
                }
                Err(e) => eprintln!(
                    "palisade watch: cannot ban {} sources: {e:#}",
                    pending.len()
                ),
            }
            pending.clear();
            first_pending = None;
            dirty = true;
        }
        if last_housekeeping.elapsed() >= Duration::from_secs(1) {
            last_housekeeping = Instant::now();
            tracker.expire(now());
            for target in take_unbans(paths) {
                tracker.unban(target);
                dirty = true;
            }
            if dirty && last_save.elapsed() >= SAVE_EVERY {
                let _ = to_saver.send(tracker.save());
                last_save = Instant::now();
                dirty = false;
            }
        }
    }
    drop(to_saver);
    save(&paths.state, &tracker.save());
    eprintln!("palisade watch: stopped; state saved");
    Ok(0)
}

/// `palisade watch --test FILE`: what each jail would ban from a log file, offline. Every
/// line counts as seen now, so `findtime` does not split them.
pub fn test_file(cfg: &WatchConfig, file: &Path, jail: Option<&str>) -> Result<i32> {
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut tracker = Tracker::new();
    let (mut lines, mut matched) = (0usize, 0usize);
    let mut bans = Vec::new();
    let t = Instant::now();
    let now = now();
    for line in data.split(|b| *b == b'\n') {
        lines += 1;
        for (i, j) in cfg.jails.iter().enumerate() {
            if jail.is_some_and(|n| n != j.name) {
                continue;
            }
            if let Some(host) = j.matcher.find_host(line) {
                matched += 1;
                bans.extend(tracker.observe(cfg, i, host, now));
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{}: {lines} lines, {matched} failures matched, {} bans ({:.0} lines/s)",
        file.display(),
        bans.len(),
        lines as f64 / secs.max(1e-9)
    );
    for b in &bans {
        println!(
            "would ban {} for {} s: {}",
            b.target,
            b.until - b.since,
            b.reason
        );
    }
    Ok(0)
}

/// One ban as the kernel holds it.
struct KernelBan {
    target: String,
    why: String,
    since: u64,
    until: u64,
}

/// The bans in a set's hash and recent parts, read from the kernel: it is the authority on who
/// is banned and for how long (the daemon writes its own state only every few seconds).
fn kernel_bans(store: &mut Store, set: &str, now_ms: u64) -> Result<Vec<KernelBan>> {
    let (loaded, recent) = store.held_parts(set)?;
    let mut out = Vec::new();
    let mut push = |target: String,
                    r_timeout: Option<u64>,
                    r_expires: Option<u64>,
                    comment: Option<String>| {
        let (Some(timeout), Some(expires)) = (r_timeout, r_expires) else {
            return;
        };
        out.push(KernelBan {
            target,
            why: comment.unwrap_or_default(),
            since: (now_ms.saturating_sub(timeout - expires.min(timeout))) / 1000,
            until: (now_ms + expires) / 1000,
        });
    };
    for r in loaded.v4.into_iter().chain(recent.v4) {
        let port = r.port.map_or(String::new(), |p| format!(",{p}"));
        push(
            format!("{}{port}", AddrRange::V4(r.range)),
            r.timeout_ms,
            r.expires_ms,
            r.comment,
        );
    }
    for r in loaded.v6.into_iter().chain(recent.v6) {
        let port = r.port.map_or(String::new(), |p| format!(",{p}"));
        push(
            format!("{}{port}", AddrRange::V6(r.range)),
            r.timeout_ms,
            r.expires_ms,
            r.comment,
        );
    }
    Ok(out)
}

/// `palisade bans`: who is banned, why, since and until.
pub fn list(store: &mut Store, cfg: &WatchConfig, json: bool) -> Result<i32> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (all, ports) = ban_sets(cfg);
    let mut bans = Vec::new();
    for set in [&all.name, &ports.name] {
        if store.get(set).is_ok() {
            bans.extend(kernel_bans(store, set, now_ms)?);
        }
    }
    if json {
        let v: Vec<_> = bans
            .iter()
            .map(|b| {
                serde_json::json!({
                    "target": b.target, "why": b.why, "since": b.since, "until": b.until,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{} active bans", bans.len());
        for b in &bans {
            println!(
                "{:<40} since {} until {} ({} left): {}",
                b.target,
                palisade_core::format_utc(b.since),
                palisade_core::format_utc(b.until),
                palisade_core::format_duration(Duration::from_secs(
                    b.until.saturating_sub(now_ms / 1000)
                )),
                b.why
            );
        }
    }
    Ok(0)
}

/// `palisade unban ADDRESS`: out of the kernel at once, and out of the daemon's state.
pub fn unban(
    store: &mut Store,
    cfg: &WatchConfig,
    paths: &WatchPaths,
    addrs: &[String],
) -> Result<i32> {
    let mut targets = Vec::new();
    for a in addrs {
        targets.push(palisade_core::parse_addr_range(a, false).with_context(|| format!("`{a}`"))?);
    }
    let (all, ports) = ban_sets(cfg);
    let items = Contents::from_ranges(targets.iter().map(|t| (*t, None)));
    if let Ok(def) = store.get(&all.name) {
        store.del(&def, &items)?;
    }
    if let Ok(def) = store.get(&ports.name) {
        let mut with_ports = Vec::new();
        for p in cfg.jails.iter().flat_map(|j| ban_ports(&j.ports)) {
            with_ports.extend(targets.iter().map(|t| (*t, Some(p))));
        }
        if !with_ports.is_empty() {
            store.del(&def, &Contents::from_ranges(with_ports))?;
        }
    }
    let mut queue = std::fs::read_to_string(&paths.unban_queue).unwrap_or_default();
    for t in &targets {
        queue.push_str(&format!("{t}\n"));
    }
    write_atomic(&paths.unban_queue, queue.as_bytes())?;
    println!("unbanned {}", addrs.join(", "));
    Ok(0)
}
