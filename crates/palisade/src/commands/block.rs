//! `palisade block` and `unblock`: the built-in `blocklist` set. When this host is in a fleet,
//! blocks and unblocks of `blocklist` are handed to the fleet daemon (as `manual` bans).

use anyhow::Result;
use palisade_core::format_duration;

use super::{duration_arg, extras, parse_elements, Out};
use crate::cli::{BlockArgs, UnblockArgs};
use crate::fleet::spool::{lift_records, manual_records, Spool};
use crate::store::{BlockAction, SetDef, Store};

/// The built-in set behind `palisade block`.
pub const BLOCKLIST: &str = "blocklist";

fn blocklist_def() -> SetDef {
    SetDef {
        block: Some(BlockAction::Drop),
        ..SetDef::new(BLOCKLIST)
    }
}

/// `fleet`: the namespace's fleet spool, if its state directory is known.
pub fn block(store: &mut Store, a: BlockArgs, out: Out, fleet: Option<&Spool>) -> Result<i32> {
    let def = store.ensure(&blocklist_def())?;
    let items = parse_elements(&a.elements, false, false)?;
    let timeout = duration_arg(&a.timeout, "--timeout")?;
    store.add(&def, &items, extras(timeout, a.comment.as_deref()))?;
    if let Some(spool) = fleet {
        let targets: Vec<_> = items.ranges().map(|(addr, _)| addr).collect();
        let seconds = timeout.map(|t| t.as_secs().max(1));
        let reason = a.comment.as_deref().unwrap_or("palisade block");
        spool.send_or_warn(&manual_records(&targets, seconds, reason), "palisade block");
    }
    if !out.quiet {
        let until = timeout
            .map(|t| format!(" for {}", format_duration(t)))
            .unwrap_or_default();
        eprintln!("blocked {}{until}", a.elements.join(", "));
    }
    Ok(0)
}

pub fn unblock(store: &mut Store, a: UnblockArgs, out: Out, fleet: Option<&Spool>) -> Result<i32> {
    let def = store.get(&a.set)?;
    let items = parse_elements(&a.elements, false, false)?;
    let missing = store.del(&def, &items)?;
    // Only `blocklist` holds manual bans; the fleet daemon notices lifted flood bans itself.
    if let Some(spool) = fleet.filter(|_| a.set == BLOCKLIST) {
        let targets: Vec<_> = items.ranges().map(|(addr, _)| addr).collect();
        spool.send_or_warn(
            &lift_records(&targets, palisade_fleet::BanSource::Manual),
            "palisade unblock",
        );
    }
    if !missing.is_empty() {
        eprintln!("{}", super::not_in_set(&a.set, &missing));
        return Ok(1);
    }
    if !out.quiet {
        eprintln!("unblocked {}", a.elements.join(", "));
    }
    Ok(0)
}
