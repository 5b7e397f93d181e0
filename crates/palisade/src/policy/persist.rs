//! `palisade save` and `restore`, and capturing what is applied now (for rollback and boot).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use palisade_core::policy::{compile, compile::safe_policy, Ruleset};

use super::apply::{ApplyReport, Desired, DesiredSet};
use super::env::Env;
use super::facts;
use super::intent::{transact, Change};
use super::plan::kernel_rules;
use super::saved::{self, SavedPolicy, SavedSet, SavedState};
use crate::commands::Out;
use crate::state::write_atomic;

/// The state palisade holds now: the applied policy (if the kernel has it) and every set.
pub fn capture(env: &mut Env) -> Result<SavedState> {
    let has_policy = !kernel_rules(&mut env.store)?.is_empty();
    let policy = if has_policy {
        env.records.applied().map(|a| a.policy)
    } else {
        None
    };
    let mut sets = Vec::new();
    for def in env.store.sets()? {
        let (mut loaded, recent) = env.store.held_parts(&def.name)?;
        let mut recent = recent.into_timed();
        // A dynamic set's timed singles (bans) keep their time left, not a permanent place.
        recent.extend(loaded.take_timed());
        sets.push(SavedSet {
            loaded: loaded.contents(),
            recent,
            def,
        });
    }
    Ok(SavedState { policy, sets })
}

/// Save what is applied now to the file boot restores from.
pub fn save_for_boot(env: &mut Env) -> Result<()> {
    let state = capture(env)?;
    Ok(write_atomic(
        &env.saved_file(),
        saved::write(&state).as_bytes(),
    )?)
}

/// Put a saved state in the kernel as one crash-safe transaction; `save`: write it as the
/// boot state too (what `rollback` does; `restore` reads the boot state, the timer returns to
/// a state that was never confirmed away from it).
pub fn restore_text(
    env: &mut Env,
    file: &str,
    text: &str,
    source: &str,
    save: bool,
) -> Result<ApplyReport> {
    let state = saved::parse(file, text)?;
    let policy = state.policy.unwrap_or(SavedPolicy {
        ruleset: Ruleset {
            chains: Vec::new(),
            sets: Vec::new(),
            meters: Vec::new(),
        },
        managed: Vec::new(),
    });
    let desired = Desired {
        policy,
        sets: state
            .sets
            .into_iter()
            .map(|s| DesiredSet {
                def: s.def,
                loaded: s.loaded,
                recent: Some(s.recent),
            })
            .collect(),
    };
    transact(
        env,
        &desired,
        Change {
            source: source.to_string(),
            confirm: None,
            save_for_boot: save,
            remove_unmanaged: true,
        },
    )
}

pub fn restore_file(env: &mut Env, path: &Path, source: &str, save: bool) -> Result<ApplyReport> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    restore_text(env, &file, &text, source, save)
}

pub fn save(env: &mut Env, file: Option<PathBuf>, out: Out) -> Result<i32> {
    let path = file.unwrap_or_else(|| env.saved_file());
    let state = capture(env)?;
    write_atomic(&path, saved::write(&state).as_bytes())?;
    if !out.quiet {
        let elements: usize = state
            .sets
            .iter()
            .map(|s| {
                let (a, b) = s.loaded.range_counts();
                a + b + s.recent.len()
            })
            .sum();
        println!(
            "saved {} to {}: policy {}, {} sets, {elements} ranges",
            if state.policy.is_some() {
                "the applied state"
            } else {
                "the sets"
            },
            path.display(),
            if state.policy.is_some() {
                "included"
            } else {
                "none applied"
            },
            state.sets.len()
        );
    }
    Ok(0)
}

/// Restore a saved state; if it cannot be, put up the safe policy and fail loudly.
pub fn restore(env: &mut Env, file: Option<PathBuf>, out: Out) -> Result<i32> {
    let path = file.unwrap_or_else(|| env.saved_file());
    match restore_file(env, &path, &format!("restore {}", path.display()), false) {
        Ok(report) => {
            if !out.quiet {
                println!("{report}");
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("palisade: CANNOT RESTORE {}: {e:#}", path.display());
            let ports = facts::ssh_ports(env.ns.named_file().as_deref());
            let ruleset = compile(&safe_policy(&ports), &Default::default());
            let desired = Desired {
                policy: SavedPolicy {
                    ruleset: ruleset.clone(),
                    managed: Vec::new(),
                },
                sets: Vec::new(),
            };
            let change = Change {
                source: "safe policy (restore failed)".into(),
                confirm: None,
                save_for_boot: false,
                remove_unmanaged: false,
            };
            transact(env, &desired, change).context("even the safe policy failed")?;
            eprintln!(
                "palisade: SAFE POLICY UP instead: input dropped except established, loopback, ICMP essentials and SSH (port {}). Fix the saved state and run `palisade restore` or `palisade apply`.",
                ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            );
            Ok(1)
        }
    }
}
