//! What changed in palisade's table behind its back: rules added or removed with `nft`, chain
//! policies changed, set contents edited. `status` and `plan` name it, `explain` warns that
//! the kernel may decide otherwise than the applied policy says; the next apply replaces it.

use anyhow::Result;

use super::apply::{verdict_of, CHAIN_PREFIX};
use super::lower::{index_of, lower};
use crate::store::chains::{is_block_chain, BLOCK_RULE_PREFIX, PINS};
use crate::store::{Snapshot, Store};
use palisade_core::policy::Ruleset;

/// One difference between the kernel and what palisade applied.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    /// The chain it is in, if a rule or chain.
    pub chain: Option<String>,
    pub what: String,
}

/// Rules of palisade's chains that palisade did not write, rules of the applied policy that
/// are gone, and chains whose policy changed.
pub fn rule_drift(snapshot: &Snapshot, applied: Option<&Ruleset>) -> Vec<Drift> {
    let mut out = Vec::new();
    for r in &snapshot.rules {
        let ours = match r.comment.as_deref() {
            Some(c) if is_block_chain(&r.chain) || r.chain == PINS => {
                c.starts_with(BLOCK_RULE_PREFIX) || c.starts_with("palisade: ")
            }
            Some(c) if r.chain.starts_with(CHAIN_PREFIX) => index_of(c).is_some(),
            _ => !r.chain.starts_with(CHAIN_PREFIX) && !is_block_chain(&r.chain) && r.chain != PINS,
        };
        if !ours {
            out.push(Drift {
                chain: Some(r.chain.clone()),
                what: format!(
                    "rule handle {} ({}) was added outside palisade; the next apply removes it",
                    r.handle,
                    r.exprs.join(" ")
                ),
            });
        }
    }
    let Some(ruleset) = applied else {
        return out;
    };
    for chain in &ruleset.chains {
        let name = chain.kernel_name();
        let Some(k) = snapshot.chain(&name) else {
            out.push(Drift {
                chain: Some(name),
                what: "the chain is gone (deleted outside palisade)".into(),
            });
            continue;
        };
        if k.policy != Some(verdict_of(chain.policy)) {
            out.push(Drift {
                chain: Some(name.clone()),
                what: "its policy was changed outside palisade".into(),
            });
        }
        for (i, rule) in chain.rules.iter().enumerate() {
            let want = lower(rule).len();
            let have = snapshot
                .rules_of(&name)
                .filter(|r| r.comment.as_deref().and_then(index_of) == Some(i))
                .count();
            if have != want {
                out.push(Drift {
                    chain: Some(name.clone()),
                    what: format!(
                        "rule #{i} `{rule}` is {} in the kernel ({have} of {want} kernel rules)",
                        if have < want { "missing" } else { "doubled" }
                    ),
                });
            }
        }
    }
    out
}

/// Sets whose loaded contents changed outside palisade (by their element counts).
pub fn set_drift(store: &mut Store) -> Result<Vec<Drift>> {
    let mut out = Vec::new();
    for def in store.sets()? {
        if let Some(what) = store.loaded_drift(&def.name)? {
            out.push(Drift { chain: None, what });
        }
    }
    Ok(out)
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.chain {
            Some(c) => write!(f, "chain {c}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}
