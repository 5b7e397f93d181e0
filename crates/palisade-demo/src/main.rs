//! `palisade-demo`: palisade's main job, shown end to end in throw-away network namespaces.
//!
//! A server namespace runs a small web server; a client namespace has a source address from a
//! real public blocklist and one that is not listed. palisade loads the list into a kernel set
//! in the server's namespace and the client's requests show who is dropped and who is served.
//! The host's own network and firewall are never touched; the namespaces are removed at the
//! end, on failure, and on Ctrl-C.

mod fleet;
mod otp;
mod policy;
mod watch;
mod xdp;

use anyhow::{Context, Result};
use clap::Parser;
use palisade::lists::read_lists;
use palisade::store::kernel_addr::Extras;
use palisade::store::{BlockAction, SetDef, Store};
use palisade_core::{AddrRange, Contents, Format, Interval, ParseOptions};
use palisade_lab::Netns;
use palisade_nft::Netlink;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// The FireHOL level 1 list (July 2020), shipped so the demo works offline.
const FIREHOL_LEVEL1: &str = include_str!("../../../data/blocklists/firehol_level1.netset");
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const HTTP_PORT: u16 = 80;
const WAIT: Duration = Duration::from_millis(1500);

pub fn ms(d: Duration) -> String {
    match d.as_secs_f64() * 1000.0 {
        m if m < 1.0 => format!("{:.0} µs", m * 1000.0),
        m => format!("{m:.1} ms"),
    }
}

fn scene(title: &str) {
    println!("\n== {title}");
}

/// Shows palisade at work in throw-away network namespaces (changes nothing on this host).
#[derive(Parser, Debug)]
#[command(name = "palisade-demo", version)]
struct DemoArgs {
    /// Blocklist to load in the demo (default: the FireHOL level 1 list shipped with palisade).
    #[arg(long, value_name = "FILE")]
    list: Option<std::path::PathBuf>,
}

fn main() -> std::process::ExitCode {
    // Before any thread starts, so every thread inherits the blocked signals.
    palisade_lab::remove_on_signals();
    match run(DemoArgs::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("palisade-demo: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(a: DemoArgs) -> Result<()> {
    println!("palisade demo: mass-blocking with kernel sets, in throw-away network namespaces");
    let (list_path, _tmp) = match &a.list {
        Some(p) => (p.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("palisade-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let p = dir.join("firehol_level1.netset");
            std::fs::write(&p, FIREHOL_LEVEL1)?;
            (p, Some(TempDir(dir)))
        }
    };

    scene("1. The lab");
    let t = Instant::now();
    let parsed = read_lists(
        &[&list_path],
        Format::Auto,
        ParseOptions::default(),
        false,
        false,
    )
    .context("reading the demo blocklist")?;
    let parse_time = t.elapsed();
    let v4 = parsed.contents.v4.get(&None).cloned().unwrap_or_default();
    // A listed source: inside the first listed public network. An unlisted one: the address
    // right after that network, which is outside the set because merged ranges never touch.
    let listed = v4
        .iter()
        .find(|iv| iv.first >= u32::from(Ipv4Addr::new(1, 0, 0, 0)))
        .context("the list has no public IPv4 network to demonstrate with")?;
    let blocked_src = Ipv4Addr::from(listed.first.saturating_add(1).min(listed.last));
    let allowed_src = Ipv4Addr::from(listed.last + 1);

    let server = Netns::create("demo-srv")?;
    let client = Netns::create("demo-cli")?;
    let (srv_if, cli_if) = palisade_lab::link(
        &server,
        &[&format!("{SERVER}/24")],
        &client,
        &[&format!("{blocked_src}/32"), &format!("{allowed_src}/32")],
    )?;
    server.ip(&["route", "add", "default", "dev", &srv_if])?;
    client.ip(&["route", "add", "default", "dev", &cli_if])?;
    start_web_server(&server)?;
    println!(
        "server namespace {}: web server on {SERVER}:{HTTP_PORT}",
        server.name()
    );
    println!(
        "client namespace {}: sources {blocked_src} (listed) and {allowed_src} (not listed)",
        client.name()
    );

    scene("2. Before palisade: everyone is served");
    request(&client, blocked_src)?;
    request(&client, allowed_src)?;

    scene("3. Load the FireHOL level 1 blocklist into a kernel set");
    let mut store = Store::new(Netlink::open_in_netns(&server.path())?, None);
    let def = SetDef {
        block: Some(BlockAction::Drop),
        ..SetDef::new("firehol")
    };
    let t = Instant::now();
    store.create(&def)?;
    let report = store.load(&def, &parsed.contents)?;
    let load_time = t.elapsed();
    println!(
        "{} lines -> {} networks after merging, {} IPv4 addresses",
        parsed.entries,
        v4.len(),
        v4.address_count()
    );
    println!(
        "parsed and merged in {}, applied in {} (kernel commit {}), one transaction of {} messages",
        ms(parse_time),
        ms(load_time),
        ms(Duration::from_secs_f64(report.commit_ms / 1000.0)),
        report.messages
    );
    println!(
        "matched by set lookups (`ip saddr @firehol_v4 drop`, and the same for its single \
         addresses and recent additions): the cost per packet does not grow with the list"
    );

    scene("4. With palisade: the listed source is dropped, the other is served");
    request(&client, blocked_src)?;
    request(&client, allowed_src)?;

    scene("5. Everyday blocking: one address in, one address out, in milliseconds");
    let one = Contents::from_ranges([(
        AddrRange::V4(Interval::single(u32::from(allowed_src))),
        None,
    )]);
    let t = Instant::now();
    store.add(
        &def,
        &one,
        Extras {
            timeout_ms: Some(600_000),
            comment: Some("demo"),
        },
    )?;
    println!(
        "palisade set add firehol {allowed_src} --timeout 10m: {}",
        ms(t.elapsed())
    );
    request(&client, allowed_src)?;
    let t = Instant::now();
    store.del(&def, &one)?;
    println!(
        "palisade set del firehol {allowed_src}: {}",
        ms(t.elapsed())
    );
    request(&client, allowed_src)?;

    let counters = store.block_counters()?;
    if let Some((packets, bytes)) = counters.get("firehol") {
        println!("\nthe block rule counted {packets} dropped packets ({bytes} bytes)");
    }

    scene("6. Default-deny: a policy of a few lines, applied atomically");
    policy::scene(&server, &client, &mut store, allowed_src, SERVER)?;

    scene("7. Flood protection: a rate per source, and a ban the kernel applies by itself");
    policy::flood_scene(&client, &mut store, allowed_src, SERVER)?;

    scene("8. Log-watching bans: a password guesser, banned by the kernel");
    // A fresh source: the others are in the blocklist and, since scene 7, the flood bans.
    let guesser = (u32::from(allowed_src) + 1..)
        .map(Ipv4Addr::from)
        .find(|a| !v4.contains(u32::from(*a)))
        .context("no unlisted address for the guesser")?;
    client.ip(&["addr", "add", &format!("{guesser}/32"), "dev", &cli_if])?;
    watch::scene(&server, &client, &mut store, guesser, SERVER)?;

    scene("9. A fleet: one ban on one host, dropped by every host's kernel");
    fleet::scene()?;

    scene("10. XDP early drop: a listed source's flood dropped in the network driver");
    xdp::scene(&server, &client, &srv_if, &mut store, blocked_src, SERVER)?;

    otp::run()?;
    scene("Done");
    println!("removing the namespaces; nothing on this host was changed");
    Ok(())
}

/// The `palisade` command the scenes run: built beside this demo, else on the PATH.
pub fn palisade_binary() -> Result<std::path::PathBuf> {
    let beside = std::env::current_exe()?.with_file_name("palisade");
    if beside.exists() {
        return Ok(beside);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("palisade"))
        .find(|p| p.exists())
        .context("the palisade binary is neither beside palisade-demo nor on the PATH (cargo build -p palisade)")
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A minimal HTTP server on a thread inside the server namespace.
fn start_web_server(ns: &Netns) -> Result<()> {
    let listener = ns.run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, HTTP_PORT)))??;
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let body = "hello from the server\n";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(())
}

/// One HTTP request from `source`, reported in one line.
fn request(client: &Netns, source: Ipv4Addr) -> Result<()> {
    let t = Instant::now();
    let result = client.run(move || -> std::io::Result<String> {
        let dest = SocketAddr::new(IpAddr::V4(SERVER), HTTP_PORT);
        let mut s = palisade_lab::connect_from(IpAddr::V4(source), dest, WAIT)?;
        s.set_read_timeout(Some(WAIT))?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply.lines().next().unwrap_or("").to_string())
    })?;
    match result {
        Ok(status) => println!(
            "  GET http://{SERVER}/ from {source:<15} -> {status} in {}",
            ms(t.elapsed())
        ),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            println!(
                "  GET http://{SERVER}/ from {source:<15} -> no answer after {}: dropped",
                ms(t.elapsed())
            )
        }
        Err(e) => println!("  GET http://{SERVER}/ from {source:<15} -> {e}"),
    }
    Ok(())
}
