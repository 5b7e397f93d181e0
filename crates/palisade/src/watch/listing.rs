//! `palisade bans` and `palisade unban`: the kernel is the authority on who is banned.

use std::time::Duration;

use anyhow::{Context, Result};
use palisade_core::{AddrRange, ProtoPort};
use palisade_watch::WatchConfig;

use super::bans::{ban_sets, lift};
use super::unban_queue::UnbanQueue;
use super::WatchPaths;
use crate::fleet::spool::{lift_records, Spool};
use crate::store::{Held, SetDef, Store};
use palisade_fleet::BanSource;

/// One ban as the kernel holds it.
struct KernelBan {
    target: String,
    why: String,
    since: u64,
    /// `None`: permanent.
    until: Option<u64>,
}

/// A ban from an element's timeout and the time it has left (both `None` for a permanent
/// one; an element with a timeout but not the other is none of palisade's bans).
fn kernel_ban(
    now_ms: u64,
    target: String,
    timeout: Option<u64>,
    expires: Option<u64>,
    comment: Option<String>,
) -> Option<KernelBan> {
    let (since, until) = match (timeout, expires) {
        (Some(timeout), Some(expires)) => (
            now_ms.saturating_sub(timeout - expires.min(timeout)) / 1000,
            Some((now_ms + expires) / 1000),
        ),
        (None, None) => (0, None),
        _ => return None,
    };
    Some(KernelBan {
        target,
        why: comment.unwrap_or_default(),
        since,
        until,
    })
}

/// The bans in a set's hash and recent parts, read from the kernel: it is the authority on who
/// is banned and for how long (the daemon writes its own state only every few seconds). In a
/// ports set, the recent part is read with its port ranges.
fn kernel_bans(store: &mut Store, set: &SetDef) -> Result<Vec<KernelBan>> {
    let (loaded, recent) = store.held_parts(&set.name)?;
    let ranges = if set.with_ports {
        store.port_ranges(set)?
    } else {
        Vec::new()
    };
    // The kernel says how long each element has left when it dumps it: the clock is read
    // right after the dump, not before the reading (which can take seconds for a large set,
    // and made every ban look that much shorter).
    let now_ms = now_ms();
    let mut out = Vec::new();
    let recent = if set.with_ports {
        Held::default()
    } else {
        recent
    };
    for r in loaded.v4.into_iter().chain(recent.v4) {
        let port = r.port.map_or(String::new(), |p| format!(",{p}"));
        let target = format!("{}{port}", AddrRange::V4(r.range));
        out.extend(kernel_ban(
            now_ms,
            target,
            r.timeout_ms,
            r.expires_ms,
            r.comment,
        ));
    }
    for r in loaded.v6.into_iter().chain(recent.v6) {
        let port = r.port.map_or(String::new(), |p| format!(",{p}"));
        let target = format!("{}{port}", AddrRange::V6(r.range));
        out.extend(kernel_ban(
            now_ms,
            target,
            r.timeout_ms,
            r.expires_ms,
            r.comment,
        ));
    }
    for h in ranges {
        let e = h.element;
        let proto = ProtoPort {
            proto: e.proto,
            port: e.first_port,
        };
        let target = if e.first_port == e.last_port {
            format!("{},{proto}", e.addr)
        } else {
            format!("{},{proto}-{}", e.addr, e.last_port)
        };
        out.extend(kernel_ban(
            now_ms,
            target,
            h.timeout_ms,
            h.expires_ms,
            e.comment,
        ));
    }
    Ok(out)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `palisade bans`: who is banned, why, since and until.
pub fn list(store: &mut Store, cfg: &WatchConfig, json: bool) -> Result<i32> {
    let (all, ports) = ban_sets(cfg);
    let mut bans = Vec::new();
    for set in [&all.name, &ports.name] {
        if let Ok(def) = store.get(set) {
            bans.extend(kernel_bans(store, &def)?);
        }
    }
    let now_ms = now_ms();
    if json {
        let v: Vec<_> = bans
            .iter()
            .map(|b| {
                serde_json::json!({
                    "target": b.target, "why": b.why, "since": b.since, "until": b.until,
                    "permanent": b.until.is_none(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{} active bans", bans.len());
        for b in &bans {
            match b.until {
                Some(until) => println!(
                    "{:<40} since {} until {} ({} left): {}",
                    b.target,
                    palisade_core::format_utc(b.since),
                    palisade_core::format_utc(until),
                    palisade_core::format_duration(Duration::from_secs(
                        until.saturating_sub(now_ms / 1000)
                    )),
                    b.why
                ),
                None => println!("{:<40} permanently: {}", b.target, b.why),
            }
        }
    }
    Ok(0)
}

/// `palisade unban ADDRESS`: out of the kernel at once, out of the daemon's state, and lifted
/// on the fleet's peers.
pub fn unban(
    store: &mut Store,
    cfg: &WatchConfig,
    paths: &WatchPaths,
    addrs: &[String],
) -> Result<i32> {
    let mut targets = Vec::new();
    for a in addrs {
        targets.push(palisade_core::parse_addr_range(a, false).with_context(|| format!("`{a}`"))?);
    }
    lift(store, cfg, &targets)?;
    UnbanQueue::new(&paths.unban_queue).push(&targets)?;
    Spool::new(&paths.fleet_spool)
        .send_or_warn(&lift_records(&targets, BanSource::Watch), "palisade unban");
    println!("unbanned {}", addrs.join(", "));
    Ok(0)
}
