//! palisade's sets in the kernel: create, load by difference, add, delete, test, read.
//!
//! [`Store`] is the one handle on palisade's table in a network namespace. Its netlink socket
//! is private: every read goes through [`Store::snapshot`] (or the narrower reads beside it),
//! which treats "no table yet" as empty once, and every read-modify-write through
//! [`Store::retry_on_change`], which starts over when another process changed the ruleset in
//! between. Changes to sets are planned first ([`load::LoadPlan`], [`plan`]) and staged into a
//! batch, so the policy's apply can compose set loads, the block chain and its own chains in
//! one transaction.
//!
//! - [`layout`]: where things live in the kernel and why each set has a bulk, a singles and a
//!   recent part;
//! - [`kernel_addr`]: ranges as kernel set elements and back;
//! - [`cache`]: how a load avoids reading back a huge set;
//! - [`load`]: making a set hold exactly a list; [`edit`]: single additions and deletions;
//! - [`held`]: what the kernel holds, as read back; [`counts`]: counters and element counts.

mod block_rules;
pub mod cache;
pub mod chains;
pub mod counts;
mod def;
mod edit;
mod error;
pub mod held;
mod journal;
pub mod kernel_addr;
pub mod layout;
pub mod load;
mod observe;
mod partition;
mod plan;
pub mod port_ranges;
pub mod snapshot;
mod timed_merge;
mod trust;

pub use chains::BLOCK_CHAIN;
pub use def::{validate_name, BlockAction, SetDef, Timed};
pub use error::{Result, StoreError};
pub use held::Held;
pub use layout::{kernel_name, Part, FAMILY, TABLE};
pub use load::{LoadPlan, LoadReport};
pub use observe::{SetChange, SetObserver};
pub use snapshot::Snapshot;

use chains::{is_block_chain, rebuild_block_chain, stage_pins};
use journal::{Journal, Origin};
use layout::{invalidate, stamp_name, stamp_spec, PARTS};
use palisade_core::policy::Session;
use palisade_nft::{Batch, ChainInfo, CommitStats, Netlink, RuleInfo, SetInfo, TableInfo};
use snapshot::or_empty;
use std::path::PathBuf;

/// palisade's sets in one network namespace.
pub struct Store {
    nl: Netlink,
    /// Where this namespace's set caches live; `None`: every read goes to the kernel.
    cache_dir: Option<PathBuf>,
    /// The generations palisade committed here; `None` (no cache directory, or a kernel that
    /// cannot name the namespace): caches are never trusted.
    journal: Option<Journal>,
    /// The admin's SSH session this command runs in: pinned ahead of the block chains
    /// whenever they are rebuilt.
    session: Option<Session>,
    /// Told about every committed change to a set (see [`observe`]).
    observer: Option<Box<dyn SetObserver + Send>>,
}

impl Store {
    pub fn new(nl: Netlink, cache_dir: Option<PathBuf>) -> Self {
        let origin = nl.netns_cookie().ok().and_then(Origin::current);
        let journal = cache_dir
            .as_ref()
            .zip(origin)
            .map(|(dir, origin)| Journal::new(dir, origin));
        Self {
            nl,
            cache_dir,
            journal,
            session: None,
            observer: None,
        }
    }

    /// Pin `session` (the admin's SSH connection) ahead of the block chains.
    pub fn with_session(mut self, session: Option<Session>) -> Self {
        self.session = session;
        self
    }

    pub fn session(&self) -> Option<Session> {
        self.session
    }

    fn cache_path(&self, set: &str) -> Option<PathBuf> {
        self.cache_dir.as_ref().map(|d| cache::path(d, set))
    }

    /// The ruleset's generation now.
    pub fn generation(&mut self) -> Result<u32> {
        Ok(self.nl.generation()?)
    }

    // ---- reads of the table ----

    /// The kernel sets of palisade's table.
    pub fn set_infos(&mut self) -> Result<Vec<SetInfo>> {
        Ok(or_empty(self.nl.sets(FAMILY, TABLE))?)
    }

    /// The chains of palisade's table.
    pub fn chains(&mut self) -> Result<Vec<ChainInfo>> {
        Ok(or_empty(self.nl.chains(FAMILY, TABLE))?)
    }

    /// The rules of palisade's table, with their counters.
    pub fn rules(&mut self) -> Result<Vec<RuleInfo>> {
        Ok(or_empty(self.nl.rules(FAMILY, TABLE))?)
    }

    /// Sets, chains and rules of palisade's table.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        Ok(Snapshot {
            sets: self.set_infos()?,
            chains: self.chains()?,
            rules: self.rules()?,
        })
    }

    /// The token of the last policy transaction the kernel committed, if any.
    pub fn apply_stamp(&mut self) -> Result<Option<u32>> {
        let mut token = None;
        match self.nl.elements(FAMILY, TABLE, layout::APPLY_STAMP, |e| {
            token = e.key.as_bytes().try_into().ok().map(u32::from_be_bytes)
        }) {
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e.into()),
            Ok(()) => Ok(token),
        }
    }

    /// Every table in the namespace (palisade's and others': Docker's, libvirt's), with
    /// the names of its chains, for lints. Other tables are only ever read.
    pub fn foreign_tables(&mut self) -> Result<Vec<(TableInfo, Vec<String>)>> {
        let mut out = Vec::new();
        for t in self.nl.tables()? {
            let chains = or_empty(self.nl.chains(t.family, &t.name))?;
            out.push((t, chains.into_iter().map(|c| c.name).collect()));
        }
        Ok(out)
    }

    // ---- transactions ----

    /// A batch guarded by `generation`: it fails if the ruleset changed since, so every
    /// palisade transaction knows the generation it leaves (see [`journal`]).
    pub fn batch(&mut self, generation: u32) -> Batch {
        self.nl.batch(Some(generation))
    }

    /// Commit a batch from [`Store::batch`] and note its generation in the journal.
    pub fn commit(&mut self, b: Batch) -> Result<CommitStats> {
        let generation = b.genid();
        let stats = self.nl.commit(b)?;
        if let (Some(j), Some(g)) = (&self.journal, generation) {
            j.record(g.wrapping_add(1));
        }
        Ok(stats)
    }

    /// Build and commit one guarded batch, again if the ruleset changed in between.
    fn transaction(&mut self, stage: impl Fn(&mut Self, &mut Batch) -> Result<()>) -> Result<()> {
        self.retry_on_change(
            |store, gen| {
                let mut b = store.batch(gen);
                stage(store, &mut b)?;
                store.commit(b).map(drop)
            },
            StoreError::is_generation_change,
        )
    }

    /// Run a read-modify-write step guarded by the generation id, again if the ruleset
    /// changed in between. The one retry loop of the store and of everything built on it.
    pub fn retry_on_change<T, E: From<StoreError>>(
        &mut self,
        mut step: impl FnMut(&mut Self, u32) -> std::result::Result<T, E>,
        is_change: impl Fn(&E) -> bool,
    ) -> std::result::Result<T, E> {
        loop {
            let gen = self.nl.generation().map_err(StoreError::from)?;
            match step(self, gen) {
                Err(e) if is_change(&e) => continue,
                other => return other,
            }
        }
    }

    // ---- sets ----

    /// Every palisade set in the kernel, by name.
    pub fn sets(&mut self) -> Result<Vec<SetDef>> {
        let infos = self.set_infos()?;
        let mut defs: Vec<SetDef> = infos
            .iter()
            .filter_map(SetDef::from_kernel)
            .map(|mut d| {
                d.prefixes = (
                    layout::prefix_parts::<u32>(&infos, &d.name),
                    layout::prefix_parts::<u128>(&infos, &d.name),
                );
                d
            })
            .collect();
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(defs)
    }

    pub fn get(&mut self, name: &str) -> Result<SetDef> {
        self.sets()?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| StoreError::NoSuchSet(name.to_string()))
    }

    /// Create a set (both families, all parts) and, if it blocks, its rules; one transaction.
    pub fn create(&mut self, def: &SetDef) -> Result<()> {
        validate_name(&def.name)?;
        let mut all = self.sets()?;
        if all.iter().any(|d| d.name == def.name) {
            return Err(StoreError::Exists(def.name.clone()));
        }
        all.push(def.clone());
        self.transaction(|store, b| {
            b.add_table(FAMILY, TABLE);
            stage_create(b, def, true);
            let carried = chains::carried(&store.rules()?);
            rebuild_block_chain(b, &all, &carried);
            if let Some(s) = &store.session {
                stage_pins(b, s);
            }
            Ok(())
        })?;
        self.notify(SetChange::Created { def });
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
        let Some(def) = all.iter().find(|d| d.name == name).cloned() else {
            return Err(StoreError::NoSuchSet(name.to_string()));
        };
        let rest: Vec<SetDef> = all.into_iter().filter(|d| d.name != name).collect();
        let done = self.transaction(|store, b| {
            // Rules referring to the set go first, in the same transaction.
            let carried = chains::carried(&store.rules()?);
            rebuild_block_chain(b, &rest, &carried);
            if let Some(s) = &store.session {
                stage_pins(b, s);
            }
            stage_delete(b, &def);
            Ok(())
        });
        match done {
            Err(StoreError::Kernel(e)) if e.errno() == Some(libc::EBUSY) => {
                return Err(self.users_of(name))
            }
            other => other?,
        }
        self.forget(name);
        Ok(())
    }

    /// Why the kernel refused to delete a set: the rules outside the block chain that use it.
    fn users_of(&mut self, name: &str) -> StoreError {
        let users: Vec<String> = self
            .rules()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !is_block_chain(&r.chain))
            .filter(|r| {
                r.lookups.iter().any(|l| {
                    PARTS.iter().any(|p| {
                        *l == kernel_name::<u32>(name, *p) || *l == kernel_name::<u128>(name, *p)
                    })
                })
            })
            .map(|r| format!("{}: `{}`", r.chain, r.comment.unwrap_or_default()))
            .collect();
        StoreError::InUse {
            set: name.to_string(),
            users: match users.first() {
                Some(u) if users.len() == 1 => format!("the policy ({u})"),
                Some(u) => format!("the policy ({u}, and {} more rules)", users.len() - 1),
                None => "a rule of palisade's table".into(),
            },
        }
    }

    pub fn flush(&mut self, name: &str) -> Result<()> {
        let def = self.get(name)?;
        self.transaction(|_, b| {
            for part in def.parts::<u32>() {
                b.flush_set(FAMILY, TABLE, &kernel_name::<u32>(name, part));
            }
            for part in def.parts::<u128>() {
                b.flush_set(FAMILY, TABLE, &kernel_name::<u128>(name, part));
            }
            invalidate(b, name);
            Ok(())
        })?;
        self.notify(SetChange::Flushed { def: &def });
        Ok(())
    }

    /// After a set was deleted: drop its cache, and tell the observer.
    pub fn forget(&mut self, name: &str) {
        if let Some(p) = self.cache_path(name) {
            cache::remove(&p);
        }
        self.notify(SetChange::Destroyed { name });
    }
}

/// Put into `b` the creation of set `def`'s kernel sets, all parts and the stamp; with
/// `exclusive`, a set that exists already fails the batch.
pub fn stage_create(b: &mut Batch, def: &SetDef, exclusive: bool) {
    for part in PARTS {
        b.add_set(FAMILY, &def.spec::<u32>(part), exclusive);
        b.add_set(FAMILY, &def.spec::<u128>(part), exclusive);
    }
    b.add_set(FAMILY, &stamp_spec(&def.name), exclusive);
}

/// Put into `b` the deletion of set `def`'s kernel sets, its hash parts included (rules using
/// them must go earlier in the batch). Call [`Store::forget`] once it committed.
pub fn stage_delete(b: &mut Batch, def: &SetDef) {
    for part in def.parts::<u32>() {
        b.del_set(FAMILY, TABLE, &kernel_name::<u32>(&def.name, part));
    }
    for part in def.parts::<u128>() {
        b.del_set(FAMILY, TABLE, &kernel_name::<u128>(&def.name, part));
    }
    b.del_set(FAMILY, TABLE, &stamp_name(&def.name));
}

/// Put into `b` the emptying of set `name`'s recent part.
pub fn stage_flush_recent(b: &mut Batch, name: &str) {
    b.flush_set(FAMILY, TABLE, &kernel_name::<u32>(name, Part::Recent));
    b.flush_set(FAMILY, TABLE, &kernel_name::<u128>(name, Part::Recent));
}

/// Put into `b` the block chain's rules for these sets (replacing the chain's rules).
pub fn stage_block_chain(b: &mut Batch, sets: &[SetDef], carried: &chains::Carried) {
    rebuild_block_chain(b, sets, carried);
}
