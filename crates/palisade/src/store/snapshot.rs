//! Reading palisade's table: one place that knows "no table yet" means "nothing there".
//!
//! Every read of the table (its sets, chains, rules) goes through [`or_empty`], so the
//! kernel's ENOENT for a table that does not exist yet is handled once, not at every caller.

use palisade_nft::{ChainInfo, NftError, RuleInfo, SetInfo};

/// What palisade's table holds, read at one moment (each list is one kernel dump).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub sets: Vec<SetInfo>,
    pub chains: Vec<ChainInfo>,
    pub rules: Vec<RuleInfo>,
}

impl Snapshot {
    /// The kernel set called `name`.
    pub fn set(&self, name: &str) -> Option<&SetInfo> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// The chain called `name`.
    pub fn chain(&self, name: &str) -> Option<&ChainInfo> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The rules of chain `name`, in order.
    pub fn rules_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RuleInfo> + 'a {
        self.rules.iter().filter(move |r| r.chain == name)
    }
}

/// A dump of a table that does not exist is an empty list, not an error.
pub fn or_empty<T>(r: Result<Vec<T>, NftError>) -> Result<Vec<T>, NftError> {
    match r {
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(Vec::new()),
        other => other,
    }
}
