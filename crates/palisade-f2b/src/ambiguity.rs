//! A second look at failures whose regex did not read the whole line.
//!
//! A filter is written for a format, and the format says where the daemon writes the
//! client's address; the other fields (user names, URLs, HELO names) are the client's to
//! choose. A client can put an address into its field, and a filter that reads the line
//! the wrong way accuses that address. fail2ban's own `sshd.conf` does: for the user name
//! `x from 1.2.3.4 port 22 ssh2:`, the line
//! `Failed password for invalid user x from 1.2.3.4 port 22 ssh2: from 10.10.1.2 port 5 ssh2`
//! is matched up to `ssh2: ` and accuses 1.2.3.4, not the client 10.10.1.2, whose address
//! is in the part of the line the regex never read.
//!
//! The same text can also come from a client at 10.10.1.2 that chose the user name
//! `x from 1.2.3.4 port 22 ssh2:` (sshd does not escape spaces), so no filter can tell
//! who the client was. What shows such a line: the regex stopped short of the end, the
//! rest of the line holds another address written the way the accused one is (after the
//! same word: `from 10.10.1.2` like `from 1.2.3.4`), and taking out the text between the
//! two leaves a line the same filter accepts with the other address in the accused one's
//! place (`... invalid user x from 10.10.1.2 port 5 ssh2`). Such a line can be read as
//! accusing either address, so it accuses neither: a client can make its own line go
//! uncounted this way (as it can with fail2ban), but it cannot make palisade ban someone
//! else. Lines whose regex reads them to the end (nearly all) are not looked at again,
//! and a local address the daemon writes after the client's (`Connection from A port 1
//! on B port 22`, `rip=A, lip=B`) is introduced by another word and does not count.

use std::sync::OnceLock;

use crate::filter::Compiled;
use crate::matcher::parse_address;

/// At most this many other addresses are tried per line (a line full of addresses must
/// not cost a regex run per address).
const MAX_OTHERS: usize = 8;

/// Address-shaped tokens, as loose as the `<HOST>` groups (each is parsed afterwards).
fn address_tokens() -> &'static regex::Regex {
    static TOKENS: OnceLock<regex::Regex> = OnceLock::new();
    TOKENS.get_or_init(|| {
        regex::Regex::new(
            r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}|(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:)",
        )
        .expect("a valid pattern")
    })
}

/// Whether an address outside the match (`matched`) could stand where the accused one
/// (at `host`) stands.
pub(crate) fn competing_address(
    filter: &Compiled,
    buf: &str,
    matched: (usize, usize),
    host: (usize, usize),
) -> bool {
    if matched.0 == 0 && matched.1 == buf.len() {
        return false;
    }
    let accused = parse_address(&buf[host.0..host.1]);
    let (start, end) = host;
    let mut tried = 0;
    for token in address_tokens().find_iter(buf) {
        let (p, q) = (token.start(), token.end());
        if p < matched.1 && q > matched.0 {
            continue;
        }
        if glued(buf, p, q) {
            continue;
        }
        let Some(other) = parse_address(token.as_str()).filter(|a| !a.is_unspecified()) else {
            continue;
        };
        if Some(other) == accused || leading_word(buf, p) != leading_word(buf, start) {
            continue;
        }
        tried += 1;
        if tried > MAX_OTHERS {
            return false;
        }
        // Take out the text between the two, so the other one stands in the accused one's
        // place (or the accused one's tail follows the other one).
        let (line, expected) = if p >= end {
            (
                format!("{}{}", &buf[..start], &buf[p..]),
                (start, start + (q - p)),
            )
        } else {
            (format!("{}{}", &buf[..q], &buf[end..]), (p, q))
        };
        let accepts = |rule: &crate::filter::Rule| {
            rule.regex
                .search(&line)
                .and_then(|spans| rule.groups.host_span(&spans))
                .is_some_and(|span| {
                    span == expected && parse_address(&line[span.0..span.1]) == Some(other)
                })
        };
        if filter.failregex.iter().any(accepts) {
            return true;
        }
    }
    false
}

/// The word that introduces the address at `at`, with what separates them (`from `,
/// `rip=`, `[client `).
fn leading_word(buf: &str, at: usize) -> &str {
    let bytes = buf.as_bytes();
    let mut i = at;
    while i > 0 && !bytes[i - 1].is_ascii_alphanumeric() && at - i < 4 {
        i -= 1;
    }
    while i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
        i -= 1;
    }
    &buf[i..at]
}

/// Whether the token at `p..q` is part of something longer (a key fingerprint
/// `8c:e3:aa:...`, a version `1.2.3.4.5`, a host name `1.2.3.4.example.com`); an IPv4
/// address followed by `:port`, or ending a sentence, stands on its own.
fn glued(buf: &str, p: usize, q: usize) -> bool {
    let bytes = buf.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let before = p > 0 && (word(bytes[p - 1]) || matches!(bytes[p - 1], b'.' | b':'));
    let next = bytes.get(q + 1).copied();
    let v6 = buf[p..q].contains(':');
    let after = match bytes.get(q) {
        Some(&b) if word(b) => true,
        Some(b'.') => next.is_some_and(|n| n.is_ascii_alphanumeric()),
        Some(b':') => v6 && next.is_some_and(|n| n.is_ascii_hexdigit()),
        _ => false,
    };
    before || after
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standalone(text: &str) -> Vec<&str> {
        address_tokens()
            .find_iter(text)
            .filter(|m| !glued(text, m.start(), m.end()))
            .filter(|m| parse_address(m.as_str()).is_some())
            .map(|m| m.as_str())
            .collect()
    }

    #[test]
    fn addresses_inside_longer_tokens_are_not_competitors() {
        assert_eq!(standalone("from 192.0.2.1 port 22"), ["192.0.2.1"]);
        assert_eq!(standalone("[client 192.0.2.1:5000] x"), ["192.0.2.1"]);
        assert_eq!(standalone("ends with 192.0.2.1."), ["192.0.2.1"]);
        assert_eq!(standalone("from 2001:db8::1 port 1"), ["2001:db8::1"]);
        assert!(standalone("RSA 8c:e3:aa:0f:64:51:02:f7:14:79:89:3f:65:84:7c:30, x").is_empty());
        assert!(standalone("v1.2.3.4 and 1.2.3.4.5 and 1.2.3.4.example.com").is_empty());
    }

    #[test]
    fn the_word_before_an_address_is_its_introduction() {
        let line = "Connection from 192.0.2.1 port 1 on 198.51.100.1 port 22, rip=192.0.2.2";
        assert_eq!(leading_word(line, line.find("192.0.2.1").unwrap()), "from ");
        assert_eq!(leading_word(line, line.find("198.51").unwrap()), "on ");
        assert_eq!(leading_word(line, line.find("192.0.2.2").unwrap()), "rip=");
        assert_eq!(leading_word("192.0.2.1 x", 0), "");
    }
}
