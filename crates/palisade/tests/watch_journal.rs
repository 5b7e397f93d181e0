//! The journal, end to end: a real journal file (written by `systemd-journal-remote` from
//! the export format, as a collector of remote journals does), followed by `palisade watch`
//! the way it follows the system's (`journalctl`, here pointed at the directory with
//! `[watch] journal_directory`), entries routed to jails by `_SYSTEMD_UNIT` and
//! `SYSLOG_IDENTIFIER`, sshd's connections told over several entries joined by process id,
//! and the bans in the lab's kernel.

mod common;
#[path = "watch_support/mod.rs"]
mod watch_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use watch_support::{banned, Watcher};

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// A journal file that grows by one `systemd-journal-remote` run per batch of entries.
struct Journal {
    file: PathBuf,
    seq: u64,
}

impl Journal {
    fn new(dir: &Path) -> Self {
        assert!(
            Path::new(JOURNAL_REMOTE).exists(),
            "{JOURNAL_REMOTE} is missing: install systemd-journal-remote (scripts/deps.sh)"
        );
        std::fs::create_dir_all(dir).unwrap();
        Self {
            file: dir.join("remote.journal"),
            seq: 0,
        }
    }

    /// Append entries, each `(unit, identifier, pid, message)`.
    fn write(&mut self, entries: &[(&str, &str, u32, &str)]) {
        let mut export = Vec::new();
        for (unit, ident, pid, message) in entries {
            self.seq += 1;
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            write!(
                export,
                "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=5e1f0c1d2b3a49e8a7f6c5d4e3f2a1b0\n\
                 _HOSTNAME=gw\n_SYSTEMD_UNIT={unit}\nSYSLOG_IDENTIFIER={ident}\n_PID={pid}\nMESSAGE={message}\n\n",
                now.as_micros(),
                self.seq
            )
            .unwrap();
        }
        let mut child = Command::new(JOURNAL_REMOTE)
            .arg(format!("--output={}", self.file.display()))
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&export).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "systemd-journal-remote: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn failed(host: &str) -> String {
    format!("Failed password for root from {host} port 40100 ssh2")
}

#[test]
fn journal_entries_reach_the_jails_of_their_unit_and_identifier() {
    let Some(lab) = Lab::new() else { return };
    let dir = lab.state.join("journal");
    let mut journal = Journal::new(&dir);
    // The file exists before the watcher starts, as a collector's would.
    journal.write(&[("init.scope", "systemd", 1, "started")]);
    let config = lab.write_config(
        "palisade.toml",
        &format!(
            "[watch]\njournal_directory = \"{}\"\n\
             [jails.sshd]\nmaxretry = 2\n\
             [jails.app]\njournal = {{ identifiers = [\"tokend\"] }}\npatterns = ['^tokend\\[\\d+\\]: bad token from <HOST>$']\nmaxretry = 1\n\
             [jails.gate]\njournal = \"gate.service\"\npatterns = ['denied for <HOST>$']\nmaxretry = 1\n",
            dir.display()
        ),
    );
    let w = Watcher::start(&lab, Path::new(&config));
    journal.write(&[
        // sshd's own unit, under both of its program names.
        ("ssh.service", "sshd", 4001, &failed("203.0.113.50")),
        ("ssh.service", "sshd-session", 4002, &failed("203.0.113.50")),
        // The same text from another unit, and from a program claiming to be sshd
        // outside sshd's unit: not sshd's.
        ("cron.service", "sshd", 4003, &failed("203.0.113.51")),
        ("cron.service", "sshd", 4003, &failed("203.0.113.51")),
        ("user@1000.service", "myapp", 4004, &failed("203.0.113.51")),
        ("user@1000.service", "myapp", 4004, &failed("203.0.113.51")),
        // One connection told over two entries of one process: the address, then the
        // failures without it.
        (
            "ssh.service",
            "sshd-session",
            4005,
            "Connection from 203.0.113.52 port 40200 on 198.18.0.1 port 22 rdomain \"\"",
        ),
        (
            "ssh.service",
            "sshd-session",
            4005,
            "Disconnecting: Too many authentication failures [preauth]",
        ),
        (
            "ssh.service",
            "sshd-session",
            4006,
            "Connection from 203.0.113.53 port 40201 on 198.18.0.1 port 22 rdomain \"\"",
        ),
        (
            "ssh.service",
            "sshd-session",
            4007,
            "Disconnecting: Too many authentication failures [preauth]",
        ),
        (
            "ssh.service",
            "sshd-session",
            4005,
            "User root not allowed because account is locked",
        ),
        // `journalctl` hands over what any jail wants; each jail takes its own: this is
        // tokend's (by identifier), not gate's (another unit), whatever it says.
        ("tokend.service", "tokend", 4101, "denied for 203.0.113.55"),
        // Another program's jail, by its identifier, whatever its unit.
        (
            "tokend.service",
            "tokend",
            4100,
            "bad token from 203.0.113.54",
        ),
    ]);
    assert!(
        palisade_lab::eventually(Duration::from_secs(15), || banned(&lab, "203.0.113.54")),
        "the identifier's jail did not ban"
    );
    // Entries are read in order: the ones before the last are read by now.
    assert!(
        banned(&lab, "203.0.113.50"),
        "sshd's failures under both names"
    );
    assert!(
        banned(&lab, "203.0.113.52"),
        "the connection's address and its failures, joined by process id"
    );
    assert!(!banned(&lab, "203.0.113.51"), "not sshd's unit");
    assert!(!banned(&lab, "203.0.113.55"), "not gate's unit");
    assert!(
        !banned(&lab, "203.0.113.53"),
        "another process's failure is not this connection's"
    );
    drop(w);
}
