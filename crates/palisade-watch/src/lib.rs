//! The pure core of palisade's log-watching bans (a fail2ban replacement).
//!
//! Everything here is a function of its inputs: no files, no journal, no clock, no
//! netlink. The daemon reads lines and the time and hands them in; this crate says which
//! address a line accuses ([`Matcher`]), whether that makes a ban and for how long
//! ([`Tracker`]), and what the admin configured ([`parse_watch_config`]). That keeps the
//! part that decides *who gets banned* testable line by line, including against
//! attackers who craft log lines.
//!
//! - [`model`]: jails and the watcher's config as plain data.
//! - [`config`]: `[watch]` and `[jails.*]` in palisade.toml, read into the model.
//! - [`allowlist`]: addresses never banned.
//! - [`builtin`]: the built-in jails' sources and patterns.
//! - [`matcher`]: patterns with `<HOST>`, a literal prefilter, the address check.
//! - [`tracker`]: failure windows, bans, repeat offenders, the allowlist.
//! - [`state`]: saving and loading bans across restarts.
//!
//! ```
//! use palisade_core::policy::Services;
//! use palisade_watch::{parse_watch_config, Tracker};
//!
//! let cfg = parse_watch_config("palisade.toml", "[jails.sshd]\nmaxretry = 2\n", &Services::new("")).unwrap();
//! let line = b"Mar  5 14:39:21 web sshd[812]: Failed password for root from 203.0.113.9 port 50122 ssh2";
//! let host = cfg.jails[0].matcher.find_host(line).unwrap();
//! let mut tracker = Tracker::new();
//! assert!(tracker.observe(&cfg, 0, host, 1_000).is_none());
//! let ban = tracker.observe(&cfg, 0, host, 1_010).unwrap();
//! assert_eq!(ban.target.to_string(), "203.0.113.9");
//! assert_eq!(ban.until, 1_010 + 3600);
//! ```

pub mod allowlist;
pub mod builtin;
pub mod config;
pub mod matcher;
pub mod model;
pub mod state;
pub mod tracker;

pub use allowlist::Allowlist;
pub use builtin::builtin_names;
pub use config::parse_watch_config;
pub use matcher::Matcher;
pub use model::{BanPorts, Jail, Source, WatchConfig};
pub use tracker::{Ban, Tracker};
