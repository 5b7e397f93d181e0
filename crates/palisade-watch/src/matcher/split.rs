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
//! token must stand where `A` could end. When `A` ends with fixed text (` from `,
//! `rhost=`), only the places right after another occurrence of that text qualify, found
//! with one SIMD substring scan; otherwise, as a reading puts `<HOST>` on a token that is
//! not glued to other address characters, the candidates are the starts of the line's
//! address tokens. For each, A must end exactly there and the address with B must
//! follow. At the same place, a shorter address may be followed by B (`2001:db8::1:80`
//! is `2001:db8::1` and port 80 to a pattern that allows a port). A line with one
//! ` from ` (nearly every one) costs one extra scan.

use std::net::IpAddr;

use memchr::memmem;
use regex_automata::{meta, Anchored, Input};
use regex_syntax::hir::{Hir, HirKind};

use super::host::{address_like, parse_host, HOST_PLACEHOLDER, HOST_RE};
use super::REGEX_SIZE_LIMIT;

/// `A<HOST>B` as `A`, the address and `B`, each searched by DFA, plus what checks that a
/// line has no other reading.
/// What a line says through one pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Located {
    /// The searches found no reading (the capture engine may still find one).
    NotFound,
    /// Every reading puts this address in `<HOST>`'s place.
    Host(IpAddr),
    /// The pattern matches, but on no address (a host name, the unspecified address).
    NoAddress,
    /// Two readings put different addresses there.
    Ambiguous,
}

#[derive(Clone, Debug)]
pub(crate) struct Split {
    before: meta::Regex,
    host: meta::Regex,
    after: meta::Regex,
    /// `A` ending exactly at the end of the text it is given.
    before_to_end: meta::Regex,
    /// The address (in group 1) and `B`, anchored where the address starts.
    host_then_after: meta::Regex,
    /// The fixed text every match of A ends with, if any.
    before_suffix: Option<memmem::Finder<'static>>,
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
            before_suffix: trailing_literal(before)
                .map(|lit| memmem::Finder::new(&lit).into_owned()),
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

    /// What the line says through this pattern, every reading considered.
    pub fn search(&self, line: &[u8]) -> Located {
        if let Some(suffix) = &self.before_suffix {
            return self.every_reading(line, suffix);
        }
        let Some((start, end)) = self.locate(line) else {
            return Located::NotFound;
        };
        match parse_host(line, start, end) {
            None => Located::NoAddress,
            Some(addr) if self.ambiguous(line, start, end, addr) => Located::Ambiguous,
            Some(addr) => Located::Host(addr),
        }
    }

    /// Every place A can end is right after an occurrence of its last text: try each.
    fn every_reading(&self, line: &[u8], suffix: &memmem::Finder<'_>) -> Located {
        let mut found: Option<IpAddr> = None;
        let mut matched = false;
        let mut from = 0;
        while let Some(i) = suffix.find(&line[from..]) {
            let at = from + i + suffix.needle().len();
            from += i + 1;
            let mut ambiguous = false;
            self.addresses_at(line, at, &mut |start, end| {
                matched = true;
                match (parse_host(line, start, end), found) {
                    (None, _) => {}
                    (Some(addr), None) => found = Some(addr),
                    (Some(addr), Some(first)) => ambiguous |= addr != first,
                }
            });
            if ambiguous {
                return Located::Ambiguous;
            }
        }
        match (found, matched) {
            (Some(addr), _) => Located::Host(addr),
            (None, true) => Located::NoAddress,
            (None, false) => Located::NotFound,
        }
    }

    /// The readings with the address starting at `at`, each given to `each` as its span:
    /// the longest address-shaped token there, and the shorter ones ending before one of
    /// its colons, that B follows and A ends right before.
    fn addresses_at(&self, line: &[u8], at: usize, each: &mut dyn FnMut(usize, usize)) {
        let Some(token) = self
            .host
            .search(&Input::new(line).range(at..).anchored(Anchored::Yes))
        else {
            return;
        };
        let mut ends = std::iter::once(token.end())
            .chain((at + 1..token.end()).rev().filter(|&q| line[q] == b':'))
            .filter(|&end| {
                self.after
                    .search(&Input::new(line).range(end..).anchored(Anchored::Yes))
                    .is_some()
            })
            .peekable();
        // A is checked once, and only where an address and B follow.
        if ends.peek().is_none()
            || self
                .before_to_end
                .search(&Input::new(&line[..at]))
                .is_none()
        {
            return;
        }
        for end in ends {
            each(at, end);
        }
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
        match &self.before_suffix {
            Some(suffix) => {
                // Every occurrence, overlapping ones too.
                let mut from = 0;
                while let Some(i) = suffix.find(&line[from..]) {
                    let at = from + i + suffix.needle().len();
                    if at != found && self.reads_at(line, at, addr) {
                        return true;
                    }
                    from += i + 1;
                }
                false
            }
            None => self
                .host
                .find_iter(line)
                .any(|token| token.start() != found && self.reads_at(line, token.start(), addr)),
        }
    }

    /// Whether the pattern reads an address other than `addr` starting at `at`.
    fn reads_at(&self, line: &[u8], at: usize, addr: IpAddr) -> bool {
        let Some(token) = self
            .host
            .search(&Input::new(line).range(at..).anchored(Anchored::Yes))
        else {
            return false;
        };
        if !address_like(&line[token.range()]) {
            return false;
        }
        // A must end exactly where the token starts...
        if self
            .before_to_end
            .search(&Input::new(&line[..at]))
            .is_none()
        {
            return false;
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
        other.is_some_and(|o| o != addr)
    }
}

/// A regex with the same syntax as [`regex::bytes::Regex`] (Unicode on, may match bytes).
pub(crate) fn dfa_regex(source: &str) -> Option<meta::Regex> {
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

/// The literal text every match of `pattern` ends with (` from ` for `... from `), if
/// it ends with one.
fn trailing_literal(pattern: &str) -> Option<Vec<u8>> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    fn last(hir: &Hir) -> Option<Vec<u8>> {
        match hir.kind() {
            HirKind::Literal(lit) => Some(lit.0.to_vec()),
            HirKind::Capture(c) => last(&c.sub),
            HirKind::Concat(parts) => last(parts.last()?),
            _ => None,
        }
    }
    last(&hir).filter(|l| !l.is_empty())
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
