//! One set at a time: replace what a set owns, withdraw addresses from it, count its entries;
//! and the allowlist on its own. The plans are in `plan::per_set`.

use std::collections::BTreeMap;

use palisade_core::{AddrRange, IntervalSet};

use super::maps::{FamilyMaps, Maps};
use super::{host, Xdp};
use crate::error::Result;
use crate::layout::{DropValue, SetId};
use crate::plan::per_set::{only_single_addresses, overlaps, plan_replace, plan_withdraw, SetPlan};
use crate::plan::{allow_prefixes, merge_longer, sorted_difference, Desired, DropSet, Entry};
use crate::prefix::{prefixes_of_family, Prefix};
use crate::time::KernelTime;

/// What a change to one set wrote, over both families.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetReport {
    pub written: usize,
    pub deleted: usize,
}

impl SetReport {
    fn add(&mut self, other: SetReport) {
        self.written += other.written;
        self.deleted += other.deleted;
    }
}

/// Entries of one set per family `(IPv4, IPv6)`.
pub type EntryCounts = BTreeMap<SetId, (usize, usize)>;

impl Xdp {
    /// Make set `set` own exactly `entries` (minus expired ones), leaving other sets' entries
    /// alone; a prefix another set holds keeps the better owner. Reads the drop tries once (one
    /// walk: about a second per million entries) and writes only the difference. This is what
    /// a load of one set needs: its new contents are in hand, the other sets' are not.
    pub fn replace_set(&mut self, set: SetId, name: &str, entries: &[Entry]) -> Result<SetReport> {
        let _lock = self.lock()?;
        let now = host::kernel_now()?;
        let one = [DropSet {
            id: set,
            name: name.into(),
            entries: entries.to_vec(),
        }];
        let mut report = replace_family::<u32>(&mut self.maps, &one, now)?;
        report.add(replace_family::<u128>(&mut self.maps, &one, now)?);
        Ok(report)
    }

    /// Delete every entry set `set` owns (a set flushed, destroyed, or no longer dropping).
    pub fn clear_set(&mut self, set: SetId) -> Result<usize> {
        Ok(self.replace_set(set, "", &[])?.deleted)
    }

    /// Set `set` no longer holds `ranges`: its entries inside them are deleted and its entries
    /// that cover part of them are cut around them, the pieces keeping their deadline. Entries
    /// of other sets stay. For single addresses (an unblock, an unban) this is a few lookups;
    /// a network walks the drop trie once.
    pub fn withdraw(&mut self, set: SetId, name: &str, ranges: &[AddrRange]) -> Result<SetReport> {
        self.withdraw_hinted(set, name, ranges, None)
    }

    /// [`Xdp::withdraw`] told what the set held: `held` (a load's contents before, say), whose
    /// prefixes are the entries the set can own inside `ranges`. Lookups instead of a walk of
    /// the trie, so a load that removes a few networks from a million costs a few lookups. An
    /// entry inside `ranges` that did not come from `held` (the maps out of step after a failed
    /// write) is missed; the next full [`Xdp::sync`] deletes it.
    pub fn withdraw_held(
        &mut self,
        set: SetId,
        name: &str,
        ranges: &[AddrRange],
        held: &[AddrRange],
    ) -> Result<SetReport> {
        self.withdraw_hinted(set, name, ranges, Some(held))
    }

    fn withdraw_hinted(
        &mut self,
        set: SetId,
        name: &str,
        ranges: &[AddrRange],
        held: Option<&[AddrRange]>,
    ) -> Result<SetReport> {
        let _lock = self.lock()?;
        let now = host::kernel_now()?;
        let maps = &mut self.maps;
        let mut report = withdraw_family::<u32>(maps, set, name, ranges, held, now)?;
        report.add(withdraw_family::<u128>(maps, set, name, ranges, held, now)?);
        Ok(report)
    }

    /// Make the allowlist tries hold exactly `allow` (merged), writing only the difference:
    /// new entries first, so nothing is dropped in between that either state passes.
    pub fn sync_allow(&mut self, allow: &[AddrRange]) -> Result<SetReport> {
        let _lock = self.lock()?;
        let mut report = sync_allow_family::<u32>(&mut self.maps, allow)?;
        report.add(sync_allow_family::<u128>(&mut self.maps, allow)?);
        Ok(report)
    }

    /// Add `allow` to the allowlist tries (an addition to an allow set: one write per prefix,
    /// nothing read).
    pub fn add_allow(&mut self, allow: &[AddrRange]) -> Result<usize> {
        let _lock = self.lock()?;
        let v4 = prefixes_of_family::<u32>(allow);
        let v6 = prefixes_of_family::<u128>(allow);
        for p in &v4 {
            self.maps.write_allow(p)?;
        }
        for p in &v6 {
            self.maps.write_allow(p)?;
        }
        Ok(v4.len() + v6.len())
    }

    /// How many drop entries each set owns, per family. Walks the tries (one system call per
    /// entry): for status, not hot paths.
    pub fn entries_by_set(&mut self) -> Result<EntryCounts> {
        let mut out = EntryCounts::new();
        for (_, v) in self.maps.read_drops::<u32>()? {
            out.entry(v.set).or_default().0 += 1;
        }
        for (_, v) in self.maps.read_drops::<u128>()? {
            out.entry(v.set).or_default().1 += 1;
        }
        Ok(out)
    }
}

fn apply<T: FamilyMaps>(
    maps: &mut Maps,
    plan: SetPlan<T>,
    name: &str,
    now: KernelTime,
    careful: bool,
) -> Result<SetReport> {
    let mut report = SetReport {
        deleted: plan.delete.len(),
        written: 0,
    };
    for p in &plan.delete {
        maps.delete_drop(p)?;
    }
    for (p, v) in &plan.write {
        if careful && merge_longer(maps.drop_entry(p)?, *v, now).is_none() {
            continue;
        }
        maps.write_drop(p, v, name)?;
        report.written += 1;
    }
    Ok(report)
}

fn replace_family<T: FamilyMaps>(
    maps: &mut Maps,
    one: &[DropSet; 1],
    now: KernelTime,
) -> Result<SetReport> {
    let desired = Desired::<T>::compute(one, &[], now);
    let current = maps.read_drops::<T>()?;
    let plan = plan_replace(current, one[0].id, &desired.drops, now);
    apply(maps, plan, &one[0].name, now, false)
}

fn withdraw_family<T: FamilyMaps>(
    maps: &mut Maps,
    set: SetId,
    name: &str,
    ranges: &[AddrRange],
    held: Option<&[AddrRange]>,
    now: KernelTime,
) -> Result<SetReport> {
    let removed: IntervalSet<T> = ranges.iter().filter_map(T::interval_of).collect();
    if removed.is_empty() {
        return Ok(SetReport::default());
    }
    let touched = if only_single_addresses(&removed) {
        covering(maps, removed.iter().map(|iv| iv.first))?
    } else if let Some(held) = held {
        // Entries reaching out of a removed range hold one of its ends; those inside it are
        // among the prefixes of what the set held there.
        let ends = removed.iter().flat_map(|iv| [iv.first, iv.last]);
        let mut touched = covering(maps, ends)?;
        let inside: Vec<AddrRange> = held
            .iter()
            .filter(|r| T::interval_of(r).is_some_and(|iv| overlaps(&removed, iv)))
            .copied()
            .collect();
        for p in prefixes_of_family::<T>(&inside) {
            if overlaps(&removed, p.interval()) {
                touched.extend(maps.drop_entry(&p)?.map(|v| (p, v)));
            }
        }
        touched.sort_unstable_by_key(|e| e.0);
        touched.dedup_by(|a, b| a.0 == b.0);
        touched
    } else {
        maps.read_drops::<T>()?
            .into_iter()
            .filter(|(p, _)| overlaps(&removed, p.interval()))
            .collect()
    };
    let plan = plan_withdraw(&touched, set, &removed, now);
    apply(maps, plan, name, now, true)
}

/// Every entry on the path from the root to each address: longest match first, then the
/// longest match shorter than that, and so on.
fn covering<T: FamilyMaps>(
    maps: &mut Maps,
    addrs: impl Iterator<Item = T>,
) -> Result<Vec<(Prefix<T>, DropValue)>> {
    let mut out = Vec::new();
    let width = u8::try_from(T::BITS).expect("32 or 128");
    for addr in addrs {
        let mut max = width;
        while let Some((p, v)) = maps.longest_match(addr, max)? {
            out.push((p, v));
            match p.len().checked_sub(1) {
                Some(shorter) => max = shorter,
                None => break,
            }
        }
    }
    out.sort_unstable_by_key(|e| e.0);
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

fn sync_allow_family<T: FamilyMaps>(maps: &mut Maps, allow: &[AddrRange]) -> Result<SetReport> {
    let desired = allow_prefixes::<T>(allow);
    let mut current = maps.read_allow::<T>()?;
    current.sort_unstable();
    current.dedup();
    let (add, del) = sorted_difference(&current, &desired);
    for p in &add {
        maps.write_allow(p)?;
    }
    for p in &del {
        maps.delete_allow(p)?;
    }
    Ok(SetReport {
        written: add.len(),
        deleted: del.len(),
    })
}
