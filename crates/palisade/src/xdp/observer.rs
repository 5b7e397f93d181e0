//! The store's observer: every change palisade commits to a set, followed in the XDP maps.
//!
//! It runs after nftables accepted the change, with what the store has in hand, so a huge set
//! is never read back for XDP: a load gives its contents (only the small recent part is read),
//! an addition its elements with their time left, a deletion the addresses removed. When no XDP
//! state is pinned for the namespace, a change costs one check for the maps' pin. A failure is
//! a warning: nftables blocks whatever happens here.

use std::path::PathBuf;

use anyhow::Result;
use palisade_xdp::{kernel_now, Xdp};

use super::mirror::Role;
use super::mirror::{added_entries, before, by_deadline, held_entries, permanent, ranges, role};
use super::sync::sync_allowlist;
use crate::netns::Namespace;
use crate::store::{SetChange, SetDef, SetObserver, Store};
use palisade_core::Contents;

/// Follows the changes to the sets of one network namespace into its XDP maps.
pub struct XdpMirror {
    ns: Namespace,
    /// The namespace's XDP state directory, found at the first change.
    dir: Option<PathBuf>,
}

impl XdpMirror {
    pub fn new(ns: Namespace) -> Self {
        Self { ns, dir: None }
    }

    fn dir(&mut self) -> Result<PathBuf> {
        if let Some(d) = &self.dir {
            return Ok(d.clone());
        }
        let d = super::state_dir(&self.ns)?;
        self.dir = Some(d.clone());
        Ok(d)
    }

    fn open(&mut self) -> Result<Option<Xdp>> {
        Ok(Xdp::open_at(&self.dir()?)?)
    }
}

impl SetObserver for XdpMirror {
    /// Only while XDP is attached in the namespace (its maps are pinned).
    fn active(&mut self) -> bool {
        self.dir()
            .is_ok_and(|d| d.join(palisade_xdp::layout::DROP_V4).exists())
    }

    fn changed(&mut self, store: &mut Store, change: SetChange<'_>) {
        let followed = self
            .open()
            .and_then(|x| x.map_or(Ok(()), |mut x| follow(&mut x, store, change)));
        if let Err(e) = followed {
            super::warn(&e);
        }
    }
}

/// Make the maps follow one committed change.
fn follow(x: &mut Xdp, store: &mut Store, change: SetChange<'_>) -> Result<()> {
    // A command run over SSH pins its session ahead of the blocks when it rebuilds them (a set
    // created on the way, say): the allowlist passes the session's client first, before any
    // drop entry of this change is written.
    if store.session().is_some() {
        sync_allowlist(x, store)?;
    }
    match change {
        SetChange::Loaded {
            def,
            loaded,
            before,
            folded,
        } => {
            if role(def) == Some(Role::Drop) {
                follow_load(x, store, def, loaded, before, folded)?;
            } else {
                forget(x, &def.name)?;
            }
            // The set may have joined or left the allowlist with this load (an apply that
            // changed its action).
            sync_allowlist(x, store)?;
        }
        SetChange::Added { def, items, since } => match role(def) {
            Some(Role::Drop) => {
                let base = before(kernel_now()?, since.elapsed());
                let id = x.set_id(&def.name)?;
                for (expires, ranges) in by_deadline(&added_entries(def, items, base)) {
                    x.add(id, &def.name, &ranges, expires)?;
                }
            }
            Some(Role::Allow) => {
                let added: Vec<_> = items.iter().map(|t| t.addr).collect();
                x.add_allow(&added)?;
            }
            None => {}
        },
        SetChange::Deleted { def, items } => match role(def) {
            Some(Role::Drop) => {
                if let Some(id) = x.find_set(&def.name)? {
                    x.withdraw(id, &def.name, &ranges(items))?;
                }
            }
            Some(Role::Allow) => sync_allowlist(x, store)?,
            None => {}
        },
        SetChange::Flushed { def } => match role(def) {
            Some(Role::Drop) => {
                if let Some(id) = x.find_set(&def.name)? {
                    x.clear_set(id)?;
                }
            }
            Some(Role::Allow) => sync_allowlist(x, store)?,
            None => {}
        },
        // Empty: nothing to hold yet (its pins, if any, are followed above).
        SetChange::Created { .. } => {}
        SetChange::Destroyed { name } => {
            forget(x, name)?;
            sync_allowlist(x, store)?;
        }
    }
    Ok(())
}

/// A load of a drop set. Told what the set held before, only the difference is written: the
/// addresses it no longer holds are withdrawn by lookups among what it held, the new ones added
/// (a blocklist that changed a little costs a little, whatever its size). Without `before` (a
/// set made anew), the set's entries are replaced whole, which reads the drop trie once.
fn follow_load(
    x: &mut Xdp,
    store: &mut Store,
    def: &SetDef,
    loaded: &Contents,
    before: Option<&Contents>,
    folded: Option<&Contents>,
) -> Result<()> {
    let base = kernel_now()?;
    let id = x.set_id(&def.name)?;
    // Unless folded in, the recent part keeps its elements, with their time left.
    let recent = match folded {
        Some(_) => Vec::new(),
        None => store.recent_part(&def.name)?.into_timed(),
    };
    let Some(before) = before else {
        let mut entries = permanent(loaded);
        entries.extend(held_entries(&recent, base));
        x.replace_set(id, &def.name, &entries)?;
        return Ok(());
    };
    let held = match folded {
        Some(f) => before.union(f),
        None => before.clone(),
    };
    let still_recent = Contents::from_ranges(recent.iter().map(|t| (t.addr, t.port)));
    let gone = held.difference(loaded).difference(&still_recent);
    x.withdraw_held(id, &def.name, &ranges(&gone), &ranges(&held))?;
    x.add(id, &def.name, &ranges(&loaded.difference(before)), None)?;
    for (expires, ranges) in by_deadline(&held_entries(&recent, base)) {
        x.add(id, &def.name, &ranges, expires)?;
    }
    Ok(())
}

/// The set no longer drops in XDP: its entries go, and its counter id is given back.
fn forget(x: &mut Xdp, name: &str) -> Result<()> {
    if let Some(id) = x.find_set(name)? {
        x.clear_set(id)?;
        x.release_set(id)?;
    }
    Ok(())
}
