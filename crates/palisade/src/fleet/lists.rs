//! Publishing this host's shared lists: a set named in `[fleet.share] lists` goes to the
//! fleet whole, every time a load changes it.
//!
//! What is shared is what the set's loads wrote (its loaded parts), not the single timed
//! additions since: those are bans, and travel as bans. A load leaves a fresh token in the set's
//! stamp, and any other change to the loaded parts clears it, so one kernel lookup per list
//! tells whether it changed; only then is the list read (from the set cache when it is
//! current) and handed to the engine, which sends it only if its digest differs from the
//! version on the bus.

use std::collections::HashMap;

use palisade_core::Contents;
use palisade_fleet::Publisher;

use crate::store::{Store, StoreError};

#[derive(Debug, Default)]
pub struct ListPublisher {
    /// Per list, the stamp token of the version handed to the engine.
    handed: HashMap<String, Option<u32>>,
}

/// A list's contents as the engine takes them: plain addresses and networks per family.
fn families(
    c: &Contents,
) -> (
    palisade_core::IntervalSet<u32>,
    palisade_core::IntervalSet<u128>,
) {
    (
        c.v4.get(&None).cloned().unwrap_or_default(),
        c.v6.get(&None).cloned().unwrap_or_default(),
    )
}

impl ListPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hand the engine every shared list that changed since the last call. Returns how many
    /// were handed over; a list the host does not have (yet) is skipped.
    pub fn poll(
        &mut self,
        store: &mut Store,
        publisher: &Publisher,
        names: &[String],
    ) -> Result<usize, String> {
        let mut handed = 0;
        for name in names {
            let token = match store.load_token(name) {
                Ok(t) => t,
                Err(StoreError::Kernel(e)) if e.errno() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(format!("shared list {name}: {e}")),
            };
            if token.is_some() && self.handed.get(name) == Some(&token) {
                continue;
            }
            let (loaded, _recent) = store
                .held_parts(name)
                .map_err(|e| format!("shared list {name}: {e}"))?;
            let (v4, v6) = families(&loaded.contents());
            publisher
                .publish_list(name, v4, v6)
                .map_err(|e| e.to_string())?;
            self.handed.insert(name.clone(), token);
            handed += 1;
        }
        Ok(handed)
    }
}
