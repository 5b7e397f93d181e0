//! `palisade set list` and `palisade set export`.

use anyhow::Result;
use palisade_core::{format_duration, AddrRange, ProtoPort};
use std::time::Duration;

use crate::cli::{ExportArgs, ExportFormat, ListArgs};
use crate::store::kernel_addr::KernelRange;
use crate::store::{BlockAction, SetDef, Store, StoreError};
use palisade_core::policy::SetDirection;

/// Rough kernel memory per range, for `set list`: an rbtree range is two elements of
/// ~96 bytes (node, extensions, slab rounding); a pipapo range costs about one.
fn estimated_bytes(def: &SetDef, v4: usize, v6: usize) -> u64 {
    let per_range = if def.with_ports { 128 } else { 192 };
    (v4 + v6) as u64 * per_range
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn range_text<T: Copy>(r: &KernelRange<T>, show: impl Fn(T, T) -> String) -> String {
    let mut s = show(r.range.first, r.range.last);
    if let Some(p) = r.port {
        s.push_str(&format!(",{p}"));
    }
    s
}

fn v4_text(first: u32, last: u32) -> String {
    AddrRange::V4(palisade_core::Interval { first, last }).to_string()
}

fn v6_text(first: u128, last: u128) -> String {
    AddrRange::V6(palisade_core::Interval { first, last }).to_string()
}

pub fn list(store: &mut Store, a: ListArgs) -> Result<()> {
    let mut defs = store.sets()?;
    if let Some(n) = &a.name {
        defs.retain(|d| &d.name == n);
        if defs.is_empty() {
            return Err(StoreError::NoSuchSet(n.clone()).into());
        }
    }
    let counters = store.block_counters()?;
    let mut json = Vec::new();
    for def in &defs {
        let held = store.held(&def.name)?;
        let (kernel4, kernel6) = store.kernel_counts(&def.name)?;
        let contents = held.contents();
        let addresses: u128 = contents.v4.values().map(|s| s.address_count()).sum();
        let addresses6: u128 = contents
            .v6
            .values()
            .map(|s| s.address_count())
            .fold(0, u128::saturating_add);
        let mem = estimated_bytes(def, held.v4.len(), held.v6.len());
        let (packets, bytes) = counters.get(&def.name).copied().unwrap_or_default();
        let mut elements = Vec::new();
        if a.elements {
            for r in &held.v4 {
                elements.push((range_text(r, v4_text), r.expires_ms, r.comment.clone()));
            }
            for r in &held.v6 {
                elements.push((range_text(r, v6_text), r.expires_ms, r.comment.clone()));
            }
        }
        if a.json {
            json.push(serde_json::json!({
                "name": def.name,
                "block": def.block,
                "with_ports": def.with_ports,
                "default_timeout_s": def.default_timeout.map(|d| d.as_secs()),
                "ranges_v4": held.v4.len(),
                "ranges_v6": held.v6.len(),
                "addresses_v4": addresses as u64,
                "addresses_v6": addresses6.to_string(),
                "estimated_kernel_bytes": mem,
                "kernel_elements_v4": kernel4,
                "kernel_elements_v6": kernel6,
                "blocked_packets": packets,
                "blocked_bytes": bytes,
                "elements": a.elements.then(|| elements.iter().map(|(e, exp, c)| serde_json::json!({"element": e, "expires_ms": exp, "comment": c})).collect::<Vec<_>>()),
            }));
            continue;
        }
        let what = match def.direction {
            SetDirection::In => "sources",
            SetDirection::Out => "destinations",
            SetDirection::Both => "sources and destinations",
        };
        let block = match def.block {
            Some(BlockAction::Drop) => format!("drops its {what}"),
            Some(BlockAction::Reject) => format!("rejects its {what}"),
            Some(BlockAction::Allow) => "allowlist: never blocked".into(),
            None => "not used for blocking".into(),
        };
        println!(
            "set {} ({}{})",
            def.name,
            block,
            if def.with_ports { ", address+port" } else { "" }
        );
        println!("  IPv4: {} ranges, {} addresses", held.v4.len(), addresses);
        println!("  IPv6: {} ranges", held.v6.len());
        if let Some(t) = def.default_timeout {
            println!("  default timeout: {}", format_duration(t));
        }
        println!("  kernel memory: ~{} (estimate)", human_bytes(mem));
        if def.block.is_some() {
            println!("  blocked: {packets} packets, {}", human_bytes(bytes));
        }
        for (e, exp, c) in &elements {
            let mut line = format!("  {e}");
            if let Some(ms) = exp {
                line.push_str(&format!(
                    " expires in {}",
                    format_duration(Duration::from_secs(ms.div_ceil(1000)))
                ));
            }
            if let Some(c) = c {
                line.push_str(&format!(" \"{c}\""));
            }
            println!("{line}");
        }
    }
    if a.json {
        println!("{}", serde_json::Value::Array(json));
    } else if defs.is_empty() {
        println!("no sets (create one with `palisade set create NAME`)");
    }
    Ok(())
}

pub fn export(store: &mut Store, a: ExportArgs) -> Result<()> {
    use std::io::Write;
    let def = store.get(&a.name)?;
    let contents = store.held(&def.name)?.contents();
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let ipset = a.format == ExportFormat::IpsetSave;
    let kind = if def.with_ports {
        "hash:net,port"
    } else {
        "hash:net"
    };
    // ipset sets hold one family each: NAME for IPv4, NAME-v6 for IPv6.
    let (n4, n6) = contents.range_counts();
    for (family, set_name, count) in [
        ("inet", a.name.clone(), n4),
        ("inet6", format!("{}-v6", a.name), n6),
    ] {
        if ipset && (count > 0 || family == "inet") {
            let maxelem = (count * 2).max(65536);
            writeln!(
                w,
                "create {set_name} {kind} family {family} hashsize 1024 maxelem {maxelem}"
            )?;
        }
        let prefix = if ipset {
            format!("add {set_name} ")
        } else {
            String::new()
        };
        if family == "inet" {
            write_cidrs(&mut w, &contents.v4, &prefix)?;
        } else {
            write_cidrs(&mut w, &contents.v6, &prefix)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// One line per CIDR block (`prefix` + `net[,proto:port]`): ipset and plain lists cannot
/// express arbitrary ranges.
fn write_cidrs<T: palisade_core::AddrBits>(
    w: &mut impl std::io::Write,
    sets: &std::collections::BTreeMap<Option<ProtoPort>, palisade_core::IntervalSet<T>>,
    prefix: &str,
) -> std::io::Result<()>
where
    AddrRange: From<palisade_core::Interval<T>>,
{
    for (port, set) in sets {
        let port = port.map(|p| format!(",{p}")).unwrap_or_default();
        for iv in set.iter() {
            for (addr, len) in iv.cidrs() {
                if let Some(block) = palisade_core::Interval::from_prefix(addr, len) {
                    writeln!(w, "{prefix}{}{port}", AddrRange::from(block))?;
                }
            }
        }
    }
    Ok(())
}
