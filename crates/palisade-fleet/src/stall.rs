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
//!
//! The probe is also a test of the connection: a client that believes it is connected but
//! whose JetStream requests all go unanswered, probe after probe, is talking to a server
//! that cannot serve it (cut off from the cluster, or half dead); it is told to reconnect,
//! which may land on a healthy server. A failed probe says nothing about the reader.

use std::time::Duration;

/// Consecutive probes that must find the head ahead, with nothing read in between, before
/// the reader counts as stuck. With a probe a second, that is one to two seconds without
/// progress, when the normal delay from the stream to the reader is milliseconds (and a
/// reopen that was not needed costs one consumer, nothing else).
pub(crate) const STALL_PROBES: u32 = 2;

/// Consecutive probes that must fail, while the client counts itself connected, before the
/// connection counts as stuck. Longer than a JetStream leader election after a server dies
/// (a few seconds, during which probes fail on a perfectly good connection).
pub(crate) const STUCK_CONNECTION_PROBES: u32 = 8;

/// Failed tries to open the reader after which the tries stop racing and get the full
/// request timeout. Right after a server dies, the cluster may still place a new consumer
/// on it (seen: three tries in four, for over ten seconds), and that answer never comes;
/// each try is placed afresh, so several short tries at once find a live server sooner
/// than one long try after another. A server merely slow gets the full time afterwards.
pub(crate) const QUICK_OPENS: u32 = 6;
/// Tries raced against each other once a try has failed: the first to answer is used, the
/// others are dropped (a consumer they made without a subscriber is removed by the server).
pub(crate) const RACED_OPENS: usize = 3;

/// How to try to open the reader after `failures` tries in a row failed: how many tries at
/// once, and how long they may wait for an answer.
pub(crate) fn open_plan(failures: u32, quick: Duration, full: Duration) -> (usize, Duration) {
    match failures {
        0 => (1, quick),
        n if n < QUICK_OPENS => (RACED_OPENS, quick),
        _ => (1, full),
    }
}

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
    /// Probes in a row that got no answer while the client counted itself connected.
    failed_probes: u32,
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
        self.failed_probes = 0;
        let behind = head > self.settled;
        count_in_a_row(&mut self.behind_probes, behind, STALL_PROBES).then_some(Stuck {
            read_up_to: self.settled,
            head,
        })
    }

    /// The reader was reopened (for any reason): earlier probes say nothing about the new
    /// consumer.
    pub fn reopened(&mut self) {
        self.behind_probes = 0;
    }

    /// A probe got no answer. `connected`: whether the client counted itself connected
    /// (when it does not, it is already reconnecting, and a failure is expected). Returns
    /// true when the connection should be dropped and made again, after
    /// [`STUCK_CONNECTION_PROBES`] such failures in a row; the count then starts again.
    pub fn probe_failed(&mut self, connected: bool) -> bool {
        count_in_a_row(&mut self.failed_probes, connected, STUCK_CONNECTION_PROBES)
    }
}

/// Count `hit`s in a row in `count`: a miss clears it; the `limit`-th hit in a row returns
/// true and starts the count again.
fn count_in_a_row(count: &mut u32, hit: bool, limit: u32) -> bool {
    if !hit {
        *count = 0;
        return false;
    }
    *count += 1;
    if *count < limit {
        return false;
    }
    *count = 0;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` probes at `head`: the verdicts.
    fn same_probes(w: &mut StallWatch, head: u64, n: u32) -> Vec<Option<Stuck>> {
        (0..n).map(|_| w.probed(head)).collect()
    }

    #[test]
    fn an_idle_reader_is_never_stuck() {
        let mut w = StallWatch::default();
        assert!(same_probes(&mut w, 0, 10).iter().all(Option::is_none));
        w.settled_up_to(7);
        assert!(same_probes(&mut w, 7, 10).iter().all(Option::is_none));
    }

    #[test]
    fn a_head_ahead_probe_after_probe_without_progress_is_a_stall() {
        let mut w = StallWatch::default();
        w.settled_up_to(4);
        let stuck = Stuck {
            read_up_to: 4,
            head: 9,
        };
        // The head may move between probes: still no progress by the reader.
        assert_eq!(w.probed(5), None);
        let mut verdicts = same_probes(&mut w, 9, STALL_PROBES - 1);
        assert_eq!(verdicts.pop(), Some(Some(stuck)));
        assert!(verdicts.iter().all(Option::is_none));
        // Still stuck after a reopen that did not help: caught again, as late.
        w.reopened();
        let mut verdicts = same_probes(&mut w, 9, STALL_PROBES);
        assert_eq!(verdicts.pop(), Some(Some(stuck)));
        assert!(verdicts.iter().all(Option::is_none));
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
        let almost = STALL_PROBES - 1;
        assert!(same_probes(&mut w, 3, almost).iter().all(Option::is_none));
        assert_eq!(w.probed(0), None);
        assert!(same_probes(&mut w, 3, almost).iter().all(Option::is_none));
        w.settled_up_to(3);
        assert!(same_probes(&mut w, 3, 10).iter().all(Option::is_none));
    }

    #[test]
    fn a_reopen_starts_the_count_again() {
        let mut w = StallWatch::default();
        let almost = STALL_PROBES - 1;
        assert!(same_probes(&mut w, 2, almost).iter().all(Option::is_none));
        w.reopened();
        assert!(same_probes(&mut w, 2, almost).iter().all(Option::is_none));
        assert!(w.probed(2).is_some());
    }

    #[test]
    fn failed_probes_in_a_row_while_connected_mean_a_stuck_connection() {
        let mut w = StallWatch::default();
        let verdicts: Vec<bool> = (0..2 * STUCK_CONNECTION_PROBES)
            .map(|_| w.probe_failed(true))
            .collect();
        let at = STUCK_CONNECTION_PROBES as usize - 1;
        for (i, v) in verdicts.iter().enumerate() {
            assert_eq!(
                *v,
                i == at || i == at + STUCK_CONNECTION_PROBES as usize,
                "{i}"
            );
        }
    }

    #[test]
    fn an_answered_probe_or_a_known_disconnection_clears_the_failures() {
        let mut w = StallWatch::default();
        for _ in 1..STUCK_CONNECTION_PROBES {
            assert!(!w.probe_failed(true));
        }
        assert_eq!(w.probed(0), None);
        for _ in 1..STUCK_CONNECTION_PROBES {
            assert!(!w.probe_failed(true));
        }
        assert!(!w.probe_failed(false), "reconnecting already");
        for _ in 1..STUCK_CONNECTION_PROBES {
            assert!(!w.probe_failed(true));
        }
        assert!(w.probe_failed(true));
    }

    #[test]
    fn failed_probes_neither_raise_nor_clear_a_stall() {
        let mut w = StallWatch::default();
        let almost = STALL_PROBES - 1;
        assert!(same_probes(&mut w, 5, almost).iter().all(Option::is_none));
        assert!(!w.probe_failed(true));
        assert!(w.probed(5).is_some());
    }

    #[test]
    fn opening_tries_one_quick_then_race_then_wait_patiently() {
        let (quick, full) = (Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(
            open_plan(0, quick, full),
            (1, quick),
            "a healthy cluster: one try"
        );
        for n in 1..QUICK_OPENS {
            assert_eq!(open_plan(n, quick, full), (RACED_OPENS, quick));
        }
        for n in QUICK_OPENS..QUICK_OPENS + 3 {
            assert_eq!(open_plan(n, quick, full), (1, full));
        }
    }

    #[test]
    fn settling_never_goes_backwards() {
        let mut w = StallWatch::default();
        w.settled_up_to(10);
        w.settled_up_to(3);
        assert!(same_probes(&mut w, 10, 5).iter().all(Option::is_none));
    }
}
