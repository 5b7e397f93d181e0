//! IP-range documents in JSON, as Google publishes its crawlers' and services' networks
//! (`googlebot.json`, `special-crawlers.json`, `goog.json`; Bing's `bingbot.json` has the
//! same shape):
//!
//! ```json
//! {"creationTime": "2024-05-18T10:00:00.000000", "prefixes": [
//!   {"ipv4Prefix": "66.249.64.0/27"}, {"ipv6Prefix": "2001:4860:4801:10::/64"}]}
//! ```
//!
//! Google recommends matching a crawler's address against these lists as the alternative to
//! a forward-confirmed reverse DNS lookup, which palisade's daemon does not do; so `set load`
//! and feeds take the file as published. Such a document is small (kilobytes), so it is read
//! whole, unlike line lists; keys other than `prefixes`, `ipv4Prefix` and `ipv6Prefix` are
//! ignored, so a publisher adding fields breaks nothing. A prefix that is not a network is
//! reported like a bad line of a list (with the document line it is on), so the caller's
//! skip-or-refuse policy applies to it unchanged; a document that is not such JSON at all is
//! one error for the whole input.

use std::io::{BufRead, ErrorKind, Read};

use serde::Deserialize;

use crate::addr::{AddrRange, Element};
use crate::problem::Problem;

/// Largest JSON document read: Google's lists are a few kilobytes; anything this big is not
/// one of them, and is refused before it fills memory.
pub const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct RangeDocument {
    prefixes: Option<Vec<RangeEntry>>,
}

#[derive(Deserialize)]
struct RangeEntry {
    #[serde(rename = "ipv4Prefix")]
    ipv4: Option<String>,
    #[serde(rename = "ipv6Prefix")]
    ipv6: Option<String>,
}

/// One result of a range document: the document line it is on (1-based), the text shown
/// in an error, and the element or what is wrong.
pub(crate) struct RangeItem {
    pub line: u64,
    pub shown: String,
    pub result: Result<Element, Problem>,
}

/// Whether a list's first lines are a JSON document (its first character, after blanks and
/// a byte-order mark, is `{`): no line of any other dialect starts so, and reading it as a
/// JSON range document gives an error that says what it is ("has no `prefixes`") rather
/// than "`{` is not an address".
pub fn looks_like_json(first_lines: &[&str]) -> bool {
    first_lines
        .iter()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with('{'))
}

/// Read a whole range document from `reader` and parse it. `Err` is one problem for the
/// whole input, with the line it is on (0 when there is no line to name).
pub(crate) fn read(
    reader: &mut impl BufRead,
    parse_element: impl Fn(&str) -> Result<Element, Problem>,
) -> Result<Vec<RangeItem>, (u64, Problem)> {
    let mut bytes = Vec::new();
    loop {
        match reader
            .by_ref()
            .take(MAX_JSON_BYTES + 1)
            .read_to_end(&mut bytes)
        {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err((0, Problem::Io(e.to_string()))),
        }
    }
    if bytes.len() as u64 > MAX_JSON_BYTES {
        return Err((
            0,
            Problem::JsonTooLarge {
                max: MAX_JSON_BYTES,
            },
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| (0, Problem::NotUtf8))?;
    parse(text.trim_start_matches('\u{feff}'), parse_element)
}

/// Parse a range document held in `text`.
pub(crate) fn parse(
    text: &str,
    parse_element: impl Fn(&str) -> Result<Element, Problem>,
) -> Result<Vec<RangeItem>, (u64, Problem)> {
    let doc: RangeDocument = serde_json::from_str(text)
        .map_err(|e| (e.line() as u64, Problem::BadJson(without_position(&e))))?;
    let Some(entries) = doc.prefixes else {
        return Err((1, Problem::NoPrefixes));
    };
    let mut lines = LineFinder::new(text);
    Ok(entries
        .into_iter()
        .map(|entry| {
            let (prefix, want_v4) = match (entry.ipv4, entry.ipv6) {
                (Some(p), None) => (p, true),
                (None, Some(p)) => (p, false),
                (v4, v6) => {
                    let shown = v4.or(v6).unwrap_or_default();
                    return RangeItem {
                        line: lines.line_of(&shown),
                        shown,
                        result: Err(Problem::PrefixKeys),
                    };
                }
            };
            let result = parse_element(prefix.trim()).and_then(|el| match (want_v4, el.addr) {
                (true, AddrRange::V4(_)) | (false, AddrRange::V6(_)) => Ok(el),
                _ => Err(Problem::PrefixFamily {
                    key: if want_v4 { "ipv4Prefix" } else { "ipv6Prefix" },
                }),
            });
            RangeItem {
                line: lines.line_of(&prefix),
                shown: prefix,
                result,
            }
        })
        .collect())
}

/// serde_json's message without its ` at line L column C`: the line is reported apart.
fn without_position(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

/// Finds the document line of each prefix, in order: the next place after the previous
/// prefix where its text stands quoted. A prefix written with JSON escapes is not found
/// literally and gets the previous prefix's line, which is still near it.
struct LineFinder<'a> {
    text: &'a str,
    at: usize,
    line: u64,
}

impl<'a> LineFinder<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            at: 0,
            line: 1,
        }
    }

    fn line_of(&mut self, value: &str) -> u64 {
        let quoted = format!("\"{value}\"");
        if let Some(i) = self.text[self.at..].find(&quoted) {
            let end = self.at + i;
            self.line += self.text[self.at..end].matches('\n').count() as u64;
            self.at = end + quoted.len();
        }
        self.line
    }
}

#[cfg(test)]
mod tests;
