//! `palisade set load`: make a set hold exactly the union of list files.

use anyhow::{bail, Context, Result};
use palisade_core::ParseOptions;
use std::time::Instant;

use super::Out;
use crate::cli::LoadArgs;
use crate::lists::{read_lists, Parsed};
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
    for e in parsed.skipped.iter().take(20) {
        eprintln!("skipped {e}");
    }
    if parsed.skipped_count > 20 {
        eprintln!("... and {} more invalid lines", parsed.skipped_count - 20);
    }
    plausible(store, &a, &parsed)?;
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
            "skipped": parsed.skipped_count,
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
            if parsed.skipped_count == 0 { String::new() } else { format!("; {} invalid lines skipped", parsed.skipped_count) }
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

/// Refuse a load that looks like a failed download rather than a list: one that would empty
/// a set that holds something (an empty file, a file of comments), or one where most lines
/// were skipped as invalid (an HTML error page). A blocklist that silently becomes empty is
/// the classic way a broken fetch script opens a server; the admin can still say it is meant.
fn plausible(store: &mut Store, a: &LoadArgs, parsed: &Parsed) -> Result<()> {
    let skipped = parsed.skipped_count;
    let lines = skipped + parsed.entries;
    if skipped > 0 && skipped * 100 > lines * u64::from(a.max_skipped) {
        bail!(
            "set {}: {skipped} of {lines} lines are not addresses (more than {}%): is this a list? \
             (an error page from a failed download?); nothing was changed. \
             Raise --max-skipped to load it anyway",
            a.name,
            a.max_skipped
        );
    }
    if parsed.contents.is_empty() && !a.allow_empty {
        let (v4, v6) = store.kernel_counts(&a.name)?;
        let holds = v4.unwrap_or(0) + v6.unwrap_or(0);
        if holds > 0 {
            bail!(
                "set {}: the files hold no addresses, and loading them would empty the set \
                 ({holds} kernel elements now); a failed download? Nothing was changed. \
                 Use --allow-empty to empty it on purpose",
                a.name
            );
        }
    }
    Ok(())
}
