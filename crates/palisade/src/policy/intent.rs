//! Crash-safe policy changes: what a transaction will record is durable before the kernel
//! commit, and the kernel itself says whether the commit happened.
//!
//! Every change of the policy (apply, rollback, restore, the confirm timer's rollback) goes
//! through [`transact`]:
//!
//! 1. the intent (the records as they must be after the commit: what is applied, from where,
//!    the sets it manages, a pending confirmation) is written and fsynced, with a random token;
//! 2. with `--confirm`, the timer is started now, before the commit, so no kill can leave a
//!    new policy without its way back;
//! 3. the kernel transaction writes the token into palisade's table (set `apply.stamp`) in
//!    the same commit as the policy: it is there if and only if the policy is;
//! 4. the records are written from the intent, and the intent removed.
//!
//! A palisade killed anywhere in between leaves an intent behind; the next command (or the
//! timer) [`recover`]s it: if the kernel holds its token the commit happened and the records
//! are finished from the intent, else it never reached the kernel and is dropped. Either way
//! the records describe what the kernel holds.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::apply::{apply, ApplyReport, Desired};
use super::env::Env;
use super::persist::save_for_boot;
use super::records::{now, Applied, Pending};
use crate::fault;

/// What a transaction will have recorded once it committed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Intent {
    /// Written to the kernel in the same transaction.
    pub token: u32,
    pub applied: Applied,
    /// A confirmation to wait for; `None` clears any pending one.
    pub pending: Option<Pending>,
    /// Write the boot state once committed (not while a confirmation is pending).
    pub save_for_boot: bool,
}

/// A random token from the kernel's generator.
fn new_token() -> u32 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    u32::from_ne_bytes(b)
}

/// How a policy change is recorded.
pub struct Change {
    /// Where the policy came from, for `status`.
    pub source: String,
    /// Seconds until the confirm timer rolls the change back unless confirmed.
    pub confirm: Option<u64>,
    /// Write the boot state once committed (never while a confirmation is pending).
    pub save_for_boot: bool,
    /// Remove the sets the previous policy managed and this one does not (an apply); `false`
    /// keeps every set (the safe policy after a failed restore keeps the blocklists up).
    pub remove_unmanaged: bool,
}

/// Apply `desired` as one crash-safe step (see the module header).
pub fn transact(env: &mut Env, desired: &Desired, change: Change) -> Result<ApplyReport> {
    let Change {
        source,
        confirm,
        save_for_boot,
        remove_unmanaged,
    } = change;
    let token = new_token();
    let intent = Intent {
        token,
        applied: Applied {
            at: now(),
            source,
            policy: desired.policy.clone(),
        },
        pending: confirm.map(|secs| Pending {
            token: u64::from(token),
            deadline: now() + secs,
        }),
        save_for_boot: save_for_boot && confirm.is_none(),
    };
    let previously_managed = match remove_unmanaged {
        true => env
            .records
            .applied()
            .map(|a| a.policy.managed)
            .unwrap_or_default(),
        false => Vec::new(),
    };
    env.records.set_intent(&intent)?;
    fault::point("after-intent");
    if let Some(secs) = confirm {
        super::transitions::spawn_timer(env, u64::from(token), secs)?;
        fault::point("after-timer");
    }
    let report = match apply(&mut env.store, desired, &previously_managed, token) {
        Ok(r) => r,
        Err(e) => {
            // A refused transaction changed nothing; unless the kernel says otherwise (a
            // failure after the commit, in the read-back check), the intent goes.
            recover(env).context("after a failed apply")?;
            return Err(e);
        }
    };
    fault::point("after-commit");
    finish(env, intent)?;
    fault::point("after-records");
    Ok(report)
}

/// The records after a committed transaction.
fn finish(env: &mut Env, intent: Intent) -> Result<()> {
    env.records.set_applied(&intent.applied)?;
    match &intent.pending {
        Some(p) => env.records.set_pending(p)?,
        None => {
            env.records.clear_pending();
        }
    }
    if intent.save_for_boot {
        save_for_boot(env)?;
    }
    env.records.clear_intent();
    Ok(())
}

/// Finish or drop the intent an interrupted palisade left behind, by what the kernel holds.
pub fn recover(env: &mut Env) -> Result<()> {
    let Some(intent) = env.records.intent() else {
        return Ok(());
    };
    if env.store.apply_stamp()? == Some(intent.token) {
        eprintln!(
            "palisade: an interrupted change ({}) reached the kernel: its records are now written",
            intent.applied.source
        );
        finish(env, intent)
    } else {
        env.records.clear_intent();
        Ok(())
    }
}

/// How long a confirm timer sleeps before it acts: until the deadline.
pub fn until(deadline: u64) -> Duration {
    Duration::from_secs(deadline.saturating_sub(now()))
}
