//! The demo's policy scene: a default-deny policy from a few lines of config, applied in one
//! transaction in the demo's server namespace, then probed and explained.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::Result;
use palisade_core::policy::{
    compile, explain, parse_config, Context, CtStates, DecidedBy, Direction, Membership, Packet,
    Ruleset, Services, L4,
};
use palisade_lab::Netns;

use palisade::policy::apply::{apply, ApplyReport, Desired, DesiredSet};
use palisade::policy::config::set_def;
use palisade::policy::saved::SavedPolicy;
use palisade::store::Store;

/// Apply a policy from config text as `palisade apply` would, with the sets it declares
/// created empty (the demo loads no files). Shared by the demo's policy scenes.
pub fn apply_text(store: &mut Store, text: &str) -> Result<(Ruleset, ApplyReport)> {
    let policy = parse_config("palisade.toml", text, &Services::new(""))?;
    let ruleset = compile(&policy, &Context::default());
    let sets = ruleset
        .sets
        .iter()
        .map(|d| DesiredSet {
            def: set_def(d),
            loaded: Default::default(),
            recent: None,
        })
        .collect();
    let desired = Desired {
        policy: SavedPolicy {
            managed: ruleset.sets.iter().map(|s| s.name.clone()).collect(),
            ruleset: ruleset.clone(),
        },
        sets,
    };
    // The demo keeps no records, so no transaction token is ever looked up: any will do.
    let report = apply(store, &desired, &[], 0)?;
    Ok((ruleset, report))
}

/// What the scene applies: the hardening script's shape, on the demo's ports.
pub const DEMO_POLICY: &str = r#"[input]
policy = "drop"
allow = ["http", "ping", { service = "ssh", from = ["192.0.2.0/24"] }]

[output]
policy = "drop"
allow = ["dns", "ntp", "http", "https", "ping"]
"#;

const ADMIN_PORT: u16 = 8081;

struct NoSets;

impl Membership for NoSets {
    fn contains(&self, _: &str, _: IpAddr, _: Option<(u8, u16)>) -> bool {
        false
    }
}

fn probe(client: &Netns, source: Ipv4Addr, server: Ipv4Addr, port: u16) -> Result<String> {
    let t = Instant::now();
    let r = client.run(move || {
        palisade_lab::connect_from(
            IpAddr::V4(source),
            SocketAddr::new(IpAddr::V4(server), port),
            Duration::from_millis(1000),
        )
    })?;
    Ok(match r {
        Ok(_) => format!("connected in {:.1} ms", t.elapsed().as_secs_f64() * 1000.0),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => "no answer: dropped".into(),
        Err(e) => e.to_string(),
    })
}

pub fn scene(
    server_ns: &Netns,
    client: &Netns,
    store: &mut Store,
    source: Ipv4Addr,
    server: Ipv4Addr,
) -> Result<()> {
    let admin = server_ns.run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, ADMIN_PORT)))??;
    std::thread::spawn(move || for _ in admin.incoming() {});
    println!("the config (palisade.toml):");
    for line in DEMO_POLICY.lines() {
        println!("  | {line}");
    }
    println!(
        "before: port {ADMIN_PORT} (an admin panel) -> {}",
        probe(client, source, server, ADMIN_PORT)?
    );
    let t = Instant::now();
    let (ruleset, report) = apply_text(store, DEMO_POLICY)?;
    println!(
        "palisade apply: {} kernel rules in one transaction, read back and checked, in {:.1} ms",
        report.kernel_rules,
        t.elapsed().as_secs_f64() * 1000.0
    );
    println!(
        "after:  port 80 (web)           -> {}",
        probe(client, source, server, 80)?
    );
    println!(
        "after:  port {ADMIN_PORT} (admin panel) -> {}",
        probe(client, source, server, ADMIN_PORT)?
    );
    let packet = Packet {
        direction: Direction::Input,
        l4: Some(L4::Tcp),
        src: IpAddr::V4(source),
        dst: IpAddr::V4(server),
        sport: Some(40000),
        dport: Some(22),
        icmp_type: None,
        ct_state: CtStates::NEW,
        iif: Some("eth0".into()),
        oif: None,
    };
    let d = explain(&ruleset, &[], &packet, &NoSets);
    let why = match &d.by {
        DecidedBy::Rule {
            index,
            text,
            origin,
        } => format!("rule {index} `{text}` ({origin})"),
        DecidedBy::Policy => "no rule matches: the input policy".into(),
        DecidedBy::BlockSet { set } => format!("blocking set {set}"),
    };
    println!(
        "palisade explain --from {source} --dport 22: {:?} by {why}; SSH is open only to 192.0.2.0/24",
        d.verdict
    );
    Ok(())
}

/// The flood scene's policy: HTTP limited per source, over the limit a ban by the kernel.
pub const FLOOD_POLICY: &str = r#"[input]
policy = "drop"
allow = [{ service = "http", limit = "5/second burst 10", per_source = true, over = "ban", ban_for = "30s" }]
"#;

pub fn flood_scene(
    client: &Netns,
    store: &mut Store,
    source: Ipv4Addr,
    server: Ipv4Addr,
) -> Result<()> {
    println!("the config:");
    for line in FLOOD_POLICY.lines() {
        println!("  | {line}");
    }
    apply_text(store, FLOOD_POLICY)?;
    let t = Instant::now();
    let passed = client.run(move || {
        (0..30)
            .filter(|_| {
                palisade_lab::connect_from(
                    IpAddr::V4(source),
                    SocketAddr::new(IpAddr::V4(server), 80),
                    Duration::from_millis(50),
                )
                .is_ok()
            })
            .count()
    })?;
    println!(
        "{source} opens 30 connections to port 80 as fast as it can: {passed} get through ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let def = store.get("flood")?;
    let single = palisade_core::AddrRange::from(IpAddr::V4(source));
    println!(
        "palisade set test flood {source}: {} (the kernel put it there by itself, for 30 s)",
        if store.test(&def, single, None)? {
            "banned"
        } else {
            "not banned"
        }
    );
    println!(
        "next request from {source} -> {}",
        probe(client, source, server, 80)?
    );
    Ok(())
}
