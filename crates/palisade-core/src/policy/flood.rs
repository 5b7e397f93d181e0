//! Flood protection on an allowed service: a token-bucket rate with burst (global or per
//! source), a limit on concurrent connections per source, and what happens over the limit,
//! up to a timed ban the kernel itself puts the source in.
//!
//! The bucket is the kernel's `limit` expression, whose packet mode is exactly iptables'
//! `-m limit`: it holds `burst` tokens, starts full, and each packet costs
//! `unit_ns / rate` nanoseconds of accumulated time, so it refills at `rate`. The arithmetic
//! here mirrors the kernel's, so `check` can refuse what the kernel would round into
//! something else.

use serde::{Deserialize, Serialize};
use toml::Value;

use super::rate::parse_rate;
use super::ruleset::Rate;
use crate::duration::parse_duration;

/// Source network sizes that share one bucket (32 and 128: each address its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourcePrefix {
    pub v4: u8,
    pub v6: u8,
}

/// What happens to a packet over the limit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverAction {
    Drop,
    Reject,
    /// The kernel adds the source to palisade set `set` for `timeout_secs`, and drops.
    Ban {
        set: String,
        timeout_secs: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FloodLimit {
    pub rate: Option<Rate>,
    /// Count every packet the rule matches, not only new connections.
    pub packets: bool,
    /// `None`: one bucket for everyone.
    pub per_source: Option<SourcePrefix>,
    pub max_connections: Option<u32>,
    pub over: OverAction,
}

/// Keys an allow entry may have for flood protection.
pub const FLOOD_KEYS: &[&str] = &[
    "limit",
    "limit_packets",
    "per_source",
    "max_connections",
    "over",
    "ban_for",
    "ban_set",
];

/// The ban set used when `ban_set` is not given.
pub const DEFAULT_BAN_SET: &str = "flood";
const DEFAULT_BURST: u32 = 5;
const NSEC_PER_SEC: u64 = 1_000_000_000;

/// `50/minute burst 200`; the burst defaults to 5, as with iptables' `--limit-burst`.
pub fn parse_rate_burst(text: &str) -> Result<Rate, String> {
    let (rate, burst) = match text.split_once("burst") {
        Some((r, b)) => {
            let b = b.trim();
            let burst = b
                .parse::<u32>()
                .map_err(|_| format!("`{b}` in `{text}`: a burst is a whole number"))?;
            (r.trim(), burst)
        }
        None => (text.trim(), DEFAULT_BURST),
    };
    let r = parse_rate(rate, burst)?;
    check_kernel_rate(&r)?;
    Ok(r)
}

impl Rate {
    /// Nanoseconds of bucket time one packet costs (the kernel rounds down).
    pub fn cost_ns(&self) -> u64 {
        self.per_secs * NSEC_PER_SEC / self.count
    }

    /// The bucket's size in nanoseconds: `burst` packets' worth.
    pub fn bucket_ns(&self) -> u64 {
        self.cost_ns().saturating_mul(u64::from(self.burst))
    }

    /// The rate the kernel enforces after rounding, in packets per second.
    pub fn effective_per_sec(&self) -> f64 {
        NSEC_PER_SEC as f64 / self.cost_ns() as f64
    }

    /// How long an idle source takes to refill a full bucket: after that its meter entry can
    /// expire without changing anything.
    pub fn refill_secs(&self) -> u64 {
        self.bucket_ns().div_ceil(NSEC_PER_SEC)
    }
}

/// Refuse rates the kernel cannot represent as asked: over one packet per nanosecond (the
/// cost would round to zero, letting everything through), rounding that changes the rate by
/// more than 1%, or a bucket that overflows.
pub fn check_kernel_rate(r: &Rate) -> Result<(), String> {
    let unit_ns = r.per_secs * NSEC_PER_SEC;
    if r.count > unit_ns {
        return Err(format!(
            "{}/{}s is faster than the kernel can count (one per nanosecond)",
            r.count, r.per_secs
        ));
    }
    let asked = r.count as f64 / r.per_secs as f64;
    if (r.effective_per_sec() - asked).abs() / asked > 0.01 {
        return Err(format!(
            "{}/{}s rounds to {:.3}/s in the kernel; choose a rate that divides its unit",
            r.count,
            r.per_secs,
            r.effective_per_sec()
        ));
    }
    if r.cost_ns().checked_mul(u64::from(r.burst)).is_none() {
        return Err(format!("burst {} is too large for this rate", r.burst));
    }
    Ok(())
}

/// `true` (each address its own bucket), `"/24"` (IPv4 /24s, IPv6 addresses) or
/// `"/24,/64"` (IPv4 /24s, IPv6 /64s).
fn prefix(v: &Value) -> Result<Option<SourcePrefix>, String> {
    let bits = |part: &str, max: u8| -> Result<u8, String> {
        part.trim()
            .strip_prefix('/')
            .and_then(|b| b.parse::<u8>().ok())
            .filter(|b| (1..=max).contains(b))
            .ok_or_else(|| format!("per_source: `{part}` is not a prefix length up to /{max}"))
    };
    match v {
        Value::Boolean(false) => Ok(None),
        Value::Boolean(true) => Ok(Some(SourcePrefix { v4: 32, v6: 128 })),
        Value::String(s) => {
            let (v4, v6) = match s.split_once(',') {
                Some((a, b)) => (bits(a, 32)?, bits(b, 128)?),
                None => (bits(s, 32)?, 128),
            };
            Ok(Some(SourcePrefix { v4, v6 }))
        }
        _ => Err("per_source: true, false, \"/24\" or \"/24,/64\" (IPv4, IPv6)".into()),
    }
}

/// Read the flood keys of an allow table; `None` when it has none.
pub fn read_flood(t: &toml::Table) -> Result<Option<FloodLimit>, String> {
    if !FLOOD_KEYS.iter().any(|k| t.contains_key(*k)) {
        return Ok(None);
    }
    let text = |k: &str| -> Result<Option<&str>, String> {
        match t.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{k}: expected a string")),
        }
    };
    let rate = text("limit")?
        .map(parse_rate_burst)
        .transpose()
        .map_err(|e| format!("limit: {e}"))?;
    let packets = match t.get("limit_packets") {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(_) => return Err("limit_packets: true or false".into()),
    };
    let per_source = t.get("per_source").map(prefix).transpose()?.flatten();
    let max_connections = match t.get("max_connections") {
        None => None,
        Some(Value::Integer(n)) if *n > 0 && *n <= i64::from(u32::MAX) => Some(*n as u32),
        Some(_) => return Err("max_connections: a whole number above 0".into()),
    };
    if rate.is_none() && max_connections.is_none() {
        return Err("flood protection needs limit = \"RATE [burst N]\" or max_connections".into());
    }
    let over = match text("over")?.unwrap_or("drop") {
        "drop" => OverAction::Drop,
        "reject" => OverAction::Reject,
        "ban" => {
            let timeout_secs = parse_duration(text("ban_for")?.unwrap_or("10m"))
                .map_err(|e| format!("ban_for: {e}"))?
                .as_secs()
                .max(1);
            OverAction::Ban {
                set: text("ban_set")?.unwrap_or(DEFAULT_BAN_SET).to_string(),
                timeout_secs,
            }
        }
        other => return Err(format!("over: `{other}`: expected drop, reject or ban")),
    };
    if !matches!(over, OverAction::Ban { .. })
        && (t.contains_key("ban_for") || t.contains_key("ban_set"))
    {
        return Err("ban_for and ban_set go with over = \"ban\"".into());
    }
    // Connection counts are per source unless said otherwise: a global count is rarely meant.
    let per_source = match (per_source, max_connections, t.get("per_source")) {
        (None, Some(_), None) => Some(SourcePrefix { v4: 32, v6: 128 }),
        (p, _, _) => p,
    };
    Ok(Some(FloodLimit {
        rate,
        packets,
        per_source,
        max_connections,
        over,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn classic_pair() {
        let r = parse_rate_burst("50/minute burst 200").unwrap();
        assert_eq!((r.count, r.per_secs, r.burst), (50, 60, 200));
        assert_eq!(r.cost_ns(), 1_200_000_000);
        assert_eq!(r.bucket_ns(), 240_000_000_000);
        assert_eq!(r.refill_secs(), 240);
        let e = parse_rate_burst("50/second burst 50").unwrap();
        assert_eq!(e.cost_ns(), 20_000_000);
        assert!((e.effective_per_sec() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn default_burst_and_rounding() {
        assert_eq!(parse_rate_burst("10/s").unwrap().burst, 5);
        // 7 per second: cost 142857142 ns, 7.000000007/s: fine.
        assert!(parse_rate_burst("7/second").is_ok());
        // Over a packet per nanosecond would round to a cost of 0.
        assert!(parse_rate_burst("2000000000/second").is_err());
        // 3e8/s rounds to a cost of 3 ns: 333,333,333/s, 11% off.
        assert!(parse_rate_burst("300000000/second").is_err());
        assert!(parse_rate_burst("5/minute burst x").is_err());
        assert!(parse_rate_burst("5/minute burst 0").is_err());
        assert!(parse_rate_burst("1/day burst 4000000000").is_err());
    }

    #[test]
    fn flood_keys() {
        assert_eq!(read_flood(&table("service = 'http'")).unwrap(), None);
        let f = read_flood(&table("limit = '50/minute burst 200'"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (f.per_source, f.packets, f.over.clone()),
            (None, false, OverAction::Drop)
        );
        let f = read_flood(&table(
            "limit = '10/s'\nper_source = '/24,/64'\nover = 'ban'\nban_for = '1h'",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(f.per_source, Some(SourcePrefix { v4: 24, v6: 64 }));
        assert_eq!(
            f.over,
            OverAction::Ban {
                set: "flood".into(),
                timeout_secs: 3600
            }
        );
        let f = read_flood(&table("max_connections = 20")).unwrap().unwrap();
        assert_eq!(
            f.per_source,
            Some(SourcePrefix { v4: 32, v6: 128 }),
            "per source by default"
        );
        assert!(
            read_flood(&table("over = 'ban'")).is_err(),
            "a limit is needed"
        );
        assert!(read_flood(&table("limit = '1/s'\nban_for = '1h'")).is_err());
        assert!(read_flood(&table("limit = '1/s'\nper_source = '/33,/64'")).is_err());
        let f = read_flood(&table("limit = '1/s'\nper_source = '/24'"))
            .unwrap()
            .unwrap();
        assert_eq!(f.per_source, Some(SourcePrefix { v4: 24, v6: 128 }));
        assert!(read_flood(&table("limit = '1/s'\nper_source = '/0'")).is_err());
        assert!(read_flood(&table("max_connections = 0")).is_err());
    }
}
