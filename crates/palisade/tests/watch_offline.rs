//! `palisade watch --test FILE` on hostile input: it streams the file with bounded memory, so
//! a 100 MB line costs no more than a short one, and a file that is not a text log (no line
//! end in its first megabyte, such as `/dev/zero`) ends with an error naming it instead of
//! filling the memory. Peak memory is the kernel's own count for the child (`ru_maxrss` from
//! `wait4`), so a short-lived peak is not missed between samples.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Well above what the streaming reader needs (a few MB), well below what reading the whole
/// input costs (over 100 MB for the 100 MB line).
const PEAK_LIMIT_KB: i64 = 64 * 1024;

/// How a bounded run of palisade ended.
struct Bounded {
    /// The exit code; `None` if it was killed for running too long or growing too large.
    code: Option<i32>,
    peak_kb: i64,
    stdout: String,
    stderr: String,
}

/// Run `palisade ARGS`, killed after `limit` or once its resident memory passes 1 GB (the
/// unfixed reader reaches gigabytes in seconds on `/dev/zero`: the test must not take the
/// machine down with it).
// The child is reaped by `wait4`, which `Child::wait` cannot replace: it returns the rusage.
#[allow(clippy::zombie_processes)]
fn run_bounded(args: &[&str], limit: Duration) -> Bounded {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let mut killed = false;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: rusage is plain data, filled by wait4.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waiting for our own child, without blocking.
        let got = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(got >= 0, "wait4: {}", std::io::Error::last_os_error());
        if got == pid {
            break (status, usage);
        }
        if !killed && (start.elapsed() > limit || resident_kb(pid) > 1024 * 1024) {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Bounded {
        code: (!killed && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status)),
        peak_kb: usage.ru_maxrss,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// VmRSS of a running process, in kB (0 once it is gone).
fn resident_kb(pid: libc::pid_t) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A scratch directory with an sshd jail's config; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("palisade-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("palisade.toml"),
            "[jails.sshd]\nfile = \"/dev/null\"\nmaxretry = 2\n",
        )
        .unwrap();
        Self(dir)
    }

    fn config(&self) -> String {
        self.0.join("palisade.toml").display().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn failures(f: &mut impl Write, host: &str, n: usize) {
    for _ in 0..n {
        writeln!(
            f,
            "Mar  5 14:39:21 web sshd[812]: Failed password for root from {host} port 50122 ssh2"
        )
        .unwrap();
    }
}

fn test_file(scratch: &Scratch, file: &Path) -> Bounded {
    let file = file.to_str().unwrap();
    run_bounded(
        &["watch", "-c", &scratch.config(), "--test", file],
        Duration::from_secs(60),
    )
}

#[test]
fn a_100_mb_line_is_skipped_whole_in_bounded_memory() {
    let scratch = Scratch::new("offline-long");
    let log = scratch.path("auth.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        failures(&mut f, "203.0.113.5", 2);
        // A failure line made 100 MB long by client text: skipped whole, never matched.
        write!(
            f,
            "Mar  5 14:39:22 web sshd[812]: Failed password for invalid user "
        )
        .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        writeln!(f, " from 198.51.100.66 port 22 ssh2").unwrap();
        failures(&mut f, "198.51.100.66", 1);
        failures(&mut f, "203.0.113.6", 2);
    }
    let run = test_file(&scratch, &log);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.peak_kb < PEAK_LIMIT_KB,
        "peak memory {} kB for a 100 MB line",
        run.peak_kb
    );
    assert!(
        run.stdout.contains("would ban 203.0.113.5 ")
            && run.stdout.contains("would ban 203.0.113.6 "),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("198.51.100.66"),
        "the address at the end of the skipped line is not counted: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 line longer than 16 KiB skipped"),
        "{}",
        run.stdout
    );
}

#[test]
fn dev_zero_ends_with_an_error_naming_it_in_bounded_memory() {
    let scratch = Scratch::new("offline-zero");
    let run = test_file(&scratch, Path::new("/dev/zero"));
    assert_eq!(
        run.code,
        Some(2),
        "ends by itself with an error (peak {} kB): {}",
        run.peak_kb,
        run.stderr
    );
    assert!(
        run.stderr.contains("/dev/zero") && run.stderr.contains("no line end in the first"),
        "{}",
        run.stderr
    );
    assert!(
        run.peak_kb < PEAK_LIMIT_KB,
        "peak memory {} kB",
        run.peak_kb
    );
}

#[test]
fn a_file_without_line_ends_is_refused_not_matched() {
    let scratch = Scratch::new("offline-binary");
    let blob = scratch.path("core.dump");
    // 4 MB without a newline, though it holds failure text: not a text log.
    let mut text = Vec::new();
    while text.len() < 4 << 20 {
        text.extend_from_slice(b"Failed password for root from 203.0.113.7 port 1 ssh2\r");
    }
    std::fs::write(&blob, &text).unwrap();
    let run = test_file(&scratch, &blob);
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    let name = blob.display().to_string();
    assert!(
        run.stderr.contains(&name) && run.stderr.contains("not a text log?"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("would ban"), "{}", run.stdout);
}

#[test]
fn a_last_line_without_line_end_still_counts() {
    let scratch = Scratch::new("offline-tail");
    let log = scratch.path("auth.log");
    let mut text = Vec::new();
    failures(&mut text, "203.0.113.8", 2);
    text.pop(); // the log was copied while sshd was writing its last line
    std::fs::write(&log, &text).unwrap();
    let run = test_file(&scratch, &log);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("2 lines"), "{}", run.stdout);
    assert!(
        run.stdout.contains("would ban 203.0.113.8 "),
        "{}",
        run.stdout
    );
}
