//! The log watcher's configuration as plain data: jails, where they read, what they ban.
//!
//! Kept apart from the reader ([`crate::config`]), the built-in jails ([`crate::jails`])
//! and the tracker ([`crate::tracker`]), which all use these types, so none of them has to
//! import another to name them.

use std::path::PathBuf;
use std::sync::Arc;

use palisade_core::policy::{PortProto, PortRange};

use crate::allowlist::Allowlist;
use crate::jail_matcher::{JailMatcher, Rules};

/// Which journal entries a jail reads, as `journalctl` matches them: every listed field
/// must match (units AND identifiers), any value of a list will do (a unit OR another).
/// Both empty: every entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalMatch {
    /// `_SYSTEMD_UNIT`: set by journald itself, so a program cannot claim another's.
    pub units: Vec<String>,
    /// `SYSLOG_IDENTIFIER`: chosen by the program that logs, so any local program can
    /// claim to be `sshd`; narrow a unit with it rather than use it alone.
    pub identifiers: Vec<String>,
}

impl JournalMatch {
    /// Whether an entry with these fields is one the jail reads.
    pub fn matches(&self, unit: Option<&str>, identifier: Option<&str>) -> bool {
        let has = |list: &[String], v: Option<&str>| {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
        };
        has(&self.units, unit) && has(&self.identifiers, identifier)
    }
}

/// Where a jail reads its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A log file, followed across rotation.
    File(PathBuf),
    /// The systemd journal, the entries that match.
    Journal(JournalMatch),
}

/// Where the journal is read from: the system's, or files an admin points at (remote
/// journals collected by `systemd-journal-remote`, or a test's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum JournalLocation {
    /// The local system's journal.
    #[default]
    System,
    /// `journalctl --directory DIR`.
    Directory(PathBuf),
    /// `journalctl --file FILE` (each).
    Files(Vec<PathBuf>),
}

/// What a ban blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BanPorts {
    /// Everything from the banned source.
    All,
    /// Only these ports (the attacked service's), so a banned NATed office can still
    /// reach the rest.
    Some(Vec<(PortProto, PortRange)>),
}

/// How a jail tells failures: its own rules (built in or written in palisade.toml), or a
/// fail2ban filter file read as it is.
#[derive(Clone, Debug)]
pub enum JailFilter {
    Rules(Arc<Rules>),
    Fail2ban(palisade_f2b::Filter),
}

/// One enabled jail.
#[derive(Clone, Debug)]
pub struct Jail {
    pub name: String,
    pub source: Source,
    pub filter: JailFilter,
    pub maxretry: u32,
    /// Seconds in which `maxretry` failures lead to a ban.
    pub findtime: u64,
    /// Seconds of the first ban.
    pub bantime: u64,
    /// Each earlier ban of the same target multiplies the ban time by this.
    pub bantime_factor: f64,
    /// Seconds: the longest ban, however often the target came back.
    pub bantime_max: u64,
    /// Ban the IPv6 network of this length around the address instead of the address.
    pub ban_v6_prefix: Option<u8>,
    pub ports: BanPorts,
    /// A palisade set of networks whose hits this jail does not count (`genuine = "SET"`):
    /// the real Googlebot's, for a jail that bans clients claiming to be it. Looked up by
    /// the daemon, in the kernel, for each hit.
    pub genuine: Option<String>,
}

impl Jail {
    /// A matcher with its own state (lines of one connection told over several lines,
    /// `maxlines` of a fail2ban filter), for one source's lines in order.
    pub fn matcher(&self) -> JailMatcher {
        JailMatcher::new(&self.filter)
    }
}

/// Repeat offenders across jails: targets palisade banned often get long bans, and
/// optionally a permanent one. Counted from palisade's own ban history, not a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recidive {
    /// Bans (by any jail) within `findtime` that make a recidive ban.
    pub bans: u32,
    pub findtime: u64,
    /// Seconds of a recidive ban.
    pub bantime: u64,
    /// After this many bans within `history`, the ban never ends.
    pub permanent_after: Option<u32>,
    /// Seconds a ban is remembered for `permanent_after`.
    pub history: u64,
}

/// The name recidive bans carry (no jail may take it).
pub const RECIDIVE: &str = "recidive";

/// A ban's end that never comes: permanent bans (kernel elements without a timeout).
pub const PERMANENT: u64 = u64::MAX;

/// The log watcher's whole configuration.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Enabled jails, in file order.
    pub jails: Vec<Jail>,
    pub allow: Allowlist,
    /// The palisade set bans are put in.
    pub set: String,
    pub journal: JournalLocation,
    pub recidive: Option<Recidive>,
}

impl WatchConfig {
    /// Index of the jail called `name`.
    pub fn jail_index(&self, name: &str) -> Option<usize> {
        self.jails.iter().position(|j| j.name == name)
    }
}
