//! Keeping the tries in step with palisade's sets: full syncs and incremental changes.

use palisade_core::AddrRange;

use super::maps::{FamilyMaps, Maps};
use super::{host, Xdp};
use crate::error::Result;
use crate::layout::{DropValue, SetId};
use crate::plan::{self, Desired, DropSet};
use crate::prefix::prefixes_of_family;
use crate::time::KernelTime;

/// What a sync changed, over both families.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Drop entries written (new, or with a new owner or deadline).
    pub written: usize,
    /// Drop entries deleted, expired ones included.
    pub deleted: usize,
    /// Of `deleted`, how many had expired.
    pub expired: usize,
    pub allow_written: usize,
    pub allow_deleted: usize,
    /// Drop entries per family after the sync `(IPv4, IPv6)`.
    pub entries: (usize, usize),
}

impl Xdp {
    /// Make the maps hold exactly `drops` (minus expired entries) and `allow`, writing only
    /// the difference from what they hold now. Safe to run at any time and as often as wanted:
    /// it also deletes expired entries.
    pub fn sync(&mut self, drops: &[DropSet], allow: &[AddrRange]) -> Result<SyncReport> {
        let _lock = self.lock()?;
        let now = host::kernel_now()?;
        let mut report = SyncReport::default();
        report.entries.0 = sync_family::<u32>(&mut self.maps, drops, allow, now, &mut report)?;
        report.entries.1 = sync_family::<u128>(&mut self.maps, drops, allow, now, &mut report)?;
        Ok(report)
    }

    /// Add `ranges` to set `set` (named `set_name` in errors), permanent or until `expires`.
    /// Two system calls per prefix. Where the trie holds a prefix already, the entry that drops
    /// longer stays, whichever set owns it, as in palisade's sets (see `plan::merge_longer`).
    /// Returns the number of entries written.
    pub fn add(
        &mut self,
        set: SetId,
        set_name: &str,
        ranges: &[AddrRange],
        expires: Option<KernelTime>,
    ) -> Result<usize> {
        let _lock = self.lock()?;
        let now = host::kernel_now()?;
        Ok(
            add_family::<u32>(&mut self.maps, set, set_name, ranges, expires, now)?
                + add_family::<u128>(&mut self.maps, set, set_name, ranges, expires, now)?,
        )
    }

    /// Remove `ranges` from set `set`: entries that set owns are deleted, so the removed
    /// addresses stop dropping at once. An entry another set owns stays (that set still lists
    /// it). If a deleted prefix is also in a set that did not own it, XDP stops dropping it
    /// until the next [`Xdp::sync`]; nftables keeps dropping it meanwhile. Returns the number of
    /// entries deleted.
    pub fn remove(&mut self, set: SetId, ranges: &[AddrRange]) -> Result<usize> {
        let _lock = self.lock()?;
        Ok(remove_family::<u32>(&mut self.maps, set, ranges)?
            + remove_family::<u128>(&mut self.maps, set, ranges)?)
    }
}

fn sync_family<T: FamilyMaps>(
    maps: &mut Maps,
    sets: &[DropSet],
    allow: &[AddrRange],
    now: KernelTime,
    report: &mut SyncReport,
) -> Result<usize> {
    let desired = Desired::<T>::compute(sets, allow, now);
    let current_drops = maps.read_drops::<T>()?;
    let current_allow = maps.read_allow::<T>()?;
    let plan = plan::plan(current_drops, current_allow, &desired, now);
    let name_of = |v: &DropValue| {
        sets.iter()
            .find(|s| s.id == v.set)
            .map_or("?", |s| s.name.as_str())
    };
    for p in &plan.allow_add {
        maps.write_allow(p)?;
    }
    for p in &plan.drop_delete {
        maps.delete_drop(p)?;
    }
    for (p, v) in &plan.drop_write {
        maps.write_drop(p, v, name_of(v))?;
    }
    for p in &plan.allow_delete {
        maps.delete_allow(p)?;
    }
    report.written += plan.drop_write.len();
    report.deleted += plan.drop_delete.len();
    report.expired += plan.expired;
    report.allow_written += plan.allow_add.len();
    report.allow_deleted += plan.allow_delete.len();
    Ok(desired.drops.len())
}

fn add_family<T: FamilyMaps>(
    maps: &mut Maps,
    set: SetId,
    set_name: &str,
    ranges: &[AddrRange],
    expires: Option<KernelTime>,
    now: KernelTime,
) -> Result<usize> {
    let mut written = 0;
    for p in prefixes_of_family::<T>(ranges) {
        let new = DropValue {
            expires,
            set,
            prefix_len: p.len(),
        };
        let existing = maps.drop_entry(&p)?;
        if let Some(v) = plan::merge_longer(existing, new, now) {
            maps.write_drop(&p, &v, set_name)?;
            written += 1;
        }
    }
    Ok(written)
}

fn remove_family<T: FamilyMaps>(
    maps: &mut Maps,
    set: SetId,
    ranges: &[AddrRange],
) -> Result<usize> {
    let mut deleted = 0;
    for p in prefixes_of_family::<T>(ranges) {
        if let Some(v) = maps.drop_entry(&p)? {
            if plan::owned_by(&v, set) {
                maps.delete_drop(&p)?;
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}
