//! The commands on sets: parse arguments, call the store, print results.
//!
//! - [`set`]: create, destroy, flush, add, delete, test;
//! - [`set_load`]: loading list files;
//! - [`set_show`]: listing and exporting;
//! - [`block`]: the built-in `blocklist`;
//! - [`otp`]: one-time password sheets.

pub mod block;
pub mod otp;
pub mod set;
pub mod set_load;
pub mod set_show;

use anyhow::{bail, Context, Result};
use palisade_core::{parse_duration, parse_element, Contents};
use std::time::{Duration, Instant};

use crate::store::kernel_addr::Extras;

/// Output settings shared by every command.
#[derive(Clone, Copy, Debug, Default)]
pub struct Out {
    pub quiet: bool,
    pub verbose: bool,
}

/// A `--timeout`-style duration argument. Zero is refused: nftables would take it as "no
/// timeout" in some places and as "expire at once" in others, and ipset as "permanent"; an
/// admin who wants a permanent entry leaves the flag out.
pub fn duration_arg(s: &Option<String>, flag: &str) -> Result<Option<Duration>> {
    let Some(s) = s.as_deref() else {
        return Ok(None);
    };
    let d = parse_duration(s).with_context(|| format!("{flag} `{s}`"))?;
    if d.is_zero() {
        bail!(
            "{flag} `{s}`: a zero timeout blocks nothing; leave {flag} out for a permanent entry"
        );
    }
    Ok(Some(d))
}

/// Parse command-line elements; a bad one is an error naming it.
pub fn parse_elements(items: &[String], with_ports: bool, normalize: bool) -> Result<Contents> {
    let parsed = items
        .iter()
        .map(|s| parse_element(s, with_ports, normalize).with_context(|| format!("`{s}`")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Contents::from_ranges(parsed))
}

pub fn extras<'a>(timeout: Option<Duration>, comment: Option<&'a str>) -> Extras<'a> {
    Extras {
        timeout_ms: timeout.map(|d| d.as_millis() as u64),
        comment,
    }
}

/// With `-v`: how long the change took to be in effect in the kernel (acknowledged).
pub fn applied(out: Out, since: Instant) {
    if out.verbose {
        eprintln!(
            "applied in {:.2} ms",
            since.elapsed().as_secs_f64() * 1000.0
        );
    }
}

/// What `set del` and `unblock` say about elements the set did not hold (exit code 1).
pub fn not_in_set(set: &str, missing: &Contents) -> String {
    let list: Vec<String> = missing
        .ranges()
        .map(|(a, p)| match p {
            Some(p) => format!("{a},{p}"),
            None => a.to_string(),
        })
        .collect();
    format!("not in set {set} (nothing removed): {}", list.join(", "))
}
