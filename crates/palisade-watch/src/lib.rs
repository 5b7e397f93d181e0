//! The pure core of palisade's log-watching bans (a fail2ban replacement).
//!
//! Everything here is a function of its inputs: no files, no journal, no clock, no
//! netlink. The daemon reads lines and the time and hands them in; this crate says which
//! address a line accuses ([`JailMatcher`]), whether that makes a ban and for how long
//! ([`Tracker`]), and what the admin configured ([`parse_watch_config`]). That keeps the
//! part that decides *who gets banned* testable line by line, including against
//! attackers who craft log lines.
//!
//! - [`model`]: jails and the watcher's config as plain data.
//! - [`config`]: `[watch]` and `[jails.*]` in palisade.toml, read into the model, with
//!   fail2ban's filter files read as they are (through `palisade-f2b`).
//! - [`allowlist`]: addresses never banned.
//! - [`jails`]: the built-in jails, one file per family of services.
//! - [`matcher`]: rules with `<HOST>`, a literal prefilter, the one-reading check.
//! - [`jail_matcher`], `sessions`: one source's lines in order, failures told over
//!   several lines.
//! - [`journal`]: the `journalctl` the daemon runs, and its entries.
//! - [`tracker`]: failure windows, bans, repeat offenders, the allowlist.
//! - [`state`]: saving and loading bans across restarts.
//!
//! ```
//! use palisade_core::policy::Services;
//! use palisade_watch::{parse_watch_config, MemorySource, Tracker};
//!
//! let no_filters = |_: &std::path::Path| Box::new(MemorySource::new()) as _;
//! let cfg = parse_watch_config(
//!     "palisade.toml",
//!     "[jails.sshd]\nmaxretry = 2\n",
//!     &Services::new(""),
//!     &no_filters,
//! )
//! .unwrap();
//! let mut sshd = cfg.jails[0].matcher();
//! let line = b"Mar  5 14:39:21 web sshd[812]: Failed password for root from 203.0.113.9 port 50122 ssh2";
//! let hosts = sshd.feed(line, 1_000);
//! assert_eq!(hosts.len(), 1);
//! let mut tracker = Tracker::new();
//! assert!(tracker.observe(&cfg, 0, hosts[0], 1_000).is_none());
//! let ban = tracker.observe(&cfg, 0, hosts[0], 1_010).unwrap();
//! assert_eq!(ban.target.to_string(), "203.0.113.9");
//! assert_eq!(ban.until, 1_010 + 3600);
//! ```

pub mod allowlist;
pub mod config;
pub mod jail_matcher;
pub mod jails;
pub mod journal;
pub mod matcher;
pub mod model;
pub mod sessions;
pub mod state;
pub mod tracker;

pub use allowlist::Allowlist;
pub use config::{filter_files_on_disk, parse_watch_config, FilterFiles};
pub use jail_matcher::{JailMatcher, JournalEntry, Rules};
pub use jails::{builtin_names, genuine_required, Kind};
pub use matcher::{Found, Matcher};
pub use model::{
    BanPorts, Jail, JailFilter, JournalLocation, JournalMatch, Recidive, Source, WatchConfig,
    PERMANENT, RECIDIVE,
};
pub use palisade_f2b::{DirSource, FilterSource, MemorySource};
pub use tracker::{Ban, Tracker};
