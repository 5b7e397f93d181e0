//! Telling a stuck ban reader from an idle one.
//!
//! Why this exists: the client library's ordered consumer can hang without a word. When a
//! JetStream server dies, the library recreates its consumer under a fixed name
//! (`{name}_{n}`); if the cluster still counts the dead server as a peer, the consumer may be
//! placed there, the request times out, and every retry is then refused because that name
//! is taken, so the reader waits forever with no error and no missed heartbeat (seen in a
//! three-server cluster, one run in five). No signal from inside the consumer can be
//! trusted then; the stream itself can: if the stream's last sequence (its head) stays ahead
//! of what the reader has read, probe after probe, with no progress in between, the reader
//! is stuck, however quiet it looks.
//!
//! An idle reader is not stuck (the head is where it read up to); nor is a slow one (every
//! message read resets the count); nor one that was busy handing bans to the kernel (it sees
//! only the latest probe when it comes back, and then reads what waited for it).

/// Consecutive probes that must find the head ahead, with nothing read in between, before
/// the reader counts as stuck. With a probe a second, that is two to three seconds without
/// progress, when the normal delay from the stream to the reader is milliseconds.
pub(crate) const STALL_PROBES: u32 = 3;

/// A stuck reader: where it stopped, and where the stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stuck {
    pub read_up_to: u64,
    pub head: u64,
}

/// What the reader owes, from the probes of the stream's head and the messages it reads.
#[derive(Debug, Default)]
pub(crate) struct StallWatch {
    /// Nothing at or below this stream sequence is owed to the reader: it read it, or a
    /// fresh consumer had nothing pending up to it (messages outside the reader's filter).
    settled: u64,
    /// Probes in a row that found the head above `settled`, with nothing read in between.
    behind_probes: u32,
}

impl StallWatch {
    /// The reader read (or was shown to owe nothing up to) stream sequence `seq`.
    pub fn settled_up_to(&mut self, seq: u64) {
        if seq > self.settled {
            self.settled = seq;
            self.behind_probes = 0;
        }
    }

    /// A probe found the stream's head at `head`. Returns where the reader is stuck, once
    /// it has been for [`STALL_PROBES`] probes; the count then starts again, so a reopened
    /// reader that is still stuck is caught again.
    pub fn probed(&mut self, head: u64) -> Option<Stuck> {
        if head <= self.settled {
            self.behind_probes = 0;
            return None;
        }
        self.behind_probes += 1;
        if self.behind_probes < STALL_PROBES {
            return None;
        }
        self.behind_probes = 0;
        Some(Stuck {
            read_up_to: self.settled,
            head,
        })
    }

    /// The reader was reopened (for any reason): earlier probes say nothing about the new
    /// consumer.
    pub fn reopened(&mut self) {
        self.behind_probes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probes(w: &mut StallWatch, heads: &[u64]) -> Vec<Option<Stuck>> {
        heads.iter().map(|h| w.probed(*h)).collect()
    }

    #[test]
    fn an_idle_reader_is_never_stuck() {
        let mut w = StallWatch::default();
        assert!(probes(&mut w, &[0; 10]).iter().all(Option::is_none));
        w.settled_up_to(7);
        assert!(probes(&mut w, &[7; 10]).iter().all(Option::is_none));
    }

    #[test]
    fn a_head_ahead_for_three_probes_without_progress_is_a_stall() {
        let mut w = StallWatch::default();
        w.settled_up_to(4);
        let stuck = Stuck {
            read_up_to: 4,
            head: 9,
        };
        assert_eq!(probes(&mut w, &[5, 9, 9]), [None, None, Some(stuck)]);
        // Still stuck after a reopen that did not help: caught again.
        w.reopened();
        assert_eq!(probes(&mut w, &[9, 9, 9]), [None, None, Some(stuck)]);
    }

    #[test]
    fn a_reader_that_moves_between_probes_is_not_stuck() {
        let mut w = StallWatch::default();
        for head in (10..1000).step_by(10) {
            assert_eq!(w.probed(head), None);
            // A long catch-up: behind at every probe, but reading.
            w.settled_up_to(head - 5);
        }
    }

    #[test]
    fn catching_up_with_the_head_clears_the_suspicion() {
        let mut w = StallWatch::default();
        assert_eq!(probes(&mut w, &[3, 3]), [None, None]);
        assert_eq!(w.probed(0), None);
        assert_eq!(probes(&mut w, &[3, 3]), [None, None]);
        w.settled_up_to(3);
        assert_eq!(probes(&mut w, &[3, 3, 3]), [None, None, None]);
    }

    #[test]
    fn a_reopen_starts_the_count_again() {
        let mut w = StallWatch::default();
        assert_eq!(probes(&mut w, &[2, 2]), [None, None]);
        w.reopened();
        assert_eq!(probes(&mut w, &[2, 2]), [None, None]);
        assert!(w.probed(2).is_some());
    }

    #[test]
    fn settling_never_goes_backwards() {
        let mut w = StallWatch::default();
        w.settled_up_to(10);
        w.settled_up_to(3);
        assert!(probes(&mut w, &[10; 5]).iter().all(Option::is_none));
    }
}
