//! Making a set hold exactly a list: read what the loaded parts hold, diff, stage, commit.
//!
//! A load is planned ([`Store::plan_load`]: the reads and the diff), staged into a batch
//! ([`LoadPlan::stage`]) and, once the batch committed, finished ([`Store::finish_load`]: the
//! cache records the new contents). `set load` does the three in one transaction of its own;
//! the policy's apply stages many plans into its single transaction.

use std::time::Instant;

use super::error::{Result, StoreError};
use super::held::{exact_of, Exact, Held};
use super::kernel_addr::{self, KernelAddr};
use super::layout::{invalidate, stamp_key, stamp_name, Part};
use super::plan::{diff_family, stage_diff, FamilyDiff};
use super::{cache, stage_flush_recent, SetChange, SetDef, Store, FAMILY, TABLE};
use palisade_core::Contents;
use palisade_nft::{Batch, Element};

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

/// What the parts a load writes hold: exact ranges (bulk part) and addresses (singles part).
pub(super) struct Loaded {
    pub ranges: (Exact<u32>, Exact<u128>),
    pub singles: (Exact<u32>, Exact<u128>),
    pub from_cache: bool,
}

impl Loaded {
    fn empty() -> Self {
        Loaded {
            ranges: Default::default(),
            singles: Default::default(),
            from_cache: false,
        }
    }
}

/// A load worked out against what the kernel holds, waiting to be staged into a batch.
pub struct LoadPlan {
    name: String,
    /// The set's definition and whether the recent part is folded in: for the observer.
    def: SetDef,
    fold_recent: bool,
    want: Contents,
    bulk: (FamilyDiff<u32>, FamilyDiff<u128>),
    singles: (FamilyDiff<u32>, FamilyDiff<u128>),
    flush_recent: bool,
    token: u32,
    /// The generation the batch it was staged into leaves once committed.
    generation: Option<u32>,
    report: LoadReport,
}

impl LoadPlan {
    /// Put the plan's messages into `b`: deletions and additions of each part, the recent
    /// part emptied if it is folded in, and a new cache token.
    pub fn stage(&mut self, b: &mut Batch) {
        let t = Instant::now();
        let before = b.len();
        let name = self.name.clone();
        self.generation = b.genid().map(|g| g.wrapping_add(1));
        let totals = [
            stage_diff::<u32>(b, &name, Part::Bulk, &self.bulk.0),
            stage_diff::<u32>(b, &name, Part::Singles, &self.singles.0),
            stage_diff::<u128>(b, &name, Part::Bulk, &self.bulk.1),
            stage_diff::<u128>(b, &name, Part::Singles, &self.singles.1),
        ];
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
            self.read_loaded(&def.name)?
        };
        if fold_recent && !fresh {
            let recent = self.dump_part(&def.name, Part::Recent)?;
            report.recent_folded = recent.v4.len() + recent.v6.len();
        }
        report.from_cache = loaded.from_cache;
        report.dump_ms = ms(t);

        let t = Instant::now();
        let (want_ranges, want_singles) = want.split_singles();
        let bulk = (
            diff_family(&loaded.ranges.0, &want_ranges.v4),
            diff_family(&loaded.ranges.1, &want_ranges.v6),
        );
        let singles = (
            diff_family(&loaded.singles.0, &want_singles.v4),
            diff_family(&loaded.singles.1, &want_singles.v6),
        );
        report.diff_ms = ms(t);
        Ok(LoadPlan {
            name: def.name.clone(),
            def: def.clone(),
            fold_recent,
            want: want.clone(),
            bulk,
            singles,
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
            recent_emptied: plan.fold_recent,
        });
        let mut report = plan.report;
        let Some(path) = self.cache_path(&plan.name) else {
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
    pub(super) fn read_loaded(&mut self, name: &str) -> Result<Loaded> {
        if let Some(contents) = self.cached_load(name)? {
            let (ranges, singles) = contents.split_singles();
            return Ok(Loaded {
                ranges: (exact_of(&ranges.v4), exact_of(&ranges.v6)),
                singles: (exact_of(&singles.v4), exact_of(&singles.v6)),
                from_cache: true,
            });
        }
        Ok(Loaded {
            ranges: self.dump_part(name, Part::Bulk)?.exact(),
            singles: self.dump_part(name, Part::Singles)?.exact(),
            from_cache: false,
        })
    }

    /// Read one part of a set from the kernel (slow for a huge part: see [`cache`]).
    pub(super) fn dump_part(&mut self, name: &str, part: Part) -> Result<Held> {
        Ok(Held {
            v4: self.dump_family::<u32>(name, part)?,
            v6: self.dump_family::<u128>(name, part)?,
        })
    }

    fn dump_family<T: KernelAddr>(
        &mut self,
        name: &str,
        part: Part,
    ) -> Result<Vec<kernel_addr::KernelRange<T>>> {
        let mut elems = Vec::new();
        self.nl
            .elements(FAMILY, TABLE, &super::kernel_name::<T>(name, part), |e| {
                elems.push(e)
            })?;
        Ok(if part.is_interval() {
            kernel_addr::decode(elems)
        } else {
            kernel_addr::decode_singles(elems)
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
        let loaded = match self.cached_load(name)? {
            Some(c) => Held::from_contents(&c),
            None => self
                .dump_part(name, Part::Bulk)?
                .join(self.dump_part(name, Part::Singles)?),
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
