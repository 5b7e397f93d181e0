//! Reading what the metrics report: the kernel's counters and element counts, palisade's
//! records, and the files the daemons leave in the state directory.
//!
//! Every kernel read here is a dump of objects, never of set elements: the sets' metadata
//! (the kernel keeps each set's element count), the chains' rules with their counters. So a
//! scrape costs the same with a million blocked networks as with none (see
//! `docs/BENCHMARKS.md`). Files of daemons that are not running are simply absent or old;
//! their series are left out or carry their age.

use std::collections::BTreeMap;

use anyhow::Result;
use palisade_core::policy::{Action, Match, Ruleset};
use serde_json::Value;

use crate::feeds::copies::{FeedState, SetCopies};
use crate::policy::env::Env;
use crate::policy::panic::in_panic;
use crate::policy::records::now;
use crate::policy::status::chain_reports;
use crate::store::counts::{block_counters, kernel_counts};
use crate::store::layout::{kernel_name, parts_with, prefix_parts, Part};
use crate::watch::stats::{self as watch_stats, WatchStats};

/// The palisade set the fleet daemon puts peers' bans in.
pub const FLEET_SET: &str = "fleet";

/// Everything one scrape reports, as plain data.
#[derive(Clone, Debug, Default)]
pub struct Readings {
    /// Unix seconds at reading.
    pub now: u64,
    pub sets: Vec<SetReading>,
    pub rules: Vec<RuleReading>,
    pub policy: PolicyReading,
    pub ban_sets: Vec<BanSetReading>,
    pub watch: Option<WatchStats>,
    pub feeds: Vec<FeedReading>,
    pub fleet: Option<FleetReading>,
    /// How long reading took (filled in by the caller, who times it).
    pub collect_seconds: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SetReading {
    pub name: String,
    /// `drop`, `reject`, `allow`, or `none`.
    pub block: &'static str,
    /// (family, part, kernel elements): `("ipv4", "bulk", Some(1000))`; hash parts of one
    /// prefix length are `p24` and the like.
    pub parts: Vec<(&'static str, String, Option<u32>)>,
    pub blocked_packets: u64,
    pub blocked_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleReading {
    pub chain: String,
    pub index: usize,
    pub origin: String,
    pub packets: u64,
    pub bytes: u64,
    /// A flood limit's over-the-limit rule: its packets are the ones over the limit.
    pub over_limit: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyReading {
    pub applied_at: Option<u64>,
    pub panic: bool,
    pub rollback_at: Option<u64>,
}

/// A set bans go to, by who bans: `watch` (the log watcher), `flood` (the kernel, over a
/// flood limit), `fleet` (peers).
#[derive(Clone, Debug, PartialEq)]
pub struct BanSetReading {
    pub origin: &'static str,
    pub set: String,
    pub elements: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FeedReading {
    pub set: String,
    pub state: FeedState,
}

/// What the fleet daemon's status file says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetReading {
    /// Seconds since the daemon wrote it (it does every second while running).
    pub age_seconds: f64,
    pub connected: bool,
    pub lag_seconds: Option<f64>,
    pub bans_delivered: u64,
    pub records_in: u64,
    pub records_out: u64,
    pub queued: u64,
    /// Times the engine's watchdog reopened a stalled ban reader.
    pub reader_reopens: u64,
    pub dropped: BTreeMap<String, u64>,
}

fn part_name(p: Part) -> String {
    match p {
        Part::Bulk => "bulk".into(),
        Part::Singles => "singles".into(),
        Part::Recent => "recent".into(),
        Part::Prefix(len) => format!("p{len}"),
    }
}

/// Is this rule the over-the-limit branch of a flood limit?
fn is_over_limit(rule: &palisade_core::policy::Rule) -> bool {
    rule.action.decides()
        && rule.action != Action::Accept
        && rule
            .matches
            .iter()
            .any(|m| matches!(m, Match::RateOver { .. } | Match::ConnectionsOver { .. }))
}

/// The sets flood limits ban into.
fn flood_ban_sets(ruleset: &Ruleset) -> Vec<String> {
    let mut out: Vec<String> = ruleset
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .filter_map(|r| match &r.action {
            Action::Ban { set, .. } => Some(set.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Read everything from the kernel and the state directory of `env`'s namespace.
pub fn read(env: &mut Env) -> Result<Readings> {
    let snapshot = env.store.snapshot()?;
    let defs = env.store.sets()?;
    let applied = env.records.applied();
    let counters = block_counters(&snapshot.rules);
    let count = |k: String| snapshot.set(&k).and_then(|i| i.count);
    let sets = defs
        .iter()
        .map(|def| {
            let (packets, bytes) = counters.get(&def.name).copied().unwrap_or_default();
            let mut parts = Vec::new();
            for part in parts_with(&prefix_parts::<u32>(&snapshot.sets, &def.name)) {
                parts.push((
                    "ipv4",
                    part_name(part),
                    count(kernel_name::<u32>(&def.name, part)),
                ));
            }
            for part in parts_with(&prefix_parts::<u128>(&snapshot.sets, &def.name)) {
                parts.push((
                    "ipv6",
                    part_name(part),
                    count(kernel_name::<u128>(&def.name, part)),
                ));
            }
            SetReading {
                name: def.name.clone(),
                block: def.block.map_or("none", |b| b.as_str()),
                parts,
                blocked_packets: packets,
                blocked_bytes: bytes,
            }
        })
        .collect();
    let mut rules = Vec::new();
    let mut flood_sets = Vec::new();
    if let Some(a) = &applied {
        let ruleset = &a.policy.ruleset;
        for (chain, report) in ruleset.chains.iter().zip(chain_reports(ruleset, &snapshot)) {
            for (rule, r) in chain.rules.iter().zip(report.rules) {
                rules.push(RuleReading {
                    chain: report.chain.clone(),
                    index: r.index,
                    origin: r.origin,
                    packets: r.packets,
                    bytes: r.bytes,
                    over_limit: is_over_limit(rule),
                });
            }
        }
        flood_sets = flood_ban_sets(ruleset);
    }
    let watch = watch_stats::read(&env.state.watch());
    let elements = |name: &str| -> Option<u64> {
        defs.iter().any(|d| d.name == name).then(|| {
            let (v4, v6) = kernel_counts(&snapshot.sets, name);
            u64::from(v4.unwrap_or(0)) + u64::from(v6.unwrap_or(0))
        })
    };
    let mut ban_sets = Vec::new();
    let mut origin_sets: Vec<(&'static str, String)> = Vec::new();
    if let Some(w) = &watch {
        origin_sets.push(("watch", w.set.clone()));
        origin_sets.push(("watch", format!("{}-ports", w.set)));
    }
    origin_sets.extend(flood_sets.into_iter().map(|s| ("flood", s)));
    origin_sets.push(("fleet", FLEET_SET.to_string()));
    for (origin, set) in origin_sets {
        if let Some(n) = elements(&set) {
            ban_sets.push(BanSetReading {
                origin,
                set,
                elements: n,
            });
        }
    }
    Ok(Readings {
        now: now(),
        sets,
        rules,
        policy: PolicyReading {
            applied_at: applied.map(|a| a.at),
            panic: in_panic(env),
            rollback_at: env.records.pending().map(|p| p.deadline),
        },
        ban_sets,
        watch,
        feeds: read_feeds(&env.state.feeds()),
        fleet: read_fleet(&env.state.fleet().join("status.json")),
        collect_seconds: 0.0,
    })
}

/// Every feed set the updater keeps state for.
fn read_feeds(dir: &std::path::Path) -> Vec<FeedReading> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<FeedReading> = entries
        .flatten()
        .filter(|e| e.path().join("state.json").exists())
        .filter_map(|e| {
            let set = e.file_name().to_str()?.to_string();
            let state = SetCopies::new(dir, &set).state();
            Some(FeedReading { set, state })
        })
        .collect();
    out.sort_by(|a, b| a.set.cmp(&b.set));
    out
}

/// The fleet daemon's status file, read loosely: only the fields the metrics need.
fn read_fleet(path: &std::path::Path) -> Option<FleetReading> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let written_ms = v.get("written_at_ms")?.as_u64()?;
    let engine = v.get("engine")?;
    let num = |k: &str| engine.get(k).and_then(Value::as_u64).unwrap_or(0);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Some(FleetReading {
        age_seconds: now_ms.saturating_sub(written_ms) as f64 / 1000.0,
        connected: engine.get("connection").and_then(Value::as_str) == Some("connected"),
        lag_seconds: engine
            .get("lag_ms")
            .and_then(Value::as_u64)
            .map(|ms| ms as f64 / 1000.0),
        bans_delivered: num("bans_delivered"),
        records_in: num("records_in"),
        records_out: num("records_out"),
        queued: num("queued"),
        reader_reopens: num("reader_reopens"),
        dropped: engine
            .get("dropped")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fleet daemon's status file as `palisade fleet run` writes it (the fields metrics
    /// read, and others they must ignore).
    #[test]
    fn the_fleet_status_file_is_read_loosely() {
        let dir = std::env::temp_dir().join(format!("palisade-fleet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("status.json");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let text = serde_json::json!({
            "written_at_ms": now_ms - 1500,
            "pid": 42,
            "config": "/etc/palisade/palisade.toml",
            "engine": {
                "host": "web1", "connection": "connected", "server": "nats://10.0.0.1:4222",
                "caught_up": true, "peers": {}, "lag_ms": 12, "records_out": 5,
                "envelopes_out": 2, "queued": 1, "queue_dropped": 0, "records_in": 80,
                "bans_delivered": 77, "lifts_delivered": 0, "reader_reopens": 2,
                "dropped": {"untrusted": 3, "replayed": 1}, "lists": {}
            },
            "text": "host web1: connected",
            "daemon": {"spooled": 4}
        });
        std::fs::write(&path, text.to_string()).unwrap();
        let f = read_fleet(&path).unwrap();
        assert!(f.connected);
        assert!((1.4..10.0).contains(&f.age_seconds), "{}", f.age_seconds);
        assert_eq!(f.lag_seconds, Some(0.012));
        assert_eq!(
            (f.bans_delivered, f.records_in, f.records_out, f.queued),
            (77, 80, 5, 1)
        );
        assert_eq!(f.reader_reopens, 2);
        assert_eq!(f.dropped.get("untrusted"), Some(&3));
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(read_fleet(&path), None, "a damaged file is no reading");
        assert_eq!(read_fleet(&dir.join("absent.json")), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
