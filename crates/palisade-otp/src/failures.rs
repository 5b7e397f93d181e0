//! The failure policy OTPW lacks: every wrong answer slows the next reply, and after too many
//! in a row one-time-password logins for the account are refused for a while.
//!
//! The count lives in a small file next to the hash file (`~/.otpw.failures`:
//! `COUNT UNIX_SECONDS_OF_LAST_FAILURE`); a correct answer removes it. It is kept per user and
//! not per source address because the point is to stop guessing at one account's sheet from
//! anywhere; the lock-out only refuses one-time passwords, so keys and other methods keep
//! working, and it ends by itself.

/// How failures are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Seconds added to the reply for each consecutive failure.
    pub delay_step_secs: u64,
    /// Longest delay for one reply.
    pub max_delay_secs: u64,
    /// Consecutive failures after which logins are refused.
    pub lockout_after: u32,
    /// How long the refusal lasts after the last failure.
    pub lockout_secs: u64,
}

impl Default for FailurePolicy {
    /// 2 s per failure up to 10 s; after 10 failures in a row, 15 minutes of refusals.
    fn default() -> Self {
        FailurePolicy {
            delay_step_secs: 2,
            max_delay_secs: 10,
            lockout_after: 10,
            lockout_secs: 15 * 60,
        }
    }
}

/// Consecutive failures so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureRecord {
    pub count: u32,
    /// Unix time of the last failure.
    pub last: u64,
}

/// Whether a login may try now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused until this Unix time.
    LockedOut {
        until: u64,
    },
}

impl FailureRecord {
    /// Read the failure file; anything unreadable counts as no failures rather than as an
    /// error, since the file is advisory and lives in the user's own directory.
    pub fn parse(text: &[u8]) -> FailureRecord {
        let text = std::str::from_utf8(text).unwrap_or("");
        let mut fields = text.split_ascii_whitespace().map(str::parse::<u64>);
        match (fields.next(), fields.next()) {
            (Some(Ok(count)), Some(Ok(last))) => FailureRecord {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                last,
            },
            _ => FailureRecord::default(),
        }
    }

    pub fn to_text(self) -> String {
        format!("{} {}\n", self.count, self.last)
    }

    /// The record after one more failure at `now`.
    pub fn failed(self, now: u64) -> FailureRecord {
        FailureRecord {
            count: self.count.saturating_add(1),
            last: now,
        }
    }
}

impl FailurePolicy {
    /// May a login be attempted at `now`?
    pub fn verdict(&self, record: FailureRecord, now: u64) -> Verdict {
        let until = record.last.saturating_add(self.lockout_secs);
        if record.count >= self.lockout_after && now < until {
            Verdict::LockedOut { until }
        } else {
            Verdict::Allowed
        }
    }

    /// How long to hold back the reply to a failure, given the record after it.
    pub fn delay_secs(&self, record: FailureRecord) -> u64 {
        (u64::from(record.count) * self.delay_step_secs).min(self.max_delay_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_garbage_is_no_failures() {
        let r = FailureRecord {
            count: 4,
            last: 1_700_000_000,
        };
        assert_eq!(FailureRecord::parse(r.to_text().as_bytes()), r);
        for junk in [&b""[..], b"x y", b"3", b"\xff\xfe", b"-1 5"] {
            assert_eq!(FailureRecord::parse(junk), FailureRecord::default());
        }
        assert_eq!(FailureRecord::parse(b"99999999999 5").count, u32::MAX);
    }

    #[test]
    fn delay_grows_then_caps() {
        let p = FailurePolicy::default();
        let delays: Vec<u64> = (1..=7)
            .map(|count| p.delay_secs(FailureRecord { count, last: 0 }))
            .collect();
        assert_eq!(delays, [2, 4, 6, 8, 10, 10, 10]);
    }

    #[test]
    fn locks_out_after_ten_failures_for_fifteen_minutes() {
        let p = FailurePolicy::default();
        let mut r = FailureRecord::default();
        for t in 0..9 {
            r = r.failed(1000 + t);
            assert_eq!(p.verdict(r, 1000 + t), Verdict::Allowed);
        }
        r = r.failed(2000);
        assert_eq!(p.verdict(r, 2000), Verdict::LockedOut { until: 2900 });
        assert_eq!(p.verdict(r, 2899), Verdict::LockedOut { until: 2900 });
        assert_eq!(p.verdict(r, 2900), Verdict::Allowed);
    }
}
