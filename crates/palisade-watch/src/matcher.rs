//! Log lines to the address they accuse.
//!
//! A jail's patterns are regular expressions with a `<HOST>` placeholder. Most lines of a
//! busy log match none of them, so the expensive part (a capturing regex search) must be
//! skipped for those: every pattern is reduced to a set of literals at least one of which
//! must occur in any line it matches (`Failed `, `Invalid user `, ...), one Aho-Corasick
//! automaton finds whether any of them occurs, and only the patterns whose literals were
//! seen are run. A line no pattern could match costs one SIMD scan.
//!
//! Lines that do match are still many in an attack (every line of a brute force is one), so
//! the address is found without the regex crate's capture engine where possible: a pattern
//! `A<HOST>B` is also compiled as three parts, and three DFA searches (A, then the address
//! anchored where A ended, then B anchored after it) locate the address. When they agree,
//! the result is the one the capture group would give (leftmost-first priority is
//! lexicographic, A's choices first); when they do not, the capture engine decides.
//!
//! What a pattern captures is checked again after the match: the capture must parse as an
//! address and must not be glued to more address-like text (`1.2.3.45` inside
//! `1.2.3.456`, `1.2.3.4` inside the host name `1.2.3.4.example.com`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::Regex;
use regex_automata::{meta, Anchored, Input};
use regex_syntax::hir::{Hir, HirKind};

/// Longer lines are skipped: no log format we know writes them, and a regex over megabytes
/// of attacker-supplied text is a way to stall the watcher.
pub const MAX_LINE: usize = 16 * 1024;

/// What `<HOST>` stands for: an IPv4 address, or an IPv6 address (including the
/// IPv4-mapped `::ffff:1.2.3.4`). Deliberately loose: the capture is parsed afterwards,
/// and anything `std::net` refuses is not a host.
///
/// IPv4 comes first so that `1.2.3.4:5678` (Apache's `[client ADDR:PORT]`) captures the
/// address, not the port; for IPv6 the engine's preference for the longest group
/// repetition that still lets the rest of the pattern match splits `2001:db8::1:5678`
/// the same way when the pattern says a port follows.
/// ASCII only (`(?-u)`), whatever flags the admin's pattern sets.
const HOST_RE: &str = r"(?-u:\d{1,3}(?:\.\d{1,3}){3}|(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}))";

/// The placeholder admins write in patterns.
pub const HOST_PLACEHOLDER: &str = "<HOST>";

/// Literals shorter than this make a useless prefilter (they occur in most lines).
const MIN_LITERAL: usize = 3;
/// A literal set larger than this is not worth the automaton size.
const MAX_LITERALS: usize = 64;

/// One compiled pattern.
#[derive(Clone, Debug)]
struct Pattern {
    regex: Regex,
    /// Capture group indices of the `<HOST>` placeholders, in order.
    host_groups: Vec<usize>,
    /// The pattern in three parts, when it has a single `<HOST>` outside any group.
    split: Option<Split>,
}

/// `A<HOST>B` as `A`, the address and `B`, each searched by DFA.
#[derive(Clone, Debug)]
struct Split {
    before: meta::Regex,
    host: meta::Regex,
    after: meta::Regex,
}

/// A jail's compiled patterns and ignore patterns.
#[derive(Clone, Debug)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    ignore: Vec<Regex>,
    /// Required literals of all gated patterns; `None` if no pattern has any.
    prefilter: Option<Prefilter>,
    /// For each literal of `prefilter`, the patterns it gates.
    literal_patterns: Vec<Vec<usize>>,
    /// Patterns without a usable literal: they run on every line.
    ungated: Vec<usize>,
    /// The patterns as written, for `palisade watch --test` and messages.
    sources: Vec<String>,
}

/// Two automata over the same literals: a leftmost one, which can use SIMD (Teddy) to
/// say quickly that none occurs, and an overlapping one, run only on lines that have some,
/// to find every pattern whose literal occurs.
#[derive(Clone, Debug)]
struct Prefilter {
    gate: AhoCorasick,
    all: AhoCorasick,
}

/// Up to this many patterns, candidates are a bit mask; past it, every pattern is tried.
const MASK_BITS: usize = 128;

/// Why a pattern was refused, before it is turned into a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PatternError {
    /// `true` for an `ignore` pattern.
    pub ignore: bool,
    /// Index in its list.
    pub index: usize,
    pub message: String,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.ignore {
            "ignore pattern"
        } else {
            "pattern"
        };
        write!(f, "{kind} {}: {}", self.index + 1, self.message)
    }
}

impl Matcher {
    /// Compile `patterns` (each with at least one `<HOST>`) and `ignore` (plain regexes).
    /// The error names the pattern (counting from 1) and says what is wrong with it.
    pub fn new(patterns: &[String], ignore: &[String]) -> Result<Self, String> {
        Self::compile(patterns, ignore).map_err(|e| e.to_string())
    }

    pub(crate) fn compile(patterns: &[String], ignore: &[String]) -> Result<Self, PatternError> {
        let mut compiled = Vec::with_capacity(patterns.len());
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut literal_patterns: Vec<Vec<usize>> = Vec::new();
        let mut ungated = Vec::new();
        for (index, source) in patterns.iter().enumerate() {
            let err = |message: String| PatternError {
                ignore: false,
                index,
                message,
            };
            if !source.contains(HOST_PLACEHOLDER) {
                return Err(err(format!(
                    "has no {HOST_PLACEHOLDER}: it must say where the address is"
                )));
            }
            let expanded = expand_host(source);
            let regex = build_regex(&expanded).map_err(err)?;
            let host_groups: Vec<usize> = regex
                .capture_names()
                .enumerate()
                .filter(|(_, name)| name.is_some_and(|n| n.starts_with(HOST_GROUP)))
                .map(|(i, _)| i)
                .collect();
            let split = if host_groups.len() == 1 {
                Split::new(source)
            } else {
                None
            };
            match required_literals(&expanded) {
                Some(set) => {
                    for lit in set {
                        match literals.iter().position(|l| *l == lit) {
                            Some(i) => literal_patterns[i].push(index),
                            None => {
                                literals.push(lit);
                                literal_patterns.push(vec![index]);
                            }
                        }
                    }
                }
                None => ungated.push(index),
            }
            compiled.push(Pattern {
                regex,
                host_groups,
                split,
            });
        }
        let ignore = ignore
            .iter()
            .enumerate()
            .map(|(index, source)| {
                build_regex(source).map_err(|message| PatternError {
                    ignore: true,
                    index,
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let prefilter = if literals.is_empty() {
            None
        } else {
            let build = |kind| {
                AhoCorasick::builder()
                    .match_kind(kind)
                    .build(&literals)
                    .map_err(|e| PatternError {
                        ignore: false,
                        index: 0,
                        message: format!("prefilter: {e}"),
                    })
            };
            Some(Prefilter {
                gate: build(MatchKind::LeftmostFirst)?,
                all: build(MatchKind::Standard)?,
            })
        };
        Ok(Self {
            patterns: compiled,
            ignore,
            prefilter,
            literal_patterns,
            ungated,
            sources: patterns.to_vec(),
        })
    }

    /// The patterns as written (before `<HOST>` was expanded).
    pub fn patterns(&self) -> &[String] {
        &self.sources
    }

    /// The host address a line accuses, or None. Lines that are not UTF-8, longer than
    /// 16 KiB, or match an ignore pattern: None, never a panic.
    pub fn find_host(&self, line: &[u8]) -> Option<IpAddr> {
        if line.len() > MAX_LINE {
            return None;
        }
        let line = trim_newline(line);
        let mut mask: u128 = 0;
        if let Some(pre) = &self.prefilter {
            // The common case: no literal of any pattern occurs; one scan, no allocation.
            if self.ungated.is_empty() && pre.gate.find(line).is_none() {
                return None;
            }
            for m in pre.all.find_overlapping_iter(line) {
                for &i in &self.literal_patterns[m.pattern().as_usize()] {
                    mask |= 1u128.checked_shl(i as u32).unwrap_or(0);
                }
            }
        }
        for &i in &self.ungated {
            mask |= 1u128.checked_shl(i as u32).unwrap_or(0);
        }
        let many = self.patterns.len() > MASK_BITS;
        if mask == 0 && !many {
            return None;
        }
        std::str::from_utf8(line).ok()?;
        let host = self
            .patterns
            .iter()
            .enumerate()
            .filter(|(i, _)| many || mask & (1 << i) != 0)
            .find_map(|(_, p)| p.find_host(line))?;
        if self.ignore.iter().any(|r| r.is_match(line)) {
            return None;
        }
        Some(host)
    }
}

impl Pattern {
    fn find_host(&self, line: &[u8]) -> Option<IpAddr> {
        if let Some((start, end)) = self.split.as_ref().and_then(|s| s.locate(line)) {
            return parse_host(line, start, end);
        }
        self.find_host_captures(line)
    }

    /// The reference: the regex engine's own capture group.
    fn find_host_captures(&self, line: &[u8]) -> Option<IpAddr> {
        if !self.regex.is_match(line) {
            return None;
        }
        let mut locs = self.regex.capture_locations();
        self.regex.captures_read(&mut locs, line)?;
        self.host_groups
            .iter()
            .find_map(|&g| locs.get(g))
            .and_then(|(start, end)| parse_host(line, start, end))
    }
}

#[cfg(test)]
impl Matcher {
    /// Per pattern: what the split search and the capture group say about `line`.
    fn both_ways(&self, line: &[u8]) -> Vec<(Option<IpAddr>, Option<IpAddr>)> {
        self.patterns
            .iter()
            .map(|p| (p.find_host(line), p.find_host_captures(line)))
            .collect()
    }

    /// How many patterns have the split search (the rest always use captures).
    fn split_count(&self) -> usize {
        self.patterns.iter().filter(|p| p.split.is_some()).count()
    }
}

impl Split {
    /// `None` unless the pattern has exactly one `<HOST>`, both halves are regexes on
    /// their own (so the placeholder is not inside a group or class), and no inline flag
    /// other than a leading one would change meaning when the halves are cut apart.
    fn new(pattern: &str) -> Option<Self> {
        let (before, after) = pattern.split_once(HOST_PLACEHOLDER)?;
        if after.contains(HOST_PLACEHOLDER) {
            return None;
        }
        let flags_len = leading_flags(before);
        if has_inline_flags(&before[flags_len..]) {
            return None;
        }
        Some(Self {
            before: dfa_regex(before)?,
            host: dfa_regex(HOST_RE)?,
            after: dfa_regex(&format!("{}{after}", &before[..flags_len]))?,
        })
    }

    /// Where the address is, if the three searches line up.
    fn locate(&self, line: &[u8]) -> Option<(usize, usize)> {
        let a = self.before.search(&Input::new(line))?;
        let host = self
            .host
            .search(&Input::new(line).range(a.end()..).anchored(Anchored::Yes))?;
        self.after
            .search(&Input::new(line).range(host.end()..).anchored(Anchored::Yes))?;
        Some((host.start(), host.end()))
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
fn leading_flags(pattern: &str) -> usize {
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

/// Prefix of the capture group names `<HOST>` expands to; unlikely in admins' own regexes.
const HOST_GROUP: &str = "palisade_host";

/// Replace each `<HOST>` by its own named group (`palisade_host0`, `palisade_host1`, ...):
/// a pattern may have alternatives with the address in different places.
fn expand_host(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 128);
    for (i, part) in pattern.split(HOST_PLACEHOLDER).enumerate() {
        if i > 0 {
            out.push_str(&format!("(?P<{HOST_GROUP}{}>{HOST_RE})", i - 1));
        }
        out.push_str(part);
    }
    out
}

/// A pattern that compiles to something huge is an error, not a memory hog.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

fn build_regex(source: &str) -> Result<Regex, String> {
    regex::bytes::RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The capture `text[start..end]` as an address, if it is one and stands on its own.
fn parse_host(bytes: &[u8], start: usize, end: usize) -> Option<IpAddr> {
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
    let s = std::str::from_utf8(&bytes[start..end]).ok()?;
    let ip = if s.contains(':') {
        let v6: Ipv6Addr = s.parse().ok()?;
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    } else {
        IpAddr::V4(s.parse::<Ipv4Addr>().ok()?)
    };
    // Nobody connects from the unspecified address; a line claiming so is not about a host.
    (!ip.is_unspecified()).then_some(ip)
}

/// Literals at least one of which occurs in every match of `pattern`, or `None` if the
/// pattern has no such set worth scanning for.
fn required_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let set = required(&hir)?;
    (score(&set) >= MIN_LITERAL).then_some(set)
}

/// The shortest literal of a set: how selective scanning for it is.
fn score(set: &[Vec<u8>]) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Literal(lit) => Some(vec![lit.0.to_vec()]),
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .filter_map(required)
            .max_by_key(|set| (score(set), std::cmp::Reverse(set.len()))),
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for b in branches {
                let set = required(b)?;
                if score(&set) < MIN_LITERAL {
                    return None;
                }
                all.extend(set);
            }
            (all.len() <= MAX_LITERALS).then_some(all)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
