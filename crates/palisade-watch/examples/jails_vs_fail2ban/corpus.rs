//! fail2ban's annotated test logs: each `# failJSON:` comment says whether the next line
//! is a failure and of which host. Read in place from Debian's `fail2ban` package (GPL),
//! never copied into this repository.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub fn log_dir() -> PathBuf {
    std::env::var_os("F2B_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs")
        })
}

pub fn filter_dir() -> PathBuf {
    std::env::var_os("F2B_FILTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/fail2ban/filter.d"))
}

/// What an annotation says about the line after it.
#[derive(Clone, Debug)]
pub struct Annotation {
    pub matches: bool,
    /// The annotated host, if it is an address (host names are never banned).
    pub host: Option<IpAddr>,
    /// The host as written (an address, a name, or nothing).
    pub host_text: String,
}

/// A log line, with the annotation before it if it has one.
pub struct Line {
    pub number: usize,
    pub text: String,
    pub annotation: Option<Annotation>,
}

/// The log's lines (comments and empty lines left out, as fail2ban-regex does).
pub fn read(path: &Path) -> Vec<Line> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::new();
    let mut pending: Option<Annotation> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(json) = line
            .strip_prefix("# failJSON:")
            .or_else(|| line.strip_prefix("#failJSON:"))
        {
            pending = parse(json.trim());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        out.push(Line {
            number: i + 1,
            text: line.to_string(),
            annotation: pending.take(),
        });
    }
    out
}

fn parse(json: &str) -> Option<Annotation> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    // Most annotations name the host as `host`; some as `ip4` or `ip6`.
    let host_text = ["host", "ip4", "ip6"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|h| h.as_str()))
        .unwrap_or("")
        .to_string();
    Some(Annotation {
        matches: v.get("match").and_then(|m| m.as_bool()).unwrap_or(false),
        host: address(&host_text),
        host_text,
    })
}

/// An address as fail2ban prints it; an IPv4-mapped one as its IPv4 address.
pub fn address(text: &str) -> Option<IpAddr> {
    let ip: IpAddr = text.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}
