//! What `<HOST>` stands for, and when a captured text is an address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What `<HOST>` stands for: an IPv4 address, or an IPv6 address (including the
/// IPv4-mapped `::ffff:1.2.3.4`). Deliberately loose: the capture is parsed afterwards,
/// and anything `std::net` refuses is not a host.
///
/// IPv4 comes first so that `1.2.3.4:5678` (Apache's `[client ADDR:PORT]`) captures the
/// address, not the port; for IPv6 the engine's preference for the longest group
/// repetition that still lets the rest of the pattern match splits `2001:db8::1:5678`
/// the same way when the pattern says a port follows.
/// ASCII only (`(?-u)`), whatever flags the admin's pattern sets.
pub(crate) const HOST_RE: &str = r"(?-u:\d{1,3}(?:\.\d{1,3}){3}|(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}))";

/// The placeholder admins write in patterns.
pub const HOST_PLACEHOLDER: &str = "<HOST>";

/// Prefix of the capture group names `<HOST>` expands to; unlikely in admins' own regexes.
pub(crate) const HOST_GROUP: &str = "palisade_host";

/// Replace each `<HOST>` by its own named group (`palisade_host0`, `palisade_host1`, ...):
/// a pattern may have alternatives with the address in different places.
pub(crate) fn expand_host(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 128);
    for (i, part) in pattern.split(HOST_PLACEHOLDER).enumerate() {
        if i > 0 {
            out.push_str(&format!("(?P<{HOST_GROUP}{}>{HOST_RE})", i - 1));
        }
        out.push_str(part);
    }
    out
}

/// The capture `text[start..end]` as an address, if it is one and stands on its own: not
/// glued to more address-like text (`1.2.3.45` inside `1.2.3.456`, `1.2.3.4` inside the
/// host name `1.2.3.4.example.com`).
pub(crate) fn parse_host(bytes: &[u8], start: usize, end: usize) -> Option<IpAddr> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if start > 0 {
        let before = bytes[start - 1];
        if word(before) || before == b'.' || before == b':' {
            return None;
        }
    }
    if let Some(&after) = bytes.get(end) {
        let next_is_word = bytes.get(end + 1).is_some_and(|&b| word(b));
        if word(after) || ((after == b'.' || after == b'-') && next_is_word) {
            return None;
        }
    }
    // The address regex is ASCII-only, so this is UTF-8 whatever the line is.
    let ip = parse_address(std::str::from_utf8(bytes.get(start..end)?).ok()?)?;
    // Nobody connects from the unspecified address; a line claiming so is not about a host.
    (!ip.is_unspecified()).then_some(ip)
}

/// An address as written in logs; an IPv4-mapped IPv6 address is its IPv4 host.
pub(crate) fn parse_address(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        let v6: Ipv6Addr = s.parse().ok()?;
        Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
    } else {
        s.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    }
}

/// Whether a `<HOST>`-shaped token could be an address to a pattern: it parses, or a part
/// of it before one of its colons does (`2001:db8::5` in `2001:db8::5:99999`, where a
/// pattern expecting `ADDR:PORT` reads the address). Timestamps (`14:39:21`) are not.
pub(crate) fn address_like(token: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(token) else {
        return false;
    };
    parse_address(text).is_some()
        || text
            .match_indices(':')
            .any(|(at, _)| at > 0 && parse_address(&text[..at]).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stand_on_their_own() {
        let at = |s: &str, a: &str| {
            let start = s.find(a).unwrap();
            parse_host(s.as_bytes(), start, start + a.len())
        };
        assert!(at("from 1.2.3.4 port", "1.2.3.4").is_some());
        assert!(at("[client 1.2.3.4:80]", "1.2.3.4").is_some());
        assert!(at("from 1.2.3.45", "1.2.3.4").is_none());
        assert!(at("1.2.3.4.example.com", "1.2.3.4").is_none());
        assert!(at("from 0.0.0.0 port", "0.0.0.0").is_none());
        assert_eq!(
            at("from ::ffff:1.2.3.4 x", "::ffff:1.2.3.4"),
            Some("1.2.3.4".parse().unwrap())
        );
    }

    #[test]
    fn timestamps_are_not_address_like() {
        assert!(!address_like(b"14:39:21"));
        assert!(!address_like(b"11:04:17"));
        assert!(address_like(b"2001:db8::5:99999"));
        assert!(address_like(b"1.2.3.4"));
        assert!(address_like(b"::1"));
    }
}
