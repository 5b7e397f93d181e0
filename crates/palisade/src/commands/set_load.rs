//! `palisade set load`: make a set hold exactly the union of list files.

use anyhow::{Context, Result};
use palisade_core::ParseOptions;
use std::time::Instant;

use super::Out;
use crate::cli::LoadArgs;
use crate::lists::read_lists;
use crate::store::Store;

pub fn load(store: &mut Store, a: LoadArgs, out: Out) -> Result<()> {
    let total = Instant::now();
    let def = store.get(&a.name)?;
    let opts = ParseOptions {
        with_ports: def.with_ports,
        normalize: a.normalize,
    };
    let t = Instant::now();
    let parsed = read_lists(
        &a.files,
        a.format.into(),
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
