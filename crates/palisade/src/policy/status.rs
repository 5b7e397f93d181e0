//! `palisade status`: what is applied, since when, from where; counters per rule and per set.
//!
//! One typed report is built from the kernel and the records; `--json` serializes it and the
//! text rendering prints the same fields, so the two never disagree.

use std::fmt;

use anyhow::Result;
use palisade_core::policy::{ChainPolicy, Ruleset};
use serde::Serialize;

use super::drift::{rule_drift, set_drift, Drift};
use super::env::Env;
use super::lower::index_of;
use super::records::now;
use crate::cli::StatusArgs;
use crate::store::counts::{block_counters, kernel_counts};
use crate::store::{BlockAction, Snapshot};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub applied: Option<AppliedReport>,
    pub pending_confirmation: Option<PendingReport>,
    pub chains: Vec<ChainReport>,
    pub sets: Vec<SetReport>,
    /// Changes made to palisade's table outside palisade.
    pub drift: Vec<Drift>,
}

#[derive(Debug, Serialize)]
pub struct AppliedReport {
    /// Seconds since the epoch.
    pub at: u64,
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct PendingReport {
    /// Seconds since the epoch when the previous state comes back.
    pub rollback_at: u64,
}

#[derive(Debug, Serialize)]
pub struct ChainReport {
    pub chain: String,
    pub policy: &'static str,
    pub rules: Vec<RuleReport>,
}

#[derive(Debug, Serialize)]
pub struct RuleReport {
    pub index: usize,
    pub rule: String,
    pub origin: String,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct SetReport {
    pub name: String,
    pub block: Option<BlockAction>,
    pub kernel_elements_v4: Option<u32>,
    pub kernel_elements_v6: Option<u32>,
    pub blocked_packets: u64,
    pub blocked_bytes: u64,
}

/// Read the report from the kernel and the records.
pub fn report(env: &mut Env) -> Result<StatusReport> {
    let applied = env.records.applied();
    let snapshot = env.store.snapshot()?;
    let chains = match &applied {
        Some(a) => chain_reports(&a.policy.ruleset, &snapshot),
        None => Vec::new(),
    };
    let counters = block_counters(&snapshot.rules);
    let mut sets = Vec::new();
    for def in env.store.sets()? {
        let (v4, v6) = kernel_counts(&snapshot.sets, &def.name);
        let (p, b) = counters.get(&def.name).copied().unwrap_or_default();
        sets.push(SetReport {
            name: def.name,
            block: def.block,
            kernel_elements_v4: v4,
            kernel_elements_v6: v6,
            blocked_packets: p,
            blocked_bytes: b,
        });
    }
    let mut drift = rule_drift(&snapshot, applied.as_ref().map(|a| &a.policy.ruleset));
    drift.extend(set_drift(&mut env.store)?);
    Ok(StatusReport {
        drift,
        applied: applied.map(|a| AppliedReport {
            at: a.at,
            source: a.source,
        }),
        pending_confirmation: env.records.pending().map(|p| PendingReport {
            rollback_at: p.deadline,
        }),
        chains,
        sets,
    })
}

/// Each chain of `ruleset` with the kernel's counters of its rules (a rule lowered into several
/// kernel rules counts their sum).
pub fn chain_reports(ruleset: &Ruleset, snapshot: &Snapshot) -> Vec<ChainReport> {
    let mut chains = Vec::new();
    for chain in &ruleset.chains {
        let name = chain.kernel_name();
        let mut counters = vec![(0u64, 0u64); chain.rules.len()];
        for r in snapshot.rules_of(&name) {
            if let (Some(i), Some((p, b))) = (r.comment.as_deref().and_then(index_of), r.counter) {
                if let Some(c) = counters.get_mut(i) {
                    c.0 += p;
                    c.1 += b;
                }
            }
        }
        chains.push(ChainReport {
            chain: name,
            policy: match chain.policy {
                ChainPolicy::Accept => "accept",
                ChainPolicy::Drop => "drop",
            },
            rules: chain
                .rules
                .iter()
                .zip(&counters)
                .enumerate()
                .map(|(index, (r, (packets, bytes)))| RuleReport {
                    index,
                    rule: r.to_string(),
                    origin: r.origin.clone(),
                    packets: *packets,
                    bytes: *bytes,
                })
                .collect(),
        });
    }
    chains
}

fn count(c: Option<u32>) -> String {
    c.map_or_else(|| "?".into(), |n| n.to_string())
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = now();
        match &self.applied {
            Some(a) => writeln!(
                f,
                "policy: applied {} s ago from {}",
                now.saturating_sub(a.at),
                a.source
            )?,
            None => writeln!(f, "policy: none applied by palisade here")?,
        }
        for d in &self.drift {
            writeln!(f, "DRIFT: {d}")?;
        }
        if let Some(p) = &self.pending_confirmation {
            writeln!(
                f,
                "PENDING: rolls back in {} s unless `palisade confirm`",
                p.rollback_at.saturating_sub(now)
            )?;
        }
        for c in &self.chains {
            writeln!(f, "chain {} (policy {})", c.chain, c.policy)?;
            writeln!(f, "  {:>10} {:>12}  rule", "packets", "bytes")?;
            for r in &c.rules {
                writeln!(f, "  {:>10} {:>12}  {}", r.packets, r.bytes, r.rule)?;
            }
        }
        if !self.sets.is_empty() {
            writeln!(f, "sets:")?;
            for s in &self.sets {
                writeln!(
                    f,
                    "  {:<20} block {:<7} kernel elements v4 {} v6 {}, blocked {} packets",
                    s.name,
                    s.block.map_or("none", BlockAction::as_str),
                    count(s.kernel_elements_v4),
                    count(s.kernel_elements_v6),
                    s.blocked_packets
                )?;
            }
        }
        Ok(())
    }
}

pub fn status(env: &mut Env, a: &StatusArgs) -> Result<i32> {
    let report = report(env)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(0)
}
