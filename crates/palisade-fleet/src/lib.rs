//! palisade's fleet engine: hosts share bans and blocklists through NATS JetStream.
//!
//! A host that bans an address (log watcher, admin, flood limit) hands the ban to its
//! [`Publisher`]; every peer that trusts it gets the ban, verified, in its [`FleetSink`]
//! within milliseconds, with the time left as the kernel timeout. A host that was down or
//! cut off gets every still-active ban when it is back, in one batch. Shared blocklists are
//! published whole, once, and every host fetches the current version.
//!
//! What crosses the bus is never trusted for what it claims: every envelope is signed with
//! Ed25519 by its origin host, and a receiver takes it only if its own trust list binds that
//! origin to that key, it is not a replay, its bans have not expired, they are of a kind it
//! accepts, and they do not touch its allowlist. Everything refused is counted by reason.
//!
//! The crate is split like the rest of palisade: the pure part (no I/O, unit- and
//! property-tested) decides what is valid and what gets delivered; a thin async part moves
//! bytes.
//!
//! Pure:
//! - [`wire`]: the signed envelope format; [`list`]: the shared-list format.
//! - [`keys`]: key text forms and signatures; [`gate`]: trust, signature and replay checks.
//! - [`ledger`]: newest record per origin and address (ordering, catch-up, refresh).
//! - [`accept`]: kinds accepted and the allowlist; [`coalesce`]: batching.
//! - `stall`: telling a stuck reader (or connection) from an idle one.
//! - [`config`]: `[fleet]` in palisade.toml; [`status`]: what the engine reports.
//!
//! I/O: [`keyfile`] (the key on disk), [`bus`] (connection, stream and bucket),
//! [`engine`] ([`Fleet`]: threads and handle), and the publisher, follower (with its
//! watchdog) and list tasks.
//!
//! ```no_run
//! use palisade_fleet::{parse_fleet_config, BanBatch, BanSource, Expiry, Fleet, FleetSink,
//!                      SharedList, SinkError, VerifiedLift};
//!
//! struct Kernel;
//! impl FleetSink for Kernel {
//!     fn apply(&mut self, batch: BanBatch) -> Result<(), SinkError> { Ok(()) }
//!     fn lift(&mut self, lifts: Vec<VerifiedLift>) -> Result<(), SinkError> { Ok(()) }
//!     fn forget(&mut self, origin: &str) -> Result<(), SinkError> { Ok(()) }
//!     fn load_list(&mut self, list: SharedList) -> Result<(), SinkError> { Ok(()) }
//! }
//!
//! let text = std::fs::read_to_string("/etc/palisade/palisade.toml").unwrap();
//! let config = parse_fleet_config("palisade.toml", &text).unwrap().unwrap();
//! let fleet = Fleet::start(config, Kernel).unwrap();
//! let target = palisade_core::parse_addr_range("203.0.113.9", false).unwrap();
//! fleet.publisher().ban(target, BanSource::Watch, Expiry::At(1_900_000_000), "sshd: 5 failures");
//! println!("{}", fleet.status());
//! ```

pub mod accept;
pub mod bus;
pub mod clock;
pub mod coalesce;
pub mod config;
pub mod engine;
mod follow;
pub mod gate;
pub mod keyfile;
pub mod keys;
pub mod ledger;
pub mod list;
mod lists;
pub mod outbox;
mod publish;
pub mod sink;
mod stall;
pub mod status;
mod watchdog;
pub mod wire;

pub use config::{parse_fleet_config, FleetConfig, NatsAuth};
pub use engine::{Fleet, FleetError};
pub use keyfile::{generate_key_file, load_key_file, public_key_of, KeyFileError};
pub use outbox::{PublishError, Publisher};
pub use sink::{BanBatch, FleetSink, SharedList, SinkError, VerifiedBan, VerifiedLift};
pub use status::{Connection, DropReason, Status};
pub use wire::{BanSource, Expiry};
