//! Counters and sizes the kernel keeps for palisade's sets, read without dumping elements.

use std::collections::BTreeMap;

use super::chains::{is_block_chain, BLOCK_RULE_PREFIX};
use super::error::Result;
use super::layout::{kernel_name, parts_with, prefix_parts, Part};
use super::Store;
use palisade_nft::{RuleInfo, SetInfo};

/// Element counts the kernel reports for set `name`, per family (all parts, hash parts
/// included), where it does.
pub fn kernel_counts(infos: &[SetInfo], name: &str) -> (Option<u32>, Option<u32>) {
    let count = |names: Vec<String>| -> Option<u32> {
        names
            .iter()
            .map(|n| infos.iter().find(|i| &i.name == n).and_then(|i| i.count))
            .sum()
    };
    let names = |parts: Vec<Part>, f: &dyn Fn(Part) -> String| parts.into_iter().map(f).collect();
    (
        count(names(parts_with(&prefix_parts::<u32>(infos, name)), &|p| {
            kernel_name::<u32>(name, p)
        })),
        count(names(
            parts_with(&prefix_parts::<u128>(infos, name)),
            &|p| kernel_name::<u128>(name, p),
        )),
    )
}

/// Packet and byte counters of each set's block rules, by set name.
pub fn block_counters(rules: &[RuleInfo]) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in rules.iter().filter(|r| is_block_chain(&r.chain)) {
        let Some(set) = r
            .comment
            .as_deref()
            .and_then(|c| c.strip_prefix(BLOCK_RULE_PREFIX))
        else {
            continue;
        };
        let (p, b) = r.counter.unwrap_or_default();
        let e = out.entry(set.to_string()).or_default();
        e.0 += p;
        e.1 += b;
    }
    out
}

impl Store {
    /// Element counts the kernel reports for a set, per family (all parts), where it does.
    pub fn kernel_counts(&mut self, name: &str) -> Result<(Option<u32>, Option<u32>)> {
        Ok(kernel_counts(&self.set_infos()?, name))
    }

    /// Packet and byte counters of each set's block rules, by set name.
    pub fn block_counters(&mut self) -> Result<BTreeMap<String, (u64, u64)>> {
        Ok(block_counters(&self.rules()?))
    }
}
