//! A model of the tries and of nftables' verdict, shared by the plan tests.

use std::collections::BTreeMap;

use palisade_core::Interval;
use proptest::prelude::*;

use palisade_core::AddrRange;

use super::{DropSet, DropValue, Entry, KernelTime, MapPlan, Prefix, SetId};

/// The XDP program's verdict, as bpf/palisade_xdp.c computes it, over a model of the tries:
/// longest unexpired match (retrying shorter prefixes past expired ones), then the allowlist.
pub fn program_drops(
    drops: &BTreeMap<Prefix<u32>, DropValue>,
    allow: &[Prefix<u32>],
    addr: u32,
    now: KernelTime,
) -> bool {
    let mut limit = 32u8;
    loop {
        let hit = (0..=limit)
            .rev()
            .find_map(|len| drops.get(&Prefix::new(addr, len).unwrap()));
        let Some(v) = hit else { return false };
        if !v.expired_at(now) {
            return !allow.iter().any(|p| p.contains(addr));
        }
        if v.prefix_len == 0 {
            return false;
        }
        limit = v.prefix_len - 1;
    }
}

/// What nftables decides: some set has a live element covering the address, and the allowlist
/// does not hold it.
pub fn reference_drops(sets: &[DropSet], allow: &[AddrRange], addr: u32, now: KernelTime) -> bool {
    let covered = |r: &AddrRange| matches!(r, AddrRange::V4(iv) if iv.contains(addr));
    sets.iter().any(|s| {
        s.entries
            .iter()
            .any(|e| covered(&e.range) && !e.expires.is_some_and(|t| t.has_passed(now)))
    }) && !allow.iter().any(covered)
}

/// One write to the model of the tries.
pub type ModelOp = dyn Fn(&mut BTreeMap<Prefix<u32>, DropValue>, &mut Vec<Prefix<u32>>);

/// Apply a plan to a model of the tries, in the plan's order.
pub fn apply(
    drops: &mut BTreeMap<Prefix<u32>, DropValue>,
    allow: &mut Vec<Prefix<u32>>,
    p: &MapPlan<u32>,
) {
    allow.extend(&p.allow_add);
    for k in &p.drop_delete {
        assert!(
            drops.remove(k).is_some(),
            "plan deletes {k}, which is absent"
        );
    }
    for (k, v) in &p.drop_write {
        drops.insert(*k, *v);
    }
    allow.retain(|a| !p.allow_delete.contains(a));
}

pub fn v4(a: &str) -> u32 {
    u32::from(a.parse::<std::net::Ipv4Addr>().unwrap())
}

pub fn range(a: &str, b: &str) -> AddrRange {
    AddrRange::V4(Interval::new(v4(a), v4(b)).unwrap())
}

pub fn t(ns: u64) -> KernelTime {
    KernelTime::from_nanos(ns)
}

pub fn set(id: u8, entries: &[(AddrRange, Option<u64>)]) -> DropSet {
    DropSet {
        id: SetId(id),
        name: format!("set{id}"),
        entries: entries
            .iter()
            .map(|&(range, exp)| Entry {
                range,
                expires: exp.map(t),
            })
            .collect(),
    }
}

/// Small random worlds: addresses in 10.0.0.0/28, so nesting and overlap are common.
pub fn arb_range() -> impl Strategy<Value = AddrRange> {
    (0u32..16, 0u32..16).prop_map(|(a, b)| {
        let base = v4("10.0.0.0");
        AddrRange::V4(Interval::new(base + a.min(b), base + a.max(b)).unwrap())
    })
}

pub fn arb_sets() -> impl Strategy<Value = Vec<DropSet>> {
    prop::collection::vec(
        (
            0u8..4,
            prop::collection::vec((arb_range(), prop::option::of(1u64..20)), 0..6),
        ),
        0..4,
    )
    .prop_map(|sets| {
        sets.into_iter()
            .map(|(id, es)| set(id, &es.iter().map(|&(r, e)| (r, e)).collect::<Vec<_>>()))
            .collect()
    })
}
