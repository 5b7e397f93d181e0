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

use anyhow::{Context, Result};
use palisade_core::{parse_duration, parse_element, Contents};
use std::time::{Duration, Instant};

use crate::store::kernel_addr::Extras;

/// Output settings shared by every command.
#[derive(Clone, Copy, Debug, Default)]
pub struct Out {
    pub quiet: bool,
    pub verbose: bool,
}

/// A `--timeout`-style duration argument.
pub fn duration_arg(s: &Option<String>, flag: &str) -> Result<Option<Duration>> {
    s.as_deref()
        .map(|s| parse_duration(s).with_context(|| format!("{flag} `{s}`")))
        .transpose()
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
