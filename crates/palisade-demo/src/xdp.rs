//! The demo's XDP scene: palisade's program attached to the server's interface, a flood from
//! a listed source dropped in the driver, and nftables' counter for the same set standing still.
//! Skipped, with the reason, where this kernel or this process has no BPF.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use palisade::store::Store;
use palisade_lab::{BpfMount, Netns};

/// Datagrams the listed source sends.
const FLOOD: u64 = 100_000;

/// `palisade ARGS` for the server namespace, with the demo's bpffs and state directory.
fn palisade(server: &Netns, bpf: &BpfMount, state: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(crate::palisade_binary().unwrap_or_else(|_| "palisade".into()));
    c.env("PALISADE_BPF_DIR", bpf.root())
        .env("PALISADE_STATE_DIR", state)
        .args(["--netns", server.name()])
        .args(args);
    c
}

fn output(c: &mut Command) -> Result<String> {
    let out = c.output().context("running palisade")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{}", stderr.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &stderr)
}

/// Packets XDP dropped for set `name`, from `palisade xdp status --json`.
fn xdp_dropped(status: &str, name: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(status).unwrap_or_default();
    v["sets"]
        .as_array()
        .and_then(|sets| sets.iter().find(|s| s["name"] == name))
        .and_then(|s| s["dropped_packets"].as_u64())
        .unwrap_or(0)
}

pub fn scene(
    server: &Netns,
    client: &Netns,
    server_if: &str,
    store: &mut Store,
    listed: Ipv4Addr,
    server_addr: Ipv4Addr,
) -> Result<()> {
    let bpf = match BpfMount::new() {
        Ok(b) => b,
        Err(e) => {
            println!("skipped: no BPF filesystem here ({e})");
            return Ok(());
        }
    };
    let state = bpf.path.with_extension("state");
    let attach = output(&mut palisade(
        server,
        &bpf,
        &state,
        &["xdp", "attach", server_if],
    ));
    let said = match attach {
        Ok(s) => s,
        Err(e) => {
            println!("skipped: XDP cannot be attached here: {e}");
            return Ok(());
        }
    };
    for line in said.lines() {
        println!("  palisade xdp attach {server_if}: {line}");
    }
    let nft_before = store.block_counters()?.get("firehol").map_or(0, |c| c.0);
    let status = |bpf: &BpfMount| {
        output(&mut palisade(
            server,
            bpf,
            &state,
            &["xdp", "status", "--json"],
        ))
    };
    let xdp_before = xdp_dropped(&status(&bpf)?, "firehol");
    let t = Instant::now();
    client.run(move || -> std::io::Result<()> {
        let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(listed), 0))?;
        for _ in 0..FLOOD {
            s.send_to(b"flood", SocketAddr::new(IpAddr::V4(server_addr), 9))?;
        }
        Ok(())
    })??;
    let sent_in = t.elapsed();
    // The counters are per CPU and summed when read: wait until every datagram is counted.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut xdp = xdp_before;
    while xdp < xdp_before + FLOOD && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        xdp = xdp_dropped(&status(&bpf)?, "firehol");
    }
    let nft = store.block_counters()?.get("firehol").map_or(0, |c| c.0);
    println!(
        "{listed} (listed in firehol) sent {FLOOD} UDP datagrams in {}",
        crate::ms(sent_in)
    );
    println!(
        "  XDP dropped {} of them in the driver; nftables' firehol rule counted {} more \
         (they never reached it)",
        xdp - xdp_before,
        nft - nft_before
    );
    println!(
        "the program holds a copy of the drop sets, kept in step with every palisade change; \
         nftables stays authoritative and still matches them"
    );
    output(&mut palisade(
        server,
        &bpf,
        &state,
        &["xdp", "detach", "--all"],
    ))?;
    let _ = std::fs::remove_dir_all(&state);
    println!("  palisade xdp detach --all: nftables keeps blocking on its own");
    Ok(())
}
