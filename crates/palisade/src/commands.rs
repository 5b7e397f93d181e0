//! The set and block commands: parse arguments, call the store, print results.

use crate::cli::*;
use crate::kernel_addr::{Extras, KernelRange};
use crate::load::read_lists;
use crate::store::{BlockAction, Contents, SetDef, Store};
use anyhow::{bail, Context, Result};
use palisade_core::{
    format_duration, parse_duration, parse_element, AddrRange, Format, ParseOptions, ProtoPort,
};
use std::time::{Duration, Instant};

/// The built-in set behind `palisade block`.
pub const BLOCKLIST: &str = "blocklist";

/// Output settings shared by every command.
#[derive(Clone, Copy)]
pub struct Out {
    pub quiet: bool,
    pub verbose: bool,
}

fn duration_arg(s: &Option<String>, flag: &str) -> Result<Option<Duration>> {
    s.as_deref()
        .map(|s| parse_duration(s).with_context(|| format!("{flag} `{s}`")))
        .transpose()
}

/// Parse command-line elements; a bad one is an error naming it.
fn parse_elements(items: &[String], with_ports: bool, normalize: bool) -> Result<Contents> {
    let parsed = items
        .iter()
        .map(|s| parse_element(s, with_ports, normalize).with_context(|| format!("`{s}`")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Contents::from_ranges(parsed))
}

fn extras<'a>(timeout: Option<Duration>, comment: Option<&'a str>) -> Extras<'a> {
    Extras {
        timeout_ms: timeout.map(|d| d.as_millis() as u64),
        comment,
    }
}

pub fn set(store: &mut Store, cmd: SetCommand, out: Out) -> Result<i32> {
    match cmd {
        SetCommand::Create(a) => {
            let block = a
                .block
                .as_deref()
                .map(str::parse::<BlockAction>)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let def = SetDef {
                name: a.name.clone(),
                with_ports: a.with_ports,
                block,
                default_timeout: duration_arg(&a.timeout, "--timeout")?,
                dynamic: false,
            };
            store.create(&def)?;
            if !out.quiet {
                eprintln!("created set {}", a.name);
            }
        }
        SetCommand::Destroy { name } => store.destroy(&name)?,
        SetCommand::Flush { name } => store.flush(&name)?,
        SetCommand::Add(a) => {
            let def = store.get(&a.name)?;
            let items = parse_elements(&a.elements, def.with_ports, a.normalize)?;
            let timeout = duration_arg(&a.timeout, "--timeout")?;
            let t = Instant::now();
            store.add(&def, &items, extras(timeout, a.comment.as_deref()))?;
            applied(out, t);
        }
        SetCommand::Del(a) => {
            let def = store.get(&a.name)?;
            let items = parse_elements(&a.elements, def.with_ports, a.normalize)?;
            let t = Instant::now();
            store.del(&def, &items)?;
            applied(out, t);
        }
        SetCommand::Test(a) => {
            let def = store.get(&a.name)?;
            let (addr, port) = parse_element(&a.address, def.with_ports, false)
                .with_context(|| format!("`{}`", a.address))?;
            if addr.size() != 1 {
                bail!("`{}`: give a single address to test", a.address);
            }
            let member = store.test(&def, addr, port)?;
            if !out.quiet {
                println!(
                    "{} is {}in set {}",
                    a.address,
                    if member { "" } else { "not " },
                    a.name
                );
            }
            return Ok(if member { 0 } else { 1 });
        }
        SetCommand::List(a) => list(store, a)?,
        SetCommand::Load(a) => load(store, a, out)?,
        SetCommand::Export(a) => export(store, a)?,
    }
    Ok(0)
}

/// With `-v`: how long the change took to be in effect in the kernel (acknowledged).
fn applied(out: Out, since: Instant) {
    if out.verbose {
        eprintln!(
            "applied in {:.2} ms",
            since.elapsed().as_secs_f64() * 1000.0
        );
    }
}

fn load(store: &mut Store, a: LoadArgs, out: Out) -> Result<()> {
    let total = Instant::now();
    let def = store.get(&a.name)?;
    let format: Format = a
        .format
        .parse()
        .with_context(|| format!("--format {}", a.format))?;
    let opts = ParseOptions {
        with_ports: def.with_ports,
        normalize: a.normalize,
    };
    let t = Instant::now();
    let parsed = read_lists(
        &a.files,
        format,
        opts,
        a.skip_invalid,
        !out.quiet && !a.json,
    )
    .context("nothing was changed")?;
    let parse_ms = t.elapsed().as_secs_f64() * 1000.0;
    for e in &parsed.skipped {
        eprintln!("skipped {e}");
    }
    let report = store.load(&def, &parsed.contents)?;
    let total_ms = total.elapsed().as_secs_f64() * 1000.0;
    let (v4, v6) = parsed.contents.range_counts();
    if a.json {
        let j = serde_json::json!({
            "set": a.name,
            "entries": parsed.entries,
            "ranges_v4": v4,
            "ranges_v6": v6,
            "added": report.added,
            "removed": report.removed,
            "unchanged": report.unchanged,
            "skipped": parsed.skipped.len(),
            "batch_bytes": report.batch_bytes,
            "messages": report.messages,
            "current_from_cache": report.from_cache,
            "recent_folded": report.recent_folded,
            "timings_ms": {
                "parse": parse_ms,
                "dump": report.dump_ms,
                "diff": report.diff_ms,
                "encode": report.encode_ms,
                "commit": report.commit_ms,
                "total": total_ms,
            }
        });
        println!("{j}");
    } else if !out.quiet {
        eprintln!(
            "set {}: {} entries read, merged into {} IPv4 and {} IPv6 ranges; {} added, {} removed, {} unchanged{}",
            a.name,
            parsed.entries,
            v4,
            v6,
            report.added,
            report.removed,
            report.unchanged,
            if parsed.skipped.is_empty() { String::new() } else { format!("; {} invalid lines skipped", parsed.skipped.len()) }
        );
        if out.verbose {
            eprintln!(
                "timings: parse {parse_ms:.1} ms, read kernel {:.1} ms, diff {:.1} ms, encode {:.1} ms, kernel commit {:.1} ms, total {total_ms:.1} ms",
                report.dump_ms, report.diff_ms, report.encode_ms, report.commit_ms
            );
        }
    }
    Ok(())
}

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

fn list(store: &mut Store, a: ListArgs) -> Result<()> {
    let mut defs = store.sets()?;
    if let Some(n) = &a.name {
        defs.retain(|d| &d.name == n);
        if defs.is_empty() {
            return Err(crate::store::StoreError::NoSuchSet(n.clone()).into());
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
        let block = match def.block {
            Some(BlockAction::Drop) => "drops its sources",
            Some(BlockAction::Reject) => "rejects its sources",
            None => "not used for blocking",
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

fn export(store: &mut Store, a: ExportArgs) -> Result<()> {
    use std::io::Write;
    let def = store.get(&a.name)?;
    let contents = store.held(&def.name)?.contents();
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let ipset = match a.format.as_str() {
        "plain" => false,
        "ipset-save" => true,
        other => bail!("--format {other}: expected plain or ipset-save"),
    };
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

fn blocklist_def() -> SetDef {
    SetDef {
        block: Some(BlockAction::Drop),
        ..SetDef::new(BLOCKLIST)
    }
}

pub fn block(store: &mut Store, a: BlockArgs, out: Out) -> Result<i32> {
    let def = store.ensure(&blocklist_def())?;
    let items = parse_elements(&a.elements, false, false)?;
    let timeout = duration_arg(&a.timeout, "--timeout")?;
    store.add(&def, &items, extras(timeout, a.comment.as_deref()))?;
    if !out.quiet {
        let until = timeout
            .map(|t| format!(" for {}", format_duration(t)))
            .unwrap_or_default();
        eprintln!("blocked {}{until}", a.elements.join(", "));
    }
    Ok(0)
}

pub fn unblock(store: &mut Store, a: UnblockArgs, out: Out) -> Result<i32> {
    let def = store.get(&a.set)?;
    let items = parse_elements(&a.elements, false, false)?;
    store.del(&def, &items)?;
    if !out.quiet {
        eprintln!("unblocked {}", a.elements.join(", "));
    }
    Ok(0)
}
