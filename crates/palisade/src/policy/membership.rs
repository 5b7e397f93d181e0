//! Set membership answered by the kernel, for the pure core's `explain` and lints.

use std::cell::RefCell;
use std::net::IpAddr;

use palisade_core::policy::{BlockKind, BlockSet, Membership};
use palisade_core::{AddrRange, ProtoPort};

use crate::store::{self, BlockAction, SetDef, Store};

/// Asks the kernel whether an address is in a palisade set (lookups, nothing is dumped).
pub struct KernelSets<'a> {
    store: RefCell<&'a mut Store>,
    defs: Vec<SetDef>,
}

impl<'a> KernelSets<'a> {
    /// The sets the block chains match, as the pure core's `explain` and lints see them.
    pub fn block_sets(&self) -> Vec<BlockSet> {
        self.defs
            .iter()
            .filter_map(|d| {
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
            })
            .collect()
    }

    pub fn new(store: &'a mut Store) -> store::Result<Self> {
        let defs = store.sets()?;
        Ok(KernelSets {
            store: RefCell::new(store),
            defs,
        })
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
