//! What the engine hands to the caller: verified bans, lifts and shared lists, through a
//! [`FleetSink`] the caller implements (the CLI's puts them into kernel sets).
//!
//! The sink is called from a thread of its own, never from the network loop, so a slow
//! kernel transaction delays delivery but never the reading of the bus or the publishing of
//! this host's own bans.

use std::time::Duration;

use palisade_core::{AddrRange, IntervalSet};

use crate::wire::{BanSource, Expiry};

/// A peer's ban that passed every check: trusted signature, not a replay, not expired, a
/// kind this host accepts, clear of the allowlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBan {
    pub origin: String,
    pub target: AddrRange,
    pub source: BanSource,
    pub expires: Expiry,
    /// Time left when the batch was handed over: the kernel element timeout. `None` for a
    /// permanent ban.
    pub remaining: Option<Duration>,
    pub reason: String,
    /// Unix seconds at which the origin issued it.
    pub issued_at: u64,
}

/// A peer lifted a ban it had made, before its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLift {
    pub origin: String,
    pub target: AddrRange,
    pub source: BanSource,
}

/// Bans to apply in one go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BanBatch {
    pub bans: Vec<VerifiedBan>,
    /// This batch is the catch-up after the engine started: it holds every ban from peers
    /// that is active now (and no expired one). A peer ban the caller holds from before and
    /// that is not in it has ended or was lifted meanwhile, so the caller may replace its
    /// fleet bans with this batch in one transaction.
    pub catch_up: bool,
}

/// A shared blocklist, complete, as its publisher last put it on the bus (minus this host's
/// allowlist). The caller diffs it against what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedList {
    pub name: String,
    pub origin: String,
    /// Increases with every change the origin publishes.
    pub version: u64,
    /// SHA-256 of the contents as published (before the allowlist is taken out).
    pub digest: [u8; 32],
    pub v4: IntervalSet<u32>,
    pub v6: IntervalSet<u128>,
}

pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where verified fleet events go. Calls come in order from one thread; an error is
/// counted and reported in the status (`sink_errors`, `last_error`) and delivery goes on.
pub trait FleetSink: Send + 'static {
    /// Add these bans (with their `remaining` time as the kernel timeout).
    fn apply(&mut self, batch: BanBatch) -> Result<(), SinkError>;
    /// Remove these bans. Called before the `apply` of bans that arrived after them.
    fn lift(&mut self, lifts: Vec<VerifiedLift>) -> Result<(), SinkError>;
    /// Drop every ban `origin` sent (the admin ran `palisade fleet forget ORIGIN`).
    fn forget(&mut self, origin: &str) -> Result<(), SinkError>;
    /// Load a new version of a shared list.
    fn load_list(&mut self, list: SharedList) -> Result<(), SinkError>;
}
