//! fail2ban's filter files, read as they are.
//!
//! Admins have years of fail2ban filters (`/etc/fail2ban/filter.d/*.conf` and their own
//! `.local` overrides) and want to keep them. This crate reads them the way fail2ban does
//! and matches log lines the way fail2ban does, so a jail can say `filter = "sshd"` or
//! `filter = "sshd[mode=aggressive]"`. Its modules, in the order a filter goes through:
//!
//! - `spec`: `name[opt=val, ...]` ([`FilterSpec`]);
//! - `includes`, `ini`: the files (`[INCLUDES]` before/after, `.local` and `NAME.d/`
//!   overrides) as Python's configparser reads them;
//! - `interpolate`, `tags`, `definition`: `%(name)s`, `<tag>` and the options given with
//!   the name, down to the final `failregex`, `prefregex`, `datepattern`...;
//! - `hosttags`, [`pyregex`]: `<HOST>` and the `<F-...>` groups, then Python regexes on
//!   Rust's `regex` (and `fancy-regex` where a pattern needs backtracking);
//! - `date`: the timestamp fail2ban cuts out of each line before matching;
//! - `matcher`, `mlfid`, `ambiguity`: lines to [`Failure`]s, over several lines when the
//!   filter says so, never accusing an address the client wrote.
//!
//! Everything here is pure: files come through a [`FilterSource`] ([`DirSource`] is the
//! one small module that reads the file system), lines and the time come from the caller.
//!
//! Journal lines: with `logtype=journal` given with the name (what fail2ban's systemd
//! backend sets), feed each entry as fail2ban formats it, `HOSTNAME IDENT[PID]: MESSAGE`
//! (`_HOSTNAME`; `SYSLOG_IDENTIFIER`, else `_COMM`; `SYSLOG_PID`, else `_PID`), with no
//! timestamp: no date is looked for in them.
//!
//! Deliberate differences from fail2ban:
//! - host names are never resolved: `<HOST>` still matches them where fail2ban would (so
//!   the same regex decides a line), but such a failure is dropped; `<DNS>` is refused;
//! - an address must parse (`192.030.0.6` is not one) and `0.0.0.0` is never accused;
//! - a `<F-NOFAIL>` match is never a failure, with or without `<F-MLFID>`;
//! - a line whose regex leaves an address unread, where that address could stand in the
//!   accused one's place, accuses no one (see `ambiguity`: Debian's `sshd.conf` accuses a
//!   client-chosen address on some lines);
//! - the timestamp is located and cut out, not converted (palisade times failures by when
//!   it reads them): lines are never skipped as too old, and `ExY` years are 2000-2099;
//! - connection ids expire after 5 minutes only with [`FilterMatcher::feed_at`];
//! - only the first matching failregex counts (fail2ban's default; its test suite and
//!   `fail2ban-regex` try all of them).
//!
//! ```
//! use palisade_f2b::{load_filter, FilterSpec, MemorySource};
//!
//! let files = MemorySource::new().with(
//!     "demo.conf",
//!     "[Definition]\nfailregex = ^\\s*bad login from <HOST>$\n",
//! );
//! let filter = load_filter(&FilterSpec::parse("demo").unwrap(), &files).unwrap();
//! let mut m = filter.matcher();
//! let f = m.feed(b"Jun 21 16:47:48 bad login from 192.0.2.1").unwrap();
//! assert_eq!(f.host.to_string(), "192.0.2.1");
//! ```

mod ambiguity;
mod date;
mod definition;
mod dir_source;
mod error;
mod filter;
mod hosttags;
mod includes;
mod ini;
mod interpolate;
mod matcher;
mod mlfid;
mod prefregex;
pub mod pyregex;
mod source;
mod sourced;
mod spec;
mod tags;

pub use dir_source::DirSource;
pub use error::{FilterError, SourceError};
pub use filter::{load_filter, Filter};
pub use matcher::{Failure, FilterMatcher, MAX_LINE};
pub use source::{FilterSource, MemorySource};
pub use sourced::Origin;
pub use spec::FilterSpec;

#[cfg(test)]
mod tests {
    /// A filter is shared by the watcher's threads; each matcher moves to its log's thread.
    #[test]
    fn filters_are_shared_and_matchers_move_between_threads() {
        fn shared<T: Send + Sync>() {}
        fn movable<T: Send>() {}
        shared::<crate::Filter>();
        movable::<crate::FilterMatcher>();
    }
}
