//! palisade's benchmarks, each a subcommand:
//!
//! - `load`: how fast, and in how much memory, palisade loads big sets compared with `nft -f`
//!   and `ipset restore` ([`load`]).
//! - `blocking`: HTTP response time and throughput against the number of blocked addresses, for
//!   one iptables rule per address, one rule matching an ipset, palisade's set and no firewall
//!   ([`blocking`]).
//!
//! Every measurement that touches netfilter runs in network namespaces made by `palisade-lab`
//! and removed afterwards (also on panic and on SIGINT/SIGTERM), so the host's own firewall is
//! never touched.

mod blocking;
mod data;
mod flood;
mod load;
mod machine;
mod measure;
mod quiet;
mod watch;
mod xdp;
mod watch_match;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use palisade_lab::Netns;

const USAGE: &str = "\
usage: palisade-bench load [--quick] [--out DIR] [--palisade PATH]
       palisade-bench blocking [--quick] [--out DIR] [--palisade PATH]
       palisade-bench flood [--quick] [--out DIR] [--palisade PATH]
       palisade-bench watch [--quick] [--out DIR] [--palisade PATH]
       palisade-bench xdp [--quick] [--out DIR] [--palisade PATH]
       palisade-bench raw [--quick] [--out DIR] [--palisade PATH]
       palisade-bench watch-match [--quick] [--out DIR]

load      Loads the same generated sets with palisade, `nft -f` and `ipset restore`, each in a
          fresh network namespace, and times single add/remove on a set of 100,000 networks.
          Writes load.csv and load.md.
blocking  Times sequential HTTP requests (connect, send, first byte, complete) to nginx and
          its throughput under wrk, against the number of blocked addresses, for one iptables
          rule per address (nft and legacy backends), one iptables rule matching an ipset,
          palisade's set, and no firewall. Writes blocking.csv, blocking-wrk.csv, blocking.md
          and blocking.png.
flood     Several sources flood nginx with HTTP requests while a legitimate client asks for a
          page ten times a second: without protection, with palisade's per-source rate limit,
          and with bans on exceed. Writes flood.md and flood.csv.
watch     The log watcher: lines per second matched on a generated sshd log (and
          fail2ban-regex on it, if installed), 100,000 attackers from log to kernel bans, and
          one log line to its ban. Writes watch.md.
xdp       A listed source's flood dropped by palisade's XDP program, by palisade's nftables
          block chain and by an nftables input rule: drops per CPU second (frames injected by
          the kernel), a legitimate client's request times during the flood, and the time of
          palisade's set commands with a million entries in XDP. Writes xdp.md.
raw       A listed source's SYN flood on a server with connection tracking in use, dropped by
          palisade's block chain (prerouting at raw priority, before conntrack), by the input
          chain palisade used before, and by an ipset rule in iptables' raw table: drops per
          CPU second and a legitimate client's request times during the flood. Writes raw.md.
watch-match
          Only the matching part of `watch`: the built-in sshd jail and fail2ban's
          sshd.conf read by palisade (filter = \"sshd\"), against fail2ban-regex on the
          same generated log. Needs no root and no palisade binary. Writes watch-match.md.

  --quick          a smoke run: small sizes, few repetitions, no timing assertions
  --out DIR        where the results go (default: bench-out)
  --palisade PATH  palisade binary (default: target/release/palisade next to this binary's
                   target directory)

Needs root (network namespaces) and ip, nft, ipset installed; `blocking` also needs iptables,
nginx and wrk (scripts/deps.sh installs them all).";

/// Which benchmark to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bench {
    Load,
    Blocking,
    Flood,
    Watch,
    Xdp,
    Raw,
    WatchMatch,
}

/// The command line, the same for every benchmark.
pub struct Args {
    bench: Bench,
    pub quick: bool,
    pub out: PathBuf,
    pub palisade: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let bench = match it.next().as_deref() {
        Some("load") => Bench::Load,
        Some("blocking") => Bench::Blocking,
        Some("flood") => Bench::Flood,
        Some("watch") => Bench::Watch,
        Some("xdp") => Bench::Xdp,
        Some("raw") => Bench::Raw,
        Some("watch-match") => Bench::WatchMatch,
        Some("-h" | "--help") => return Err(String::new()),
        Some(other) => return Err(format!("unknown command `{other}`")),
        None => return Err("missing command".into()),
    };
    let mut args = Args {
        bench,
        quick: false,
        out: PathBuf::from("bench-out"),
        palisade: None,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--out" => args.out = it.next().ok_or("--out needs a directory")?.into(),
            "--palisade" => {
                args.palisade = Some(it.next().ok_or("--palisade needs a path")?.into())
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == measure::HELPER) {
        // The measuring trampoline: no namespaces of its own, so no signal handling either.
        return measure::helper_main(&argv[2..]);
    }
    // First, before any thread starts, so every thread inherits the blocked signal mask.
    palisade_lab::remove_on_signals();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("palisade-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.bench {
        Bench::Load => load::bench(&args),
        Bench::Blocking => blocking::bench(&args),
        Bench::Flood => flood::bench(&args),
        Bench::Watch => watch::bench(&args),
        Bench::Xdp => xdp::bench(&args),
        Bench::Raw => xdp::bench_raw(&args),
        Bench::WatchMatch => watch_match::bench(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("palisade-bench: some measurements failed (see the report)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("palisade-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `target/release/palisade`, found from this binary's own location so it also works with a
/// custom `CARGO_TARGET_DIR` and from any working directory (this binary is
/// `<target>/<profile>/palisade-bench`).
pub fn default_palisade() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    match exe.parent().and_then(Path::parent) {
        Some(target) => target.join("release").join("palisade"),
        None => PathBuf::from("target/release/palisade"),
    }
}

/// A scratch directory removed on drop, so generated data (tens of MB) never piles up.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> std::io::Result<Self> {
        sweep_stale_scratch();
        let p = std::env::temp_dir().join(format!("palisade-bench-{}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
}

/// Remove scratch left by runs that did not get to clean up: on Ctrl-C the lab's signal handler
/// exits at once (after removing the namespaces), so no destructor runs. Everything named
/// `palisade-bench-<pid>...` in the temp dir whose process is gone is such scratch.
fn sweep_stale_scratch() {
    let tmp = std::env::temp_dir();
    let Ok(dir) = std::fs::read_dir(&tmp) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("palisade-bench-") else {
            continue;
        };
        let pid = rest
            .split(['-', '.'])
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let path = entry.path();
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The palisade binary under test, and where it keeps its state.
pub struct Palisade {
    pub bin: String,
    /// palisade keeps a cache of each loaded set on disk (by default in /var/lib/palisade);
    /// pointing it into the scratch directory keeps the host clean and is removed with it.
    pub state_dir: PathBuf,
}

impl Palisade {
    /// The binary named by `--palisade` (or the default), copied into `scratch` so a rebuild of
    /// `target/` during a run cannot change what is measured, with its state kept there too.
    /// Returns it with its path as given (for the report); a missing binary is only warned
    /// about, so the other tools are still measured and palisade's rows say why they failed.
    pub fn snapshot(args: &Args, scratch: &Path) -> (Self, String) {
        let given = args.palisade.clone().unwrap_or_else(default_palisade);
        let given = std::fs::canonicalize(&given).unwrap_or(given);
        let shown = given.to_string_lossy().into_owned();
        if !given.is_file() {
            eprintln!(
                "warning: no palisade binary at {shown} (build it with `cargo build --release -p \
                 palisade` or pass --palisade PATH)"
            );
        }
        let copy = scratch.join("palisade");
        let bin = match std::fs::copy(&given, &copy) {
            Ok(_) => copy.to_string_lossy().into_owned(),
            Err(_) => shown.clone(),
        };
        let pal = Palisade {
            bin,
            state_dir: scratch.join("palisade-state"),
        };
        (pal, shown)
    }

    /// `palisade ARGS...` inside `ns`.
    pub fn cmd(&self, ns: &Netns, args: &[&str]) -> Command {
        let mut c = ns.command(&self.bin);
        c.args(args).env("PALISADE_STATE_DIR", &self.state_dir);
        c
    }
}

static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Time since the run started, for progress lines on stderr, so a slow step is visible while it
/// runs.
pub fn elapsed() -> String {
    let s = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64();
    format!("[{s:7.1}s]")
}

/// Before a measurement: pause (so the kernel can finish freeing what an earlier step left),
/// then wait at most `max_wait` for the machine to be quiet. Returns the seconds spent checking
/// and waiting, and the busy cores (other than this benchmark's idle labs) when it stopped.
pub fn settle(pause: Duration, max_wait: Duration) -> (f64, f64) {
    std::thread::sleep(pause);
    let (waited, busy) = quiet::wait_for_quiet(max_wait);
    if waited > Duration::from_secs(2) {
        eprintln!(
            "{} waited {:.0} s for the machine to be quiet (now {busy:.2} busy cores)",
            elapsed(),
            waited.as_secs_f64()
        );
    }
    (waited.as_secs_f64(), busy)
}
