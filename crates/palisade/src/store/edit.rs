//! Single changes to a set: additions (with timeouts and comments), deletions, membership.
//!
//! These touch only what they must: an addition goes to the small recent part without
//! reading anything (microseconds, whatever the bulk part's size); a deletion reads only the
//! recent part, and the loaded parts from the cache or by probing single addresses.

use std::time::{Duration, Instant};

use super::error::{Result, StoreError};
use super::held::Held;
use super::kernel_addr::KernelRange;
use super::kernel_addr::{Extras, KernelAddr};
use super::layout::{invalidate, kernel_name, Part};
use super::load::check_ports;
use super::plan::{cut_family, overlapping, stage_replace, stage_timed};
use super::timed_merge::merge_timed;
use super::{SetChange, SetDef, Store, Timed, FAMILY, TABLE};
use palisade_core::{AddrRange, Contents, ProtoPort};
use palisade_nft::{Batch, Key, NftError};

impl Store {
    /// Put into `b` timed additions to set `def`, each with its own time left and comment, in
    /// as few messages as their size needs (one message per element would flood the socket
    /// with acknowledgements). Ranges go to the recent part. Single addresses of a dynamic set
    /// go to its hash part, which takes timeouts: an insert there costs the same whatever the
    /// set holds, where the interval part rebuilds its lookup array on every commit (12 ms
    /// with 100,000 bans).
    pub fn stage_add_timed(b: &mut Batch, def: &SetDef, items: &[Timed]) {
        let hashed = |t: &Timed| def.dynamic && t.addr.size() == 1;
        stage_timed::<u32>(b, &def.name, Part::Recent, items, &|t| !hashed(t));
        stage_timed::<u128>(b, &def.name, Part::Recent, items, &|t| !hashed(t));
        if items.iter().any(hashed) {
            stage_timed::<u32>(b, &def.name, Part::Singles, items, &hashed);
            stage_timed::<u128>(b, &def.name, Part::Singles, items, &hashed);
            // The loaded parts changed outside a load: the cache no longer describes them.
            invalidate(b, &def.name);
        }
    }

    /// Add timed elements in one transaction. Where one overlaps what the part holds already,
    /// the longer-lived wins address by address (see [`merge_timed`]): a permanent addition
    /// under a timed network stays when the network expires, a timed one under a permanent
    /// element adds nothing, and what stays keeps its own time and comment.
    pub fn add_timed(&mut self, def: &SetDef, items: &[Timed]) -> Result<()> {
        let since = Instant::now();
        self.add_timed_once(def, items)?;
        self.notify(SetChange::Added { def, items, since });
        Ok(())
    }

    fn add_timed_once(&mut self, def: &SetDef, items: &[Timed]) -> Result<()> {
        let fast = self.transaction(|_, b| {
            Self::stage_add_timed(b, def, items);
            Ok(())
        });
        match fast {
            Ok(_) => Ok(()),
            Err(StoreError::Kernel(e)) if is_overlap(&e) => self.retry_on_change(
                |store, gen| {
                    let hashed = |t: &&Timed| def.dynamic && t.addr.size() == 1;
                    let (to_singles, to_recent): (Vec<&Timed>, Vec<&Timed>) =
                        items.iter().partition(hashed);
                    let mut b = store.batch(gen);
                    for (part, items) in [(Part::Recent, to_recent), (Part::Singles, to_singles)] {
                        if items.is_empty() {
                            continue;
                        }
                        let held = store.dump_part(&def.name, part)?;
                        let (new4, new6) = as_ranges(&items);
                        let m4 = merge_timed(&held.v4, &new4);
                        let m6 = merge_timed(&held.v6, &new6);
                        stage_replace(&mut b, &def.name, part, &m4.remove, &m4.add);
                        stage_replace(&mut b, &def.name, part, &m6.remove, &m6.add);
                        if part == Part::Singles {
                            invalidate(&mut b, &def.name);
                        }
                    }
                    store.commit(b)?;
                    Ok(())
                },
                StoreError::is_generation_change,
            ),
            Err(e) => Err(e),
        }
    }

    /// Add ranges to the recent part, all with the same timeout and comment.
    pub fn add(&mut self, def: &SetDef, items: &Contents, extras: Extras<'_>) -> Result<()> {
        check_ports(def, items)?;
        let timed: Vec<Timed> = items
            .ranges()
            .map(|(addr, port)| Timed {
                addr,
                port,
                remaining: extras.timeout_ms.map(Duration::from_millis),
                comment: extras.comment.map(str::to_string),
            })
            .collect();
        self.add_timed(def, &timed)
    }

    /// Remove addresses or networks from every part. Ranges held exactly are deleted; part of
    /// a larger range (one address out of a /24) splits it, and the pieces keep its remaining
    /// timeout and comment. The loaded parts are read from the cache when it is current, and
    /// for single addresses only probed, so an unblock costs milliseconds.
    ///
    /// Returns the items the set did not hold at all (nothing of them was there to remove),
    /// so the command can say so rather than pretend it unblocked them.
    pub fn del(&mut self, def: &SetDef, items: &Contents) -> Result<Contents> {
        check_ports(def, items)?;
        let missing = self.del_once(def, items)?;
        self.notify(SetChange::Deleted { def, items });
        Ok(missing)
    }

    fn del_once(&mut self, def: &SetDef, items: &Contents) -> Result<Contents> {
        self.retry_on_change(
            |store, gen| {
                let recent = store.dump_part(&def.name, Part::Recent)?;
                // Only the loaded ranges the items touch matter: (bulk part, singles part).
                let loaded: Option<(Held, Held)> = match store.cached_load(&def.name)? {
                    Some(c) => {
                        let (ranges, singles) = c.split_singles();
                        let touched = |c: &Contents| Held {
                            v4: overlapping(&c.v4, &items.v4),
                            v6: overlapping(&c.v6, &items.v6),
                        };
                        Some((touched(&ranges), touched(&singles)))
                    }
                    None if store.loaded_misses(def, items)? => None,
                    None => Some((
                        store.dump_part(&def.name, Part::Bulk)?,
                        store.dump_part(&def.name, Part::Singles)?,
                    )),
                };
                let mut held = recent.contents();
                if let Some((bulk, singles)) = &loaded {
                    held = held.union(&bulk.contents()).union(&singles.contents());
                }
                let missing =
                    Contents::from_ranges(items.ranges().filter(|(a, p)| !touches(&held, *a, *p)));
                let mut b = store.batch(gen);
                let name = &def.name;
                cut_family(&mut b, name, Part::Recent, &recent.v4, &items.v4);
                cut_family(&mut b, name, Part::Recent, &recent.v6, &items.v6);
                if let Some((bulk, singles)) = loaded {
                    let cuts = [
                        cut_family(&mut b, name, Part::Bulk, &bulk.v4, &items.v4),
                        cut_family(&mut b, name, Part::Bulk, &bulk.v6, &items.v6),
                        cut_family(&mut b, name, Part::Singles, &singles.v4, &items.v4),
                        cut_family(&mut b, name, Part::Singles, &singles.v6, &items.v6),
                    ];
                    if cuts.contains(&true) {
                        invalidate(&mut b, name);
                    }
                }
                store.commit(b)?;
                Ok(missing)
            },
            StoreError::is_generation_change,
        )
    }

    /// True when every item is a single address that the loaded parts do not contain, checked
    /// by kernel lookups instead of reading the parts. (The singles part is probed too: the
    /// kernel itself adds bans there in a dynamic set, and the cache cannot know them.)
    fn loaded_misses(&mut self, def: &SetDef, items: &Contents) -> Result<bool> {
        for (addr, port) in items.ranges() {
            if addr.size() != 1
                || self.part_contains(def, Part::Bulk, addr, port)?
                || self.part_contains(def, Part::Singles, addr, port)?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Is the first address of `addr` (with `port` for address+port sets) in one part?
    fn part_contains(
        &mut self,
        def: &SetDef,
        part: Part,
        addr: AddrRange,
        port: Option<ProtoPort>,
    ) -> Result<bool> {
        fn key<T: KernelAddr>(a: T, port: Option<ProtoPort>) -> Key {
            match port {
                Some(pp) => a.key_with_port(pp),
                None => a.key(),
            }
        }
        let (set, k) = match addr {
            AddrRange::V4(iv) => (kernel_name::<u32>(&def.name, part), key(iv.first, port)),
            AddrRange::V6(iv) => (kernel_name::<u128>(&def.name, part), key(iv.first, port)),
        };
        Ok(self.nl.get_element(FAMILY, TABLE, &set, k)?.is_some())
    }

    /// Is `addr` in the set? Kernel lookups, nothing is read.
    pub fn test(&mut self, def: &SetDef, addr: AddrRange, port: Option<ProtoPort>) -> Result<bool> {
        Ok(self.part_contains(def, Part::Bulk, addr, port)?
            || self.part_contains(def, Part::Singles, addr, port)?
            || self.part_contains(def, Part::Recent, addr, port)?)
    }
}

/// Does any address of `addr` (with `port`) lie in `held`?
fn touches(held: &Contents, addr: AddrRange, port: Option<ProtoPort>) -> bool {
    let probe = Contents::from_ranges([(addr, port)]);
    probe.difference(held) != probe
}

/// Timed elements as kernel ranges with their time left, per family.
fn as_ranges(items: &[&Timed]) -> (Vec<KernelRange<u32>>, Vec<KernelRange<u128>>) {
    fn one<T: KernelAddr>(t: &Timed) -> Option<KernelRange<T>> {
        let ms = t.remaining.map(|d| d.as_millis().max(1) as u64);
        Some(KernelRange {
            range: T::of(t.addr)?,
            port: t.port,
            timeout_ms: ms,
            expires_ms: ms,
            comment: t.comment.clone(),
        })
    }
    (
        items.iter().filter_map(|t| one::<u32>(t)).collect(),
        items.iter().filter_map(|t| one::<u128>(t)).collect(),
    )
}

/// The kernel's answers to an element that overlaps one the set holds.
fn is_overlap(e: &NftError) -> bool {
    matches!(
        e.errno(),
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) | Some(libc::EBUSY)
    )
}
