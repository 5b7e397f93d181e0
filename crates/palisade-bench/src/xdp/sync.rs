//! Keeping a million entries in step: what XDP adds to palisade's set commands, through the
//! palisade binary, in one namespace.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::lab::Lab;
use crate::data::{generate, Kind, SplitMix64, SEED};
use crate::Palisade;

/// One timed step: what it was, and its wall time.
pub struct Step {
    pub what: String,
    pub took: Duration,
}

fn write_list(path: &Path, entries: &[u32]) -> Result<(), String> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
    for &a in entries {
        writeln!(w, "{}", Ipv4Addr::from(a)).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())
}

pub fn measure(pal: &Palisade, scratch: &Path, n: usize, quick: bool) -> Result<Vec<Step>, String> {
    let mut rng = SplitMix64::new(SEED);
    // n entries, then 1% more to swap in: distinct, none adjacent (see `data`).
    let all = generate(&mut rng, Kind::Addr, n + n / 100);
    let list = &all[..n];
    let mut changed = list.to_vec();
    for (slot, fresh) in changed.iter_mut().step_by(100).zip(&all[n..]) {
        *slot = *fresh;
    }
    let (a, b) = (scratch.join("xdp-a.txt"), scratch.join("xdp-b.txt"));
    write_list(&a, list)?;
    write_list(&b, &changed)?;
    let (a, b) = (a.to_string_lossy(), b.to_string_lossy());

    let lab = Lab::new(pal)?;
    let mut steps = Vec::new();
    let mut timed = |what: String, args: &[&str]| -> Result<(), String> {
        crate::settle(
            Duration::from_millis(200),
            Duration::from_secs(if quick { 2 } else { 20 }),
        );
        let t = Instant::now();
        lab.palisade(args)?;
        steps.push(Step {
            what,
            took: t.elapsed(),
        });
        Ok(())
    };
    lab.palisade(&["-q", "set", "create", "big", "--block", "drop"])?;
    timed(
        format!("`set load` of {n} addresses, no XDP (nftables only)"),
        &["-q", "set", "load", "big", &a],
    )?;
    timed(
        format!("`xdp attach`: the maps filled from the kernel sets ({n} entries)"),
        &["-q", "xdp", "attach", &lab.server_if, "--mode", "generic"],
    )?;
    timed(
        "`xdp sync`, nothing changed (sets and maps read back)".into(),
        &["-q", "xdp", "sync"],
    )?;
    timed(
        "`set load` with 1% of the list replaced, XDP attached".into(),
        &["-q", "set", "load", "big", &b],
    )?;
    timed(
        "`xdp status` (counts every entry)".into(),
        &["xdp", "status", "--json"],
    )?;
    lab.palisade(&["-q", "set", "create", "big2", "--block", "drop"])?;
    timed(
        format!("`set load` of {n} addresses into a new set, XDP attached"),
        &["-q", "set", "load", "big2", &a],
    )?;
    timed(
        "`xdp detach --all`".into(),
        &["-q", "xdp", "detach", "--all"],
    )?;
    timed(
        "`set load` with 1% of the list replaced, no XDP".into(),
        &["-q", "set", "load", "big", &a],
    )?;
    Ok(steps)
}
