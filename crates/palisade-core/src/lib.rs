//! The pure core of palisade.
//!
//! Everything here is a function of its inputs: no system calls, no files,
//! no netlink, no clock. Readers are passed in as [`std::io::BufRead`]. That
//! keeps the logic that decides *what* goes into the firewall (address
//! algebra, list parsing, element diffs) fast to test exhaustively with
//! property tests, and lets the crates that talk to the kernel stay thin.
//!
//! - [`interval`]: inclusive address ranges, merged sets, CIDR splitting and
//!   the minimal diff between what the kernel holds and what is wanted.
//! - [`addr`]: set elements (address range, optional port) and their syntax.
//! - [`config_text`]: reading palisade.toml with errors naming file, line and key; the
//!   one rule for set and jail names.
//! - [`contents`]: what a set holds, merged, with union and difference.
//! - [`list`]: streaming parsers for blocklist files.
//! - [`duration`]: `1h30m`-style timeouts.
//! - [`Problem`]: the single error type, with messages meant for admins.
//!
//! ```
//! use palisade_core::{AddrRange, Format, IntervalSet, ListReader, ParseOptions};
//!
//! let list = "# bad hosts\n10.0.0.0/25\n10.0.0.128/25 ; SBL1\n192.0.2.7\n";
//! let mut v4 = Vec::new();
//! for item in ListReader::new("bad.txt", list.as_bytes(), Format::Plain, ParseOptions::default()) {
//!     if let AddrRange::V4(r) = item.unwrap().addr {
//!         v4.push(r);
//!     }
//! }
//! let set = IntervalSet::from_unsorted(v4);
//! assert_eq!(set.len(), 2); // the two /25 halves merge into one range
//! assert_eq!(AddrRange::V4(set.as_slice()[0]).to_string(), "10.0.0.0/24");
//! ```

pub mod addr;
pub mod config_text;
pub mod contents;
pub mod duration;
pub mod interval;
pub mod list;
pub mod policy;
mod problem;

pub use addr::*;
pub use config_text::{is_valid_name, ConfigError, ConfigText, NAME_MAX, NAME_RULE};
pub use contents::{Contents, ContentsBuilder, Groups};
pub use duration::*;
pub use interval::{diff, AddrBits, Cidrs, Interval, IntervalDiff, IntervalSet};
pub use list::*;
pub use problem::Problem;
