//! The log watcher's configuration as plain data: jails, where they read, what they ban.
//!
//! Kept apart from the reader ([`crate::config`]), the built-in jails ([`crate::builtin`])
//! and the tracker ([`crate::tracker`]), which all use these types, so none of them has to
//! import another to name them.

use std::path::PathBuf;

use palisade_core::policy::{PortProto, PortRange};

use crate::allowlist::Allowlist;
use crate::matcher::Matcher;

/// Where a jail reads its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A log file, followed across rotation.
    File(PathBuf),
    /// The systemd journal, the messages of one unit (`None`: every message).
    Journal { unit: Option<String> },
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

/// One enabled jail.
#[derive(Clone, Debug)]
pub struct Jail {
    pub name: String,
    pub source: Source,
    pub matcher: Matcher,
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
}

/// The log watcher's whole configuration.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Enabled jails, in file order.
    pub jails: Vec<Jail>,
    pub allow: Allowlist,
    /// The palisade set bans are put in.
    pub set: String,
}

impl WatchConfig {
    /// Index of the jail called `name`.
    pub fn jail_index(&self, name: &str) -> Option<usize> {
        self.jails.iter().position(|j| j.name == name)
    }
}
