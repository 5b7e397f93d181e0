//! A full sync: the XDP maps made to hold exactly what the kernel sets hold now.
//!
//! This is what catches changes no palisade command made: the kernel's own bans on exceed
//! (written into dynamic sets from the packet path), and anything the observer missed (XDP
//! attached while a command ran, a failed write). It also deletes expired entries, which the
//! program already ignores. Sets are read with the store's usual reads: a loaded set comes
//! from its verified cache when it can, not from a dump.

use anyhow::Result;
use palisade_core::AddrRange;
use palisade_xdp::{kernel_now, DropSet, SyncReport, Xdp, XdpError};

use super::mirror::{by_deadline, held_entries, pinned_clients, ranges, role, Role};
use crate::store::Store;

/// What a full sync did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub report: SyncReport,
    /// Sets now held in XDP.
    pub sets: usize,
    /// Sets XDP could not take (no counter id left); nftables still drops them.
    pub skipped: Vec<String>,
}

/// Make the maps hold exactly the kernel sets' drop entries and allowlist.
pub fn sync_all(x: &mut Xdp, store: &mut Store) -> Result<Summary> {
    // Before anything is read, so no deadline computed from it falls after the kernel's.
    let base = kernel_now()?;
    let mut drops = Vec::new();
    let mut skipped = Vec::new();
    for def in store.sets()? {
        if role(&def) != Some(Role::Drop) {
            continue;
        }
        let id = match x.set_id(&def.name) {
            Ok(id) => id,
            Err(e @ XdpError::TooManySets { .. }) => {
                super::warn(&e.into());
                skipped.push(def.name.clone());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let held = store.held(&def.name)?.into_timed();
        drops.push(DropSet {
            id,
            name: def.name.clone(),
            entries: held_entries(&held, base),
        });
    }
    let allow = allowlist(store)?;
    let report = x.sync(&drops, &allow)?;
    // Ids of sets that are gone or no longer drop: their entries went with this sync.
    for (id, _) in x.set_names()? {
        if !drops.iter().any(|d| d.id == id) {
            x.release_set(id)?;
        }
    }
    Ok(Summary {
        report,
        sets: drops.len(),
        skipped,
    })
}

/// Only what the kernel adds by itself: the bans in dynamic drop sets (flood bans on exceed),
/// added where XDP does not hold them yet, by lookups: no walk of the maps, so it is cheap to
/// run every minute. Returns the number of entries written.
pub fn sync_kernel_bans(x: &mut Xdp, store: &mut Store) -> Result<usize> {
    let base = kernel_now()?;
    let mut written = 0;
    for def in store.sets()? {
        if !def.dynamic || role(&def) != Some(Role::Drop) {
            continue;
        }
        let id = x.set_id(&def.name)?;
        let held = store.held(&def.name)?.into_timed();
        for (expires, ranges) in by_deadline(&held_entries(&held, base)) {
            written += x.add(id, &def.name, &ranges, expires)?;
        }
    }
    Ok(written)
}

/// Everything XDP must pass: the allow sets' addresses and the admin's pinned session.
pub fn allowlist(store: &mut Store) -> Result<Vec<AddrRange>> {
    let mut out = Vec::new();
    for def in store.sets()? {
        if role(&def) == Some(Role::Allow) {
            out.extend(ranges(&store.held(&def.name)?.contents()));
        }
    }
    out.extend(pinned_clients(&store.rules()?));
    Ok(out)
}

/// Make the allowlist tries hold exactly [`allowlist`].
pub fn sync_allowlist(x: &mut Xdp, store: &mut Store) -> Result<()> {
    x.sync_allow(&allowlist(store)?)?;
    Ok(())
}
