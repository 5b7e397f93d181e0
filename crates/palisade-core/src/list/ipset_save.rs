//! `ipset save` output, so ipset users can move their sets over: `create` lines are
//! skipped (palisade's set decides its own type), each `add` line is one element with its
//! timeout and comment; counters describe kernel state, not what to block, and are skipped.

use std::time::Duration;

use super::{element, ParseOptions};
use crate::addr::Element;
use crate::problem::Problem;

/// `add NAME ELEMENT [timeout N] [comment "text"] [packets N] [bytes N] …`
pub(super) fn parse_ipset_save_line(
    text: &str,
    opts: ParseOptions,
) -> Result<Option<Element>, Problem> {
    let t = text.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let mut tokens = Tokens { rest: t };
    let command = match tokens.next() {
        Some(c) => c?,
        None => return Ok(None),
    };
    match command {
        "create" | "-N" | "COMMIT" => return Ok(None),
        "add" | "-A" => {}
        other => return Err(Problem::UnknownIpsetCommand(other.to_string())),
    }
    let _set_name = tokens.next().ok_or(Problem::MissingElement)??;
    let el_text = tokens.next().ok_or(Problem::MissingElement)??;
    let mut el = element(el_text, opts)?;
    while let Some(tok) = tokens.next() {
        match tok? {
            "timeout" => {
                let v = option_value("timeout", &mut tokens)?;
                let secs: u64 = parse_digits(v).ok_or_else(|| Problem::BadOptionValue {
                    option: "timeout".into(),
                    value: v.to_string(),
                })?;
                el.timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "comment" => {
                let v = option_value("comment", &mut tokens)?;
                el.comment = (!v.is_empty()).then(|| v.to_string());
            }
            "nomatch" => return Err(Problem::Unsupported("nomatch")),
            // Counters and skbinfo values describe kernel state, not what to block.
            "packets" | "bytes" | "skbmark" | "skbprio" | "skbqueue" => {
                tokens.next().transpose()?;
            }
            _ => {}
        }
    }
    Ok(Some(el))
}

fn option_value<'a>(option: &str, tokens: &mut Tokens<'a>) -> Result<&'a str, Problem> {
    tokens.next().ok_or_else(|| Problem::MissingOptionValue {
        option: option.to_string(),
    })?
}

fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whitespace-separated words, where `"…"` is one word without its quotes
/// (how `ipset save` writes comments).
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Result<&'a str, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest.trim_start();
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        if let Some(inner) = s.strip_prefix('"') {
            return Some(match inner.find('"') {
                Some(end) => {
                    self.rest = &inner[end + 1..];
                    Ok(&inner[..end])
                }
                None => {
                    self.rest = "";
                    Err(Problem::UnterminatedQuote)
                }
            });
        }
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        self.rest = &s[end..];
        Some(Ok(&s[..end]))
    }
}
