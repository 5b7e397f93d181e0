//! `palisade xdp status`: where the program runs, in which mode, and what it dropped per set.

use std::io::Write;

use anyhow::Result;
use palisade_xdp::Xdp;
use serde::Serialize;

use super::{in_namespace, pin_root};
use crate::netns::Namespace;

#[derive(Debug, Serialize)]
pub struct XdpStatus {
    /// False when palisade's program is attached nowhere in this network namespace.
    pub attached: bool,
    pub state_dir: String,
    pub interfaces: Vec<Interface>,
    pub sets: Vec<SetCounters>,
    /// Packets a drop set matched and the allowlist (or the admin's session) let through.
    pub allowed_packets: u64,
    /// Packets that matched only expired entries, and passed.
    pub expired_packets: u64,
    /// Drop entries each address family can hold.
    pub capacity_per_family: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct Interface {
    /// `None`: the interface was removed (`palisade xdp detach --all` clears it).
    pub name: Option<String>,
    pub ifindex: u32,
    /// `native`, `generic`, `offload`; `None` when the program no longer runs there.
    pub mode: Option<String>,
    pub program_id: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct SetCounters {
    /// The palisade set, or `#ID` for entries of a set that has no name any more.
    pub name: String,
    pub id: u8,
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
    pub entries_v4: usize,
    pub entries_v6: usize,
}

/// Read the XDP state of `ns`. Walks the drop tries to count entries per set (about a second
/// per million entries).
pub fn gather(ns: &Namespace) -> Result<XdpStatus> {
    let root = pin_root();
    in_namespace(ns, || gather_here(&root))?
}

fn gather_here(root: &std::path::Path) -> Result<XdpStatus> {
    let dir = Xdp::state_dir(root)?;
    let Some(mut x) = Xdp::open_at(&dir)? else {
        return Ok(XdpStatus {
            attached: false,
            state_dir: dir.display().to_string(),
            interfaces: Vec::new(),
            sets: Vec::new(),
            allowed_packets: 0,
            expired_packets: 0,
            capacity_per_family: None,
        });
    };
    let interfaces = x
        .status()?
        .into_iter()
        .map(|i| Interface {
            name: i.name,
            ifindex: i.ifindex,
            mode: i.mode.map(|m| m.to_string()),
            program_id: i.program_id,
        })
        .collect();
    let counters = x.counters()?;
    let names = x.set_names()?;
    let entries = x.entries_by_set()?;
    let mut ids: Vec<_> = names.iter().map(|(id, _)| *id).collect();
    ids.extend(entries.keys().copied());
    ids.sort();
    ids.dedup();
    let sets = ids
        .into_iter()
        .map(|id| {
            let name = names
                .iter()
                .find_map(|(i, n)| (*i == id).then(|| n.clone()))
                .unwrap_or_else(|| format!("#{}", id.0));
            let dropped = counters.dropped_by(id);
            let (v4, v6) = entries.get(&id).copied().unwrap_or_default();
            SetCounters {
                name,
                id: id.0,
                dropped_packets: dropped.packets,
                dropped_bytes: dropped.bytes,
                entries_v4: v4,
                entries_v6: v6,
            }
        })
        .collect();
    Ok(XdpStatus {
        attached: true,
        state_dir: dir.display().to_string(),
        interfaces,
        sets,
        allowed_packets: counters.allowed.packets,
        expired_packets: counters.expired.packets,
        capacity_per_family: Some(x.capacity().drop_per_family),
    })
}

/// Print the status for people, or as JSON.
pub fn print(s: &XdpStatus, json: bool) -> Result<()> {
    let mut w = std::io::stdout().lock();
    if json {
        writeln!(w, "{}", serde_json::to_string_pretty(s)?)?;
        return Ok(());
    }
    if !s.attached {
        writeln!(
            w,
            "XDP: not attached in this network namespace (`palisade xdp attach IFACE`, or \
             `[xdp] interfaces` in the config)"
        )?;
        return Ok(());
    }
    writeln!(w, "XDP state: {}", s.state_dir)?;
    for i in &s.interfaces {
        let name = i.name.as_deref().unwrap_or("(removed)");
        let mode = i.mode.as_deref().unwrap_or("not running");
        writeln!(w, "  {name} (index {}): {mode}", i.ifindex)?;
    }
    writeln!(
        w,
        "{:<24} {:>14} {:>16} {:>12} {:>12}",
        "set", "dropped pkts", "dropped bytes", "IPv4 entries", "IPv6 entries"
    )?;
    for c in &s.sets {
        writeln!(
            w,
            "{:<24} {:>14} {:>16} {:>12} {:>12}",
            c.name, c.dropped_packets, c.dropped_bytes, c.entries_v4, c.entries_v6
        )?;
    }
    writeln!(
        w,
        "passed: {} packets allowlisted, {} matching only expired entries; room for {} entries \
         per family",
        s.allowed_packets,
        s.expired_packets,
        s.capacity_per_family.unwrap_or(0)
    )?;
    Ok(())
}
