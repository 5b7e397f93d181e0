//! The saved-state file: what `save` writes and `restore` (and boot) reads back.
//!
//! Line-oriented, so a million-entry blocklist streams in and out, and ends with a checksum
//! line, so a file cut short by a full disk or a crash is refused as a whole rather than
//! restored in part:
//!
//! ```text
//! palisade-state 1
//! policy {"ruleset":{...},"managed":["blocklist"]}     (or: policy none)
//! set {"name":"blocklist","with_ports":false,"block":"drop","default_timeout_secs":3600}
//! l 203.0.113.0/24                                      loaded contents
//! r 198.51.100.7 599000 "ssh brute force"               recent additions: ms left, comment
//! end
//! checksum 8c2b3a1f0e4d5c6b
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use palisade_core::policy::Ruleset;
use palisade_core::{parse_element, AddrRange, ProtoPort};
use serde::{Deserialize, Serialize};

use crate::store::SetDef;
use palisade_core::policy::SetDirection;
use palisade_core::{Contents, ContentsBuilder};

const HEADER: &str = "palisade-state 1";

/// The policy part: the compiled ruleset and the sets it manages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPolicy {
    pub ruleset: Ruleset,
    /// Sets declared by the config: removed by a later apply that no longer declares them.
    pub managed: Vec<String>,
}

pub use crate::store::Timed;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedSet {
    pub def: SetDef,
    pub loaded: Contents,
    pub recent: Vec<Timed>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedState {
    pub policy: Option<SavedPolicy>,
    pub sets: Vec<SavedSet>,
}

#[derive(Serialize, Deserialize)]
struct DefLine {
    name: String,
    with_ports: bool,
    block: Option<String>,
    default_timeout_secs: Option<u64>,
    #[serde(default)]
    dynamic: bool,
    /// Files written before sets had directions matched sources.
    #[serde(default)]
    direction: SetDirection,
}

/// FNV-1a, 64 bits: enough to notice a truncated or edited file, with no dependency.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn element_text(addr: &AddrRange, port: Option<ProtoPort>) -> String {
    match port {
        Some(p) => format!("{addr},{p}"),
        None => addr.to_string(),
    }
}

pub fn write(state: &SavedState) -> String {
    let mut out = String::new();
    out.push_str(HEADER);
    out.push('\n');
    match &state.policy {
        Some(p) => {
            let json = serde_json::to_string(p).expect("a ruleset serializes");
            let _ = writeln!(out, "policy {json}");
        }
        None => out.push_str("policy none\n"),
    }
    for set in &state.sets {
        let def = DefLine {
            name: set.def.name.clone(),
            with_ports: set.def.with_ports,
            block: set.def.block.map(|b| b.as_str().into()),
            default_timeout_secs: set.def.default_timeout.map(|d| d.as_secs()),
            dynamic: set.def.dynamic,
            direction: set.def.direction,
        };
        let _ = writeln!(
            out,
            "set {}",
            serde_json::to_string(&def).expect("plain data")
        );
        for (port, ranges) in &set.loaded.v4 {
            for iv in ranges.iter() {
                let _ = writeln!(out, "l {}", element_text(&AddrRange::V4(*iv), *port));
            }
        }
        for (port, ranges) in &set.loaded.v6 {
            for iv in ranges.iter() {
                let _ = writeln!(out, "l {}", element_text(&AddrRange::V6(*iv), *port));
            }
        }
        for t in &set.recent {
            let remaining = t
                .remaining
                .map_or("-".to_string(), |d| d.as_millis().to_string());
            let comment = t.comment.as_ref().map_or("-".to_string(), |c| {
                serde_json::to_string(c).expect("a string serializes")
            });
            let _ = writeln!(
                out,
                "r {} {remaining} {comment}",
                element_text(&t.addr, t.port)
            );
        }
        out.push_str("end\n");
    }
    let sum = fnv1a(out.as_bytes());
    let _ = writeln!(out, "checksum {sum:016x}");
    out
}

/// Parse a saved state; `file` is only for messages. Nothing of a bad file is used.
pub fn parse(file: &str, text: &str) -> Result<SavedState> {
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|i| i + 1)
        .with_context(|| format!("{file}: empty or cut short (no checksum line)"))?;
    let (body, last) = text.split_at(body_end);
    let want = last
        .trim()
        .strip_prefix("checksum ")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .with_context(|| format!("{file}: cut short or damaged (no checksum line at the end)"))?;
    if fnv1a(body.as_bytes()) != want {
        bail!("{file}: checksum mismatch: the file is damaged or was edited; refusing all of it");
    }
    let mut lines = body.lines().enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => bail!("{file}:1: not a palisade state file (expected `{HEADER}`)"),
    }
    let mut state = SavedState::default();
    let mut current: Option<(SetDef, ContentsBuilder, Vec<Timed>)> = None;
    for (n, line) in lines {
        let at = || format!("{file}:{n}");
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match (word, current.as_mut()) {
            ("policy", None) if rest == "none" => {}
            ("policy", None) => {
                state.policy =
                    Some(serde_json::from_str(rest).with_context(|| format!("{}: policy", at()))?)
            }
            ("set", None) => {
                let d: DefLine =
                    serde_json::from_str(rest).with_context(|| format!("{}: set", at()))?;
                crate::store::validate_name(&d.name).with_context(at)?;
                let def = SetDef {
                    name: d.name,
                    with_ports: d.with_ports,
                    block: match d.block.as_deref() {
                        None => None,
                        Some(b) => Some(b.parse().map_err(anyhow::Error::msg).with_context(at)?),
                    },
                    default_timeout: d.default_timeout_secs.map(Duration::from_secs),
                    dynamic: d.dynamic,
                    direction: d.direction,
                    prefixes: Default::default(),
                };
                current = Some((def, ContentsBuilder::default(), Vec::new()));
            }
            ("l", Some((def, builder, _))) => {
                let (addr, port) = parse_element(rest, def.with_ports, false)
                    .with_context(|| format!("{}: `{rest}`", at()))?;
                builder.push(addr, port);
            }
            ("r", Some((def, _, recent))) => {
                let mut w = rest.splitn(3, ' ');
                let (Some(e), Some(ms), Some(comment)) = (w.next(), w.next(), w.next()) else {
                    bail!("{}: expected `r ELEMENT MS_LEFT COMMENT`", at());
                };
                let (addr, port) = parse_element(e, def.with_ports, false)
                    .with_context(|| format!("{}: `{e}`", at()))?;
                let remaining = match ms {
                    "-" => None,
                    ms => Some(Duration::from_millis(
                        ms.parse().with_context(|| format!("{}: `{ms}`", at()))?,
                    )),
                };
                let comment = match comment {
                    "-" => None,
                    c => Some(
                        serde_json::from_str(c).with_context(|| format!("{}: comment", at()))?,
                    ),
                };
                recent.push(Timed {
                    addr,
                    port,
                    remaining,
                    comment,
                });
            }
            ("end", Some(_)) => {
                let (def, builder, recent) = current.take().expect("inside a set");
                state.sets.push(SavedSet {
                    def,
                    loaded: builder.build(),
                    recent,
                });
            }
            _ => bail!("{}: unexpected line `{line}`", at()),
        }
    }
    if current.is_some() {
        bail!("{file}: the last set has no `end` line");
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BlockAction;
    use palisade_core::policy::{compile, parse_config, Context, Services};

    fn sample() -> SavedState {
        let policy = parse_config(
            "p",
            "[input]\nallow = [\"ssh\"]\n[sets.bad]\nelements = [\"192.0.2.0/24\"]\n",
            &Services::new(""),
        )
        .unwrap();
        let ruleset = compile(&policy, &Context::default());
        let mut def = SetDef::new("bad");
        def.block = Some(BlockAction::Drop);
        def.default_timeout = Some(Duration::from_secs(600));
        SavedState {
            policy: Some(SavedPolicy {
                ruleset,
                managed: vec!["bad".into()],
            }),
            sets: vec![SavedSet {
                def,
                loaded: Contents::from_ranges([
                    (
                        palisade_core::parse_addr_range("192.0.2.0/24", false).unwrap(),
                        None,
                    ),
                    (
                        palisade_core::parse_addr_range("2001:db8::/32", false).unwrap(),
                        None,
                    ),
                ]),
                recent: vec![Timed {
                    addr: palisade_core::parse_addr_range("198.51.100.7", false).unwrap(),
                    port: None,
                    remaining: Some(Duration::from_millis(599_000)),
                    comment: Some("brute \"force\" ssh".into()),
                }],
            }],
        }
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(parse("f", &write(&s)).unwrap(), s);
    }

    #[test]
    fn damage_is_refused_whole() {
        let text = write(&sample());
        // Cut anywhere: refused.
        for cut in [10, text.len() / 2, text.len() - 5] {
            assert!(parse("f", &text[..cut]).is_err(), "cut at {cut}");
        }
        let edited = text.replace("192.0.2.0/24", "192.0.3.0/24");
        let e = parse("f", &edited).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        assert!(parse("f", "").is_err());
        assert!(parse("f", "garbage\n").is_err());
    }
}
