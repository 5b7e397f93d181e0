//! Peers' bans and shared lists into this host's kernel: the [`FleetSink`] of `fleet run`.
//!
//! Bans go into the palisade set `fleet`, a dynamic drop set, so single addresses land in
//! its hash part with the ban's remaining time as the kernel timeout (inserts there cost the
//! same at any size, and the kernel removes them when they expire: nothing polls). A batch is
//! one transaction; the catch-up after start replaces the whole set in one transaction, so
//! there is never a moment without the bans that are still active, nor one with bans lifted
//! while this host was away. [`Holdings`] decides which elements change. A shared list is
//! diff-loaded into the set of its name (created as a drop set if the host has none).
//!
//! Runs on the engine's sink thread, with its own netlink socket: a slow transaction delays
//! delivery, never the bus.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_core::{AddrBits, AddrRange, Contents, Interval, IntervalSet};
use palisade_fleet::{
    BanBatch, Expiry, FleetSink, SharedList, SinkError, VerifiedBan, VerifiedLift,
};
use palisade_nft::Batch;
use palisade_watch::Allowlist;

use super::forgotten::Forgotten;
use super::holdings::{Element, Holdings, KernelChange};
use super::FLEET_SET;
use crate::store::kernel_addr::{self, Extras, KernelAddr};
use crate::store::layout::{invalidate, PARTS};
use crate::store::{kernel_name, BlockAction, Part, SetDef, Store, StoreError, Timed};
use crate::store::{FAMILY, TABLE};
use crate::watch::own_addrs::OwnAddresses;

/// The `fleet` set: drop, dynamic (single addresses in the hash part, with timeouts).
pub fn fleet_set() -> SetDef {
    SetDef {
        block: Some(BlockAction::Drop),
        dynamic: true,
        ..SetDef::new(FLEET_SET)
    }
}

/// What the sink reports to the daemon's status.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Addresses the `fleet` set holds for peers (as the sink knows them).
    pub held: AtomicUsize,
    pub lists_loaded: AtomicU64,
}

pub struct KernelSink {
    store: Store,
    /// This host's addresses, followed as they come and go: a peer's ban never covers one.
    /// (The engine's allowlist has those of the start; these are current.)
    own: Option<OwnAddresses>,
    def: SetDef,
    holdings: Holdings,
    counters: Arc<SinkCounters>,
    last_prune: Instant,
}

fn now() -> u64 {
    super::now()
}

fn timed(e: &Element, now: u64) -> Option<Timed> {
    let remaining = match e.expires {
        Expiry::Never => None,
        Expiry::At(t) if t > now => Some(Duration::from_secs(t - now)),
        Expiry::At(_) => return None,
    };
    Some(Timed {
        addr: e.target,
        port: None,
        remaining,
        comment: Some(e.comment.clone()),
    })
}

/// Ranges that overlap no longer-lived range before them, and the rest: an interval set
/// refuses overlapping elements in one transaction, so the rest is added afterwards by
/// [`Store::add_timed`], which merges.
fn disjoint_first(mut ranges: Vec<Timed>) -> (Vec<Timed>, Vec<Timed>) {
    let life = |t: &Timed| t.remaining.map_or(u64::MAX, |d| d.as_secs());
    ranges.sort_by_key(|t| std::cmp::Reverse(life(t)));
    let (mut v4, mut v6) = (IntervalSet::<u32>::new(), IntervalSet::<u128>::new());
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for t in ranges {
        let free = match t.addr {
            AddrRange::V4(iv) => claim(&mut v4, iv),
            AddrRange::V6(iv) => claim(&mut v6, iv),
        };
        if free {
            first.push(t)
        } else {
            rest.push(t)
        }
    }
    (first, rest)
}

/// Take `iv` into `taken` if it overlaps nothing there yet; whether it did.
fn claim<T: AddrBits>(taken: &mut IntervalSet<T>, iv: Interval<T>) -> bool {
    let one = IntervalSet::from_unsorted(vec![iv]);
    let free = taken.intersection(&one).is_empty();
    if free {
        *taken = taken.union(&one);
    }
    free
}

impl KernelSink {
    /// The sink for `store`'s namespace; the `fleet` set is created if missing. Bans the
    /// `forgotten` origins issued before they were forgotten are never applied.
    pub fn new(
        mut store: Store,
        counters: Arc<SinkCounters>,
        forgotten: Forgotten,
        own: Option<OwnAddresses>,
    ) -> Result<Self, StoreError> {
        let def = store.ensure(&fleet_set())?;
        Ok(Self {
            store,
            own,
            def,
            holdings: Holdings::with_forgotten(forgotten),
            counters,
            last_prune: Instant::now(),
        })
    }

    /// Take in this host's address changes: bans on an address that became its own are
    /// deleted. Then the bans of `bans` that cover none of its addresses.
    fn not_own(&mut self, bans: Vec<VerifiedBan>) -> Result<Vec<VerifiedBan>, StoreError> {
        let Some(own) = &mut self.own else {
            return Ok(bans);
        };
        if let Some(added) = own.refresh() {
            let added = Allowlist::new(added.into_iter().map(AddrRange::from).collect());
            let change = self.holdings.release(|t| added.overlaps(t), now());
            self.change_kernel(change)?;
        }
        let own = self
            .own
            .as_ref()
            .map(OwnAddresses::allowlist)
            .unwrap_or_default();
        Ok(bans
            .into_iter()
            .filter(|b| !own.overlaps(b.target))
            .collect())
    }

    fn note_held(&mut self) {
        if self.last_prune.elapsed() >= Duration::from_secs(60) {
            self.holdings.prune(now());
            self.last_prune = Instant::now();
        }
        self.counters
            .held
            .store(self.holdings.len(), Ordering::Relaxed);
    }

    /// Make the kernel follow `change`: additions (and new timeouts) in one transaction,
    /// deletions in another.
    fn change_kernel(&mut self, change: KernelChange) -> Result<(), StoreError> {
        let now = now();
        let items: Vec<Timed> = change.set.iter().filter_map(|e| timed(e, now)).collect();
        if !items.is_empty() {
            self.store.add_timed(&self.def, &items)?;
        }
        if !change.remove.is_empty() {
            self.remove(&change.remove)?;
        }
        self.note_held();
        Ok(())
    }

    /// Delete elements: single addresses straight from the hash part (no read), in one
    /// transaction. If that fails (an element was already gone: timed out, or unblocked by
    /// hand), and for networks, through [`Store::del`], which reads what is there first.
    fn remove(&mut self, targets: &[AddrRange]) -> Result<(), StoreError> {
        let (singles, ranges): (Vec<AddrRange>, Vec<AddrRange>) =
            targets.iter().partition(|t| t.size() == 1);
        let name = self.def.name.clone();
        let fast = self.store.retry_on_change(
            |store, gen| {
                let mut b = store.batch(gen);
                stage_single_deletions(&mut b, &name, &singles);
                store.commit(b).map(drop)
            },
            StoreError::is_generation_change,
        );
        let slow: Vec<AddrRange> = match fast {
            Ok(()) => ranges,
            Err(StoreError::Kernel(_)) => targets.to_vec(),
            Err(e) => return Err(e),
        };
        if !slow.is_empty() {
            let items = Contents::from_ranges(slow.into_iter().map(|t| (t, None)));
            self.store.del(&self.def, &items)?;
        }
        Ok(())
    }

    /// The catch-up: the `fleet` set holds exactly `elements` afterwards, in one transaction
    /// (the rare overlapping networks are added right after it).
    fn replace_kernel(&mut self, elements: &[Element]) -> Result<(), StoreError> {
        let now = now();
        let (singles, ranges): (Vec<Timed>, Vec<Timed>) = elements
            .iter()
            .filter_map(|e| timed(e, now))
            .partition(|t| t.addr.size() == 1);
        let (disjoint, overlapping) = disjoint_first(ranges);
        let def = self.def.clone();
        self.store.retry_on_change(
            |store, gen| {
                let mut b = store.batch(gen);
                for part in PARTS {
                    b.flush_set(FAMILY, TABLE, &kernel_name::<u32>(&def.name, part));
                    b.flush_set(FAMILY, TABLE, &kernel_name::<u128>(&def.name, part));
                }
                invalidate(&mut b, &def.name);
                Store::stage_add_timed(&mut b, &def, &singles);
                Store::stage_add_timed(&mut b, &def, &disjoint);
                store.commit(b).map(drop)
            },
            StoreError::is_generation_change,
        )?;
        if !overlapping.is_empty() {
            self.store.add_timed(&self.def, &overlapping)?;
        }
        self.note_held();
        Ok(())
    }
}

/// Deletions of single addresses from a dynamic set's hash part.
fn stage_single_deletions(b: &mut Batch, set: &str, targets: &[AddrRange]) {
    stage_family_deletions::<u32>(b, set, targets);
    stage_family_deletions::<u128>(b, set, targets);
}

fn stage_family_deletions<T: KernelAddr>(b: &mut Batch, set: &str, targets: &[AddrRange]) {
    let keys = targets
        .iter()
        .filter_map(|t| T::of(*t))
        .flat_map(|iv| kernel_addr::single(iv.first, None, Extras::default()));
    b.del_elements(FAMILY, TABLE, &kernel_name::<T>(set, Part::Singles), keys);
}

impl FleetSink for KernelSink {
    fn apply(&mut self, batch: BanBatch) -> Result<(), SinkError> {
        let bans = self.not_own(batch.bans)?;
        if batch.catch_up {
            let elements = self.holdings.replace_all(&bans, now());
            self.replace_kernel(&elements)?;
        } else {
            let change = self.holdings.apply(&bans, now());
            self.change_kernel(change)?;
        }
        Ok(())
    }

    fn lift(&mut self, lifts: Vec<VerifiedLift>) -> Result<(), SinkError> {
        let change = self
            .holdings
            .lift_all(lifts.iter().map(|l| (l.origin.as_str(), l.target)), now());
        Ok(self.change_kernel(change)?)
    }

    fn forget(&mut self, origin: &str) -> Result<(), SinkError> {
        let change = self.holdings.forget(origin, now());
        Ok(self.change_kernel(change)?)
    }

    fn load_list(&mut self, list: SharedList) -> Result<(), SinkError> {
        let def = match self.store.get(&list.name) {
            Ok(def) => def,
            Err(StoreError::NoSuchSet(_)) => self.store.ensure(&SetDef {
                block: Some(BlockAction::Drop),
                ..SetDef::new(&list.name)
            })?,
            Err(e) => return Err(e.into()),
        };
        if def.with_ports {
            return Err(format!(
                "shared list {} from {}: this host's set {} holds address+port pairs; a shared \
                 list goes into a plain set (rename or destroy this one)",
                list.name, list.origin, def.name
            )
            .into());
        }
        let v4 = list.v4.iter().map(|iv| (AddrRange::V4(*iv), None));
        let v6 = list.v6.iter().map(|iv| (AddrRange::V6(*iv), None));
        let contents = Contents::from_ranges(v4.chain(v6));
        self.store.load(&def, &contents)?;
        self.counters.lists_loaded.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::parse_addr_range;

    fn t(net: &str, secs: Option<u64>) -> Timed {
        Timed {
            addr: parse_addr_range(net, false).unwrap(),
            port: None,
            remaining: secs.map(Duration::from_secs),
            comment: None,
        }
    }

    #[test]
    fn overlapping_networks_are_held_back_longest_lived_first() {
        let (first, rest) = disjoint_first(vec![
            t("10.0.0.0/24", Some(60)),
            t("10.0.0.0/16", None),
            t("10.1.0.0/24", Some(5)),
            t("2001:db8::/64", Some(5)),
            t("2001:db8::/48", Some(50)),
        ]);
        let names = |v: &[Timed]| v.iter().map(|t| t.addr.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(&first),
            ["10.0.0.0/16", "2001:db8::/48", "10.1.0.0/24"]
        );
        assert_eq!(names(&rest), ["10.0.0.0/24", "2001:db8::/64"]);
    }

    #[test]
    fn expired_elements_get_no_timeout_they_are_skipped() {
        let e = Element {
            target: parse_addr_range("203.0.113.1", false).unwrap(),
            expires: Expiry::At(100),
            comment: "fleet a: x".into(),
        };
        assert_eq!(timed(&e, 100), None);
        assert_eq!(
            timed(&e, 40).unwrap().remaining,
            Some(Duration::from_secs(60))
        );
    }
}
