//! `palisade check`: validate the config (policy, sets, jails, fleet) and warn about lockouts.

use anyhow::Result;

use super::config::{config_dir, desired_sets, print_lints, read_config};
use super::env::Env;
use super::membership::{KernelSets, PlannedSets};
use crate::cli::PolicyArgs;

pub fn check(env: &mut Env, a: &PolicyArgs) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.config, &facts)?;
    let desired = desired_sets(&c, &config_dir(&a.config), &env.state)?;
    let jails = crate::watch::read_config(&a.config)?;
    let fleet = crate::fleet::check_config(&a.config)?
        .map(|f| format!(", {f}"))
        .unwrap_or_default();
    let kernel_sets: Vec<String> = env.store.sets()?.into_iter().map(|d| d.name).collect();
    let genuine_warnings = crate::watch::genuine::missing_set_warnings(&jails, |set| {
        desired.iter().any(|d| d.def.name == set) || kernel_sets.iter().any(|k| k == set)
    });
    for w in &genuine_warnings {
        eprintln!("{}: warning: {w}", c.file);
    }
    let sets = PlannedSets {
        kernel: KernelSets::new(&mut env.store)?,
        desired: &desired,
    };
    let warnings = print_lints(&c, &facts, &sets) + genuine_warnings.len();
    let rules: usize = c.ruleset.chains.iter().map(|ch| ch.rules.len()).sum();
    println!(
        "{}: valid: {} rules in {} chains, {} sets, {} jails{fleet}; {warnings} warnings",
        c.file,
        rules,
        c.ruleset.chains.len(),
        c.ruleset.sets.len(),
        jails.jails.len()
    );
    Ok(0)
}
