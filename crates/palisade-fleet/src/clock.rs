//! Time as the fleet uses it: unix seconds for expiries, and a per-origin sequence that is
//! the microseconds since the epoch, made strictly increasing.
//!
//! The sequence comes from the clock so an origin that restarts with no state still numbers
//! its envelopes above everything it sent before (receivers refuse older ones as replays).
//! If this host's own envelopes come back from the bus with higher numbers than the clock
//! gives (the clock was set back), [`SeqClock::raise_floor`] keeps the sequence above them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub fn now_secs() -> u64 {
    now_micros() / 1_000_000
}

#[derive(Debug, Default)]
pub struct SeqClock {
    last: AtomicU64,
}

impl SeqClock {
    /// The next sequence number: the clock, or one more than the last if the clock has not
    /// moved past it.
    pub fn next(&self) -> u64 {
        let now = now_micros();
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Never hand out a number at or below `seq` again.
    pub fn raise_floor(&self, seq: u64) {
        self.last.fetch_max(seq, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_and_above_the_floor() {
        let c = SeqClock::default();
        let a = c.next();
        let b = c.next();
        assert!(b > a);
        c.raise_floor(b + 1_000_000_000);
        assert_eq!(c.next(), b + 1_000_000_001);
    }
}
