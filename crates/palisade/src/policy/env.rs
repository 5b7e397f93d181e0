//! What every policy command works with: the kernel, the records, the state directory.

use std::path::PathBuf;

use anyhow::Result;
use palisade_core::policy::HostFacts;

use super::facts;
use super::records::Records;
use crate::netns::Namespace;
use crate::state::StateDir;
use crate::store::Store;

/// The kernel and the files of one network namespace.
pub struct Env {
    pub store: Store,
    pub records: Records,
    pub state: StateDir,
    /// The namespace, passed on to the confirm timer.
    pub ns: Namespace,
}

impl Env {
    pub fn open(ns: &Namespace) -> Result<Self> {
        let state = StateDir::for_namespace(ns)?;
        Ok(Env {
            store: Store::new(ns.netlink()?, Some(state.sets()))
                .with_session(facts::session())
                .with_observer(crate::xdp::observer(ns)),
            records: Records::new(state.policy()),
            state,
            ns: ns.clone(),
        })
    }

    /// The file `save` writes and `restore` reads by default (boot's, for the root namespace).
    pub fn saved_file(&self) -> PathBuf {
        self.state.saved_state()
    }

    pub fn facts(&mut self) -> HostFacts {
        let ns = self.ns.named_file();
        facts::host_facts(&mut self.store, ns.as_deref())
    }
}
