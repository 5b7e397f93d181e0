//! Log lines to the rule they match and the address they accuse.
//!
//! A jail's rules are regular expressions, most with a `<HOST>` placeholder. Most lines of
//! a busy log match none of them, so the expensive part (a regex search per rule) must be
//! skipped for those: every rule is reduced to a set of literals at least one of which
//! must occur in any line it matches (`Failed `, `Invalid user `, ...; [`literals`]), one
//! Aho-Corasick automaton finds whether any of them occurs, and only the rules whose
//! literals were seen are run. A line no rule could match costs one SIMD scan.
//!
//! Rules with one `<HOST>` outside any group are searched as three DFAs and checked for a
//! second reading of the line that would accuse someone else ([`split`]): such a line
//! accuses nobody. Other rules fall back to the capture engine.
//!
//! What a rule captures is checked again after the match ([`host`]): the capture must
//! parse as an address and must not be glued to more address-like text.

mod host;
mod literals;
mod prefilter;
pub(crate) mod split;

use std::net::IpAddr;

use regex::bytes::Regex;

pub use host::HOST_PLACEHOLDER;
use host::{expand_host, parse_host, HOST_GROUP};
use literals::required_literals;
use prefilter::{Prefilter, MASK_BITS};
use split::{Located, Split};

/// Longer lines are skipped: no log format we know writes them, and a regex over megabytes
/// of attacker-supplied text is a way to stall the watcher.
pub const MAX_LINE: usize = 16 * 1024;

/// A pattern that compiles to something huge is an error, not a memory hog.
pub(crate) const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// What a line says, through the first rule that matches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Rule `rule` matched and names this address.
    Host { rule: usize, host: IpAddr },
    /// Rule `rule`, which names no address, matched.
    Hostless { rule: usize },
    /// Rule `rule` matched, but the line can be read with two different addresses in its
    /// `<HOST>`'s place: it accuses nobody.
    Ambiguous { rule: usize },
}

/// One compiled rule.
#[derive(Clone, Debug)]
struct Rule {
    regex: Regex,
    /// Capture group indices of the `<HOST>` placeholders, in order; empty for a rule
    /// without one.
    host_groups: Vec<usize>,
    /// The rule in three parts, when it has a single `<HOST>` outside any group.
    split: Option<Split>,
}

/// A jail's compiled rules and ignore patterns. Stateless: shared by every reader.
#[derive(Clone, Debug)]
pub struct Matcher {
    rules: Vec<Rule>,
    ignore: Vec<Regex>,
    /// Each rule's required literals (`None`: it has none worth scanning for).
    literals: Vec<Option<Vec<Vec<u8>>>>,
    /// The prefilter over every rule.
    prefilter: Prefilter,
    /// A prefilter over some rules only, and the mask of those rules.
    lean: Option<(u128, Prefilter)>,
    /// The rules as written, for `palisade watch --test` and messages.
    sources: Vec<String>,
}

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
        Self::compile(patterns, ignore, false).map_err(|e| e.to_string())
    }

    /// Like [`Matcher::new`]; with `hostless`, a pattern without `<HOST>` is a rule that
    /// names no address (the built-in jails' lines that say a failure happened on a
    /// connection whose address another line gave).
    pub(crate) fn compile(
        patterns: &[String],
        ignore: &[String],
        hostless: bool,
    ) -> Result<Self, PatternError> {
        let mut rules = Vec::with_capacity(patterns.len());
        let mut literals = Vec::with_capacity(patterns.len());
        for (index, source) in patterns.iter().enumerate() {
            let err = |message: String| PatternError {
                ignore: false,
                index,
                message,
            };
            if !hostless && !source.contains(HOST_PLACEHOLDER) {
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
            literals.push(required_literals(&expanded));
            rules.push(Rule {
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
        let prefilter = Prefilter::build(&literals, |_| true).map_err(|message| PatternError {
            ignore: false,
            index: 0,
            message,
        })?;
        Ok(Self {
            rules,
            ignore,
            literals,
            prefilter,
            lean: None,
            sources: patterns.to_vec(),
        })
    }

    /// Adds a prefilter over the rules in `allowed` alone, which
    /// [`Matcher::find_among`] uses when given exactly that mask.
    pub(crate) fn with_lean_view(mut self, allowed: u128) -> Self {
        self.lean = Prefilter::build(&self.literals, |i| prefilter::bit(i) & allowed != 0)
            .ok()
            .map(|p| (allowed, p));
        self
    }

    /// The patterns as written (before `<HOST>` was expanded).
    pub fn patterns(&self) -> &[String] {
        &self.sources
    }

    /// The host address a line accuses, or None. Lines that are not UTF-8, longer than
    /// 16 KiB, match an ignore pattern, or can be read as accusing two different
    /// addresses: None, never a panic.
    pub fn find_host(&self, line: &[u8]) -> Option<IpAddr> {
        match self.find(line)? {
            Found::Host { host, .. } => Some(host),
            Found::Hostless { .. } | Found::Ambiguous { .. } => None,
        }
    }

    /// What the first rule that matches `line` says about it, if one does.
    pub fn find(&self, line: &[u8]) -> Option<Found> {
        self.find_among(line, u128::MAX)
    }

    /// [`Matcher::find`] among the rules whose bits are set in `allowed` (every rule past
    /// the 128th is always allowed): a jail skips the rules that could not change
    /// anything now, and a line only they could match costs the prefilter's scan alone.
    pub fn find_among(&self, line: &[u8], allowed: u128) -> Option<Found> {
        if line.len() > MAX_LINE {
            return None;
        }
        let line = trim_newline(line);
        let prefilter = match &self.lean {
            Some((mask, lean)) if *mask == allowed => lean,
            _ => &self.prefilter,
        };
        let mask = prefilter.candidates(line) & allowed;
        let many = self.rules.len() > MASK_BITS;
        if mask == 0 && !many {
            return None;
        }
        std::str::from_utf8(line).ok()?;
        let found = self
            .rules
            .iter()
            .enumerate()
            .filter(|(i, _)| (many && *i >= MASK_BITS) || mask & prefilter::bit(*i) != 0)
            .find_map(|(i, r)| r.find(i, line))?;
        if self.ignore.iter().any(|r| r.is_match(line)) {
            return None;
        }
        Some(found)
    }
}

impl Rule {
    /// What this rule says about `line`: `None` if it does not match or names no address
    /// it can stand by (a host name, the unspecified address).
    fn find(&self, index: usize, line: &[u8]) -> Option<Found> {
        if self.host_groups.is_empty() {
            return self
                .regex
                .is_match(line)
                .then_some(Found::Hostless { rule: index });
        }
        let split = self.split.as_ref();
        match split.map(|s| s.search(line)) {
            Some(Located::Host(host)) => return Some(Found::Host { rule: index, host }),
            Some(Located::Ambiguous) => return Some(Found::Ambiguous { rule: index }),
            Some(Located::NoAddress) => return None,
            Some(Located::NotFound) | None => {}
        }
        let (start, end) = self.capture_span(line)?;
        let host = parse_host(line, start, end)?;
        if split.is_some_and(|s| s.ambiguous(line, start, end, host)) {
            return Some(Found::Ambiguous { rule: index });
        }
        Some(Found::Host { rule: index, host })
    }

    /// The reference: where the regex engine's own capture group puts the address.
    fn capture_span(&self, line: &[u8]) -> Option<(usize, usize)> {
        if !self.regex.is_match(line) {
            return None;
        }
        let mut locs = self.regex.capture_locations();
        self.regex.captures_read(&mut locs, line)?;
        self.host_groups.iter().find_map(|&g| locs.get(g))
    }
}

#[cfg(test)]
impl Matcher {
    /// Per rule with the split search: what it and the capture group say about `line`,
    /// when the split search finds one address.
    fn both_ways(&self, line: &[u8]) -> Vec<(Option<IpAddr>, Option<IpAddr>)> {
        let parse = |span: Option<(usize, usize)>| span.and_then(|(s, e)| parse_host(line, s, e));
        self.rules
            .iter()
            .filter_map(|r| match r.split.as_ref()?.search(line) {
                Located::Host(h) => Some((Some(h), parse(r.capture_span(line)))),
                _ => None,
            })
            .collect()
    }

    /// Whether some rule runs on every line (it has no literal to scan for).
    fn has_ungated(&self) -> bool {
        self.prefilter.has_ungated()
    }

    /// How many rules with an address have the split search (the rest use captures).
    fn split_count(&self) -> usize {
        self.rules.iter().filter(|r| r.split.is_some()).count()
    }

    /// Rules with an address that have no split search.
    fn unsplit(&self) -> Vec<&str> {
        self.rules
            .iter()
            .zip(&self.sources)
            .filter(|(r, _)| !r.host_groups.is_empty() && r.split.is_none())
            .map(|(_, s)| s.as_str())
            .collect()
    }
}

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

#[cfg(test)]
mod tests;
