//! `palisade apply`, `confirm`, `rollback` and the confirm timer: moving between policies.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::apply::{apply, Desired};
use super::config::{config_dir, desired_sets, print_lints, read_config};
use super::env::Env;
use super::membership::KernelSets;
use super::persist::{capture, record, restore_file, restore_text, save_for_boot};
use super::records::{now, Pending};
use super::saved::{self, SavedPolicy};
use crate::cli::ApplyArgs;
use crate::commands::Out;
use crate::state::write_atomic;

pub fn apply_cmd(env: &mut Env, a: &ApplyArgs, out: Out) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.policy.config, &facts)?;
    let sets = desired_sets(&c, &config_dir(&a.policy.config))?;
    {
        let membership = KernelSets::new(&mut env.store)?;
        print_lints(&c, &facts, &membership);
    }
    let before = capture(env)?;
    write_atomic(
        &env.records.previous_path(),
        saved::write(&before).as_bytes(),
    )?;
    let previously_managed = env
        .records
        .applied()
        .map(|a| a.policy.managed)
        .unwrap_or_default();
    let policy = SavedPolicy {
        managed: c.ruleset.sets.iter().map(|s| s.name.clone()).collect(),
        ruleset: c.ruleset.clone(),
    };
    let desired = Desired {
        policy: policy.clone(),
        sets,
    };
    let report = apply(&mut env.store, &desired, &previously_managed)?;
    record(env, c.file.clone(), policy)?;
    if !out.quiet {
        println!("{report}");
    }
    match a.confirm {
        None => {
            env.records.clear_pending();
            save_for_boot(env)?;
        }
        Some(secs) => {
            let token = u64::from(std::process::id()) << 32 | now() & 0xffff_ffff;
            env.records.set_pending(&Pending {
                token,
                deadline: now() + secs,
            })?;
            spawn_timer(env, token, secs)?;
            println!(
                "run `palisade confirm` within {secs} s, or the previous state comes back by itself"
            );
        }
    }
    Ok(0)
}

/// Start the confirm timer as a process of its own (its own session, so a dropped SSH
/// connection does not take it down).
fn spawn_timer(env: &Env, token: u64, secs: u64) -> Result<()> {
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

pub fn confirm_timer(env: &mut Env, token: u64, secs: u64) -> Result<i32> {
    std::thread::sleep(Duration::from_secs(secs));
    match env.records.pending() {
        Some(p) if p.token == token => {
            eprintln!(
                "palisade: apply not confirmed within {secs} s: restoring the previous state"
            );
            let path = env.records.previous_path();
            restore_file(env, &path, "rollback (not confirmed)")?;
            env.records.clear_pending();
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
    let report = restore_text(env, &previous.display().to_string(), &text, "rollback")?;
    write_atomic(&previous, saved::write(&now_state).as_bytes())?;
    env.records.clear_pending();
    save_for_boot(env)?;
    if !out.quiet {
        println!("{report}");
    }
    Ok(0)
}
