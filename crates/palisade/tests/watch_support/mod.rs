//! What the log watcher's integration tests share: a `palisade watch` run by the test for the
//! lab's server namespace, a jail on a log file of the test's own, and the kernel's answer to
//! "is this address banned".

#![allow(dead_code)]

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::Lab;

/// `palisade watch` for the lab's server namespace; stopped with SIGTERM (so it saves) on
/// drop, if the test did not stop or kill it itself.
pub struct Watcher {
    child: Option<Child>,
}

impl Watcher {
    /// Start it and wait until it says which jails it follows: its readers are at the logs'
    /// ends then. Its messages are passed on to the test's, but for the one line per ban.
    pub fn start(lab: &Lab, config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .env("PALISADE_STATE_DIR", &lab.state)
            .args(["--netns", lab.server.name(), "watch", "-c"])
            .arg(config)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let ready = Arc::new(AtomicBool::new(false));
        let seen = ready.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("banning into set") {
                    seen.store(true, Ordering::SeqCst);
                }
                if !line.starts_with("palisade watch: banned ") {
                    eprintln!("{line}");
                }
            }
        });
        let started =
            palisade_lab::eventually(Duration::from_secs(30), || ready.load(Ordering::SeqCst));
        let mut w = Self { child: Some(child) };
        assert!(started, "palisade watch did not start");
        w.assert_running();
        w
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("running");
        assert!(child.try_wait().unwrap().is_none(), "palisade watch exited");
    }

    /// SIGTERM, and its exit status once it saved and ended (within a minute).
    pub fn stop(mut self) -> ExitStatus {
        self.signal_and_wait(libc::SIGTERM)
    }

    /// SIGKILL: it ends at once, saving nothing.
    pub fn kill(mut self) {
        self.signal_and_wait(libc::SIGKILL);
    }

    fn signal_and_wait(&mut self, sig: libc::c_int) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(child.id() as i32, sig) };
        let mut status = None;
        let ended = palisade_lab::eventually(Duration::from_secs(60), || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        if !ended {
            let _ = child.kill();
            let _ = child.wait();
            panic!("palisade watch did not end within a minute of signal {sig}");
        }
        status.unwrap()
    }

    /// Resident memory (VmRSS) in kB.
    pub fn resident_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

/// A jail `sshd` reading a log file of its own in the lab's state directory: (log, config).
pub fn file_jail(lab: &Lab, settings: &str) -> (PathBuf, PathBuf) {
    let log = lab.state.join("auth.log");
    std::fs::create_dir_all(&lab.state).unwrap();
    std::fs::write(&log, "").unwrap();
    let config = lab.state.join("palisade.toml");
    std::fs::write(
        &config,
        format!("[jails.sshd]\nfile = \"{}\"\n{settings}", log.display()),
    )
    .unwrap();
    (log, config)
}

/// An sshd failure line from `host`, as syslog writes it.
pub fn failure_line(host: &str) -> String {
    format!("Mar  5 14:39:21 web sshd[812]: Failed password for root from {host} port 4242 ssh2\n")
}

/// Append `n` sshd failure lines from `host` to `log`.
pub fn fail(log: &Path, host: &str, n: usize) {
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    f.write_all(failure_line(host).repeat(n).as_bytes())
        .unwrap();
}

/// Whether the kernel's ban set holds `addr` (asked of the kernel, one lookup).
pub fn banned(lab: &Lab, addr: &str) -> bool {
    lab.palisade(&["set", "test", "bans", addr])
        .status
        .success()
}
