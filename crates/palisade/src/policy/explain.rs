//! `palisade explain`: which rule or set decides a packet, and why.

use std::io::Write as _;

use anyhow::{bail, Context, Result};
use palisade_core::policy::{explain, CtStates, Decision, Direction, Packet, L4};

use super::config::read_config;
use super::drift::rule_drift;
use super::env::Env;
use super::membership::KernelSets;
use crate::cli::{DirectionArg, ExplainArgs, ProtoArg, StateArg};

pub fn explain_cmd(env: &mut Env, a: &ExplainArgs) -> Result<i32> {
    let ruleset = match &a.config {
        Some(path) => read_config(path, &env.facts())?.ruleset,
        None => env
            .records
            .applied()
            .map(|a| a.policy.ruleset)
            .context("no policy applied here: give the config to explain with -c FILE")?,
    };
    let l4 = Some(match a.proto {
        ProtoArg::Tcp => L4::Tcp,
        ProtoArg::Udp => L4::Udp,
        ProtoArg::Icmp => L4::Icmp,
        ProtoArg::Icmpv6 => L4::Icmpv6,
    });
    let direction = match a.direction {
        DirectionArg::Input => Direction::Input,
        DirectionArg::Output => Direction::Output,
        DirectionArg::Forward => Direction::Forward,
    };
    if a.from.is_ipv4() != a.to.is_ipv4() {
        bail!("--from and --to must be of one family");
    }
    match (a.proto, a.from.is_ipv4()) {
        (ProtoArg::Icmpv6, true) => bail!("--proto icmpv6 is for IPv6 addresses; use --proto icmp"),
        (ProtoArg::Icmp, false) => bail!("--proto icmp is for IPv4 addresses; use --proto icmpv6"),
        _ => {}
    }
    let packet = Packet {
        direction,
        l4,
        src: a.from,
        dst: a.to,
        sport: matches!(l4, Some(L4::Tcp) | Some(L4::Udp)).then_some(a.sport.unwrap_or(40000)),
        dport: a.dport,
        icmp_type: a.icmp_type.or(match l4 {
            Some(L4::Icmp) => Some(8),
            Some(L4::Icmpv6) => Some(128),
            _ => None,
        }),
        ct_state: ct_state(a.state),
        iif: a
            .iif
            .clone()
            .or_else(|| (direction != Direction::Output).then(|| "eth0".into())),
        oif: a
            .oif
            .clone()
            .or_else(|| (direction != Direction::Input).then(|| "eth0".into())),
    };
    // With `-c` the question is about a config, not the kernel: no drift to warn about.
    let drift = match &a.config {
        Some(_) => Vec::new(),
        None => rule_drift(&env.store.snapshot()?, Some(&ruleset)),
    };
    for d in &drift {
        eprintln!("warning: the kernel may decide otherwise: {d}");
    }
    let sets = KernelSets::new(&mut env.store)?;
    let d = explain(&ruleset, &sets.block_sets(), &packet, &sets);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print_decision(&d);
        print_places(env, a);
    }
    Ok(match d.verdict {
        palisade_core::policy::Verdict::Accept => 0,
        _ => 1,
    })
}

fn print_decision(d: &Decision) {
    use palisade_core::policy::DecidedBy;
    let verdict = format!("{:?}", d.verdict).to_uppercase();
    match &d.by {
        DecidedBy::BlockSet { set } => println!(
            "{verdict}: set `{set}` holds the packet's {}, matched in palisade's block chains before any policy rule (allowlist and loopback checked first)",
            if d.chain == Direction::Output { "destination" } else { "source or destination" }
        ),
        DecidedBy::Rule { index, text, origin } => println!(
            "{verdict}: chain filter_{} rule {index}: `{text}`\n  from: {origin}",
            d.chain.name()
        ),
        DecidedBy::Policy => println!(
            "{verdict}: no rule of chain filter_{} matches; its policy decides",
            d.chain.name()
        ),
    }
    for a in &d.also {
        println!("  also {a}");
    }
    let _ = std::io::stdout().flush();
}

/// Where the packet's addresses are, when the config has `[geo]` databases: a note line each.
fn print_places(env: &Env, a: &ExplainArgs) {
    let Some(files) = geo_files(env, a) else {
        return;
    };
    let addrs = if a.from == a.to {
        vec![a.from]
    } else {
        vec![a.from, a.to]
    };
    for addr in addrs {
        match crate::geo::place_of(addr, &files) {
            Ok(place) => {
                if let Some(p) = place.describe() {
                    println!("  note: {addr} is {p} (geolocation database)");
                }
            }
            Err(e) => eprintln!("warning: {e}"),
        }
    }
}

/// `[geo]` of the config explained against (`-c`), else of the applied policy's config file.
fn geo_files(env: &Env, a: &ExplainArgs) -> Option<palisade_core::policy::GeoFiles> {
    let path = match &a.config {
        Some(p) => p.clone(),
        None => std::path::PathBuf::from(env.records.applied()?.source),
    };
    let text = std::fs::read_to_string(&path).ok()?;
    let file = path.display().to_string();
    let policy =
        palisade_core::policy::parse_config(&file, &text, &super::config::services()).ok()?;
    let files = crate::geo::resolve(&policy.geo, &super::config::config_dir(&path));
    (files.database.is_some() || files.asn_database.is_some()).then_some(files)
}

/// The connection-tracking state bit of a `--state` choice.
fn ct_state(s: StateArg) -> u32 {
    let name = match s {
        StateArg::New => "new",
        StateArg::Established => "established",
        StateArg::Related => "related",
        StateArg::Invalid => "invalid",
        StateArg::Untracked => "untracked",
    };
    CtStates::parse_one(name).expect("every --state choice is a conntrack state")
}
