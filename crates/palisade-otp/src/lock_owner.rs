//! Who holds the login lock, so that a lock whose login has died is taken over at once.
//!
//! OTPW's lock is a symbolic link, `~/.otpw.lock`, whose target is the locked password's
//! number, and it counts as stale only after a day: a login killed while it held the lock
//! (`kill -9`, a crash) left every later login with the triple challenge for 24 hours, and
//! with fewer than ten passwords left, with no one-time password at all. The target cannot
//! carry more: `pam_otpw.so` removes a lock whose target is not exactly a password number as
//! corrupt. So palisade writes who holds the lock beside it, in `~/.otpw.lock.owner`
//! ([`OwnerRecord`]): the process (its pid, and its start time, which tells a reused pid
//! apart), the machine and boot it runs in, its pid namespace, and which link the record is
//! about (the link's inode and modification time, since a record can outlive its link).
//!
//! [`judge`] decides. A lock is stale when it is older than a day (OTPW's rule, which
//! `pam_otpw.so` applies to palisade's locks too), or when the record is about this very link
//! and its process is gone: exited, a zombie, another process under the same pid, or the
//! machine rebooted since. Whenever palisade cannot tell (no record: the lock is
//! `pam_otpw.so`'s or its owner is still writing the record; a record about another link; a
//! process on another machine sharing the home over NFS, or in another pid namespace) the
//! lock is held, as OTPW would hold it.

use crate::STALE_LOCK_SECS;
use std::fmt;

/// Which lock link a record is about: a record left behind must not describe a link that
/// someone else created later under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkId {
    pub inode: u64,
    pub mtime_secs: i64,
    pub mtime_nanos: i64,
}

/// Where a process runs: two processes are comparable only on the same machine, in the same
/// boot, in the same pid namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `/etc/machine-id` (or the host name without one).
    pub machine: String,
    /// `/proc/sys/kernel/random/boot_id`: new at every boot.
    pub boot: String,
    /// The inode of `/proc/self/ns/pid`.
    pub pid_namespace: u64,
}

/// One process, told apart from a later one that gets the same pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat`: clock ticks from boot to the process's start.
    pub start_ticks: u64,
}

/// The content of `~/.otpw.lock.owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRecord {
    pub link: LinkId,
    pub process: Process,
    pub host: Host,
}

/// What the first word of the owner file says, so other content is never mistaken for it.
const MAGIC: &str = "palisade-lock-owner-1";

impl OwnerRecord {
    /// One line: `palisade-lock-owner-1 link=INODE:SECS.NANOS pid=PID start=TICKS
    /// machine=ID boot=ID pidns=INODE`.
    pub fn to_text(&self) -> String {
        format!(
            "{MAGIC} link={}:{}.{} pid={} start={} machine={} boot={} pidns={}\n",
            self.link.inode,
            self.link.mtime_secs,
            self.link.mtime_nanos,
            self.process.pid,
            self.process.start_ticks,
            self.host.machine,
            self.host.boot,
            self.host.pid_namespace,
        )
    }

    /// `None` for anything that is not a complete record (an empty file after a release, a
    /// record torn by a crash): without one the lock is judged by its age alone.
    pub fn parse(bytes: &[u8]) -> Option<OwnerRecord> {
        let text = std::str::from_utf8(bytes).ok()?;
        // A record cut short (by a crash while it was written) lacks the final newline.
        let text = text.strip_suffix('\n')?;
        let mut words = text.split_ascii_whitespace();
        if words.next()? != MAGIC {
            return None;
        }
        let mut field = |key: &str| {
            let word = words.next()?;
            let value = word.strip_prefix(key)?.strip_prefix('=')?;
            (!value.is_empty()).then_some(value)
        };
        let (inode, mtime) = field("link")?.split_once(':')?;
        let (mtime_secs, mtime_nanos) = mtime.split_once('.')?;
        let link = LinkId {
            inode: inode.parse().ok()?,
            mtime_secs: mtime_secs.parse().ok()?,
            mtime_nanos: mtime_nanos.parse().ok()?,
        };
        let process = Process {
            pid: field("pid")?.parse().ok()?,
            start_ticks: field("start")?.parse().ok()?,
        };
        let host = Host {
            machine: field("machine")?.to_string(),
            boot: field("boot")?.to_string(),
            pid_namespace: field("pidns")?.parse().ok()?,
        };
        if words.next().is_some() {
            return None;
        }
        Some(OwnerRecord {
            link,
            process,
            host,
        })
    }
}

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead)...
    pub state: u8,
    pub start_ticks: u64,
}

/// Read `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_proc_stat(bytes: &[u8]) -> Option<ProcStat> {
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&bytes[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    // Field 3 is the state; the start time is field 22, 19 further on.
    let start_ticks = fields.nth(18)?.parse().ok()?;
    match state.as_bytes() {
        [state] => Some(ProcStat {
            state: *state,
            start_ticks,
        }),
        _ => None,
    }
}

/// What was found when looking for the recorded process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// No process has that pid (`kill(pid, 0)` said ESRCH).
    Gone,
    /// A process has that pid; its `/proc` entry, if readable (it may be hidden).
    Present(Option<ProcStat>),
}

/// Why a lock may be taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// Older than a day, whoever holds it.
    Old { age_secs: u64 },
    /// Its login ended without removing it.
    OwnerEnded { pid: u32 },
    /// Its login ended and another process now has the pid.
    PidReused { pid: u32 },
    /// The machine has rebooted since it was taken.
    Rebooted,
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stale::Old { age_secs } => write!(f, "it is {age_secs} s old"),
            Stale::OwnerEnded { pid } => write!(f, "its login (pid {pid}) has ended"),
            Stale::PidReused { pid } => write!(
                f,
                "its login (pid {pid}) has ended and the pid belongs to another process now"
            ),
            Stale::Rebooted => write!(f, "the machine has rebooted since it was taken"),
        }
    }
}

/// Whether an existing lock is still held. `age_secs` and `link` describe the lock link,
/// `record` is the owner file's content, `here` where this login runs (`None` when that
/// could not be read), and `observe` looks a pid up (a system call, passed in so the rule is
/// tested without processes).
pub fn judge(
    age_secs: u64,
    link: &LinkId,
    record: Option<&OwnerRecord>,
    here: Option<&Host>,
    observe: impl FnOnce(u32) -> Observed,
) -> Option<Stale> {
    if age_secs > STALE_LOCK_SECS {
        return Some(Stale::Old { age_secs });
    }
    let (record, here) = (record?, here?);
    if record.link != *link || record.host.machine != here.machine {
        return None;
    }
    if record.host.boot != here.boot {
        return Some(Stale::Rebooted);
    }
    if record.host.pid_namespace != here.pid_namespace {
        return None;
    }
    let pid = record.process.pid;
    match observe(pid) {
        Observed::Gone => Some(Stale::OwnerEnded { pid }),
        Observed::Present(Some(stat)) if matches!(stat.state, b'Z' | b'X') => {
            Some(Stale::OwnerEnded { pid })
        }
        Observed::Present(Some(stat)) if stat.start_ticks != record.process.start_ticks => {
            Some(Stale::PidReused { pid })
        }
        Observed::Present(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> OwnerRecord {
        OwnerRecord {
            link: LinkId {
                inode: 1234,
                mtime_secs: 1_700_000_000,
                mtime_nanos: 5,
            },
            process: Process {
                pid: 4242,
                start_ticks: 99_000,
            },
            host: here(),
        }
    }

    fn here() -> Host {
        Host {
            machine: "0123abcd".into(),
            boot: "6f1c-boot".into(),
            pid_namespace: 4026531836,
        }
    }

    fn running(start_ticks: u64) -> impl FnOnce(u32) -> Observed {
        move |_| {
            Observed::Present(Some(ProcStat {
                state: b'S',
                start_ticks,
            }))
        }
    }

    #[test]
    fn record_round_trips_and_partial_text_is_none() {
        let r = record();
        let text = r.to_text();
        assert_eq!(OwnerRecord::parse(text.as_bytes()), Some(r));
        for cut in 0..text.trim_end().len() {
            assert_eq!(OwnerRecord::parse(&text.as_bytes()[..cut]), None, "{cut}");
        }
        assert_eq!(OwnerRecord::parse(b""), None);
        assert_eq!(OwnerRecord::parse(b"017"), None);
        assert_eq!(OwnerRecord::parse(format!("{text}x\n").as_bytes()), None);
        let swapped = text.replace("pid=4242 start=99000", "start=99000 pid=4242");
        assert_ne!(swapped, text);
        assert_eq!(OwnerRecord::parse(swapped.as_bytes()), None);
    }

    #[test]
    fn proc_stat_counts_fields_after_the_command_name() {
        let stat = b"4242 (we ird) (x) Z 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 99000 1000 200";
        assert_eq!(
            parse_proc_stat(stat),
            Some(ProcStat {
                state: b'Z',
                start_ticks: 99_000
            })
        );
        assert_eq!(parse_proc_stat(b"4242 (short) S 1 2"), None);
        assert_eq!(parse_proc_stat(b"no parenthesis"), None);
    }

    #[test]
    fn a_lock_whose_login_is_gone_is_stale() {
        let r = record();
        let link = r.link.clone();
        let stale = |observe| judge(5, &link, Some(&r), Some(&here()), observe);
        assert_eq!(
            stale(Box::new(|_| Observed::Gone) as Box<dyn FnOnce(u32) -> Observed>),
            Some(Stale::OwnerEnded { pid: 4242 })
        );
        let zombie = Box::new(|_| {
            Observed::Present(Some(ProcStat {
                state: b'Z',
                start_ticks: 99_000,
            }))
        });
        assert_eq!(stale(zombie), Some(Stale::OwnerEnded { pid: 4242 }));
        assert_eq!(
            stale(Box::new(running(123))),
            Some(Stale::PidReused { pid: 4242 })
        );
        assert_eq!(stale(Box::new(running(99_000))), None, "its login is alive");
        let hidden = Box::new(|_| Observed::Present(None));
        assert_eq!(stale(hidden), None, "cannot tell: held");
        let mut rebooted = here();
        rebooted.boot = "another-boot".into();
        let gone_unasked = |_| -> Observed { panic!("no process to look up after a reboot") };
        assert_eq!(
            judge(5, &link, Some(&r), Some(&rebooted), gone_unasked),
            Some(Stale::Rebooted)
        );
    }

    #[test]
    fn without_a_matching_record_only_age_counts() {
        let r = record();
        let gone = |_| Observed::Gone;
        let other_link = LinkId {
            mtime_nanos: 6,
            ..r.link.clone()
        };
        assert_eq!(judge(5, &other_link, Some(&r), Some(&here()), gone), None);
        assert_eq!(judge(5, &r.link, None, Some(&here()), gone), None);
        assert_eq!(judge(5, &r.link, Some(&r), None, gone), None);
        let mut elsewhere = here();
        elsewhere.machine = "nfs-peer".into();
        elsewhere.boot = "its-boot".into();
        assert_eq!(judge(5, &r.link, Some(&r), Some(&elsewhere), gone), None);
        let mut container = here();
        container.pid_namespace += 1;
        assert_eq!(judge(5, &r.link, Some(&r), Some(&container), gone), None);
        assert_eq!(
            judge(STALE_LOCK_SECS + 1, &other_link, None, None, gone),
            Some(Stale::Old {
                age_secs: STALE_LOCK_SECS + 1
            })
        );
        assert_eq!(judge(STALE_LOCK_SECS, &r.link, None, None, gone), None);
    }
}
