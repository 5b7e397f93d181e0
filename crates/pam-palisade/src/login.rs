//! One login, from challenge to verdict, around the pure rules of `palisade-otp`.

use crate::account::{as_user, Account};
use crate::failures;
use crate::files::{self, Unusable};
use crate::lock::{Lock, Locking};
use palisade_otp::{Challenge, FailurePolicy, HashFile, Stale, Verdict};
use std::time::Duration;

/// Why no challenge is issued.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// PAM_AUTHINFO_UNAVAIL: no usable passwords, let the next method decide.
    #[error(transparent)]
    Unusable(#[from] Unusable),
    #[error("another login holds the lock and too few passwords are left for a triple challenge")]
    NoTriple,
    /// PAM_AUTH_ERR: too many failures.
    #[error("{count} failed one-time passwords in a row: refused until {until} (Unix time)")]
    LockedOut { count: u32, until: u64 },
}

/// A challenge ready to be asked.
pub struct Prepared {
    pub file: HashFile,
    pub challenge: Challenge,
    /// Held when this login got the single challenge.
    pub lock: Option<Lock>,
    /// Why the lock that was there before was removed (for the log).
    pub took_over: Option<Stale>,
}

/// Pick the challenge: the first unused password, locked; or, while another login holds the
/// lock, three random others.
pub fn prepare(account: &Account, policy: &FailurePolicy, now: u64) -> Result<Prepared, Refusal> {
    as_user(account, || {
        // The hash file first: a user without one is not told about other files.
        let file = files::open_hash_file(&account.home, account.uid, false)?.parsed;
        let record = failures::load_failures(&account.home, account.uid)?;
        if let Verdict::LockedOut { until } = policy.verdict(record, now) {
            return Err(Refusal::LockedOut {
                count: record.count,
                until,
            });
        }
        let single = Challenge::single(&file).ok_or(Unusable::Exhausted)?;
        let number = single.numbers(&file).remove(0);
        match Lock::acquire(&account.home, account.uid, &number, now)? {
            Locking::Acquired { lock, took_over } => Ok(Prepared {
                file,
                challenge: single,
                lock: Some(lock),
                took_over,
            }),
            Locking::HeldElsewhere(held) => {
                let mut random = || getrandom::u64().unwrap_or_else(|_| std::process::abort());
                let challenge =
                    Challenge::triple(&file, held, &mut random).ok_or(Refusal::NoTriple)?;
                Ok(Prepared {
                    file,
                    challenge,
                    lock: None,
                    took_over: None,
                })
            }
        }
    })
    .map_err(|e| {
        Refusal::Unusable(Unusable::Io {
            path: account.home.display().to_string(),
            source: e,
        })
    })?
}

/// What an answer led to.
#[derive(Debug)]
pub enum Checked {
    /// Right, and burnt on disk; `uncleared` says why the failure count could not be reset.
    Accepted { uncleared: Option<Unusable> },
    /// Wrong (or burnt meanwhile by a concurrent login); hold the reply back this long.
    /// `unrecorded` says why the failure could not be counted.
    Rejected {
        delay: Duration,
        failures: u32,
        unrecorded: Option<Unusable>,
    },
    /// Right, but burning it failed: refused, since an unburnt password could be used again.
    NotBurnt(String),
}

/// Check `answer`; burn on success, count the failure otherwise.
pub fn check(
    account: &Account,
    prepared: &Prepared,
    answer: &[u8],
    policy: &FailurePolicy,
    now: u64,
) -> Checked {
    let result = as_user(account, || {
        let burnt = if prepared.challenge.verify(&prepared.file, answer) {
            match files::burn(
                &account.home,
                account.uid,
                &prepared.file,
                &prepared.challenge.entries,
            ) {
                Ok(burnt) => burnt,
                Err(e) => return Checked::NotBurnt(e.to_string()),
            }
        } else {
            false
        };
        if burnt {
            let uncleared = failures::clear_failures(&account.home, account.uid).err();
            return Checked::Accepted { uncleared };
        }
        let (record, unrecorded) = match failures::record_failure(&account.home, account.uid, now) {
            Ok(record) => (record, None),
            // Not counted, but at least delayed as if it were.
            Err(e) => (files::read_failures(&account.home).failed(now), Some(e)),
        };
        Checked::Rejected {
            delay: Duration::from_secs(policy.delay_secs(record)),
            failures: record.count,
            unrecorded,
        }
    });
    result.unwrap_or_else(|e| Checked::NotBurnt(e.to_string()))
}
