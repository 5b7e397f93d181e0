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
use super::partition::{hashed, split};
use super::plan::{cut_family, overlapping, stage_replace, stage_timed};
use super::timed_merge::merge_timed;
use super::{SetChange, SetDef, Store, Timed, FAMILY, TABLE};
use palisade_core::{AddrRange, Contents, ProtoPort};
use palisade_nft::{Batch, Key, NftError};
use std::collections::BTreeSet;

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
                // Only the loaded ranges the items touch matter, part by part.
                let loaded: Option<Vec<(Part, Held)>> = match store.cached_load(def)? {
                    Some(c) => {
                        let (s4, s6) = split(&c, hashed(def));
                        let (l4, l6) = (s4.layout(), s6.layout());
                        let parts: BTreeSet<Part> = l4.keys().chain(l6.keys()).copied().collect();
                        Some(
                            parts
                                .into_iter()
                                .map(|p| {
                                    let touched = Held {
                                        v4: l4
                                            .get(&p)
                                            .map_or(Vec::new(), |g| overlapping(g, &items.v4)),
                                        v6: l6
                                            .get(&p)
                                            .map_or(Vec::new(), |g| overlapping(g, &items.v6)),
                                    };
                                    (p, touched)
                                })
                                .collect(),
                        )
                    }
                    None if store.loaded_misses(def, items)? => None,
                    None => Some(store.dump_loaded_parts(def)?),
                };
                let mut held = recent.contents();
                for (_, h) in loaded.iter().flatten() {
                    held = held.union(&h.contents());
                }
                let missing =
                    Contents::from_ranges(items.ranges().filter(|(a, p)| !touches(&held, *a, *p)));
                let mut b = store.batch(gen);
                let name = &def.name;
                cut_family(&mut b, name, Part::Recent, &recent.v4, &items.v4);
                cut_family(&mut b, name, Part::Recent, &recent.v6, &items.v6);
                let mut cut = false;
                for (part, h) in loaded.iter().flatten() {
                    cut |= match part {
                        Part::Prefix(_) => cut_network(&mut b, name, *part, h, items),
                        _ => {
                            let c4 = cut_family(&mut b, name, *part, &h.v4, &items.v4);
                            cut_family(&mut b, name, *part, &h.v6, &items.v6) || c4
                        }
                    };
                }
                if cut {
                    invalidate(&mut b, name);
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
            if addr.size() != 1 {
                return Ok(false);
            }
            for part in parts_of(def, addr)
                .into_iter()
                .filter(|p| *p != Part::Recent)
            {
                if self.part_contains(def, part, addr, port)? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Every loaded part of the set (not the recent one), read from the kernel.
    fn dump_loaded_parts(&mut self, def: &SetDef) -> Result<Vec<(Part, Held)>> {
        let parts: BTreeSet<Part> = def
            .parts::<u32>()
            .into_iter()
            .chain(def.parts::<u128>())
            .filter(|p| *p != Part::Recent)
            .collect();
        let mut out = Vec::new();
        for part in parts {
            let mut h = Held::default();
            if def.parts::<u32>().contains(&part) {
                h.v4 = self.dump_family::<u32>(&def.name, part)?;
            }
            if def.parts::<u128>().contains(&part) {
                h.v6 = self.dump_family::<u128>(&def.name, part)?;
            }
            out.push((part, h));
        }
        Ok(out)
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
        // A hash part of networks holds the address masked to its length.
        let masked = |a: AddrRange| match part {
            Part::Prefix(len) => a.network_of(len),
            _ => Some(a),
        };
        let Some(addr) = masked(addr) else {
            return Ok(false);
        };
        let (set, k) = match addr {
            AddrRange::V4(iv) => (kernel_name::<u32>(&def.name, part), key(iv.first, port)),
            AddrRange::V6(iv) => (kernel_name::<u128>(&def.name, part), key(iv.first, port)),
        };
        Ok(self.nl.get_element(FAMILY, TABLE, &set, k)?.is_some())
    }

    /// Is `addr` in the set? Kernel lookups, nothing is read.
    pub fn test(&mut self, def: &SetDef, addr: AddrRange, port: Option<ProtoPort>) -> Result<bool> {
        for part in parts_of(def, addr) {
            if self.part_contains(def, part, addr, port)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The parts of the family of `addr`.
fn parts_of(def: &SetDef, addr: AddrRange) -> Vec<Part> {
    match addr {
        AddrRange::V4(_) => def.parts::<u32>(),
        AddrRange::V6(_) => def.parts::<u128>(),
    }
}

/// Remove `items` from the networks a hash part holds: a network they touch is deleted, and
/// what is left of it (networks of other lengths, which that part cannot hold) goes to the
/// recent part, permanent like the loaded network was. The next load puts the list's layout
/// back. Returns whether anything changed.
fn cut_network(b: &mut Batch, name: &str, part: Part, held: &Held, items: &Contents) -> bool {
    fn family<T: KernelAddr>(
        b: &mut Batch,
        name: &str,
        part: Part,
        held: &[KernelRange<T>],
        items: &palisade_core::Groups<T>,
    ) -> bool {
        let cut = palisade_core::IntervalSet::from_unsorted(
            items
                .get(&None)
                .map_or(Vec::new(), |s| s.as_slice().to_vec()),
        );
        let touched: Vec<KernelRange<T>> = held
            .iter()
            .filter(|r| r.port.is_none())
            .filter(|r| {
                cut.iter()
                    .any(|c| c.first <= r.range.last && r.range.first <= c.last)
            })
            .cloned()
            .collect();
        let pieces: Vec<KernelRange<T>> = touched
            .iter()
            .flat_map(|r| {
                palisade_core::IntervalSet::from_unsorted(vec![r.range])
                    .difference(&cut)
                    .into_vec()
                    .into_iter()
                    .map(|iv| KernelRange::bare(iv, None))
            })
            .collect();
        if touched.is_empty() {
            return false;
        }
        stage_replace(b, name, part, &touched, &[]);
        stage_replace(b, name, Part::Recent, &[], &pieces);
        true
    }
    let c4 = family::<u32>(b, name, part, &held.v4, &items.v4);
    family::<u128>(b, name, part, &held.v6, &items.v6) || c4
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
pub(super) fn is_overlap(e: &NftError) -> bool {
    matches!(
        e.errno(),
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) | Some(libc::EBUSY)
    )
}
