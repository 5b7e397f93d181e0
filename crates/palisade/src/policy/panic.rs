//! `palisade panic`: drop everything but loopback and the admin's own SSH session, at once;
//! `palisade panic off`: put back exactly what was there.
//!
//! An admin who sees a compromise under way, or a flood the policy does not hold, needs one
//! command that cuts the host off without cutting them off, and one that undoes it without
//! having to remember what was applied. So:
//!
//! - the panic ruleset is compiled by the pure core ([`panic_ruleset`]): every chain drops,
//!   established connections and ICMP included; loopback and the session named by
//!   `SSH_CONNECTION` are accepted by address and ports in both directions, so they do not
//!   depend on conntrack;
//! - it goes up through [`transact`] like any policy change, so a palisade killed half-way
//!   leaves records that match the kernel;
//! - what was applied before is captured first into `panic.state` (the saved-state format), a
//!   file of its own: `rollback`'s `previous.state` is not touched, so after `panic off`,
//!   `rollback` still goes back to where it went before;
//! - sets stay in the kernel during the panic (everything is dropped anyway, and a
//!   million-entry blocklist should not have to be reloaded afterwards); `panic off` restores
//!   the captured state, policy and sets, exactly;
//! - the boot state is not changed: a host rebooted during a panic comes back with its
//!   normal policy (`palisade panic` again if the emergency is not over).

use anyhow::{Context, Result};
use palisade_core::policy::compile::panic_ruleset;

use super::apply::Desired;
use super::env::Env;
use super::intent::{transact, Change};
use super::persist::{capture, restore_text};
use super::saved::{self, SavedPolicy};
use crate::commands::Out;
use crate::state::write_atomic;

/// The source recorded for the panic policy, by which `status` and `panic off` know it.
pub const PANIC_SOURCE: &str = "panic";

/// Whether the namespace is in panic mode now: the panic policy is what is applied, and the
/// state to go back to is there.
pub fn in_panic(env: &Env) -> bool {
    env.records.panic_path().exists()
        && env
            .records
            .applied()
            .is_some_and(|a| a.source == PANIC_SOURCE)
}

/// `palisade panic`.
pub fn panic_on(env: &mut Env, out: Out) -> Result<i32> {
    if in_panic(env) {
        eprintln!("palisade: already in panic mode; `palisade panic off` restores the policy");
        return Ok(1);
    }
    let before = capture(env)?;
    let path = env.records.panic_path();
    write_atomic(&path, saved::write(&before).as_bytes())
        .context("cannot keep the state to come back to; nothing was changed")?;
    let session = env.store.session();
    let managed = env
        .records
        .applied()
        .map(|a| a.policy.managed)
        .unwrap_or_default();
    let desired = Desired {
        policy: SavedPolicy {
            ruleset: panic_ruleset(session),
            managed,
        },
        sets: Vec::new(),
    };
    let change = Change {
        source: PANIC_SOURCE.into(),
        confirm: None,
        save_for_boot: false,
        // Every set stays as it is; `panic off` puts back their captured contents.
        remove_unmanaged: false,
    };
    transact(env, &desired, change)?;
    if !out.quiet {
        match session {
            Some(s) => println!(
                "PANIC: every packet is dropped except loopback and your SSH session ({} port {} to port {}); `palisade panic off` restores the policy",
                s.client, s.client_port, s.server_port
            ),
            None => println!(
                "PANIC: every packet is dropped except loopback (no SSH session: SSH_CONNECTION is not set); `palisade panic off` restores the policy"
            ),
        }
    }
    Ok(0)
}

/// `palisade panic off`.
pub fn panic_off(env: &mut Env, out: Out) -> Result<i32> {
    let path = env.records.panic_path();
    if !in_panic(env) {
        eprintln!("palisade: not in panic mode: nothing to restore");
        return Ok(1);
    }
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the state from before the panic, {file}"))?;
    let report = restore_text(env, &file, &text, "panic off", false)?;
    // Once the records say the old policy is applied, the file has done its job.
    let _ = std::fs::remove_file(&path);
    if !out.quiet {
        println!("panic over: the state from before it is back; {report}");
    }
    Ok(0)
}
