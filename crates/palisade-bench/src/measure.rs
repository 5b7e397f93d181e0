//! Run one program and measure its wall time and peak resident memory.
//!
//! The child is reaped with `wait4(2)`, which hands back the child's own `rusage`; `ru_maxrss` is
//! its peak RSS. `ip netns exec` execs the measured program in place (same pid), so the figure is
//! the program's — strictly max(ip's RSS before the exec, the program's peak), which can only
//! overstate a small program, never understate it. The baseline run of `true` shows that floor.
//!
//! Why a trampoline: Linux carries the *spawning* process's peak RSS into a child's `ru_maxrss`
//! (the old mm's high-water mark is folded in at exec, and a vfork/posix_spawn child's old mm is
//! the parent's). The benchmark itself holds megabytes of generated data and tool output, so a
//! child spawned directly by it would report that as its own peak (a `true` showed 60 MiB). So
//! each measured program is spawned by a fresh, tiny copy of this binary (`__measure`), whose
//! own high-water mark is about 2 MiB, and which reports wall time and rusage back in a file.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The hidden subcommand that spawns and measures one program.
pub const HELPER: &str = "__measure";

/// What one run cost and said.
#[derive(Debug, Clone)]
pub struct Run {
    pub wall: Duration,
    /// Peak resident set size in KiB (`ru_maxrss` on Linux).
    pub peak_rss_kib: u64,
    /// CPU time of the program, user + system (its share of the kernel's work included).
    pub cpu: Duration,
    pub stdout: String,
}

impl Run {
    pub fn wall_ms(&self) -> f64 {
        self.wall.as_secs_f64() * 1e3
    }
}

/// How a waited-for child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    /// Raw wait status.
    pub status: i32,
    pub timed_out: bool,
    /// User + system CPU time.
    pub cpu: Duration,
}

/// Spawn `cmd` with the stdio it is configured with, wait at most `timeout` (then SIGKILL), and
/// reap it with `wait4` to get its own rusage. Wall time is spawn to reap.
pub fn spawn_and_wait(cmd: &mut Command, timeout: Duration) -> io::Result<Outcome> {
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    // A pidfd lets us wait with a timeout without polling (which would add latency to
    // millisecond-scale runs) and without racing pid reuse: the child is not reaped until
    // wait4 below, so killing it on timeout always hits the right process.
    // SAFETY: pidfd_open on our own unreaped child.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let mut timed_out = false;
    if raw >= 0 {
        // SAFETY: a fresh fd returned by the kernel, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = start + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if r == 0 {
                timed_out = true;
                // SAFETY: the child is not reaped yet, so pid is still ours.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            break;
        }
    }

    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data, filled in by wait4.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let wall = start.elapsed();
    // The child is reaped; std's handle must not wait on it again (dropping it does not).
    drop(child);
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Ok(Outcome {
        wall,
        peak_rss_kib: ru.ru_maxrss.max(0) as u64,
        status,
        timed_out,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
    })
}

/// `palisade-bench __measure RESULT TIMEOUT_MS PROGRAM ARGS...`: run PROGRAM with this
/// process's stdout/stderr and write `wall_ns peak_rss_kib status timed_out cpu_ns` to RESULT.
pub fn helper_main(args: &[OsString]) -> ExitCode {
    let parsed = (|| {
        let [result, timeout, program, rest @ ..] = args else {
            return Err("usage: __measure RESULT TIMEOUT_MS PROGRAM [ARGS...]".to_string());
        };
        let ms: u64 = timeout
            .to_str()
            .and_then(|t| t.parse().ok())
            .ok_or("bad TIMEOUT_MS")?;
        let mut cmd = Command::new(program);
        cmd.args(rest).stdin(Stdio::null());
        die_with_parent(&mut cmd);
        let o = spawn_and_wait(&mut cmd, Duration::from_millis(ms))
            .map_err(|e| format!("spawning {program:?}: {e}"))?;
        let line = format!(
            "{} {} {} {} {}\n",
            o.wall.as_nanos(),
            o.peak_rss_kib,
            o.status,
            u8::from(o.timed_out),
            o.cpu.as_nanos()
        );
        std::fs::write(result, line).map_err(|e| format!("{result:?}: {e}"))
    })();
    match parsed {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("palisade-bench {HELPER}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_outcome(s: &str) -> Option<Outcome> {
    let mut it = s.split_whitespace();
    let wall = Duration::from_nanos(it.next()?.parse().ok()?);
    let peak_rss_kib = it.next()?.parse().ok()?;
    let status = it.next()?.parse().ok()?;
    let timed_out = it.next()? == "1";
    let cpu = Duration::from_nanos(it.next()?.parse().ok()?);
    Some(Outcome {
        wall,
        peak_rss_kib,
        status,
        timed_out,
        cpu,
    })
}

static RESULT_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Run `cmd` (its program, arguments and environment; stdin is empty) through the `__measure` trampoline,
/// wait at most `timeout`, and return its cost. A non-zero exit, a signal or a timeout is an
/// error carrying stderr, because a failed load must never be reported as a time.
pub fn run(cmd: &Command, timeout: Duration) -> io::Result<Run> {
    let what = format!("{cmd:?}");
    let result = std::env::temp_dir().join(format!(
        "palisade-bench-{}-{}.rusage",
        std::process::id(),
        RESULT_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _cleanup = RemoveOnDrop(result.clone());
    let mut helper = Command::new(std::env::current_exe()?);
    helper
        .arg(HELPER)
        .arg(&result)
        .arg(timeout.as_millis().to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The measured program inherits the helper's environment, so the helper gets `cmd`'s.
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => helper.env(k, v),
            None => helper.env_remove(k),
        };
    }
    die_with_parent(&mut helper);
    let mut child = helper.spawn()?;
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let err_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let mut stdout = Vec::new();
    out.read_to_end(&mut stdout)?;
    let helper_status = child.wait()?;
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();

    let outcome = std::fs::read_to_string(&result)
        .ok()
        .and_then(|s| parse_outcome(&s));
    let Some(o) = outcome.filter(|_| helper_status.success()) else {
        return Err(io::Error::other(format!(
            "{what}: measuring helper failed ({helper_status}): {}",
            last_lines(&stderr, 5)
        )));
    };
    if o.timed_out {
        return Err(io::Error::other(format!(
            "{what} timed out after {timeout:?}"
        )));
    }
    let s = o.status;
    if !(libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0) {
        let how = if libc::WIFSIGNALED(s) {
            format!("killed by signal {}", libc::WTERMSIG(s))
        } else {
            format!("exit status {}", libc::WEXITSTATUS(s))
        };
        return Err(io::Error::other(format!(
            "{what} failed ({how}): {}",
            last_lines(&stderr, 5)
        )));
    }
    Ok(Run {
        wall: o.wall,
        peak_rss_kib: o.peak_rss_kib,
        cpu: o.cpu,
        stdout,
    })
}

/// Have the kernel SIGKILL the spawned process when its parent dies. If the benchmark is killed
/// (or interrupted with a signal sent to it alone), its helper and the tool under test go with it
/// instead of running on in a namespace that is already gone. The setting survives the exec of
/// `ip netns exec` and of the tool.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: between fork and exec only async-signal-safe calls (getpid/prctl/getppid) are made.
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl took effect.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The tail of a tool's error output: enough to see why, short enough for a report line.
pub fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join(" | ")
}

/// Run a setup step whose cost is not measured; failure is an error with stderr.
pub fn setup(cmd: &Command, timeout: Duration) -> io::Result<String> {
    run(cmd, timeout).map(|r| r.stdout)
}

/// Median of a non-empty sample (mean of the two middle values for even sizes).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        c
    }

    #[test]
    fn reports_exit_status() {
        let ok = spawn_and_wait(&mut quiet("true", &[]), Duration::from_secs(10)).unwrap();
        assert!(libc::WIFEXITED(ok.status) && libc::WEXITSTATUS(ok.status) == 0);
        assert!(ok.peak_rss_kib > 0 && !ok.timed_out);
        let bad =
            spawn_and_wait(&mut quiet("sh", &["-c", "exit 3"]), Duration::from_secs(10)).unwrap();
        assert_eq!(libc::WEXITSTATUS(bad.status), 3);
    }

    #[test]
    fn timeout_kills_the_child() {
        let t = Instant::now();
        let o = spawn_and_wait(&mut quiet("sleep", &["30"]), Duration::from_millis(200)).unwrap();
        assert!(o.timed_out && libc::WIFSIGNALED(o.status));
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn peak_rss_sees_a_big_allocation() {
        // dd reads 64 MiB from /dev/zero into one buffer, touching every page of it.
        let o = spawn_and_wait(
            &mut quiet("dd", &["if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]),
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(o.peak_rss_kib > 60 * 1024, "{}", o.peak_rss_kib);
    }

    #[test]
    fn outcome_line_round_trips() {
        let o = parse_outcome("1500000 2048 0 0 7000000\n").unwrap();
        assert_eq!(o.wall, Duration::from_micros(1500));
        assert_eq!(o.cpu, Duration::from_millis(7));
        assert_eq!((o.peak_rss_kib, o.status, o.timed_out), (2048, 0, false));
        assert!(parse_outcome("garbage").is_none());
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
