//! `palisade apply`, `confirm`, `rollback` and the confirm timer: moving between policies.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::apply::Desired;
use super::config::{config_dir, desired_sets, print_lints, read_config};
use super::env::Env;
use super::intent::{recover, transact, until, Change};
use super::membership::{KernelSets, PlannedSets};
use super::persist::{capture, restore_file, restore_text, save_for_boot};
use super::saved::{self, SavedPolicy};
use crate::cli::ApplyArgs;
use crate::commands::Out;
use crate::state::write_atomic;

pub fn apply_cmd(env: &mut Env, a: &ApplyArgs, out: Out) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.policy.config, &facts)?;
    let sets = desired_sets(&c, &config_dir(&a.policy.config), &env.state)?;
    // Everything `check` validates: the jails too, so `watch` never refuses what was applied.
    crate::watch::read_config(&a.policy.config)?;
    {
        let membership = PlannedSets {
            kernel: KernelSets::new(&mut env.store)?,
            desired: &sets,
        };
        print_lints(&c, &facts, &membership);
    }
    let before = capture(env)?;
    write_atomic(
        &env.records.previous_path(),
        saved::write(&before).as_bytes(),
    )?;
    let desired = Desired {
        policy: SavedPolicy {
            managed: c.ruleset.sets.iter().map(|s| s.name.clone()).collect(),
            ruleset: c.ruleset.clone(),
        },
        sets,
    };
    let report = transact(
        env,
        &desired,
        Change {
            source: c.file.clone(),
            confirm: a.confirm,
            save_for_boot: true,
            remove_unmanaged: true,
        },
    )?;
    if !out.quiet {
        println!("{report}");
    }
    // After the nftables transaction, which blocks whatever happens here.
    crate::xdp::cmd::after_apply(&env.ns, &mut env.store, &c.policy.xdp, out);
    if let Some(secs) = a.confirm {
        println!(
            "run `palisade confirm` within {secs} s, or the previous state comes back by itself"
        );
    }
    Ok(0)
}

/// Start the confirm timer as a process of its own (its own session, so a dropped SSH
/// connection does not take it down).
pub fn spawn_timer(env: &Env, token: u64, secs: u64) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.records.timer_log())?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    if let Some(ns) = &env.ns.name {
        cmd.args(["--netns", ns]);
    }
    cmd.arg("confirm-timer")
        .arg(token.to_string())
        .arg(secs.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().context("cannot start the confirm timer")?;
    Ok(())
}

pub fn confirm(env: &mut Env) -> Result<i32> {
    if !env.records.clear_pending() {
        eprintln!("nothing to confirm");
        return Ok(1);
    }
    save_for_boot(env)?;
    println!("confirmed: the applied policy stays, and is what boot restores");
    Ok(0)
}

/// The timer behind `apply --confirm`: at the deadline, unless the apply with this token was
/// confirmed (or replaced), the previous state comes back. `lock` takes the namespace's lock
/// once it wakes, so it never runs into another change.
pub fn confirm_timer(
    env: &mut Env,
    token: u64,
    secs: u64,
    lock: impl FnOnce(&Env) -> Result<crate::lock::Lock>,
) -> Result<i32> {
    std::thread::sleep(Duration::from_secs(secs));
    let _lock = lock(env)?;
    recover(env)?;
    match env.records.pending() {
        Some(p) if p.token == token => {
            // The apply may have been written later than the timer started: keep its deadline.
            std::thread::sleep(until(p.deadline));
            eprintln!(
                "palisade: apply not confirmed within {secs} s: restoring the previous state"
            );
            let path = env.records.previous_path();
            restore_file(env, &path, "rollback (not confirmed)", false)?;
            eprintln!("palisade: previous state restored");
            Ok(0)
        }
        _ => Ok(0),
    }
}

pub fn rollback(env: &mut Env, out: Out) -> Result<i32> {
    let previous = env.records.previous_path();
    if !previous.exists() {
        bail!("no previous state to go back to (nothing was applied here yet)");
    }
    let now_state = capture(env)?;
    let text = std::fs::read_to_string(&previous)?;
    let report = restore_text(
        env,
        &previous.display().to_string(),
        &text,
        "rollback",
        true,
    )?;
    write_atomic(&previous, saved::write(&now_state).as_bytes())?;
    if !out.quiet {
        println!("{report}");
    }
    Ok(0)
}
