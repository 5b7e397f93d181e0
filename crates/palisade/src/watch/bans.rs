//! What a ban is in the kernel: which set, which elements, written in one transaction.
//!
//! A jail that bans every port puts the address (or network) in the ban set. A jail with
//! `ports` puts address+port elements in the `-ports` set: one per single port, and one
//! per port range, whatever its width (`1024-65535/tcp` is one element whose end key
//! carries the last port; see [`crate::store::port_ranges`]). A permanent ban (recidive's
//! `permanent_after`) is an element without a timeout.

use std::time::Duration;

use anyhow::Result;
use palisade_core::{AddrRange, Contents, ProtoPort};
use palisade_watch::{Ban, BanPorts, WatchConfig, PERMANENT};

use crate::store::port_ranges::PortRangeElement;
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

/// The single ports a jail's bans block (its ranges are elements of their own); none for a
/// jail that blocks every port.
pub fn single_ports(ports: &BanPorts) -> Vec<ProtoPort> {
    match ports {
        BanPorts::All => Vec::new(),
        BanPorts::Some(list) => list
            .iter()
            .filter(|(_, range)| range.first == range.last)
            .map(|(proto, range)| ProtoPort {
                proto: proto.number(),
                port: range.first,
            })
            .collect(),
    }
}

/// The kernel elements of one ban.
#[derive(Debug, Default, PartialEq)]
pub struct BanElements {
    /// For the ban set (every port).
    pub all: Vec<Timed>,
    /// For the ports set: address and one port.
    pub ports: Vec<Timed>,
    /// For the ports set: address and a range of ports.
    pub ranges: Vec<PortRangeElement>,
}

/// The kernel elements of a ban: the address (or /64) on every port, or on the jail's
/// ports; bans of jails no longer configured, and recidive's, cover every port.
pub fn elements(cfg: &WatchConfig, ban: &Ban, now: u64, out: &mut BanElements) {
    let remaining =
        (ban.until != PERMANENT).then(|| Duration::from_secs(ban.until.saturating_sub(now).max(1)));
    let comment = Some(format!("{}: {}", ban.jail, ban.reason));
    let timed = |port| Timed {
        addr: ban.target,
        port,
        remaining,
        comment: comment.clone(),
    };
    let jail = cfg.jails.iter().find(|j| j.name == ban.jail);
    match jail.map(|j| &j.ports) {
        Some(BanPorts::Some(list)) => {
            for (proto, range) in list {
                if range.first == range.last {
                    out.ports.push(timed(Some(ProtoPort {
                        proto: proto.number(),
                        port: range.first,
                    })));
                } else {
                    out.ranges.push(PortRangeElement {
                        addr: ban.target,
                        proto: proto.number(),
                        first_port: range.first,
                        last_port: range.last,
                        remaining,
                        comment: comment.clone(),
                    });
                }
            }
        }
        _ => out.all.push(timed(None)),
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
    let mut elems = BanElements::default();
    for b in bans {
        elements(cfg, b, now, &mut elems);
    }
    if !elems.all.is_empty() {
        store.add_timed(all, &elems.all)?;
    }
    if !elems.ports.is_empty() || !elems.ranges.is_empty() {
        let ports = store.ensure(&ports)?;
        if !elems.ports.is_empty() {
            store.add_timed(&ports, &elems.ports)?;
        }
        if !elems.ranges.is_empty() {
            store.add_port_ranges(&ports, &elems.ranges)?;
        }
    }
    Ok(())
}

/// Lift bans in the kernel: `targets` out of the ban set, and out of the ports set on
/// every port and range (the kernel is the authority: whatever it holds of them goes).
pub fn lift(store: &mut Store, cfg: &WatchConfig, targets: &[AddrRange]) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let (all, ports) = ban_sets(cfg);
    if let Ok(def) = store.get(&all.name) {
        store.del(
            &def,
            &Contents::from_ranges(targets.iter().map(|t| (*t, None))),
        )?;
    }
    if let Ok(def) = store.get(&ports.name) {
        // Ranges (and single ports of networks) are in the recent part, by address.
        store.del_port_ranges_of(&def, targets)?;
        let mut with_ports = Vec::new();
        for p in cfg.jails.iter().flat_map(|j| single_ports(&j.ports)) {
            with_ports.extend(targets.iter().map(|t| (*t, Some(p))));
        }
        if !with_ports.is_empty() {
            store.del(&def, &Contents::from_ranges(with_ports))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::policy::Services;

    fn cfg(text: &str) -> WatchConfig {
        palisade_watch::parse_watch_config(
            "t.toml",
            text,
            &Services::new("ssh 22/tcp\n"),
            &palisade_watch::filter_files_on_disk,
        )
        .unwrap()
    }

    fn ban(jail: &str, until: u64) -> Ban {
        Ban {
            jail: jail.into(),
            target: palisade_core::parse_addr_range("192.0.2.9", false).unwrap(),
            since: 100,
            until,
            count: 1,
            reason: "x".into(),
        }
    }

    #[test]
    fn a_port_range_is_one_element_single_ports_one_each() {
        let c = cfg("[jails.web]\nfile = \"/x\"\npatterns = ['<HOST>']\nports = [\"ssh\", \"1024-65535/tcp\", \"53/udp\"]\n");
        let mut e = BanElements::default();
        elements(&c, &ban("web", 160), 100, &mut e);
        assert!(e.all.is_empty());
        assert_eq!(e.ports.len(), 2, "22/tcp and 53/udp");
        assert_eq!(e.ranges.len(), 1);
        assert_eq!(
            (e.ranges[0].first_port, e.ranges[0].last_port),
            (1024, 65535)
        );
        assert_eq!(e.ranges[0].remaining, Some(Duration::from_secs(60)));
    }

    #[test]
    fn recidive_and_permanent_bans_cover_every_port() {
        let c = cfg("[jails.web]\nfile = \"/x\"\npatterns = ['<HOST>']\nports = [\"ssh\"]\n");
        let mut e = BanElements::default();
        elements(&c, &ban(palisade_watch::RECIDIVE, PERMANENT), 100, &mut e);
        assert_eq!(e.all.len(), 1);
        assert_eq!(e.all[0].remaining, None, "no timeout: permanent");
        assert!(e.ports.is_empty() && e.ranges.is_empty());
    }
}
