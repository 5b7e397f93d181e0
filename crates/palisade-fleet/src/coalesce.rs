//! Turning a stream of verified bans into kernel-sized batches.
//!
//! One ban alone goes out at once: when the reader has nothing more waiting on the bus,
//! holding it back could only add latency. When more are waiting (a burst from a peer, a
//! backlog after a reconnect), they are gathered for at most [`MAX_DELAY`] or
//! [`MAX_BATCH`] bans, because the kernel takes 5,000 bans in one transaction far faster
//! than 5,000 transactions of one. While catching up after a reconnect, the limits are off:
//! the whole backlog is one batch, so the caller can apply it in one transaction.
//!
//! A lift cancels a ban from the same origin for the same address still waiting in the
//! batch, and lifts are handed out before the batch's bans, so the order of events from
//! one origin is kept. Time is passed in (a monotonic `Duration`), so this is pure.

use std::collections::HashMap;
use std::time::Duration;

use palisade_core::AddrRange;

use crate::sink::{VerifiedBan, VerifiedLift};
use crate::wire::Expiry;

pub const MAX_DELAY: Duration = Duration::from_millis(100);
pub const MAX_BATCH: usize = 5000;

#[derive(Debug, Default)]
pub struct Coalescer {
    bans: Vec<Option<VerifiedBan>>,
    waiting: usize,
    lifts: Vec<VerifiedLift>,
    index: HashMap<(String, AddrRange), usize>,
    oldest: Option<Duration>,
}

/// What a flush hands out: lifts first, then bans.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flush {
    pub lifts: Vec<VerifiedLift>,
    pub bans: Vec<VerifiedBan>,
    /// Bans that ran out while they waited.
    pub expired: u64,
}

impl Coalescer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting == 0 && self.lifts.is_empty()
    }

    pub fn push_ban(&mut self, ban: VerifiedBan, now: Duration) {
        self.oldest.get_or_insert(now);
        let key = (ban.origin.clone(), ban.target);
        if let Some(&i) = self.index.get(&key) {
            if self.bans[i].replace(ban).is_none() {
                self.waiting += 1;
            }
            return;
        }
        self.index.insert(key, self.bans.len());
        self.bans.push(Some(ban));
        self.waiting += 1;
    }

    pub fn push_lift(&mut self, lift: VerifiedLift, now: Duration) {
        self.oldest.get_or_insert(now);
        if let Some(&i) = self.index.get(&(lift.origin.clone(), lift.target)) {
            if self.bans[i].take().is_some() {
                self.waiting -= 1;
            }
        }
        self.lifts.push(lift);
    }

    /// Whether to hand the batch out now. `behind`: more messages wait on the bus.
    /// `unlimited`: a catch-up is running, wait until it is complete.
    pub fn due(&self, now: Duration, behind: bool, unlimited: bool) -> bool {
        if self.is_empty() {
            return false;
        }
        if !behind {
            return true;
        }
        if unlimited {
            return false;
        }
        self.waiting >= MAX_BATCH
            || self
                .oldest
                .is_some_and(|t| now.saturating_sub(t) >= MAX_DELAY)
    }

    /// When the oldest waiting event reaches [`MAX_DELAY`]: the reader should wake then.
    pub fn deadline(&self) -> Option<Duration> {
        self.oldest.map(|t| t + MAX_DELAY)
    }

    /// Take everything, with each ban's remaining time computed at `now_unix` (seconds).
    pub fn take(&mut self, now_unix: u64) -> Flush {
        let mut flush = Flush {
            lifts: std::mem::take(&mut self.lifts),
            ..Flush::default()
        };
        for mut ban in std::mem::take(&mut self.bans).into_iter().flatten() {
            if set_remaining(&mut ban, now_unix) {
                flush.bans.push(ban);
            } else {
                flush.expired += 1;
            }
        }
        self.index.clear();
        self.waiting = 0;
        self.oldest = None;
        flush
    }

    /// Drop everything waiting from `origin`.
    pub fn forget(&mut self, origin: &str) {
        for slot in &mut self.bans {
            if slot.as_ref().is_some_and(|b| b.origin == origin) {
                *slot = None;
                self.waiting -= 1;
            }
        }
        self.lifts.retain(|l| l.origin != origin);
        self.index.retain(|(o, _), _| o != origin);
    }
}

/// Fill in the kernel timeout; `false` if the ban is already over.
pub fn set_remaining(ban: &mut VerifiedBan, now_unix: u64) -> bool {
    match ban.expires {
        Expiry::Never => {
            ban.remaining = None;
            true
        }
        Expiry::At(t) if t > now_unix => {
            ban.remaining = Some(Duration::from_secs(t - now_unix));
            true
        }
        Expiry::At(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::BanSource;

    fn ban(origin: &str, last_octet: u8, expires: u64) -> VerifiedBan {
        VerifiedBan {
            origin: origin.into(),
            target: AddrRange::from(std::net::IpAddr::from([203, 0, 113, last_octet])),
            source: BanSource::Watch,
            expires: Expiry::At(expires),
            remaining: None,
            reason: "test".into(),
            issued_at: 0,
        }
    }

    fn lift(origin: &str, last_octet: u8) -> VerifiedLift {
        VerifiedLift {
            origin: origin.into(),
            target: AddrRange::from(std::net::IpAddr::from([203, 0, 113, last_octet])),
            source: BanSource::Watch,
        }
    }

    const T0: Duration = Duration::from_secs(10);

    #[test]
    fn a_lone_ban_is_due_at_once_when_nothing_else_waits() {
        let mut c = Coalescer::new();
        assert!(!c.due(T0, false, false));
        c.push_ban(ban("a", 1, 1000), T0);
        assert!(c.due(T0, false, false));
        assert!(!c.due(T0, true, false), "more waiting: gather");
        assert!(c.due(T0 + MAX_DELAY, true, false), "but not past MAX_DELAY");
        assert!(!c.due(T0 + MAX_DELAY, true, true), "catching up: no limit");
        let f = c.take(400);
        assert_eq!(f.bans.len(), 1);
        assert_eq!(f.bans[0].remaining, Some(Duration::from_secs(600)));
        assert!(c.is_empty());
    }

    #[test]
    fn a_full_batch_is_due_while_more_waits() {
        let mut c = Coalescer::new();
        for i in 0..MAX_BATCH {
            assert!(!c.due(T0, true, false));
            let mut b = ban("a", 1, 1000);
            b.target = AddrRange::from(std::net::IpAddr::from((i as u32 + 1).to_be_bytes()));
            c.push_ban(b, T0);
        }
        assert!(c.due(T0, true, false));
        assert_eq!(c.take(0).bans.len(), MAX_BATCH);
    }

    #[test]
    fn a_lift_cancels_the_waiting_ban_of_its_origin_only() {
        let mut c = Coalescer::new();
        c.push_ban(ban("a", 1, 1000), T0);
        c.push_ban(ban("b", 1, 1000), T0);
        c.push_lift(lift("a", 1), T0);
        let f = c.take(0);
        assert_eq!(f.lifts, vec![lift("a", 1)]);
        assert_eq!(f.bans, {
            let mut b = ban("b", 1, 1000);
            b.remaining = Some(Duration::from_secs(1000));
            vec![b]
        });
    }

    #[test]
    fn a_ban_after_a_lift_stands_and_comes_after_it() {
        let mut c = Coalescer::new();
        c.push_lift(lift("a", 1), T0);
        c.push_ban(ban("a", 1, 1000), T0);
        let f = c.take(0);
        assert_eq!(f.lifts.len(), 1);
        assert_eq!(f.bans.len(), 1);
    }

    #[test]
    fn a_repeated_ban_keeps_the_newest_and_expired_ones_are_counted() {
        let mut c = Coalescer::new();
        c.push_ban(ban("a", 1, 100), T0);
        c.push_ban(ban("a", 1, 900), T0);
        c.push_ban(ban("a", 2, 50), T0);
        let f = c.take(60);
        assert_eq!(f.bans.len(), 1);
        assert_eq!(f.bans[0].expires, Expiry::At(900));
        assert_eq!(f.expired, 1);
    }

    #[test]
    fn forget_drops_what_waits_from_one_origin() {
        let mut c = Coalescer::new();
        c.push_ban(ban("a", 1, 1000), T0);
        c.push_ban(ban("b", 2, 1000), T0);
        c.push_lift(lift("a", 3), T0);
        c.forget("a");
        let f = c.take(0);
        assert!(f.lifts.is_empty());
        assert_eq!(f.bans.len(), 1);
        assert_eq!(f.bans[0].origin, "b");
        c.push_ban(ban("a", 1, 1000), T0);
        assert_eq!(c.take(0).bans.len(), 1, "the index was cleaned");
    }
}
