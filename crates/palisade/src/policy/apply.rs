//! Applying a policy: one nftables transaction, then a read-back check.
//!
//! The transaction replaces palisade's policy chains and block chain, creates, reloads (by
//! difference) or removes the sets the policy declares, and leaves everything else alone:
//! other tables, sets made on the command line, and the bans in each set's recent part. It
//! is guarded by the ruleset generation, so a concurrent change makes it start over rather
//! than overwrite; and the kernel applies all of it or none of it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use palisade_core::policy::{ChainPolicy, Direction, FamilyTag, MeterDecl};
use palisade_nft::consts::{
    NF_ACCEPT, NF_DROP, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT,
};
use palisade_nft::{Hook, KeyKind, SetSpec};
use serde::Serialize;

use super::lower::{comment, index_of, lower};
use super::saved::{SavedPolicy, Timed};
use crate::store::{self, kernel_name, Part, SetDef, Store, StoreError, FAMILY, TABLE};
use palisade_core::Contents;

/// Policy chains run at the filter priority, after the block chain (filter - 10).
pub const POLICY_PRIORITY: i32 = 0;
pub const CHAIN_PREFIX: &str = "filter_";

/// A set as the policy wants it.
#[derive(Clone, Debug)]
pub struct DesiredSet {
    pub def: SetDef,
    pub loaded: Contents,
    /// `Some`: replace the recent part with these (restore). `None`: keep what it holds.
    pub recent: Option<Vec<Timed>>,
}

#[derive(Clone, Debug)]
pub struct Desired {
    pub policy: SavedPolicy,
    pub sets: Vec<DesiredSet>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyReport {
    pub sets_created: Vec<String>,
    pub sets_recreated: Vec<String>,
    pub sets_removed: Vec<String>,
    pub elements_added: usize,
    pub elements_removed: usize,
    pub kernel_rules: usize,
    pub messages: usize,
    pub batch_bytes: usize,
    pub commit_ms: f64,
}

/// What `apply`, `rollback` and `restore` print.
impl std::fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "applied in one transaction: {} kernel rules, {} sets created, {} recreated, {} removed, {} elements added, {} removed ({:.1} ms commit)",
            self.kernel_rules,
            self.sets_created.len(),
            self.sets_recreated.len(),
            self.sets_removed.len(),
            self.elements_added,
            self.elements_removed,
            self.commit_ms
        )
    }
}

/// The kernel's verdict code for a chain policy.
pub fn verdict_of(p: ChainPolicy) -> u32 {
    match p {
        ChainPolicy::Accept => NF_ACCEPT,
        ChainPolicy::Drop => NF_DROP,
    }
}

pub fn hook_of(d: Direction) -> u32 {
    match d {
        Direction::Input => NF_INET_LOCAL_IN,
        Direction::Forward => NF_INET_FORWARD,
        Direction::Output => NF_INET_LOCAL_OUT,
    }
}

/// Meter sets are named `meter.N.v4`: a dot never appears in a palisade set's names.
pub const METER_PREFIX: &str = "meter.";
/// Most sources one meter tracks; beyond, new sources are not metered (and pass the limit).
pub const METER_SIZE: u32 = 65536;

fn meter_spec(m: &MeterDecl) -> SetSpec {
    SetSpec {
        table: TABLE.into(),
        name: m.name.clone(),
        key: match m.family {
            FamilyTag::Ipv4 => KeyKind::Ipv4,
            FamilyTag::Ipv6 => KeyKind::Ipv6,
        },
        interval: false,
        timeout: m.timeout_secs.is_some(),
        default_timeout_ms: None,
        comment: Some("palisade: per-source meter of the policy".into()),
        dynamic: true,
        size: Some(METER_SIZE),
    }
}

/// Apply `desired` in one transaction, then read it back and check it; `previously_managed`
/// are the sets the last applied policy declared.
pub fn apply(
    store: &mut Store,
    desired: &Desired,
    previously_managed: &[String],
    token: u32,
) -> Result<ApplyReport> {
    let report = store.retry_on_change(
        |store, gen| try_apply(store, gen, desired, previously_managed, token),
        StoreError::is_generation_change,
    )?;
    verify(store, desired).map_err(|e| e.context("read-back check after apply"))?;
    Ok(report)
}

/// What a set's recent part holds, with the time each element has left.
pub fn recent_of(store: &mut Store, name: &str) -> store::Result<Vec<Timed>> {
    Ok(store.held_parts(name)?.1.into_timed())
}

/// One attempt: read, then one batch guarded by generation `gen`.
fn try_apply(
    store: &mut Store,
    gen: u32,
    desired: &Desired,
    previously_managed: &[String],
    token: u32,
) -> store::Result<ApplyReport> {
    let mut report = ApplyReport::default();
    let existing = store.sets()?;
    let set_infos = store.set_infos()?;
    let chains = store.chains()?;
    let rules_before = store.rules()?;
    // Reads first (they are not part of the transaction), then the batch.
    let mut kept_recent: BTreeMap<String, Vec<Timed>> = BTreeMap::new();
    let mut fresh: BTreeMap<String, bool> = BTreeMap::new();
    for ds in &desired.sets {
        let name = &ds.def.name;
        let Some(old) = existing.iter().find(|d| &d.name == name) else {
            fresh.insert(name.clone(), true);
            report.sets_created.push(name.clone());
            continue;
        };
        let recent_timeout = set_infos
            .iter()
            .find(|i| i.name == kernel_name::<u32>(name, Part::Recent))
            .and_then(|i| i.default_timeout_ms)
            .map(Duration::from_millis);
        let same = old.with_ports == ds.def.with_ports
            && old.block == ds.def.block
            && recent_timeout.map(|d| d.as_secs()) == ds.def.default_timeout.map(|d| d.as_secs());
        if !same {
            // The kernel cannot change a set's type, comment or default timeout in place.
            report.sets_recreated.push(name.clone());
            if ds.recent.is_none() && old.with_ports == ds.def.with_ports {
                kept_recent.insert(name.clone(), recent_of(store, name)?);
            }
        }
        fresh.insert(name.clone(), !same);
    }
    let desired_names: Vec<&str> = desired.sets.iter().map(|d| d.def.name.as_str()).collect();
    let removed: Vec<String> = existing
        .iter()
        .filter(|d| {
            previously_managed.contains(&d.name) && !desired_names.contains(&d.name.as_str())
        })
        .map(|d| d.name.clone())
        .collect();

    // Plans first: they read what the kernel holds (not part of the transaction).
    let mut plans = Vec::new();
    for ds in &desired.sets {
        plans.push(store.plan_load(&ds.def, &ds.loaded, fresh[&ds.def.name], false)?);
    }

    let mut b = store.batch(gen);
    b.add_table(FAMILY, TABLE);
    // The transaction's token, committed with it or not at all (see `super::intent`).
    store::layout::stage_apply_stamp(&mut b, token);
    // Rules that may refer to sets go first.
    let old_policy_chains: Vec<String> = chains
        .iter()
        .filter(|c| c.name.starts_with(CHAIN_PREFIX))
        .map(|c| c.name.clone())
        .collect();
    for c in &old_policy_chains {
        b.flush_chain(FAMILY, TABLE, c);
    }
    for c in chains
        .iter()
        .filter(|c| store::chains::is_block_chain(&c.name))
    {
        b.flush_chain(FAMILY, TABLE, &c.name);
    }
    for def in existing.iter().filter(|d| removed.contains(&d.name)) {
        store::stage_delete(&mut b, def);
    }
    // Meters start afresh with each apply: their rules were flushed above.
    for info in set_infos
        .iter()
        .filter(|i| i.name.starts_with(METER_PREFIX))
    {
        b.del_set(FAMILY, TABLE, &info.name);
    }
    for m in &desired.policy.ruleset.meters {
        b.add_set(FAMILY, &meter_spec(m), true);
    }
    for (ds, plan) in desired.sets.iter().zip(&mut plans) {
        let name = &ds.def.name;
        let is_fresh = fresh[name];
        if is_fresh {
            if let Some(old) = existing.iter().find(|d| &d.name == name) {
                store::stage_delete(&mut b, old);
            }
            store::stage_create(&mut b, &ds.def, false);
        }
        plan.stage(&mut b);
        let recent = ds.recent.as_ref().or(kept_recent.get(name));
        if let Some(recent) = recent {
            if !is_fresh {
                store::stage_flush_recent(&mut b, name);
            }
            Store::stage_add_timed(&mut b, &ds.def, recent);
        }
    }
    let mut final_defs: Vec<SetDef> = existing
        .iter()
        .filter(|d| !removed.contains(&d.name) && !desired_names.contains(&d.name.as_str()))
        .cloned()
        .chain(desired.sets.iter().zip(&plans).map(|(d, plan)| SetDef {
            prefixes: plan.prefixes(),
            ..d.def.clone()
        }))
        .collect();
    final_defs.sort_by(|a, b| a.name.cmp(&b.name));
    store::stage_block_chain(&mut b, &final_defs, &store::chains::carried(&rules_before));
    // Hash parts a load emptied go once no rule refers to them.
    for plan in &plans {
        plan.stage_cleanup(&mut b);
    }
    if let Some(s) = store.session() {
        store::chains::stage_pins(&mut b, &s);
    }

    let ruleset = &desired.policy.ruleset;
    let wanted: Vec<String> = ruleset.chains.iter().map(|c| c.kernel_name()).collect();
    for c in old_policy_chains.iter().filter(|c| !wanted.contains(c)) {
        b.del_chain(FAMILY, TABLE, c);
    }
    for chain in &ruleset.chains {
        let name = chain.kernel_name();
        let hook = Hook {
            num: hook_of(chain.direction),
            priority: POLICY_PRIORITY,
            policy: verdict_of(chain.policy),
        };
        b.add_chain(FAMILY, TABLE, &name, Some(hook));
        for (i, rule) in chain.rules.iter().enumerate() {
            let text = comment(i, rule);
            for exprs in lower(rule) {
                b.add_rule(FAMILY, TABLE, &name, &exprs, Some(&text));
                report.kernel_rules += 1;
            }
        }
    }
    report.messages = b.len();
    let t = Instant::now();
    let stats = store.commit(b)?;
    report.commit_ms = t.elapsed().as_secs_f64() * 1000.0;
    report.batch_bytes = stats.bytes;
    for plan in plans {
        let r = store.finish_load(plan);
        report.elements_added += r.added;
        report.elements_removed += r.removed;
    }
    for name in &removed {
        store.forget(name);
    }
    report.sets_removed = removed;
    Ok(report)
}

/// Read palisade's table back and check every policy chain holds what was sent: hook,
/// policy, and each rule in its place with the expressions it was given.
pub fn verify(store: &mut Store, desired: &Desired) -> Result<()> {
    let chains = store.chains()?;
    let rules = store.rules()?;
    for chain in &desired.policy.ruleset.chains {
        let name = chain.kernel_name();
        let Some(k) = chains.iter().find(|c| c.name == name) else {
            bail!("chain {name} is missing");
        };
        let want_policy = verdict_of(chain.policy);
        if k.hook != Some((hook_of(chain.direction), POLICY_PRIORITY))
            || k.policy != Some(want_policy)
        {
            bail!(
                "chain {name} has hook {:?} and policy {:?}",
                k.hook,
                k.policy
            );
        }
        let got: Vec<_> = rules.iter().filter(|r| r.chain == name).collect();
        let want: Vec<(usize, Vec<&'static str>)> = chain
            .rules
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                lower(r)
                    .into_iter()
                    .map(move |e| (i, e.iter().map(|x| x.name()).collect()))
            })
            .collect();
        if got.len() != want.len() {
            bail!(
                "chain {name} holds {} rules, {} were sent",
                got.len(),
                want.len()
            );
        }
        for (k, (i, exprs)) in got.iter().zip(&want) {
            let index = k.comment.as_deref().and_then(index_of);
            if index != Some(*i) || &k.exprs != exprs {
                bail!(
                    "chain {name}: rule {i} reads back as {:?} with {:?}",
                    k.comment,
                    k.exprs
                );
            }
        }
    }
    Ok(())
}
