//! `palisade plan`: what `apply` would change, against what the kernel holds.

use anyhow::Result;
use palisade_core::policy::ChainPolicy;

use super::apply::{verdict_of, CHAIN_PREFIX};
use super::config::{config_dir, desired_sets, read_config};
use super::drift::set_drift;
use super::env::Env;
use super::line_diff::diff_lines;
use super::lower::{index_of, rule_text, text_of};
use crate::cli::PolicyArgs;
use crate::store::Store;

/// Kernel rule texts per policy chain, each rule once, in order.
pub fn kernel_rules(store: &mut Store) -> Result<Vec<(String, Vec<String>)>> {
    let rules = store.rules()?;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut last: Option<(String, Option<usize>)> = None;
    for r in rules.iter().filter(|r| r.chain.starts_with(CHAIN_PREFIX)) {
        let index = r.comment.as_deref().and_then(index_of);
        if last.as_ref() == Some(&(r.chain.clone(), index)) && index.is_some() {
            continue; // another kernel rule of the same policy rule (a set's parts)
        }
        last = Some((r.chain.clone(), index));
        let text = match (index, r.comment.as_deref()) {
            (Some(_), Some(c)) => text_of(c).to_string(),
            _ => format!(
                "rule handle {} ({}), added outside palisade",
                r.handle,
                r.exprs.join(" ")
            ),
        };
        match out.iter_mut().find(|(c, _)| *c == r.chain) {
            Some((_, v)) => v.push(text),
            None => out.push((r.chain.clone(), vec![text])),
        }
    }
    Ok(out)
}

pub fn plan(env: &mut Env, a: &PolicyArgs) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.config, &facts)?;
    let desired = desired_sets(&c, &config_dir(&a.config), &env.state)?;
    let current = kernel_rules(&mut env.store)?;
    let chains = env.store.chains()?;
    let mut changes = 0;
    for chain in &c.ruleset.chains {
        let name = chain.kernel_name();
        let want: Vec<String> = chain.rules.iter().map(rule_text).collect();
        let have = current
            .iter()
            .find(|(c, _)| *c == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        let policy = match chain.policy {
            ChainPolicy::Accept => "accept",
            ChainPolicy::Drop => "drop",
        };
        let kernel_policy = chains
            .iter()
            .find(|k| k.name == name)
            .and_then(|k| k.policy);
        let policy_note = match kernel_policy {
            None => format!("new chain, policy {policy}"),
            Some(p) if p == verdict_of(chain.policy) => format!("policy {policy}"),
            Some(_) => {
                changes += 1;
                format!("policy changes to {policy}")
            }
        };
        println!("chain {name} ({policy_note})");
        for (mark, line) in diff_lines(&have, &want) {
            if mark != ' ' {
                changes += 1;
                println!("  {mark} {line}");
            }
        }
    }
    let existing = env.store.sets()?;
    for ds in &desired {
        match existing.iter().find(|d| d.name == ds.def.name) {
            None => {
                changes += 1;
                let (v4, v6) = ds.loaded.range_counts();
                println!(
                    "set {}: created with {v4} IPv4 and {v6} IPv6 ranges",
                    ds.def.name
                );
            }
            Some(_) => {
                let (held, _) = env.store.held_parts(&ds.def.name)?;
                let held = held.contents();
                let add = ds.loaded.difference(&held).range_counts();
                let del = held.difference(&ds.loaded).range_counts();
                if add != (0, 0) || del != (0, 0) {
                    changes += 1;
                    println!(
                        "set {}: {} ranges to add, {} to remove",
                        ds.def.name,
                        add.0 + add.1,
                        del.0 + del.1
                    );
                }
            }
        }
    }
    let managed = env
        .records
        .applied()
        .map(|a| a.policy.managed)
        .unwrap_or_default();
    for name in managed
        .iter()
        .filter(|n| !desired.iter().any(|d| &d.def.name == *n))
    {
        if existing.iter().any(|d| &d.name == name) {
            changes += 1;
            println!("set {name}: removed (no longer in the config)");
        }
    }
    for d in set_drift(&mut env.store)? {
        changes += 1;
        println!("{d}");
    }
    println!("{changes} changes");
    Ok(0)
}
