//! palisade's sets in the kernel: create, load by difference, add, delete, test, read.
//!
//! See [`layout`] for where things live and why each set has a bulk and a recent part, and
//! [`crate::cache`] for how a load avoids reading back a huge set.

mod contents;
mod layout;

pub use contents::{Contents, ContentsBuilder, Held};
pub use layout::{kernel_name, Part, BLOCK_CHAIN, FAMILY, TABLE};

use crate::cache;
use crate::kernel_addr::{self, Extras, KernelAddr};
use contents::{apply_diff, cut_family, diff_family, overlapping};
use layout::{invalidate, rebuild_block_chain, stamp_key, stamp_name, stamp_spec, PARTS};
use palisade_core::{AddrRange, ProtoPort};
use palisade_nft::{Batch, Element, Key, Netlink, NftError};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no palisade set named `{0}` (see `palisade set list`)")]
    NoSuchSet(String),
    #[error("a palisade set named `{0}` already exists")]
    Exists(String),
    #[error(
        "`{0}` is not a valid set name: use letters, digits, `-` and `_`, at most 60 characters"
    )]
    BadName(String),
    #[error("set `{set}` {problem}")]
    Mismatch { set: String, problem: String },
    #[error(transparent)]
    Kernel(#[from] NftError),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// The kernel error underneath, if any.
    pub fn nft(&self) -> Option<&NftError> {
        match self {
            StoreError::Kernel(e) => Some(e),
            _ => None,
        }
    }
}

/// What happens to packets from a set's sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockAction {
    Drop,
    Reject,
}

impl std::str::FromStr for BlockAction {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "drop" => Ok(Self::Drop),
            "reject" => Ok(Self::Reject),
            _ => Err(format!("`{s}`: expected drop or reject")),
        }
    }
}

/// An element for a set's recent part, with the time it has left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    pub addr: AddrRange,
    pub port: Option<ProtoPort>,
    pub remaining: Option<Duration>,
    pub comment: Option<String>,
}

/// A palisade set's definition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SetDef {
    pub name: String,
    pub with_ports: bool,
    pub block: Option<BlockAction>,
    #[serde(skip)]
    pub default_timeout: Option<Duration>,
    /// The kernel adds to it from the packet path (bans on exceed), into the singles part.
    pub dynamic: bool,
}

impl SetDef {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            with_ports: false,
            block: None,
            default_timeout: None,
            dynamic: false,
        }
    }
}

pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 60
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

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

/// A load put into a batch, waiting for the batch to commit.
pub struct StagedLoad {
    name: String,
    token: u32,
    report: LoadReport,
}

/// What the parts a load writes hold.
struct Loaded {
    ranges: Held,
    singles: Held,
    from_cache: bool,
}

/// Where set caches live for the namespace palisade talks to (see [`crate::cache`]).
#[derive(Clone, Debug)]
pub struct CacheConfig {
    pub dir: std::path::PathBuf,
    pub netns_inode: u64,
}

/// palisade's sets in one network namespace.
pub struct Store {
    pub nl: Netlink,
    cache: Option<CacheConfig>,
}

impl Store {
    /// Without a cache every read of a set goes to the kernel.
    pub fn new(nl: Netlink, cache: Option<CacheConfig>) -> Self {
        Self { nl, cache }
    }

    fn cache_path(&self, set: &str) -> Option<std::path::PathBuf> {
        self.cache
            .as_ref()
            .map(|c| cache::path(&c.dir, c.netns_inode, set))
    }

    /// Every palisade set in the kernel, by name.
    pub fn sets(&mut self) -> Result<Vec<SetDef>> {
        let infos = match self.nl.sets(FAMILY, TABLE) {
            Ok(v) => v,
            // No table yet: no sets.
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut defs: Vec<SetDef> = infos.iter().filter_map(SetDef::from_kernel).collect();
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(defs)
    }

    pub fn get(&mut self, name: &str) -> Result<SetDef> {
        self.sets()?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| StoreError::NoSuchSet(name.to_string()))
    }

    /// Create a set (both families, both parts) and, if it blocks, its rules; one transaction.
    pub fn create(&mut self, def: &SetDef) -> Result<()> {
        validate_name(&def.name)?;
        let mut all = self.sets()?;
        if all.iter().any(|d| d.name == def.name) {
            return Err(StoreError::Exists(def.name.clone()));
        }
        let mut b = self.nl.batch(None);
        b.add_table(FAMILY, TABLE);
        for part in PARTS {
            b.add_set(FAMILY, &def.spec::<u32>(part), true);
            b.add_set(FAMILY, &def.spec::<u128>(part), true);
        }
        b.add_set(FAMILY, &stamp_spec(&def.name), true);
        all.push(def.clone());
        rebuild_block_chain(&mut b, &all);
        self.nl.commit(b)?;
        Ok(())
    }

    /// Create the set if it does not exist yet (used by `block` for the built-in blocklist).
    pub fn ensure(&mut self, def: &SetDef) -> Result<SetDef> {
        match self.get(&def.name) {
            Ok(d) => Ok(d),
            Err(StoreError::NoSuchSet(_)) => {
                self.create(def)?;
                Ok(def.clone())
            }
            Err(e) => Err(e),
        }
    }

    pub fn destroy(&mut self, name: &str) -> Result<()> {
        let all = self.sets()?;
        if !all.iter().any(|d| d.name == name) {
            return Err(StoreError::NoSuchSet(name.to_string()));
        }
        let rest: Vec<SetDef> = all.into_iter().filter(|d| d.name != name).collect();
        let mut b = self.nl.batch(None);
        // Rules referring to the set go first, in the same transaction.
        rebuild_block_chain(&mut b, &rest);
        for part in PARTS {
            b.del_set(FAMILY, TABLE, &kernel_name::<u32>(name, part));
            b.del_set(FAMILY, TABLE, &kernel_name::<u128>(name, part));
        }
        b.del_set(FAMILY, TABLE, &stamp_name(name));
        self.nl.commit(b)?;
        if let Some(p) = self.cache_path(name) {
            cache::remove(&p);
        }
        Ok(())
    }

    pub fn flush(&mut self, name: &str) -> Result<()> {
        self.get(name)?;
        let mut b = self.nl.batch(None);
        for part in PARTS {
            b.flush_set(FAMILY, TABLE, &kernel_name::<u32>(name, part));
            b.flush_set(FAMILY, TABLE, &kernel_name::<u128>(name, part));
        }
        invalidate(&mut b, name);
        self.nl.commit(b)?;
        Ok(())
    }

    /// Everything the set holds, all parts, with each range's timeout and comment.
    pub fn held(&mut self, name: &str) -> Result<Held> {
        let loaded = self.read_loaded(name)?;
        Ok(loaded
            .ranges
            .join(loaded.singles)
            .join(self.dump_part(name, Part::Recent)?))
    }

    /// A set's loaded parts (from the cache when it is current) and its recent part, apart.
    pub fn held_parts(&mut self, name: &str) -> Result<(Held, Held)> {
        let loaded = self.read_loaded(name)?;
        Ok((
            loaded.ranges.join(loaded.singles),
            self.dump_part(name, Part::Recent)?,
        ))
    }

    /// The parts a load writes: from the cache when the kernel proves it current, else dumped.
    fn read_loaded(&mut self, name: &str) -> Result<Loaded> {
        if let Some(contents) = self.cached_load(name)? {
            let (ranges, singles) = contents.split_singles();
            return Ok(Loaded {
                ranges: Held::from_contents(&ranges),
                singles: Held::from_contents(&singles),
                from_cache: true,
            });
        }
        Ok(Loaded {
            ranges: self.dump_part(name, Part::Bulk)?,
            singles: self.dump_part(name, Part::Singles)?,
            from_cache: false,
        })
    }

    /// The contents of the last load, if the kernel's stamp token and element counts confirm
    /// that the loaded parts still hold exactly them.
    fn cached_load(&mut self, name: &str) -> Result<Option<Contents>> {
        let Some((token, contents)) = self.cache_path(name).and_then(|p| cache::read(&p)) else {
            return Ok(None);
        };
        let mut kernel_token = None;
        self.nl.elements(FAMILY, TABLE, &stamp_name(name), |e| {
            kernel_token = e.key.as_bytes().try_into().ok().map(u32::from_be_bytes)
        })?;
        if kernel_token != Some(token) {
            return Ok(None);
        }
        let (ranges, singles) = contents.split_singles();
        let mut expected = Vec::new();
        for (part, c) in [(Part::Bulk, &ranges), (Part::Singles, &singles)] {
            let (n4, n6) = c.expected_kernel_counts(part);
            expected.push((kernel_name::<u32>(name, part), n4));
            expected.push((kernel_name::<u128>(name, part), n6));
        }
        for info in self.nl.sets(FAMILY, TABLE)? {
            let Some((_, want)) = expected.iter().find(|(n, _)| *n == info.name) else {
                continue;
            };
            if info.count.is_some_and(|c| c as usize != *want) {
                return Ok(None);
            }
        }
        Ok(Some(contents))
    }

    /// Read one part of a set from the kernel (slow for a huge part: see [`crate::cache`]).
    fn dump_part(&mut self, name: &str, part: Part) -> Result<Held> {
        let mut e4 = Vec::new();
        let mut e6 = Vec::new();
        self.nl
            .elements(FAMILY, TABLE, &kernel_name::<u32>(name, part), |e| {
                e4.push(e)
            })?;
        self.nl
            .elements(FAMILY, TABLE, &kernel_name::<u128>(name, part), |e| {
                e6.push(e)
            })?;
        Ok(if part.is_interval() {
            Held {
                v4: kernel_addr::decode(e4),
                v6: kernel_addr::decode(e6),
            }
        } else {
            Held {
                v4: kernel_addr::decode_singles(e4),
                v6: kernel_addr::decode_singles(e6),
            }
        })
    }

    /// Make the set hold exactly `want`: compare with the bulk part and apply only the
    /// difference, fold the recent part in, all in one transaction guarded by the generation
    /// id, so the set is never empty or partial and a concurrent change is never overwritten.
    pub fn load(&mut self, def: &SetDef, want: &Contents) -> Result<LoadReport> {
        check_ports(def, want)?;
        loop {
            match self.try_load(def, want) {
                Err(StoreError::Kernel(NftError::GenerationChanged)) => continue,
                other => return other,
            }
        }
    }

    fn try_load(&mut self, def: &SetDef, want: &Contents) -> Result<LoadReport> {
        let gen = self.nl.generation()?;
        let mut b = self.nl.batch(Some(gen));
        let staged = self.stage_load(&mut b, def, want, false, true)?;
        let t = Instant::now();
        let stats = self.nl.commit(b)?;
        let mut report = self.finish_load(staged, want);
        report.commit_ms = ms(t);
        report.batch_bytes = stats.bytes;
        Ok(report)
    }

    /// Put into `b` what makes set `def` hold exactly `want` in its loaded parts: only the
    /// difference from what they hold (nothing is read for a set created in the same batch,
    /// `fresh`), and with `fold_recent` the recent part's ranges emptied into it. After the
    /// batch commits, [`Store::finish_load`] records the new contents in the cache.
    pub fn stage_load(
        &mut self,
        b: &mut Batch,
        def: &SetDef,
        want: &Contents,
        fresh: bool,
        fold_recent: bool,
    ) -> Result<StagedLoad> {
        check_ports(def, want)?;
        let mut report = LoadReport::default();
        let t = Instant::now();
        let (loaded, recent) = if fresh {
            (
                Loaded {
                    ranges: Held::default(),
                    singles: Held::default(),
                    from_cache: false,
                },
                Held::default(),
            )
        } else {
            let recent = if fold_recent {
                self.dump_part(&def.name, Part::Recent)?
            } else {
                Held::default()
            };
            (self.read_loaded(&def.name)?, recent)
        };
        report.from_cache = loaded.from_cache;
        report.recent_folded = recent.v4.len() + recent.v6.len();
        report.dump_ms = ms(t);

        let t = Instant::now();
        let (want_ranges, want_singles) = want.split_singles();
        let diffs4 = [
            (Part::Bulk, diff_family(&loaded.ranges.v4, &want_ranges.v4)),
            (
                Part::Singles,
                diff_family(&loaded.singles.v4, &want_singles.v4),
            ),
        ];
        let diffs6 = [
            (Part::Bulk, diff_family(&loaded.ranges.v6, &want_ranges.v6)),
            (
                Part::Singles,
                diff_family(&loaded.singles.v6, &want_singles.v6),
            ),
        ];
        report.diff_ms = ms(t);

        let t = Instant::now();
        let before = b.len();
        let mut totals = Vec::new();
        for (part, d) in &diffs4 {
            totals.push(apply_diff::<u32>(b, &def.name, *part, d));
        }
        for (part, d) in &diffs6 {
            totals.push(apply_diff::<u128>(b, &def.name, *part, d));
        }
        for (removed, added, unchanged) in totals {
            report.removed += removed;
            report.added += added;
            report.unchanged += unchanged;
        }
        if report.recent_folded > 0 {
            b.flush_set(FAMILY, TABLE, &kernel_name::<u32>(&def.name, Part::Recent));
            b.flush_set(FAMILY, TABLE, &kernel_name::<u128>(&def.name, Part::Recent));
        }
        let token = cache::new_token();
        invalidate(b, &def.name);
        b.add_elements(
            FAMILY,
            TABLE,
            &stamp_name(&def.name),
            false,
            [Element::key(stamp_key(token))],
        );
        report.encode_ms = ms(t);
        report.messages = b.len() - before;
        Ok(StagedLoad {
            name: def.name.clone(),
            token,
            report,
        })
    }

    /// After the batch of a [`Store::stage_load`] committed: the loaded parts now hold
    /// exactly `want`; remember it. A cache that cannot be written only costs the next load a
    /// read of the kernel; the stamp keeps a stale one unused.
    pub fn finish_load(&self, staged: StagedLoad, want: &Contents) -> LoadReport {
        let mut report = staged.report;
        if let Some(p) = self.cache_path(&staged.name) {
            report.cache_written = cache::write(&p, staged.token, want).is_ok();
        }
        report
    }

    /// Put into `b` the creation of set `def`'s kernel sets, all parts and the stamp, unless
    /// they exist.
    pub fn stage_create(b: &mut Batch, def: &SetDef) {
        for part in PARTS {
            b.add_set(FAMILY, &def.spec::<u32>(part), false);
            b.add_set(FAMILY, &def.spec::<u128>(part), false);
        }
        b.add_set(FAMILY, &stamp_spec(&def.name), false);
    }

    /// Put into `b` the deletion of set `name`'s kernel sets (rules using them must go
    /// earlier in the batch). Call [`Store::forget`] once it committed.
    pub fn stage_delete(b: &mut Batch, name: &str) {
        for part in PARTS {
            b.del_set(FAMILY, TABLE, &kernel_name::<u32>(name, part));
            b.del_set(FAMILY, TABLE, &kernel_name::<u128>(name, part));
        }
        b.del_set(FAMILY, TABLE, &stamp_name(name));
    }

    /// Drop the cache of a deleted set.
    pub fn forget(&self, name: &str) {
        if let Some(p) = self.cache_path(name) {
            cache::remove(&p);
        }
    }

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

    /// Add timed elements to the recent part in one transaction. Where one overlaps what the
    /// part holds already, only the parts not yet covered are added: an existing entry keeps
    /// its own timeout.
    pub fn add_timed(&mut self, def: &SetDef, items: &[Timed]) -> Result<()> {
        let mut b = self.nl.batch(None);
        Self::stage_add_timed(&mut b, def, items);
        match self.nl.commit(b) {
            Ok(_) => Ok(()),
            Err(e) if is_overlap(&e) => self.retry_on_change(|store, gen| {
                let covered = store.dump_part(&def.name, Part::Recent)?.contents();
                let mut fresh = Vec::new();
                for t in items {
                    let rest = Contents::from_ranges([(t.addr, t.port)]).difference(&covered);
                    fresh.extend(rest.ranges().map(|(addr, port)| Timed {
                        addr,
                        port,
                        ..t.clone()
                    }));
                }
                let mut b = store.nl.batch(Some(gen));
                Self::stage_add_timed(&mut b, def, &fresh);
                store.nl.commit(b)?;
                Ok(())
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Put into `b` the emptying of set `name`'s recent part.
    pub fn stage_flush_recent(b: &mut Batch, name: &str) {
        b.flush_set(FAMILY, TABLE, &kernel_name::<u32>(name, Part::Recent));
        b.flush_set(FAMILY, TABLE, &kernel_name::<u128>(name, Part::Recent));
    }

    /// Put into `b` the block chain's rules for these sets (replacing the chain's rules).
    pub fn stage_block_chain(b: &mut Batch, sets: &[SetDef]) {
        rebuild_block_chain(b, sets);
    }

    /// Add ranges to the recent part, without reading anything: microseconds, whatever the
    /// bulk part's size. If a new range overlaps one already in the recent part the kernel
    /// refuses, and palisade adds only the parts not yet covered there: existing entries keep
    /// their own timeouts and comments (a timed ban never becomes permanent, nor a permanent
    /// one timed, by an overlapping add).
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

    /// Remove addresses or networks from both parts. Ranges held exactly are deleted; part of a
    /// larger range (one address out of a /24) splits it, and the pieces keep its remaining
    /// timeout and comment. The bulk part is read from the cache when it is current, and for
    /// single addresses it is only probed, so an unblock costs milliseconds.
    pub fn del(&mut self, def: &SetDef, items: &Contents) -> Result<()> {
        check_ports(def, items)?;
        self.retry_on_change(|store, gen| {
            let recent = store.dump_part(&def.name, Part::Recent)?;
            // Only the loaded ranges the items touch matter.
            let loaded = match store.cached_load(&def.name)? {
                Some(c) => {
                    let touched = |c: &Contents| Held {
                        v4: overlapping(&c.v4, &items.v4),
                        v6: overlapping(&c.v6, &items.v6),
                    };
                    let (ranges, singles) = c.split_singles();
                    Some(Loaded {
                        ranges: touched(&ranges),
                        singles: touched(&singles),
                        from_cache: true,
                    })
                }
                None if store.loaded_misses(def, items)? => None,
                None => Some(store.read_loaded(&def.name)?),
            };
            let mut b = store.nl.batch(Some(gen));
            cut_family(&mut b, &def.name, Part::Recent, &recent.v4, &items.v4);
            cut_family(&mut b, &def.name, Part::Recent, &recent.v6, &items.v6);
            if let Some(loaded) = loaded {
                let cuts = [
                    cut_family(&mut b, &def.name, Part::Bulk, &loaded.ranges.v4, &items.v4),
                    cut_family(&mut b, &def.name, Part::Bulk, &loaded.ranges.v6, &items.v6),
                    cut_family(
                        &mut b,
                        &def.name,
                        Part::Singles,
                        &loaded.singles.v4,
                        &items.v4,
                    ),
                    cut_family(
                        &mut b,
                        &def.name,
                        Part::Singles,
                        &loaded.singles.v6,
                        &items.v6,
                    ),
                ];
                if cuts.contains(&true) {
                    invalidate(&mut b, &def.name);
                }
            }
            store.nl.commit(b)?;
            Ok(())
        })
    }

    /// True when every item is a single address that the loaded parts do not contain, checked
    /// by kernel lookups instead of reading the parts. (The singles part is probed too: the
    /// kernel itself adds bans there in a dynamic set, and the cache cannot know them.)
    fn loaded_misses(&mut self, def: &SetDef, items: &Contents) -> Result<bool> {
        let singles4 = items
            .v4
            .iter()
            .flat_map(|(p, s)| s.iter().map(move |iv| (*p, *iv)));
        let singles6 = items
            .v6
            .iter()
            .flat_map(|(p, s)| s.iter().map(move |iv| (*p, *iv)));
        for (port, iv) in singles4 {
            if iv.first != iv.last
                || self.part_contains(def, Part::Bulk, AddrRange::V4(iv), port)?
                || self.part_contains(def, Part::Singles, AddrRange::V4(iv), port)?
            {
                return Ok(false);
            }
        }
        for (port, iv) in singles6 {
            if iv.first != iv.last
                || self.part_contains(def, Part::Bulk, AddrRange::V6(iv), port)?
                || self.part_contains(def, Part::Singles, AddrRange::V6(iv), port)?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Run a read-modify-write step guarded by the generation id, again if the ruleset
    /// changed in between.
    fn retry_on_change(
        &mut self,
        mut step: impl FnMut(&mut Self, u32) -> Result<()>,
    ) -> Result<()> {
        loop {
            let gen = self.nl.generation()?;
            match step(self, gen) {
                Err(StoreError::Kernel(NftError::GenerationChanged)) => continue,
                other => return other,
            }
        }
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

    /// Element counts the kernel reports for a set, per family (both parts), where it does.
    pub fn kernel_counts(&mut self, name: &str) -> Result<(Option<u32>, Option<u32>)> {
        let infos = self.nl.sets(FAMILY, TABLE)?;
        let count = |names: [String; 3]| -> Option<u32> {
            names
                .iter()
                .map(|n| infos.iter().find(|i| &i.name == n).and_then(|i| i.count))
                .sum()
        };
        Ok((
            count(PARTS.map(|p| kernel_name::<u32>(name, p))),
            count(PARTS.map(|p| kernel_name::<u128>(name, p))),
        ))
    }

    /// Packet and byte counters of each set's block rules, by set name.
    pub fn block_counters(&mut self) -> Result<BTreeMap<String, (u64, u64)>> {
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let rules = match self.nl.rules(FAMILY, TABLE) {
            Ok(r) => r,
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for r in rules.into_iter().filter(|r| r.chain == BLOCK_CHAIN) {
            let Some(set) = r
                .comment
                .as_deref()
                .and_then(|c| c.strip_prefix(layout::BLOCK_RULE_PREFIX))
            else {
                continue;
            };
            let (p, b) = r.counter.unwrap_or_default();
            let e = out.entry(set.to_string()).or_default();
            e.0 += p;
            e.1 += b;
        }
        Ok(out)
    }
}

/// Put into `b` the `keep` items of family `T` as elements of `part` (one element per address
/// in the hash part, a range's elements in an interval part), each with its own time left.
fn stage_timed<T: KernelAddr>(
    b: &mut Batch,
    name: &str,
    part: Part,
    items: &[Timed],
    keep: &dyn Fn(&Timed) -> bool,
) {
    let elements = items.iter().filter(|t| keep(t)).filter_map(|t| {
        let iv = T::of(t.addr)?;
        let extras = Extras {
            timeout_ms: t.remaining.map(|d| d.as_millis().max(1) as u64),
            comment: t.comment.as_deref(),
        };
        Some(if part.is_interval() {
            kernel_addr::elements(iv, t.port, extras)
        } else {
            kernel_addr::single(iv.first, t.port, extras)
        })
    });
    b.add_elements(
        FAMILY,
        TABLE,
        &kernel_name::<T>(name, part),
        false,
        elements.flatten(),
    );
}

fn check_ports(def: &SetDef, c: &Contents) -> Result<()> {
    let has_port = c.v4.keys().chain(c.v6.keys()).any(Option::is_some);
    let lacks_port = c.v4.keys().chain(c.v6.keys()).any(Option::is_none);
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

/// The kernel's answers to an element that overlaps one the set holds.
fn is_overlap(e: &NftError) -> bool {
    matches!(
        e.errno(),
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) | Some(libc::EBUSY)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("blocklist").is_ok());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"x".repeat(61)).is_err());
    }
}
