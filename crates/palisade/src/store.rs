//! palisade's objects in the kernel: one table, `inet palisade`, never anything outside it.
//!
//! A palisade set NAME is two kernel interval sets, `NAME_v4` and `NAME_v6`, so one name covers
//! both families. What palisade knows about a set (does it block, with which verdict, does it
//! hold ports) lives in the kernel sets' own comment, so the kernel is the single source of
//! truth and there is no state file to drift. Sets marked for blocking get rules in the base
//! chain `block_input`, rebuilt in the same transaction whenever a set is created or destroyed.

use crate::cache;
use crate::kernel_addr::{self, Extras, KernelAddr, KernelRange};
use palisade_core::{AddrRange, Interval, IntervalSet, ProtoPort};
use palisade_nft::consts::*;
use palisade_nft::{Batch, Expr, Hook, Key, Netlink, NftError, Reject, SetInfo, SetSpec, Verdict};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const TABLE: &str = "palisade";
pub const FAMILY: u8 = NFPROTO_INET;
pub const BLOCK_CHAIN: &str = "block_input";
/// Runs just before the usual filter priority (0), so blocked sources are dropped first.
pub const BLOCK_PRIORITY: i32 = -10;
const COMMENT_PREFIX: &str = "palisade set";

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

/// A palisade set's definition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SetDef {
    pub name: String,
    pub with_ports: bool,
    pub block: Option<BlockAction>,
    #[serde(skip)]
    pub default_timeout: Option<Duration>,
}

impl SetDef {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            with_ports: false,
            block: None,
            default_timeout: None,
        }
    }

    fn comment(&self) -> String {
        let block = match self.block {
            Some(BlockAction::Drop) => "drop",
            Some(BlockAction::Reject) => "reject",
            None => "none",
        };
        format!(
            "{COMMENT_PREFIX}; block={block}; ports={}",
            if self.with_ports { "yes" } else { "no" }
        )
    }

    /// Read a definition back from a kernel set named `NAME_v4` and its comment.
    fn from_kernel(info: &SetInfo) -> Option<Self> {
        let name = info.name.strip_suffix(u32::SUFFIX)?;
        let rest = info.comment.as_deref()?.strip_prefix(COMMENT_PREFIX)?;
        let field = |key: &str| {
            rest.split(';')
                .map(str::trim)
                .find_map(|f| f.strip_prefix(key))
        };
        Some(Self {
            name: name.to_string(),
            with_ports: field("ports=") == Some("yes"),
            block: match field("block=") {
                Some("drop") => Some(BlockAction::Drop),
                Some("reject") => Some(BlockAction::Reject),
                _ => None,
            },
            default_timeout: info.default_timeout_ms.map(Duration::from_millis),
        })
    }

    fn spec<T: KernelAddr>(&self) -> SetSpec {
        SetSpec {
            table: TABLE.into(),
            name: kernel_name::<T>(&self.name),
            key: if self.with_ports {
                T::WITH_PORTS
            } else {
                T::PLAIN
            },
            interval: true,
            // Every set accepts per-element timeouts, so `block --timeout` works on any of them.
            timeout: true,
            default_timeout_ms: self.default_timeout.map(|d| d.as_millis() as u64),
            comment: Some(self.comment()),
        }
    }
}

pub fn kernel_name<T: KernelAddr>(set: &str) -> String {
    format!("{set}{}", T::SUFFIX)
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

/// The wanted contents of a set: merged ranges per family and port qualifier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub v4: BTreeMap<Option<ProtoPort>, IntervalSet<u32>>,
    pub v6: BTreeMap<Option<ProtoPort>, IntervalSet<u128>>,
}

impl Contents {
    /// Merge raw ranges (in any order, overlapping or not) into contents.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (AddrRange, Option<ProtoPort>)>) -> Self {
        let mut v4: BTreeMap<_, Vec<_>> = BTreeMap::new();
        let mut v6: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for (r, p) in ranges {
            match r {
                AddrRange::V4(iv) => v4.entry(p).or_default().push(iv),
                AddrRange::V6(iv) => v6.entry(p).or_default().push(iv),
            }
        }
        Self {
            v4: v4
                .into_iter()
                .map(|(p, v)| (p, IntervalSet::from_unsorted(v)))
                .collect(),
            v6: v6
                .into_iter()
                .map(|(p, v)| (p, IntervalSet::from_unsorted(v)))
                .collect(),
        }
    }

    pub fn range_counts(&self) -> (usize, usize) {
        (
            self.v4.values().map(IntervalSet::len).sum(),
            self.v6.values().map(IntervalSet::len).sum(),
        )
    }
}

/// What the kernel holds for one palisade set.
#[derive(Clone, Debug, Default)]
pub struct Held {
    pub v4: Vec<KernelRange<u32>>,
    pub v6: Vec<KernelRange<u128>>,
}

impl Held {
    fn from_contents(c: &Contents) -> Self {
        fn ranges<T: palisade_core::AddrBits>(
            groups: &BTreeMap<Option<ProtoPort>, IntervalSet<T>>,
        ) -> Vec<KernelRange<T>> {
            let mut out = Vec::new();
            for (port, set) in groups {
                out.extend(set.iter().map(|iv| KernelRange {
                    range: *iv,
                    port: *port,
                    timeout_ms: None,
                    expires_ms: None,
                    comment: None,
                }));
            }
            out
        }
        Self {
            v4: ranges(&c.v4),
            v6: ranges(&c.v6),
        }
    }

    /// Canonical contents: ranges merged, extras dropped.
    pub fn contents(&self) -> Contents {
        let v4 = self.v4.iter().map(|r| (AddrRange::V4(r.range), r.port));
        let v6 = self.v6.iter().map(|r| (AddrRange::V6(r.range), r.port));
        Contents::from_ranges(v4.chain(v6))
    }
}

/// Result of a load: what changed, and where the time went.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadReport {
    pub added: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub dump_ms: f64,
    pub diff_ms: f64,
    pub encode_ms: f64,
    pub commit_ms: f64,
    pub batch_bytes: usize,
    pub messages: usize,
    /// The set's current contents came from the verified cache, not a kernel dump.
    pub from_cache: bool,
    pub cache_written: bool,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
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

    /// Create a set (both families) and, if it blocks, its rules; one transaction.
    pub fn create(&mut self, def: &SetDef) -> Result<()> {
        validate_name(&def.name)?;
        let mut all = self.sets()?;
        if all.iter().any(|d| d.name == def.name) {
            return Err(StoreError::Exists(def.name.clone()));
        }
        let mut b = self.nl.batch(None);
        b.add_table(FAMILY, TABLE);
        b.add_set(FAMILY, &def.spec::<u32>(), true);
        b.add_set(FAMILY, &def.spec::<u128>(), true);
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
        b.del_set(FAMILY, TABLE, &kernel_name::<u32>(name));
        b.del_set(FAMILY, TABLE, &kernel_name::<u128>(name));
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
        b.flush_set(FAMILY, TABLE, &kernel_name::<u32>(name));
        b.flush_set(FAMILY, TABLE, &kernel_name::<u128>(name));
        invalidate(&mut b, name);
        self.nl.commit(b)?;
        Ok(())
    }

    /// What the kernel holds for a set: from the cache when the kernel proves it current,
    /// otherwise read from the kernel.
    pub fn held(&mut self, name: &str) -> Result<Held> {
        Ok(self.held_with_source(name)?.0)
    }

    /// Like [`Store::held`], also saying whether the cache was used.
    pub fn held_with_source(&mut self, name: &str) -> Result<(Held, bool)> {
        if let Some(contents) = self.cached(name)? {
            return Ok((Held::from_contents(&contents), true));
        }
        Ok((self.dump(name)?, false))
    }

    /// The cached contents, if the kernel's stamp token and element counts confirm them.
    fn cached(&mut self, name: &str) -> Result<Option<Contents>> {
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
        let (want4, want6) = expected_counts(&contents);
        for info in self.nl.sets(FAMILY, TABLE)? {
            let want = if info.name == kernel_name::<u32>(name) {
                want4
            } else if info.name == kernel_name::<u128>(name) {
                want6
            } else {
                continue;
            };
            if info.count.is_some_and(|c| c as usize != want) {
                return Ok(None);
            }
        }
        Ok(Some(contents))
    }

    /// Read a set's elements from the kernel (slow for huge sets: see [`crate::cache`]).
    fn dump(&mut self, name: &str) -> Result<Held> {
        let mut e4 = Vec::new();
        let mut e6 = Vec::new();
        self.nl
            .elements(FAMILY, TABLE, &kernel_name::<u32>(name), |e| e4.push(e))?;
        self.nl
            .elements(FAMILY, TABLE, &kernel_name::<u128>(name), |e| e6.push(e))?;
        Ok(Held {
            v4: kernel_addr::decode(e4),
            v6: kernel_addr::decode(e6),
        })
    }

    /// Make the set hold exactly `want`: read what the kernel holds, and apply only the
    /// difference, deletions and additions in one transaction guarded by the generation id,
    /// so the set is never empty or partial and a concurrent change is never overwritten.
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
        let mut report = LoadReport::default();
        let t = Instant::now();
        let gen = self.nl.generation()?;
        let (held, from_cache) = self.held_with_source(&def.name)?;
        report.from_cache = from_cache;
        report.dump_ms = ms(t);

        let t = Instant::now();
        let d4 = diff_family(&held.v4, &want.v4);
        let d6 = diff_family(&held.v6, &want.v6);
        report.diff_ms = ms(t);

        let t = Instant::now();
        let mut b = self.nl.batch(Some(gen));
        for (removed, added, unchanged) in [
            apply_diff::<u32>(&mut b, &def.name, &d4),
            apply_diff::<u128>(&mut b, &def.name, &d6),
        ] {
            report.removed += removed;
            report.added += added;
            report.unchanged += unchanged;
        }
        let token = cache::new_token();
        invalidate(&mut b, &def.name);
        b.add_elements(
            FAMILY,
            TABLE,
            &stamp_name(&def.name),
            false,
            [palisade_nft::Element::key(stamp_key(token))],
        );
        report.encode_ms = ms(t);
        report.messages = b.len();

        let t = Instant::now();
        let stats = self.nl.commit(b)?;
        report.commit_ms = ms(t);
        report.batch_bytes = stats.bytes;
        if let Some(p) = self.cache_path(&def.name) {
            // The kernel now holds exactly `want`. A cache that cannot be written only costs
            // the next load a read of the kernel; the stamp keeps a stale one from being used.
            report.cache_written = cache::write(&p, token, want).is_ok();
        }
        Ok(report)
    }

    /// Add ranges. The fast path sends them without reading the set, which costs a
    /// millisecond whatever the set's size. If the kernel refuses because a new range overlaps
    /// one it holds, palisade reads the set and adds only the parts not yet covered: existing
    /// entries keep their own timeouts and comments (a timed ban never becomes permanent, nor
    /// a permanent one timed, by an overlapping add).
    pub fn add(&mut self, def: &SetDef, items: &Contents, extras: Extras<'_>) -> Result<()> {
        check_ports(def, items)?;
        let mut b = self.nl.batch(None);
        add_family::<u32>(&mut b, &def.name, &items.v4, extras);
        add_family::<u128>(&mut b, &def.name, &items.v6, extras);
        invalidate(&mut b, &def.name);
        match self.nl.commit(b) {
            Ok(_) => Ok(()),
            Err(e) if is_overlap(&e) => self.retry_on_change(|store, gen| {
                let covered = store.held(&def.name)?.contents();
                let fresh = difference(items, &covered);
                let mut b = store.nl.batch(Some(gen));
                add_family::<u32>(&mut b, &def.name, &fresh.v4, extras);
                add_family::<u128>(&mut b, &def.name, &fresh.v6, extras);
                invalidate(&mut b, &def.name);
                store.nl.commit(b)?;
                Ok(())
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove addresses or networks. A range the kernel holds exactly is deleted directly;
    /// part of a larger range (one address out of a /24) splits that range, and the pieces
    /// keep its remaining timeout and its comment.
    pub fn del(&mut self, def: &SetDef, items: &Contents) -> Result<()> {
        check_ports(def, items)?;
        let mut exact = true;
        for (port, set) in &items.v4 {
            for iv in set.iter() {
                exact &= self.holds_exactly::<u32>(&def.name, *iv, *port)?;
            }
        }
        for (port, set) in &items.v6 {
            for iv in set.iter() {
                exact &= self.holds_exactly::<u128>(&def.name, *iv, *port)?;
            }
        }
        if exact {
            let mut b = self.nl.batch(None);
            del_family::<u32>(&mut b, &def.name, &items.v4);
            del_family::<u128>(&mut b, &def.name, &items.v6);
            invalidate(&mut b, &def.name);
            self.nl.commit(b)?;
            return Ok(());
        }
        self.retry_on_change(|store, gen| {
            let held = store.held(&def.name)?;
            let mut b = store.nl.batch(Some(gen));
            cut_family(&mut b, &def.name, &held.v4, &items.v4);
            cut_family(&mut b, &def.name, &held.v6, &items.v6);
            invalidate(&mut b, &def.name);
            store.nl.commit(b)?;
            Ok(())
        })
    }

    /// Run a read-modify-write step guarded by the generation id, again if the ruleset changed
    /// in between.
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

    fn holds_exactly<T: KernelAddr>(
        &mut self,
        set: &str,
        iv: Interval<T>,
        port: Option<ProtoPort>,
    ) -> Result<bool> {
        let key = match port {
            Some(pp) => iv.first.key_with_port(pp),
            None => iv.first.key(),
        };
        let Some(found) = self
            .nl
            .get_element(FAMILY, TABLE, &kernel_name::<T>(set), key)?
        else {
            return Ok(false);
        };
        let first = found.key.addr_bits().map(T::from_bits);
        let last = match (&found.key_end, port) {
            (Some(end), _) => end.addr_bits().map(T::from_bits),
            // The kernel answers with the start element only; confirm the end separately.
            (None, None) => match iv.last.checked_succ() {
                Some(end) => {
                    let e =
                        self.nl
                            .get_element(FAMILY, TABLE, &kernel_name::<T>(set), end.key())?;
                    // `end` is outside the range: present only as this range's interval end.
                    (e.is_none() || e.is_some_and(|e| e.key != end.key())).then_some(iv.last)
                }
                None => Some(iv.last),
            },
            (None, Some(_)) => None,
        };
        Ok(first == Some(iv.first) && last == Some(iv.last))
    }

    /// Is `addr` (with `port` for address+port sets) in the set? One kernel lookup.
    pub fn test(&mut self, def: &SetDef, addr: AddrRange, port: Option<ProtoPort>) -> Result<bool> {
        fn key<T: KernelAddr>(a: T, port: Option<ProtoPort>) -> Key {
            match port {
                Some(pp) => a.key_with_port(pp),
                None => a.key(),
            }
        }
        let (set, k) = match addr {
            AddrRange::V4(iv) => (kernel_name::<u32>(&def.name), key(iv.first, port)),
            AddrRange::V6(iv) => (kernel_name::<u128>(&def.name), key(iv.first, port)),
        };
        Ok(self.nl.get_element(FAMILY, TABLE, &set, k)?.is_some())
    }

    /// The element counts the kernel reports for a set's two kernel sets, where it does.
    pub fn kernel_counts(&mut self, name: &str) -> Result<(Option<u32>, Option<u32>)> {
        let infos = self.nl.sets(FAMILY, TABLE)?;
        let count = |kernel: String| {
            infos
                .iter()
                .find(|i| i.name == kernel)
                .and_then(|i| i.count)
        };
        Ok((
            count(kernel_name::<u32>(name)),
            count(kernel_name::<u128>(name)),
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
                .and_then(|c| c.strip_prefix("palisade block "))
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

/// The companion set holding the cache token of set `name` (see [`crate::cache`]).
pub fn stamp_name(name: &str) -> String {
    format!("{name}_stamp")
}

fn stamp_spec(name: &str) -> SetSpec {
    SetSpec {
        table: TABLE.into(),
        name: stamp_name(name),
        key: palisade_nft::KeyKind::Mark,
        interval: false,
        timeout: false,
        default_timeout_ms: None,
        comment: Some(format!("palisade cache stamp of set {name}")),
    }
}

fn stamp_key(token: u32) -> Key {
    Key::new(&token.to_be_bytes()).expect("4 bytes fit")
}

/// Every write to a set goes with this, in the same transaction: the cache is stale now.
fn invalidate(b: &mut Batch, name: &str) {
    b.flush_set(FAMILY, TABLE, &stamp_name(name));
}

/// Kernel element counts (as `NFTA_SET_COUNT` reports them) for contents: one per range in
/// an address+port set; in a plain interval set one per interval end, and a range that runs
/// to the top of the address space has none.
fn expected_counts(c: &Contents) -> (usize, usize) {
    fn count<T: palisade_core::AddrBits>(
        groups: &BTreeMap<Option<ProtoPort>, IntervalSet<T>>,
    ) -> usize {
        groups
            .iter()
            .map(|(port, set)| match port {
                Some(_) => set.len(),
                None => set.iter().filter(|iv| iv.last != T::MAX).count(),
            })
            .sum()
    }
    (count(&c.v4), count(&c.v6))
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

fn is_overlap(e: &NftError) -> bool {
    matches!(
        e.errno(),
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) | Some(libc::EBUSY)
    )
}

fn difference(a: &Contents, b: &Contents) -> Contents {
    let mut out = a.clone();
    for (p, s) in &b.v4 {
        if let Some(e) = out.v4.get_mut(p) {
            *e = e.difference(s);
        }
    }
    for (p, s) in &b.v6 {
        if let Some(e) = out.v6.get_mut(p) {
            *e = e.difference(s);
        }
    }
    out
}

/// Per port group: (ranges to remove, ranges to add, unchanged count).
type FamilyDiff<T> = Vec<(Option<ProtoPort>, Vec<Interval<T>>, Vec<Interval<T>>, usize)>;

fn diff_family<T: KernelAddr>(
    held: &[KernelRange<T>],
    want: &BTreeMap<Option<ProtoPort>, IntervalSet<T>>,
) -> FamilyDiff<T> {
    let mut held_groups: BTreeMap<Option<ProtoPort>, Vec<Interval<T>>> = BTreeMap::new();
    for r in held {
        held_groups.entry(r.port).or_default().push(r.range);
    }
    let empty = IntervalSet::new();
    let ports: std::collections::BTreeSet<_> =
        held_groups.keys().chain(want.keys()).copied().collect();
    ports
        .into_iter()
        .map(|p| {
            let current = held_groups.get(&p).map(Vec::as_slice).unwrap_or(&[]);
            let desired = want.get(&p).unwrap_or(&empty).as_slice();
            let d = palisade_core::diff(current, desired);
            let unchanged = desired.len() - d.add.len();
            (p, d.remove, d.add, unchanged)
        })
        .collect()
}

fn apply_diff<T: KernelAddr>(b: &mut Batch, set: &str, d: &FamilyDiff<T>) -> (usize, usize, usize) {
    let name = kernel_name::<T>(set);
    let changed: usize = d
        .iter()
        .map(|(_, remove, add, _)| remove.len() + add.len())
        .sum();
    b.reserve(changed * kernel_addr::encoded_bytes::<T>());
    let mut totals = (0, 0, 0);
    // Deletions first: a range that grows is deleted and re-added with the same first key.
    for (port, remove, _, _) in d {
        let keys = remove
            .iter()
            .flat_map(|iv| kernel_addr::elements(*iv, *port, Extras::default()));
        b.del_elements(FAMILY, TABLE, &name, keys);
        totals.0 += remove.len();
    }
    for (port, _, add, unchanged) in d {
        let elems = add
            .iter()
            .flat_map(|iv| kernel_addr::elements(*iv, *port, Extras::default()));
        b.add_elements(FAMILY, TABLE, &name, false, elems);
        totals.1 += add.len();
        totals.2 += unchanged;
    }
    totals
}

/// The kernel elements for every range of one family (extras only matter for additions).
fn elements_of<'a, T: KernelAddr>(
    items: &'a BTreeMap<Option<ProtoPort>, IntervalSet<T>>,
    extras: Extras<'a>,
) -> impl Iterator<Item = palisade_nft::Element<'a>> {
    items.iter().flat_map(move |(port, s)| {
        s.iter()
            .flat_map(move |iv| kernel_addr::elements(*iv, *port, extras))
    })
}

fn add_family<T: KernelAddr>(
    b: &mut Batch,
    set: &str,
    items: &BTreeMap<Option<ProtoPort>, IntervalSet<T>>,
    extras: Extras<'_>,
) {
    b.add_elements(
        FAMILY,
        TABLE,
        &kernel_name::<T>(set),
        false,
        elements_of(items, extras),
    );
}

fn del_family<T: KernelAddr>(
    b: &mut Batch,
    set: &str,
    items: &BTreeMap<Option<ProtoPort>, IntervalSet<T>>,
) {
    let keys = elements_of(items, Extras::default());
    b.del_elements(FAMILY, TABLE, &kernel_name::<T>(set), keys);
}

/// Remove `items` from the held ranges they overlap; the rest of each such range is put
/// back with that range's remaining timeout and comment. One delete per touched range.
fn cut_family<T: KernelAddr>(
    b: &mut Batch,
    set: &str,
    held: &[KernelRange<T>],
    items: &BTreeMap<Option<ProtoPort>, IntervalSet<T>>,
) {
    let name = kernel_name::<T>(set);
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for r in held {
        let Some(cut) = items.get(&r.port) else {
            continue;
        };
        let whole = IntervalSet::from_unsorted(vec![r.range]);
        let rest = whole.difference(cut);
        if rest == whole {
            continue;
        }
        dels.extend(kernel_addr::elements(r.range, r.port, Extras::default()));
        let extras = Extras {
            timeout_ms: r.expires_ms.filter(|_| r.timeout_ms.is_some()),
            comment: r.comment.as_deref(),
        };
        for piece in rest.iter() {
            adds.extend(kernel_addr::elements(*piece, r.port, extras));
        }
    }
    b.del_elements(FAMILY, TABLE, &name, dels);
    b.add_elements(FAMILY, TABLE, &name, false, adds);
}

/// Replace the block chain's rules with one group per blocking set.
fn rebuild_block_chain(b: &mut Batch, sets: &[SetDef]) {
    b.add_chain(
        FAMILY,
        TABLE,
        BLOCK_CHAIN,
        Some(Hook {
            num: NF_INET_LOCAL_IN,
            priority: BLOCK_PRIORITY,
            policy: NF_ACCEPT,
        }),
    );
    b.flush_chain(FAMILY, TABLE, BLOCK_CHAIN);
    for def in sets {
        let Some(action) = def.block else { continue };
        let comment = format!("palisade block {}", def.name);
        for (family, set, ports) in [
            (NFPROTO_IPV4, kernel_name::<u32>(&def.name), def.with_ports),
            (NFPROTO_IPV6, kernel_name::<u128>(&def.name), def.with_ports),
        ] {
            for verdict in verdicts(action) {
                let rule = block_rule(family, &set, ports, verdict);
                b.add_rule(FAMILY, TABLE, BLOCK_CHAIN, &rule, Some(&comment));
            }
        }
    }
}

/// The final expressions of a block rule, and whether the rule applies to TCP only.
fn verdicts(action: BlockAction) -> Vec<(bool, Expr)> {
    match action {
        BlockAction::Drop => vec![(false, Expr::Verdict(Verdict::Drop))],
        // TCP gets a reset (the client fails at once); everything else an ICMP error.
        BlockAction::Reject => vec![
            (true, Expr::Reject(Reject::TcpReset)),
            (false, Expr::Reject(Reject::IcmpxAdminProhibited)),
        ],
    }
}

/// `ip saddr @set` (or `ip saddr . meta l4proto . th dport @set`), counter, verdict.
/// Conditions on registers come first: the address load may span the same registers.
pub fn block_rule(
    family: u8,
    set: &str,
    with_ports: bool,
    (tcp_only, verdict): (bool, Expr),
) -> Vec<Expr> {
    let (offset, len) = if family == NFPROTO_IPV4 {
        (12, 4)
    } else {
        (8, 16)
    };
    let mut rule: Vec<Expr> = Expr::nfproto_is(family).into();
    if tcp_only {
        rule.extend(Expr::l4proto_is(libc::IPPROTO_TCP as u8));
    }
    if with_ports {
        let after_addr = NFT_REG32_00 + len / 4;
        rule.push(Expr::Payload {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset,
            len,
            dreg: NFT_REG32_00,
        });
        rule.push(Expr::Meta {
            key: NFT_META_L4PROTO,
            dreg: after_addr,
        });
        rule.push(Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
            dreg: after_addr + 1,
        });
        rule.push(Expr::Lookup {
            set: set.to_string(),
            sreg: NFT_REG32_00,
        });
    } else {
        rule.push(Expr::Payload {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset,
            len,
            dreg: NFT_REG_1,
        });
        rule.push(Expr::Lookup {
            set: set.to_string(),
            sreg: NFT_REG_1,
        });
    }
    rule.push(Expr::Counter);
    rule.push(verdict);
    rule
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_survives_the_kernel_comment() {
        let def = SetDef {
            name: "bad-guys".into(),
            with_ports: true,
            block: Some(BlockAction::Reject),
            default_timeout: None,
        };
        let info = SetInfo {
            family: FAMILY,
            table: TABLE.into(),
            name: "bad-guys_v4".into(),
            flags: 0,
            key: None,
            default_timeout_ms: None,
            comment: Some(def.comment()),
            count: None,
        };
        assert_eq!(SetDef::from_kernel(&info), Some(def));
        let foreign = SetInfo {
            comment: Some("someone else's".into()),
            ..info
        };
        assert_eq!(SetDef::from_kernel(&foreign), None);
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("blocklist").is_ok());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"x".repeat(61)).is_err());
    }

    #[test]
    fn block_rules_test_conditions_before_loading_the_address() {
        let r = block_rule(
            NFPROTO_IPV6,
            "s_v6",
            true,
            (true, Expr::Reject(Reject::TcpReset)),
        );
        let lookup = r
            .iter()
            .position(|e| matches!(e, Expr::Lookup { .. }))
            .unwrap();
        let last_cmp = r
            .iter()
            .rposition(|e| matches!(e, Expr::Cmp { .. }))
            .unwrap();
        assert!(last_cmp < lookup);
        // the port lands right after the 16-byte address
        assert!(r.contains(&Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
            dreg: NFT_REG32_00 + 5
        }));
    }
}
