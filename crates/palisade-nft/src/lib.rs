//! nftables over nfnetlink, in pure Rust.
//!
//! The crate is split like a wire-format library: [`wire`], [`batch`], [`expr`], [`set`] and
//! [`dump`] only build and parse bytes and are tested without a kernel; [`socket`] holds every
//! system call; [`conn`] ties them together into commits, dumps and queries.
//!
//! One small part speaks route netlink instead, for the log watcher: [`route`] decodes the
//! kernel's address messages and [`host_addrs`] follows a namespace's own addresses with them.
//!
//! The kernel's limits shape the design: a nested attribute is at most 64 KiB, so set elements
//! are chunked over many messages; a transaction must arrive in a single `sendmsg`, so the
//! socket's send buffer is sized to the batch; each message carries its own sequence number so
//! an error maps back to the object (and element) that caused it.

pub mod batch;
pub mod conn;
pub mod consts;
pub mod dump;
pub mod error;
pub mod expr;
pub mod host_addrs;
pub mod route;
pub mod set;
pub mod socket;
pub mod verify;
pub mod wire;

pub use batch::{Batch, EncodedBatch, Hook, SetSpec};
pub use conn::{CommitStats, Netlink};
pub use dump::{ChainInfo, RuleInfo, SetInfo, TableInfo};
pub use error::{NftError, Result};
pub use expr::{Expr, Reject, Verdict};
pub use host_addrs::HostAddrs;
pub use set::{Element, ElementInfo, Key, KeyKind};
