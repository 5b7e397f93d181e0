//! `palisade set create|destroy|flush|add|del|test`, and the dispatch of `palisade set`.

use anyhow::{bail, Context, Result};
use palisade_core::parse_element;
use std::time::Instant;

use super::{applied, duration_arg, extras, not_in_set, parse_elements, set_load, set_show, Out};
use crate::cli::{BlockArg, SetCommand, SetDirectionArg};
use crate::store::{BlockAction, SetDef, Store};
use palisade_core::policy::SetDirection;

impl From<BlockArg> for BlockAction {
    fn from(b: BlockArg) -> Self {
        match b {
            BlockArg::Drop => BlockAction::Drop,
            BlockArg::Reject => BlockAction::Reject,
        }
    }
}

pub fn set(store: &mut Store, cmd: SetCommand, out: Out) -> Result<i32> {
    match cmd {
        SetCommand::Create(a) => {
            let def = SetDef {
                name: a.name.clone(),
                with_ports: a.with_ports,
                block: match a.allowlist {
                    true => Some(BlockAction::Allow),
                    false => a.block.map(BlockAction::from),
                },
                direction: match a.direction {
                    SetDirectionArg::In => SetDirection::In,
                    SetDirectionArg::Out => SetDirection::Out,
                    SetDirectionArg::Both => SetDirection::Both,
                },
                prefixes: Default::default(),
                default_timeout: duration_arg(&a.timeout, "--timeout")?,
                dynamic: false,
            };
            store.create(&def)?;
            if !out.quiet {
                eprintln!("created set {}", a.name);
            }
        }
        SetCommand::Destroy { name } => store.destroy(&name)?,
        SetCommand::Flush { name } => store.flush(&name)?,
        SetCommand::Add(a) => {
            let def = store.get(&a.name)?;
            let items = parse_elements(&a.elements, def.with_ports, a.normalize)?;
            let timeout = duration_arg(&a.timeout, "--timeout")?;
            let t = Instant::now();
            store.add(&def, &items, extras(timeout, a.comment.as_deref()))?;
            applied(out, t);
        }
        SetCommand::Del(a) => {
            let def = store.get(&a.name)?;
            let items = parse_elements(&a.elements, def.with_ports, a.normalize)?;
            let t = Instant::now();
            let missing = store.del(&def, &items)?;
            applied(out, t);
            if !missing.is_empty() {
                eprintln!("{}", not_in_set(&a.name, &missing));
                return Ok(1);
            }
        }
        SetCommand::Test(a) => {
            let def = store.get(&a.name)?;
            let (addr, port) = parse_element(&a.address, def.with_ports, false)
                .with_context(|| format!("`{}`", a.address))?;
            if addr.size() != 1 {
                bail!("`{}`: give a single address to test", a.address);
            }
            let member = store.test(&def, addr, port)?;
            if !out.quiet {
                println!(
                    "{} is {}in set {}",
                    a.address,
                    if member { "" } else { "not " },
                    a.name
                );
            }
            return Ok(if member { 0 } else { 1 });
        }
        SetCommand::List(a) => set_show::list(store, a)?,
        SetCommand::Load(a) => set_load::load(store, a, out)?,
        SetCommand::Export(a) => set_show::export(store, a)?,
    }
    Ok(0)
}
