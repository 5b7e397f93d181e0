//! A pattern `A<HOST>B` searched as three DFAs, and the proof that a line has one reading.
//!
//! **Speed.** A brute force makes every line a match, so the address is found without the
//! regex crate's capture engine where possible: three DFA searches (A, then the address
//! anchored where A ended, then B anchored after it) locate it. When they agree, the
//! result is the one the capture group would give (leftmost-first priority is
//! lexicographic, A's choices first); when they do not, the capture engine decides.
//!
//! **One reading.** A pattern is a model of the line a daemon writes: its fixed text is
//! the daemon's, its wildcards (`.*` for a user name) stand for what the client chose.
//! The daemon's real line is one of the ways the pattern can read the text. So when every
//! way of reading it puts the same address in `<HOST>`'s place, that address is the one
//! the daemon wrote; when two readings put different addresses there (a user name
//! `x from 6.6.6.6 port 22 ssh2:` read either as a name or as the end of a line), nobody
//! can tell who the client was, and the line accuses no one. A client can make its own
//! line go uncounted this way, never make palisade ban someone else.
//!
//! The readings are enumerated only where another one can exist: another address-like
//! token must stand where `A` could end. A reading puts `<HOST>` on a token that is not
//! glued to other address characters, so the candidates are the starts of the address
//! tokens of the line; for each, A must end exactly there and the address with B must
//! follow; at the same place, a shorter address may be followed by B (`2001:db8::1:80`
//! is `2001:db8::1` and port 80 to a pattern that allows a port). Lines with a single
//! address (nearly all) cost one extra scan.

use std::net::IpAddr;

use regex_automata::{meta, Anchored, Input};

use super::host::{address_like, parse_host, HOST_PLACEHOLDER, HOST_RE};
use super::REGEX_SIZE_LIMIT;

/// `A<HOST>B` as `A`, the address and `B`, each searched by DFA, plus what checks that a
/// line has no other reading.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    before: meta::Regex,
    host: meta::Regex,
    after: meta::Regex,
    /// `A` ending exactly at the end of the text it is given.
    before_to_end: meta::Regex,
    /// The address (in group 1) and `B`, anchored where the address starts.
    host_then_after: meta::Regex,
}

impl Split {
    /// `None` unless the pattern has exactly one `<HOST>`, both halves are regexes on
    /// their own (so the placeholder is not inside a group or class), and no inline flag
    /// other than a leading one would change meaning when the halves are cut apart.
    pub fn new(pattern: &str) -> Option<Self> {
        let (before, after) = pattern.split_once(HOST_PLACEHOLDER)?;
        if after.contains(HOST_PLACEHOLDER) {
            return None;
        }
        let flags_len = leading_flags(before);
        if has_inline_flags(&before[flags_len..]) {
            return None;
        }
        let flags = &before[..flags_len];
        Some(Self {
            before: dfa_regex(before)?,
            host: dfa_regex(HOST_RE)?,
            after: dfa_regex(&format!("{flags}{after}"))?,
            before_to_end: dfa_regex(&format!("{flags}(?:{})\\z", &before[flags_len..]))?,
            host_then_after: dfa_regex(&format!("{flags}({HOST_RE}){after}"))?,
        })
    }

    /// Where the address is, if the three searches line up.
    pub fn locate(&self, line: &[u8]) -> Option<(usize, usize)> {
        let a = self.before.search(&Input::new(line))?;
        let host = self
            .host
            .search(&Input::new(line).range(a.end()..).anchored(Anchored::Yes))?;
        self.after
            .search(&Input::new(line).range(host.end()..).anchored(Anchored::Yes))?;
        Some((host.start(), host.end()))
    }

    /// Whether the pattern can also read `line` with another address than `addr`, found
    /// at `start..end`: a shorter address at the same place (an IPv6 address whose last
    /// group could be a port), or an address elsewhere.
    pub fn ambiguous(&self, line: &[u8], start: usize, end: usize, addr: IpAddr) -> bool {
        self.shorter_reading(line, start, end, addr) || self.other_reading(line, start, addr)
    }

    fn shorter_reading(&self, line: &[u8], start: usize, end: usize, addr: IpAddr) -> bool {
        (start + 1..end).filter(|&q| line[q] == b':').any(|q| {
            parse_host(line, start, q).is_some_and(|other| other != addr)
                && self
                    .after
                    .search(&Input::new(line).range(q..).anchored(Anchored::Yes))
                    .is_some()
        })
    }

    /// Whether the pattern can also read `line` with another address than `addr` (found
    /// at `found`) in the place of `<HOST>`.
    fn other_reading(&self, line: &[u8], found: usize, addr: IpAddr) -> bool {
        for token in self.host.find_iter(line) {
            let at = token.start();
            if at == found || !address_like(&line[token.range()]) {
                continue;
            }
            // A must end exactly where the token starts...
            if self
                .before_to_end
                .search(&Input::new(&line[..at]))
                .is_none()
            {
                continue;
            }
            // ...and the address with B must follow it.
            let mut caps = self.host_then_after.create_captures();
            self.host_then_after.search_captures(
                &Input::new(line).range(at..).anchored(Anchored::Yes),
                &mut caps,
            );
            let other = caps
                .get_group(1)
                .and_then(|span| parse_host(line, span.start, span.end));
            if other.is_some_and(|o| o != addr) {
                return true;
            }
        }
        false
    }
}

/// A regex with the same syntax as [`regex::bytes::Regex`] (Unicode on, may match bytes).
fn dfa_regex(source: &str) -> Option<meta::Regex> {
    meta::Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().utf8(false))
        .configure(
            meta::Regex::config()
                .utf8_empty(false)
                .nfa_size_limit(Some(REGEX_SIZE_LIMIT)),
        )
        .build(source)
        .ok()
}

/// Length of a flag group such as `(?-u)` or `(?i)` at the very start of a pattern.
pub(crate) fn leading_flags(pattern: &str) -> usize {
    match pattern.strip_prefix("(?") {
        Some(rest) => {
            let flags = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphabetic() || *b == b'-')
                .count();
            if flags > 0 && rest.as_bytes().get(flags) == Some(&b')') {
                2 + flags + 1
            } else {
                0
            }
        }
        None => 0,
    }
}

/// Whether an unscoped flag group (`(?i)`, not `(?i:...)`) occurs anywhere.
fn has_inline_flags(pattern: &str) -> bool {
    pattern
        .match_indices("(?")
        .any(|(i, _)| leading_flags(&pattern[i..]) > 0)
}
