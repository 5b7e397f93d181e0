//! The receiver's view of every peer's bans: per origin and address, the newest record.
//!
//! Why keep this at all, when the sink holds the bans: three jobs need it. Ordering: a
//! ban re-sent after a reconnect can land after the lift that followed it, and must then
//! not win (the gate lets it through, as it is not a replay; here it is older than what is
//! known for its address, so it is superseded). Catch-up: after start, the engine reads the
//! stream's history into the ledger and hands the sink one batch of what is active at the
//! end, not every step in between. Refresh: this host's own long bans are seen coming back,
//! so they can be re-announced before the stream ages them out.

use std::collections::HashMap;
use std::sync::Arc;

use palisade_core::AddrRange;

use crate::status::DropReason;
use crate::wire::{BanSource, Expiry, Record};

/// Position of a record in its origin's history: the envelope's seq, then its index.
pub type Order = (u64, u16);

/// A ban the ledger holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldBan {
    pub source: BanSource,
    pub expires: Expiry,
    pub reason: String,
    /// The envelope seq (microseconds) it came in.
    pub seq: u64,
}

#[derive(Clone, Debug)]
struct Entry {
    order: Order,
    /// `None`: lifted.
    ban: Option<HeldBan>,
}

/// What one record changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Banned(HeldBan),
    /// An active ban was lifted.
    Lifted(BanSource),
    /// A lift for something not (or no longer) banned: nothing to do.
    Nothing,
    Dropped(DropReason),
}

#[derive(Debug, Default)]
pub struct Ledger {
    entries: HashMap<(Arc<str>, AddrRange), Entry>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Apply one record of a verified envelope. `now` is unix seconds.
    pub fn record(&mut self, origin: &Arc<str>, order: Order, record: Record, now: u64) -> Change {
        let key = (origin.clone(), record.target());
        let previous = self.entries.get(&key);
        if previous.is_some_and(|e| e.order >= order) {
            return Change::Dropped(DropReason::Superseded);
        }
        let was_active = previous
            .and_then(|e| e.ban.as_ref())
            .is_some_and(|b| !b.expires.is_over(now));
        match record {
            Record::Ban {
                source,
                expires,
                reason,
                ..
            } => {
                let ban = HeldBan {
                    source,
                    expires,
                    reason,
                    seq: order.0,
                };
                // Kept even when over: it replaces whatever older ban the origin made.
                self.entries.insert(
                    key,
                    Entry {
                        order,
                        ban: Some(ban.clone()),
                    },
                );
                if expires.is_over(now) {
                    Change::Dropped(DropReason::Expired)
                } else {
                    Change::Banned(ban)
                }
            }
            Record::Lift { source, .. } => {
                self.entries.insert(key, Entry { order, ban: None });
                if was_active {
                    Change::Lifted(source)
                } else {
                    Change::Nothing
                }
            }
        }
    }

    /// Every ban active at `now`, with its origin and address.
    pub fn active(&self, now: u64) -> impl Iterator<Item = (&Arc<str>, AddrRange, &HeldBan)> {
        self.entries
            .iter()
            .filter_map(move |((origin, target), e)| {
                e.ban
                    .as_ref()
                    .filter(|b| !b.expires.is_over(now))
                    .map(|b| (origin, *target, b))
            })
    }

    /// Forget everything `origin` sent.
    pub fn forget(&mut self, origin: &str) {
        self.entries.retain(|(o, _), _| &**o != origin);
    }

    /// Drop what can no longer matter: bans that are over, and lifts older than
    /// `keep_lifts_after` (microseconds; the gate refuses anything older as a replay, so
    /// there is nothing left for those lifts to win against).
    pub fn prune(&mut self, now: u64, keep_lifts_after: u64) {
        self.entries.retain(|_, e| match &e.ban {
            Some(b) => !b.expires.is_over(now),
            None => e.order.0 >= keep_lifts_after,
        });
    }

    /// This host's own active bans that will outlive their copy on the bus: published more
    /// than half the stream's `retention` (seconds) ago, and lasting past the point where
    /// the stream drops them. They must be announced again, or a host that catches up later
    /// would never hear of them.
    pub fn due_for_refresh(&self, own: &str, now: u64, retention: u64) -> Vec<Record> {
        self.active(now)
            .filter(|(origin, _, b)| {
                let issued = b.seq / 1_000_000;
                let dropped_from_stream = issued.saturating_add(retention);
                &***origin == own
                    && issued.saturating_add(retention / 2) <= now
                    && match b.expires {
                        Expiry::Never => true,
                        Expiry::At(t) => t > dropped_from_stream,
                    }
            })
            .map(|(_, target, b)| Record::Ban {
                target,
                source: b.source,
                expires: b.expires,
                reason: b.reason.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
