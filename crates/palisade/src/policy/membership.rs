//! Set membership answered by the kernel, for the pure core's `explain` and lints.

use std::cell::RefCell;
use std::net::IpAddr;

use palisade_core::policy::{BlockKind, BlockSet, Membership};
use palisade_core::{AddrRange, Contents, ProtoPort};

use super::apply::DesiredSet;

use crate::store::{self, BlockAction, SetDef, Store};

/// Asks the kernel whether an address is in a palisade set (lookups, nothing is dumped).
pub struct KernelSets<'a> {
    store: RefCell<&'a mut Store>,
    defs: Vec<SetDef>,
}

impl<'a> KernelSets<'a> {
    /// The sets the block chains match, as the pure core's `explain` and lints see them.
    pub fn block_sets(&self) -> Vec<BlockSet> {
        self.defs.iter().filter_map(block_set).collect()
    }

    pub fn new(store: &'a mut Store) -> store::Result<Self> {
        let defs = store.sets()?;
        Ok(KernelSets {
            store: RefCell::new(store),
            defs,
        })
    }
}

/// A set as the pure core's block chains see it, if it is matched there.
fn block_set(d: &SetDef) -> Option<BlockSet> {
    d.block.map(|b| BlockSet {
        name: d.name.clone(),
        kind: match b {
            BlockAction::Drop => BlockKind::Drop,
            BlockAction::Reject => BlockKind::Reject,
            BlockAction::Allow => BlockKind::Allow,
        },
        with_ports: d.with_ports,
        direction: d.direction,
    })
}

/// The sets as they will be once a config is applied: the config's own sets from their
/// contents, every other set from the kernel. `check` and `apply` lint against these, so a
/// blocklist that would cut the admin is caught before it reaches the kernel.
pub struct PlannedSets<'a> {
    pub kernel: KernelSets<'a>,
    pub desired: &'a [DesiredSet],
}

impl PlannedSets<'_> {
    pub fn block_sets(&self) -> Vec<BlockSet> {
        let mut out: Vec<BlockSet> = self
            .kernel
            .block_sets()
            .into_iter()
            .filter(|b| !self.desired.iter().any(|d| d.def.name == b.name))
            .collect();
        out.extend(self.desired.iter().filter_map(|d| block_set(&d.def)));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

impl Membership for PlannedSets<'_> {
    fn contains(&self, set: &str, addr: IpAddr, port: Option<(u8, u16)>) -> bool {
        match self.desired.iter().find(|d| d.def.name == set) {
            Some(d) => {
                let port = port.map(|(proto, port)| ProtoPort { proto, port });
                let probe = Contents::from_ranges([(AddrRange::from(addr), port)]);
                probe.difference(&d.loaded).is_empty()
            }
            None => self.kernel.contains(set, addr, port),
        }
    }
}

impl Membership for KernelSets<'_> {
    fn contains(&self, set: &str, addr: IpAddr, port: Option<(u8, u16)>) -> bool {
        let Some(def) = self.defs.iter().find(|d| d.name == set) else {
            return false;
        };
        let range = AddrRange::from(addr);
        let port = port.map(|(proto, port)| ProtoPort { proto, port });
        self.store
            .borrow_mut()
            .test(def, range, port)
            .unwrap_or(false)
    }
}
