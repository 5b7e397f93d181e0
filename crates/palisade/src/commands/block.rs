//! `palisade block` and `unblock`: the built-in `blocklist` set.

use anyhow::Result;
use palisade_core::format_duration;

use super::{duration_arg, extras, parse_elements, Out};
use crate::cli::{BlockArgs, UnblockArgs};
use crate::store::{BlockAction, SetDef, Store};

/// The built-in set behind `palisade block`.
pub const BLOCKLIST: &str = "blocklist";

fn blocklist_def() -> SetDef {
    SetDef {
        block: Some(BlockAction::Drop),
        ..SetDef::new(BLOCKLIST)
    }
}

pub fn block(store: &mut Store, a: BlockArgs, out: Out) -> Result<i32> {
    let def = store.ensure(&blocklist_def())?;
    let items = parse_elements(&a.elements, false, false)?;
    let timeout = duration_arg(&a.timeout, "--timeout")?;
    store.add(&def, &items, extras(timeout, a.comment.as_deref()))?;
    if !out.quiet {
        let until = timeout
            .map(|t| format!(" for {}", format_duration(t)))
            .unwrap_or_default();
        eprintln!("blocked {}{until}", a.elements.join(", "));
    }
    Ok(0)
}

pub fn unblock(store: &mut Store, a: UnblockArgs, out: Out) -> Result<i32> {
    let def = store.get(&a.set)?;
    let items = parse_elements(&a.elements, false, false)?;
    let missing = store.del(&def, &items)?;
    if !missing.is_empty() {
        eprintln!("{}", super::not_in_set(&a.set, &missing));
        return Ok(1);
    }
    if !out.quiet {
        eprintln!("unblocked {}", a.elements.join(", "));
    }
    Ok(0)
}
