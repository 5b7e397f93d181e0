//! Making a set hold exactly a list: read what the loaded parts hold, diff, stage, commit.
//!
//! A load is planned ([`Store::plan_load`]: the reads and the diff), staged into a batch
//! ([`LoadPlan::stage`]) and, once the batch committed, finished ([`Store::finish_load`]: the
//! cache records the new contents). `set load` does the three in one transaction of its own;
//! the policy's apply stages many plans into its single transaction.

use std::time::Instant;

use super::error::{Result, StoreError};
use super::held::{exact_family, exact_of, Exact, Held};
use super::kernel_addr::{self, KernelAddr};
use super::layout::{invalidate, stamp_key, stamp_name, Part};
use super::partition::{hashed, split, Layout};
use super::plan::{diff_family, stage_diff, FamilyDiff};
use super::{cache, stage_flush_recent, SetChange, SetDef, Store, FAMILY, TABLE};
use palisade_core::Contents;
use palisade_core::{AddrRange, Groups, Interval, ProtoPort};
use palisade_nft::{Batch, Element};
use std::collections::{BTreeMap, BTreeSet};

/// Result of a load: what changed, and where the time went.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadReport {
    pub added: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Ranges added singly since the last load, now part of the bulk set or gone.
    pub recent_folded: usize,
    pub dump_ms: f64,
    pub diff_ms: f64,
    pub encode_ms: f64,
    pub commit_ms: f64,
    pub batch_bytes: usize,
    pub messages: usize,
    /// The loaded parts' contents came from the verified cache, not a kernel dump.
    pub from_cache: bool,
    pub cache_written: bool,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// What the loaded parts hold, part by part: exact ranges (deletions must name them).
pub(super) struct Loaded {
    pub v4: BTreeMap<Part, Exact<u32>>,
    pub v6: BTreeMap<Part, Exact<u128>>,
    pub from_cache: bool,
}

impl Loaded {
    fn empty() -> Self {
        Loaded {
            v4: BTreeMap::new(),
            v6: BTreeMap::new(),
            from_cache: false,
        }
    }

    /// Everything the loaded parts hold.
    fn contents(&self) -> Contents {
        fn ranges<T: Copy>(
            parts: &BTreeMap<Part, Exact<T>>,
        ) -> impl Iterator<Item = (AddrRange, Option<ProtoPort>)> + '_
        where
            AddrRange: From<Interval<T>>,
        {
            parts.values().flat_map(|groups| {
                groups
                    .iter()
                    .flat_map(|(port, ivs)| ivs.iter().map(|iv| (AddrRange::from(*iv), *port)))
            })
        }
        Contents::from_ranges(ranges(&self.v4).chain(ranges(&self.v6)))
    }

    /// The loaded parts of `layout`, as a load wrote them.
    fn of_layout(l4: Layout<u32>, l6: Layout<u128>, from_cache: bool) -> Self {
        Loaded {
            v4: l4.iter().map(|(p, g)| (*p, exact_of(g))).collect(),
            v6: l6.iter().map(|(p, g)| (*p, exact_of(g))).collect(),
            from_cache,
        }
    }
}

/// The element diffs of one family, part by part.
fn diffs<T: KernelAddr>(
    held: &BTreeMap<Part, Exact<T>>,
    want: &Layout<T>,
) -> Vec<(Part, FamilyDiff<T>)> {
    let parts: BTreeSet<Part> = held.keys().chain(want.keys()).copied().collect();
    let (none_held, none_wanted) = (Exact::new(), Groups::new());
    parts
        .into_iter()
        .map(|p| {
            let h = held.get(&p).unwrap_or(&none_held);
            let w = want.get(&p).unwrap_or(&none_wanted);
            (p, diff_family(h, w))
        })
        .collect()
}

fn prefix_lens<T>(layout: &Layout<T>) -> Vec<u8> {
    layout
        .keys()
        .filter_map(|p| match p {
            Part::Prefix(l) => Some(*l),
            _ => None,
        })
        .collect()
}

/// A load worked out against what the kernel holds, waiting to be staged into a batch.
pub struct LoadPlan {
    def: SetDef,
    /// For the observer: what the loaded parts held before (`None` for a set made in the same
    /// batch), and what the recent part held if it is folded in.
    before: Option<Contents>,
    folded: Option<Contents>,
    want: Contents,
    diffs4: Vec<(Part, FamilyDiff<u32>)>,
    diffs6: Vec<(Part, FamilyDiff<u128>)>,
    /// Prefix lengths of the hash parts once committed, and the ones the kernel has now.
    prefixes: (Vec<u8>, Vec<u8>),
    current: (Vec<u8>, Vec<u8>),
    flush_recent: bool,
    token: u32,
    /// The generation the batch it was staged into leaves once committed.
    generation: Option<u32>,
    report: LoadReport,
}

impl LoadPlan {
    /// Put the plan's messages into `b`: new hash parts, deletions and additions of each part,
    /// the recent part emptied if it is folded in, and a new cache token. If the hash parts
    /// change ([`LoadPlan::prefixes_changed`]), the caller rebuilds the block chains after
    /// this and then calls [`LoadPlan::stage_cleanup`].
    pub fn stage(&mut self, b: &mut Batch) {
        let t = Instant::now();
        let before = b.len();
        let name = self.def.name.clone();
        self.generation = b.genid().map(|g| g.wrapping_add(1));
        for len in self
            .prefixes
            .0
            .iter()
            .filter(|l| !self.current.0.contains(l))
        {
            b.add_set(FAMILY, &self.def.spec::<u32>(Part::Prefix(*len)), false);
        }
        for len in self
            .prefixes
            .1
            .iter()
            .filter(|l| !self.current.1.contains(l))
        {
            b.add_set(FAMILY, &self.def.spec::<u128>(Part::Prefix(*len)), false);
        }
        let mut totals = Vec::new();
        for (part, d) in &self.diffs4 {
            totals.push(stage_diff::<u32>(b, &name, *part, d));
        }
        for (part, d) in &self.diffs6 {
            totals.push(stage_diff::<u128>(b, &name, *part, d));
        }
        let r = &mut self.report;
        (r.removed, r.added, r.unchanged) = (0, 0, 0);
        for (removed, added, unchanged) in totals {
            r.removed += removed;
            r.added += added;
            r.unchanged += unchanged;
        }
        if self.flush_recent {
            stage_flush_recent(b, &name);
        }
        invalidate(b, &name);
        b.add_elements(
            FAMILY,
            TABLE,
            &stamp_name(&name),
            false,
            [Element::key(stamp_key(self.token))],
        );
        r.encode_ms = ms(t);
        r.messages = b.len() - before;
    }

    /// Whether the set's hash parts change, so the block chains must be rebuilt.
    pub fn prefixes_changed(&self) -> bool {
        self.prefixes != self.current
    }

    /// Prefix lengths of the hash parts once committed (IPv4, IPv6).
    pub fn prefixes(&self) -> (Vec<u8>, Vec<u8>) {
        self.prefixes.clone()
    }

    /// Delete the hash parts the load emptied; after the block chains no longer use them.
    pub fn stage_cleanup(&self, b: &mut Batch) {
        let name = &self.def.name;
        for len in self
            .current
            .0
            .iter()
            .filter(|l| !self.prefixes.0.contains(l))
        {
            b.del_set(
                FAMILY,
                TABLE,
                &super::kernel_name::<u32>(name, Part::Prefix(*len)),
            );
        }
        for len in self
            .current
            .1
            .iter()
            .filter(|l| !self.prefixes.1.contains(l))
        {
            b.del_set(
                FAMILY,
                TABLE,
                &super::kernel_name::<u128>(name, Part::Prefix(*len)),
            );
        }
    }

    pub fn report(&self) -> &LoadReport {
        &self.report
    }
}

impl Store {
    /// Make the set hold exactly `want`: compare with the loaded parts and apply only the
    /// difference, fold the recent part in, all in one transaction guarded by the generation
    /// id, so the set is never empty or partial and a concurrent change is never overwritten.
    pub fn load(&mut self, def: &SetDef, want: &Contents) -> Result<LoadReport> {
        self.retry_on_change(
            |store, gen| {
                let mut plan = store.plan_load(def, want, false, true)?;
                let mut b = store.batch(gen);
                plan.stage(&mut b);
                if plan.prefixes_changed() {
                    let mut all = store.sets()?;
                    for d in all.iter_mut().filter(|d| d.name == def.name) {
                        d.prefixes = plan.prefixes();
                    }
                    let carried = super::chains::carried(&store.rules()?);
                    super::chains::rebuild_block_chain(&mut b, &all, &carried);
                    if let Some(s) = store.session() {
                        super::chains::stage_pins(&mut b, &s);
                    }
                    plan.stage_cleanup(&mut b);
                }
                let t = Instant::now();
                let stats = store.commit(b)?;
                let mut report = store.finish_load(plan);
                report.commit_ms = ms(t);
                report.batch_bytes = stats.bytes;
                Ok(report)
            },
            StoreError::is_generation_change,
        )
    }

    /// Work out what makes set `def` hold exactly `want` in its loaded parts: only the
    /// difference from what they hold (nothing is read for a set created in the same batch,
    /// `fresh`), and with `fold_recent` the recent part's ranges emptied into them.
    pub fn plan_load(
        &mut self,
        def: &SetDef,
        want: &Contents,
        fresh: bool,
        fold_recent: bool,
    ) -> Result<LoadPlan> {
        check_ports(def, want)?;
        let mut report = LoadReport::default();
        let t = Instant::now();
        let loaded = if fresh {
            Loaded::empty()
        } else {
            self.read_loaded(def)?
        };
        // What the observer gets besides the new contents, only when it wants them.
        let observing = self.observing();
        let before = (observing && !fresh).then(|| loaded.contents());
        let mut folded = (observing && fold_recent).then(Contents::default);
        if fold_recent && !fresh {
            let recent = self.dump_part(&def.name, Part::Recent)?;
            report.recent_folded = recent.v4.len() + recent.v6.len();
            if observing {
                folded = Some(recent.contents());
            }
        }
        report.from_cache = loaded.from_cache;
        report.dump_ms = ms(t);

        let t = Instant::now();
        let (w4, w6) = split(want, hashed(def));
        let (w4, w6) = (w4.layout(), w6.layout());
        let prefixes = (prefix_lens(&w4), prefix_lens(&w6));
        let current = match fresh {
            true => Default::default(),
            false => def.prefixes.clone(),
        };
        let (diffs4, diffs6) = (diffs(&loaded.v4, &w4), diffs(&loaded.v6, &w6));
        report.diff_ms = ms(t);
        Ok(LoadPlan {
            def: def.clone(),
            before,
            folded,
            want: want.clone(),
            diffs4,
            diffs6,
            prefixes,
            current,
            flush_recent: report.recent_folded > 0,
            token: cache::new_token(),
            generation: None,
            report,
        })
    }

    /// After the batch of a [`LoadPlan`] committed: the loaded parts now hold exactly what it
    /// wanted; remember it. A cache that cannot be written only costs the next load a read of
    /// the kernel; the stamp keeps a stale one unused.
    pub fn finish_load(&mut self, plan: LoadPlan) -> LoadReport {
        self.notify(SetChange::Loaded {
            def: &plan.def,
            loaded: &plan.want,
            before: plan.before.as_ref(),
            folded: plan.folded.as_ref(),
        });
        let mut report = plan.report;
        let Some(path) = self.cache_path(&plan.def.name) else {
            return report;
        };
        match (&self.journal, plan.generation) {
            (Some(j), Some(generation)) => {
                let stamp = cache::Stamp {
                    token: plan.token,
                    generation,
                    origin: j.origin().clone(),
                };
                report.cache_written = cache::write(&path, &stamp, &plan.want).is_ok();
            }
            // A cache that could never be proven current is worse than none.
            _ => cache::remove(&path),
        }
        report
    }

    /// The parts a load writes: from the cache when the kernel proves it current, else dumped.
    pub(super) fn read_loaded(&mut self, def: &SetDef) -> Result<Loaded> {
        if let Some(contents) = self.cached_load(def)? {
            let (s4, s6) = split(&contents, hashed(def));
            return Ok(Loaded::of_layout(s4.layout(), s6.layout(), true));
        }
        let mut loaded = Loaded::empty();
        for part in def
            .parts::<u32>()
            .into_iter()
            .filter(|p| *p != Part::Recent)
        {
            let held = self.dump_family::<u32>(&def.name, part)?;
            loaded.v4.insert(part, exact_family(&held));
        }
        for part in def
            .parts::<u128>()
            .into_iter()
            .filter(|p| *p != Part::Recent)
        {
            let held = self.dump_family::<u128>(&def.name, part)?;
            loaded.v6.insert(part, exact_family(&held));
        }
        Ok(loaded)
    }

    /// All of a set's loaded parts, read from the kernel.
    pub(super) fn dump_loaded(&mut self, def: &SetDef) -> Result<Held> {
        let mut held = Held::default();
        for part in def
            .parts::<u32>()
            .into_iter()
            .filter(|p| *p != Part::Recent)
        {
            held.v4.extend(self.dump_family::<u32>(&def.name, part)?);
        }
        for part in def
            .parts::<u128>()
            .into_iter()
            .filter(|p| *p != Part::Recent)
        {
            held.v6.extend(self.dump_family::<u128>(&def.name, part)?);
        }
        Ok(held)
    }

    /// Read one part of a set from the kernel (slow for a huge part: see [`cache`]).
    pub(super) fn dump_part(&mut self, name: &str, part: Part) -> Result<Held> {
        Ok(Held {
            v4: self.dump_family::<u32>(name, part)?,
            v6: self.dump_family::<u128>(name, part)?,
        })
    }

    pub(super) fn dump_family<T: KernelAddr>(
        &mut self,
        name: &str,
        part: Part,
    ) -> Result<Vec<kernel_addr::KernelRange<T>>> {
        let mut elems = Vec::new();
        self.nl
            .elements(FAMILY, TABLE, &super::kernel_name::<T>(name, part), |e| {
                elems.push(e)
            })?;
        Ok(match part {
            Part::Bulk | Part::Recent => kernel_addr::decode(elems),
            Part::Singles => kernel_addr::decode_singles(elems),
            // A hash part's key is the network's first address.
            Part::Prefix(len) => kernel_addr::decode_singles::<T>(elems)
                .into_iter()
                .filter_map(|mut r| {
                    r.range = Interval::from_prefix(r.range.first, len)?;
                    Some(r)
                })
                .collect(),
        })
    }

    /// What the set's recent part holds (small: additions since the last load).
    pub fn recent_part(&mut self, name: &str) -> Result<Held> {
        self.dump_part(name, Part::Recent)
    }

    /// Everything the set holds, all parts, with each range's timeout and comment.
    pub fn held(&mut self, name: &str) -> Result<Held> {
        let (loaded, recent) = self.held_parts(name)?;
        Ok(loaded.join(recent))
    }

    /// A set's loaded parts (from the cache when it is current) and its recent part, apart.
    pub fn held_parts(&mut self, name: &str) -> Result<(Held, Held)> {
        let def = self.get(name)?;
        let loaded = match self.cached_load(&def)? {
            Some(c) => Held::from_contents(&c),
            None => self.dump_loaded(&def)?,
        };
        Ok((loaded, self.dump_part(name, Part::Recent)?))
    }
}

/// A set holds either plain elements or address+port pairs, never both.
pub(super) fn check_ports(def: &SetDef, c: &Contents) -> Result<()> {
    let (has_port, lacks_port) = c.port_kinds();
    let problem = if def.with_ports && lacks_port {
        "holds address+port pairs: give elements as ADDR,PORT or ADDR,tcp:PORT"
    } else if !def.with_ports && has_port {
        "holds addresses and networks only: create it with --with-ports for address+port pairs"
    } else {
        return Ok(());
    };
    Err(StoreError::Mismatch {
        set: def.name.clone(),
        problem: problem.into(),
    })
}
