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
//! rest of the line holds another address, and taking out the text between the two
//! leaves a line that the same filter reads completely (to its end) with the other
//! address in the accused one's place (`... invalid user x from 10.10.1.2 port 5 ssh2`).
//! Such a line can be read as accusing either address, so it accuses neither: a client
//! can make its own line go uncounted this way (as it can with fail2ban), but it cannot
//! make palisade ban someone else. Lines whose regex reads them to the end (nearly all)
//! are not looked at again; a local address the daemon writes after the client's
//! (`Connection from A port 1 on B port 22`) does not count, as no complete reading puts
//! it in the client's place.

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
        if Some(other) == accused {
            continue;
        }
        tried += 1;
        if tried > MAX_OTHERS {
            return false;
        }
        // Take out the text between the two, so the other one stands in the accused one's
        // place (or the accused one's tail follows the other one).
        let later = p >= end;
        let (line, expected) = if later {
            (format!("{}{}", &buf[..start], &buf[p..]), (start, start + (q - p)))
        } else {
            (format!("{}{}", &buf[..q], &buf[end..]), (p, q))
        };
        // The other reading must explain the rest of the line: to its end for an address
        // found after the match, from its start for one found before.
        let accepts = |rule: &crate::filter::Rule| {
            let Some(spans) = rule.regex.search(&line) else {
                return false;
            };
            let complete = spans[0].is_some_and(|(s, e)| if later { e == line.len() } else { s == 0 });
            complete
                && rule.groups.host_span(&spans).is_some_and(|span| {
                    span == expected && parse_address(&line[span.0..span.1]) == Some(other)
                })
        };
        if filter.failregex.iter().any(accepts) {
            return true;
        }
    }
    false
}

/// Whether the token at `p..q` is part of something longer (a key fingerprint
/// `8c:e3:aa:...`, a version `1.2.3.4.5`, a host name `1.2.3.4.example.com`).
fn glued(buf: &str, p: usize, q: usize) -> bool {
    let part = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':' || b == b'.';
    let before = p > 0 && part(buf.as_bytes()[p - 1]);
    let after = buf.as_bytes().get(q).is_some_and(|&b| part(b) && !(b == b'.' && !buf.as_bytes().get(q + 1).is_some_and(|n| n.is_ascii_alphanumeric())) && !(b == b':' && !buf.as_bytes().get(q + 1).is_some_and(|n| n.is_ascii_hexdigit())));
    before || after
}

#[cfg(test)]
pub(crate) fn tokens(text: &str) -> Vec<std::net::IpAddr> {
    address_tokens()
        .find_iter(text)
        .filter_map(|m| parse_address(m.as_str()))
        .collect()
}
