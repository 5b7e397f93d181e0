//! What a ban is in the kernel: which set, which elements, written in one transaction.

use std::time::Duration;

use anyhow::Result;
use palisade_core::{AddrRange, Contents, ProtoPort};
use palisade_watch::{Ban, BanPorts, WatchConfig};

use crate::store::{BlockAction, SetDef, Store, Timed};

/// Most bans in one transaction, and the longest a ban waits for others to join it.
pub const BATCH_MAX: usize = 5000;
pub const BATCH_WAIT: Duration = Duration::from_millis(100);

/// The set bans go to: `bans` blocks every port; `bans-ports` holds address+port pairs for
/// jails that block only their service.
pub fn ban_sets(cfg: &WatchConfig) -> (SetDef, SetDef) {
    let all = SetDef {
        block: Some(BlockAction::Drop),
        dynamic: true,
        ..SetDef::new(&cfg.set)
    };
    let ports = SetDef {
        block: Some(BlockAction::Drop),
        with_ports: true,
        dynamic: true,
        ..SetDef::new(&format!("{}-ports", cfg.set))
    };
    (all, ports)
}

/// The ports a jail's bans block, one by one; none for a jail that blocks every port.
pub fn ban_ports(ports: &BanPorts) -> Vec<ProtoPort> {
    match ports {
        BanPorts::All => Vec::new(),
        BanPorts::Some(list) => list
            .iter()
            .flat_map(|(proto, range)| {
                (range.first..=range.last).map(|port| ProtoPort {
                    proto: proto.number(),
                    port,
                })
            })
            .collect(),
    }
}

/// The kernel elements of a ban: the address (or /64) on every port, or on the jail's ports.
pub fn elements(cfg: &WatchConfig, ban: &Ban, now: u64) -> (bool, Vec<Timed>) {
    let remaining = Some(Duration::from_secs(ban.until.saturating_sub(now).max(1)));
    let comment = Some(format!("{}: {}", ban.jail, ban.reason));
    let jail = cfg.jails.iter().find(|j| j.name == ban.jail);
    match jail.map(|j| &j.ports) {
        Some(ports @ BanPorts::Some(_)) => {
            let out = ban_ports(ports)
                .into_iter()
                .map(|p| Timed {
                    addr: ban.target,
                    port: Some(p),
                    remaining,
                    comment: comment.clone(),
                })
                .collect();
            (true, out)
        }
        _ => (
            false,
            vec![Timed {
                addr: ban.target,
                port: None,
                remaining,
                comment,
            }],
        ),
    }
}

/// Write bans to the kernel: one transaction per set (usually one in all). `all` is the ban
/// set as the kernel has it.
pub fn commit_bans(
    store: &mut Store,
    cfg: &WatchConfig,
    all: &SetDef,
    bans: &[Ban],
    now: u64,
) -> Result<()> {
    let (_, ports) = ban_sets(cfg);
    let (mut on_all, mut on_ports) = (Vec::new(), Vec::new());
    for b in bans {
        let (with_ports, elems) = elements(cfg, b, now);
        if with_ports {
            on_ports.extend(elems);
        } else {
            on_all.extend(elems);
        }
    }
    if !on_all.is_empty() {
        store.add_timed(all, &on_all)?;
    }
    if !on_ports.is_empty() {
        let ports = store.ensure(&ports)?;
        store.add_timed(&ports, &on_ports)?;
    }
    Ok(())
}

/// Lift bans in the kernel: `targets` out of the ban set, and out of the ports set on every
/// port a jail bans (the kernel is the authority: whatever it holds of them goes).
pub fn lift(store: &mut Store, cfg: &WatchConfig, targets: &[AddrRange]) -> Result<()> {
    let (all, ports) = ban_sets(cfg);
    if let Ok(def) = store.get(&all.name) {
        store.del(
            &def,
            &Contents::from_ranges(targets.iter().map(|t| (*t, None))),
        )?;
    }
    if let Ok(def) = store.get(&ports.name) {
        let mut with_ports = Vec::new();
        for p in cfg.jails.iter().flat_map(|j| ban_ports(&j.ports)) {
            with_ports.extend(targets.iter().map(|t| (*t, Some(p))));
        }
        if !with_ports.is_empty() {
            store.del(&def, &Contents::from_ranges(with_ports))?;
        }
    }
    Ok(())
}
