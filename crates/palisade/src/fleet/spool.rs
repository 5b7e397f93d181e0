//! The spool: how the log watcher, `palisade block` and `palisade unban` hand this host's bans
//! to the fleet daemon (why a spool and not a publisher in each process: see [`super`]).
//!
//! A spool is on while its directory exists: `palisade fleet run` creates it, so a host that
//! is not in a fleet writes nothing, and a host whose fleet daemon is only stopped for a while
//! keeps its bans until the daemon is back. Each hand-over is one file of text lines (see
//! [`format_records`]), written atomically; the daemon takes them in order. If the daemon
//! stays away, the spool stops growing at [`MAX_FILES`] files and new hand-overs are
//! refused with a message: the bans themselves are in the kernel either way.

use std::io;
use std::path::Path;

use palisade_core::{parse_addr_range, AddrRange};
use palisade_fleet::wire::Record;
use palisade_fleet::{BanSource, Expiry};
use palisade_watch::Ban;

use crate::queue_dir::QueueDir;

/// Files the spool may hold before writers give up on it (each file is one batch of bans).
pub const MAX_FILES: usize = 10_000;

/// What became of a hand-over.
#[derive(Debug, PartialEq, Eq)]
pub enum Spooled {
    /// Queued for the fleet daemon.
    Queued,
    /// This host is not in a fleet (no spool): nothing to do.
    Off,
    /// The daemon has not read the spool for a long time: the records were not queued.
    Full,
}

pub struct Spool {
    queue: QueueDir,
    max_files: usize,
}

impl Spool {
    pub fn new(dir: &Path) -> Self {
        Self::with_limit(dir, MAX_FILES)
    }

    pub fn with_limit(dir: &Path, max_files: usize) -> Self {
        Self {
            queue: QueueDir::new(dir, "bans"),
            max_files,
        }
    }

    /// Turn the spool on (the fleet daemon does, when it starts).
    pub fn open(&self) -> io::Result<()> {
        std::fs::create_dir_all(self.queue.dir())
    }

    pub fn dir(&self) -> &Path {
        self.queue.dir()
    }

    /// Hand records to the fleet daemon, if there is one. Never waits for the bus.
    pub fn send(&self, records: &[Record]) -> io::Result<Spooled> {
        if records.is_empty() || !self.queue.dir().is_dir() {
            return Ok(Spooled::Off);
        }
        if self.queue.len() >= self.max_files {
            return Ok(Spooled::Full);
        }
        self.queue.push(&format_records(records))?;
        Ok(Spooled::Queued)
    }

    /// [`Spool::send`] for commands and daemons that only report a failure: `who` names the
    /// sender in the message.
    pub fn send_or_warn(&self, records: &[Record], who: &str) {
        let n = records.len();
        match self.send(records) {
            Ok(Spooled::Queued | Spooled::Off) => {}
            Ok(Spooled::Full) => eprintln!(
                "{who}: {n} bans not shared with the fleet: {} holds {} files nobody reads \
                 (is `palisade fleet run` running?)",
                self.dir().display(),
                self.max_files
            ),
            Err(e) => eprintln!("{who}: {n} bans not shared with the fleet: {e}"),
        }
    }

    /// Every record waiting, oldest first; what cannot be read is dropped (and counted).
    pub fn take(&self) -> (Vec<Record>, usize) {
        let mut records = Vec::new();
        let mut bad = 0;
        for text in self.queue.take() {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match parse_record(line) {
                    Some(r) => records.push(r),
                    None => bad += 1,
                }
            }
        }
        (records, bad)
    }
}

/// The log watcher's bans as fleet records: the address (or IPv6 network) on every port,
/// until the ban's end. A jail that blocks only its own ports still shares a whole-address
/// ban: the fleet's records carry no ports.
pub fn watch_records(bans: &[Ban]) -> Vec<Record> {
    bans.iter()
        .map(|b| Record::Ban {
            target: b.target,
            source: BanSource::Watch,
            expires: Expiry::At(b.until),
            reason: format!("{}: {}", b.jail, b.reason),
        })
        .collect()
}

/// A manual ban (`palisade block`), for `seconds` or for good.
pub fn manual_records(targets: &[AddrRange], seconds: Option<u64>, reason: &str) -> Vec<Record> {
    let expires = seconds.map_or(Expiry::Never, |s| Expiry::At(super::now() + s));
    targets
        .iter()
        .map(|t| Record::Ban {
            target: *t,
            source: BanSource::Manual,
            expires,
            reason: reason.to_string(),
        })
        .collect()
}

/// Lifts of `targets`, banned by `source`.
pub fn lift_records(targets: &[AddrRange], source: BanSource) -> Vec<Record> {
    targets
        .iter()
        .map(|t| Record::Lift { target: *t, source })
        .collect()
}

/// One line per record:
/// `ban SOURCE TARGET UNTIL REASON` (UNTIL: unix seconds or `never`) or `lift SOURCE TARGET`.
pub fn format_records(records: &[Record]) -> String {
    let mut out = String::new();
    for r in records {
        match r {
            Record::Ban {
                target,
                source,
                expires,
                reason,
            } => {
                let until = match expires {
                    Expiry::At(t) => t.to_string(),
                    Expiry::Never => "never".into(),
                };
                // A reason is shown to admins on every peer: one line, no control characters.
                let reason: String = reason
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                out.push_str(&format!("ban {source} {target} {until} {reason}\n"));
            }
            Record::Lift { target, source } => out.push_str(&format!("lift {source} {target}\n")),
        }
    }
    out
}

/// Read one line of [`format_records`]; `None` if it is not one.
pub fn parse_record(line: &str) -> Option<Record> {
    let mut words = line.splitn(5, ' ');
    let op = words.next()?;
    let source = BanSource::from_name(words.next()?)?;
    let target = parse_addr_range(words.next()?, false).ok()?;
    match op {
        "lift" => words
            .next()
            .is_none()
            .then_some(Record::Lift { target, source }),
        "ban" => {
            let expires = match words.next()? {
                "never" => Expiry::Never,
                t => Expiry::At(t.parse().ok().filter(|t| *t > 0)?),
            };
            Some(Record::Ban {
                target,
                source,
                expires,
                reason: words.next().unwrap_or("").to_string(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> AddrRange {
        parse_addr_range(s, false).unwrap()
    }

    #[test]
    fn records_round_trip_through_text() {
        let records = vec![
            Record::Ban {
                target: net("203.0.113.7"),
                source: BanSource::Watch,
                expires: Expiry::At(1_900_000_000),
                reason: "sshd: 5 failures in 10m".into(),
            },
            Record::Ban {
                target: net("2001:db8::/64"),
                source: BanSource::Manual,
                expires: Expiry::Never,
                reason: String::new(),
            },
            Record::Lift {
                target: net("198.51.100.0/24"),
                source: BanSource::Flood,
            },
        ];
        let text = format_records(&records);
        let back: Vec<Record> = text.lines().filter_map(parse_record).collect();
        assert_eq!(back, records);
    }

    #[test]
    fn a_reason_cannot_smuggle_a_second_record() {
        let text = format_records(&[Record::Ban {
            target: net("203.0.113.7"),
            source: BanSource::Manual,
            expires: Expiry::Never,
            reason: "x\nban manual 10.0.0.0/8 never y".into(),
        }]);
        assert_eq!(text.lines().count(), 1);
        let r = parse_record(text.lines().next().unwrap()).unwrap();
        assert_eq!(r.target(), net("203.0.113.7"));
    }

    #[test]
    fn other_lines_are_refused() {
        for bad in [
            "",
            "ban",
            "ban watch",
            "ban watch 203.0.113.7",
            "ban watch 203.0.113.7 soon r",
            "ban watch 203.0.113.7 0 r",
            "ban other 203.0.113.7 never r",
            "ban watch 203.0.113.999 never r",
            "lift watch 203.0.113.7 extra",
            "drop watch 203.0.113.7",
        ] {
            assert_eq!(parse_record(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_spool_is_off_until_opened_and_bounded() {
        let dir = std::env::temp_dir().join(format!("palisade-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spool = Spool::with_limit(&dir, 2);
        let one = manual_records(&[net("203.0.113.7")], Some(60), "test");
        assert_eq!(spool.send(&one).unwrap(), Spooled::Off);
        assert!(
            !dir.exists(),
            "nothing is written for a host not in a fleet"
        );
        spool.open().unwrap();
        assert_eq!(spool.send(&one).unwrap(), Spooled::Queued);
        spool
            .send(&lift_records(&[net("203.0.113.7")], BanSource::Manual))
            .unwrap();
        assert_eq!(spool.send(&one).unwrap(), Spooled::Full, "two files wait");
        let (records, bad) = spool.take();
        assert_eq!((records.len(), bad), (2, 0));
        assert!(
            matches!(records[0], Record::Ban { expires: Expiry::At(t), .. } if t > super::super::now())
        );
        assert!(matches!(records[1], Record::Lift { .. }));
        std::fs::remove_dir_all(dir).unwrap();
    }

    proptest! {
        #[test]
        fn parsing_never_panics(line in ".{0,120}") {
            let _ = parse_record(&line);
        }
    }
}
