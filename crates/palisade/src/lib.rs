//! palisade: protects a Linux server through the kernel's nftables.
//!
//! This crate is the part that talks to the kernel and the command line on top of it; the
//! decisions are made by the pure crates (`palisade-core`, `palisade-watch`, `palisade-otp`)
//! and every system call of nftables is in `palisade-nft`.
//!
//! - [`cli`]: the flags, defined once; [`generate`]: the man page and completions from them;
//!   [`run`]: which command does what;
//! - [`netns`]: the network namespace a command works in; [`state`]: where palisade keeps what
//!   it must remember, per namespace; [`lock`]: one change at a time per namespace;
//!   [`fault`]: crash points for the tests;
//! - [`store`]: palisade's sets in the kernel; [`lists`]: reading list files into them;
//! - [`commands`]: the set, block and OTP commands;
//! - [`policy`]: the default-deny policy in the kernel and its commands;
//! - [`watch`]: the log-watching daemon and its commands;
//! - [`xdp`]: the XDP early drop: its commands, and its maps kept in step with the sets.
//! - [`watch`]: the log-watching daemon and its commands; [`queue_dir`]: how commands hand
//!   work to daemons;
//! - [`fleet`]: sharing bans and blocklists with other hosts (`palisade fleet`);
//! - operations: [`metrics`] (Prometheus), [`feeds`] (blocklists downloaded from URLs),
//!   [`geo`] (country and AS sets), [`serve`] (the daemon that serves metrics and keeps feeds
//!   and country sets current); `palisade panic` is in [`policy::panic`].

pub mod cli;
pub mod commands;
pub mod fault;
pub mod feeds;
pub mod fleet;
pub mod generate;
pub mod geo;
pub mod lists;
pub mod lock;
pub mod metrics;
pub mod netns;
pub mod policy;
pub mod queue_dir;
pub mod run;
pub mod serve;
pub mod state;
pub mod store;
pub mod watch;
pub mod xdp;
