//! The clock ban deadlines are written in: the kernel's CLOCK_MONOTONIC.
//!
//! The XDP program decides whether a timed entry has expired by comparing its deadline with
//! `bpf_ktime_get_ns()`, which reads CLOCK_MONOTONIC as the kernel keeps it. Deadlines are
//! therefore stored on that clock, not on wall time: wall time can jump (NTP, an admin's
//! `date`), and a jump backwards would keep an ended ban dropping. palisade knows a ban's
//! remaining time (nftables reports `expires` as a duration), so converting is one addition.
//!
//! One trap: a process inside a time namespace reads CLOCK_MONOTONIC shifted by the namespace's
//! offset, while the BPF helper never is. [`monotonic_offset_ns`] reads the offset from
//! `/proc/thread-self/timens_offsets` so the shell can undo it.

use std::time::Duration;

/// A point on the kernel's CLOCK_MONOTONIC, in nanoseconds since boot: what the XDP program's
/// `bpf_ktime_get_ns()` returns. Used for "now" and for ban deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelTime(u64);

impl KernelTime {
    pub const fn from_nanos(ns: u64) -> Self {
        KernelTime(ns)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The deadline `remaining` after `self` (saturating: a ban of centuries is permanent in
    /// practice, not a wrapped-around past deadline).
    pub fn after(self, remaining: Duration) -> Self {
        let add = u64::try_from(remaining.as_nanos()).unwrap_or(u64::MAX);
        KernelTime(self.0.saturating_add(add))
    }

    /// True once `now` has reached this deadline: from then on the entry must not drop.
    pub fn has_passed(self, now: KernelTime) -> bool {
        self.0 <= now.0
    }

    /// Time left until this deadline, zero once it has passed.
    pub fn remaining(self, now: KernelTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(now.0))
    }
}

/// The CLOCK_MONOTONIC offset, in nanoseconds, of a time namespace, from the text of
/// `/proc/<pid>/timens_offsets` (lines `monotonic <seconds> <nanoseconds>`; the clock may also
/// be written as its number, 1). Zero when the file has no monotonic line. `None` when the
/// monotonic line is malformed: the caller must not guess a clock.
pub fn monotonic_offset_ns(text: &str) -> Option<i128> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let clock = words.next();
        if clock != Some("monotonic") && clock != Some("1") {
            continue;
        }
        let secs: i64 = words.next()?.parse().ok()?;
        let nanos: i64 = words.next()?.parse().ok()?;
        if words.next().is_some() {
            return None;
        }
        return Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos));
    }
    Some(0)
}

/// Turn a CLOCK_MONOTONIC reading taken in a time namespace with `offset_ns` into the kernel's
/// own clock. `None` if the result is outside the clock's range (a corrupt offset).
pub fn unshift(reading_ns: i128, offset_ns: i128) -> Option<KernelTime> {
    u64::try_from(reading_ns - offset_ns)
        .ok()
        .map(KernelTime::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate_and_pass_at_their_instant() {
        let now = KernelTime::from_nanos(1_000);
        assert_eq!(now.after(Duration::from_nanos(500)).as_nanos(), 1_500);
        assert_eq!(now.after(Duration::MAX).as_nanos(), u64::MAX);
        let d = now.after(Duration::from_nanos(10));
        assert!(!d.has_passed(now));
        assert!(d.has_passed(KernelTime::from_nanos(1_010)));
        assert_eq!(d.remaining(now), Duration::from_nanos(10));
        assert_eq!(d.remaining(KernelTime::from_nanos(5_000)), Duration::ZERO);
    }

    #[test]
    fn time_namespace_offsets_are_read_or_refused() {
        assert_eq!(monotonic_offset_ns(""), Some(0));
        assert_eq!(
            monotonic_offset_ns("monotonic           0         0\nboottime 0 0\n"),
            Some(0)
        );
        assert_eq!(
            monotonic_offset_ns("boottime 5 0\nmonotonic -2 500\n"),
            Some(-2_000_000_000 + 500)
        );
        assert_eq!(monotonic_offset_ns("1 3 0"), Some(3_000_000_000));
        assert_eq!(monotonic_offset_ns("monotonic x 0"), None);
        assert_eq!(monotonic_offset_ns("monotonic 1"), None);
        assert_eq!(monotonic_offset_ns("monotonic 1 2 3"), None);
    }

    #[test]
    fn unshifting_undoes_the_namespace_offset() {
        assert_eq!(unshift(10_000, 3_000), Some(KernelTime::from_nanos(7_000)));
        assert_eq!(
            unshift(10_000, -3_000),
            Some(KernelTime::from_nanos(13_000))
        );
        assert_eq!(unshift(1_000, 3_000), None);
    }
}
