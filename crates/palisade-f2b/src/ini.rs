//! One filter file as Python's `configparser` reads it, with fail2ban's settings.
//!
//! fail2ban's files are not TOML or a loose "ini": they are whatever Python's
//! `ConfigParser(inline_comment_prefixes=";")` accepts, and admins' files rely on its
//! details. So this follows them exactly:
//! - a line indented deeper than its option's line continues the value (regex lists are
//!   written this way); empty lines inside a value are kept, trailing ones dropped;
//! - a line whose first non-blank character is `#` or `;` is a comment, even inside a
//!   value; `;` after whitespace starts a comment; `#` elsewhere is text (regexes use it);
//! - an option is `name = value` or `name : value`, split at the first `=` or `:`; option
//!   names are lower-cased; values are trimmed;
//! - `[name]` starts a section (the name is everything between the first `[` and the last
//!   `]`), `[DEFAULT]` is the defaults every section sees;
//! - a section or an option given twice in one file is an error (configparser's `strict`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::FilterError;
use crate::sourced::{Origin, SourcedText};

/// Options of one section, by lower-cased name.
pub type Options = BTreeMap<String, SourcedText>;

/// The section every other section sees as defaults.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// One parsed file.
#[derive(Clone, Debug, Default)]
pub struct IniFile {
    pub defaults: Options,
    /// Sections in the order they first appear.
    pub sections: Vec<(String, Options)>,
}

impl IniFile {
    pub fn section(&self, name: &str) -> Option<&Options> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o)
    }
}

/// Where the option being read lives.
enum Target {
    None,
    Defaults,
    Section(usize),
}

/// The option whose value continuation lines extend.
struct Current {
    name: String,
    /// (line text, origin); `None` text for an empty line kept inside the value.
    lines: Vec<(String, Origin)>,
}

/// Parses `text`, read from `file`.
pub fn parse_ini(file: &Arc<str>, text: &str) -> Result<IniFile, FilterError> {
    let mut ini = IniFile::default();
    let mut target = Target::None;
    let mut current: Option<Current> = None;
    let mut indent_level = usize::MAX;
    let mut seen_sections: Vec<String> = Vec::new();
    let mut seen_options: Vec<(String, String)> = Vec::new();
    let mut section_name = String::new();

    for (index, raw) in text.lines().enumerate() {
        let origin = Origin {
            file: file.clone(),
            line: index as u32 + 1,
        };
        let comment_start = comment_start(raw);
        let value = raw[..comment_start.unwrap_or(raw.len())].trim();
        if value.is_empty() {
            // An empty line (not a comment) is part of a value being read.
            if comment_start.is_none() {
                if let Some(cur) = current.as_mut() {
                    cur.lines.push((String::new(), origin));
                }
            }
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        if current.is_some() && indent > indent_level {
            if let Some(cur) = current.as_mut() {
                cur.lines.push((value.to_string(), origin));
            }
            continue;
        }
        indent_level = indent;
        finish(&mut ini, &target, current.take());
        if let Some(header) = section_header(value) {
            if header == DEFAULT_SECTION {
                target = Target::Defaults;
            } else {
                if seen_sections.iter().any(|s| s == header) {
                    return Err(FilterError::config(
                        &origin,
                        format!("section [{header}] appears twice in this file; merge the two"),
                    ));
                }
                seen_sections.push(header.to_string());
                let at = match ini.sections.iter().position(|(n, _)| n == header) {
                    Some(at) => at,
                    None => {
                        ini.sections.push((header.to_string(), Options::new()));
                        ini.sections.len() - 1
                    }
                };
                target = Target::Section(at);
            }
            section_name = header.to_string();
            continue;
        }
        if matches!(target, Target::None) {
            return Err(FilterError::config(
                &origin,
                format!("`{value}` comes before any [section] header; a filter file starts with [INCLUDES], [DEFAULT], [Definition] or [Init]"),
            ));
        }
        let Some((name, first)) = split_option(value) else {
            return Err(FilterError::config(
                &origin,
                format!("`{value}` is neither `name = value` nor a [section] header"),
            ));
        };
        let key = (section_name.clone(), name.clone());
        if seen_options.contains(&key) {
            return Err(FilterError::config(
                &origin,
                format!("option `{name}` is set twice in [{section_name}] of this file; keep one"),
            ));
        }
        seen_options.push(key);
        current = Some(Current {
            name,
            lines: vec![(first.to_string(), origin)],
        });
    }
    finish(&mut ini, &target, current.take());
    Ok(ini)
}

/// Stores a finished option: lines joined by `\n`, trailing blank lines dropped.
fn finish(ini: &mut IniFile, target: &Target, current: Option<Current>) {
    let Some(mut cur) = current else { return };
    while cur.lines.len() > 1 && cur.lines.last().is_some_and(|(l, _)| l.is_empty()) {
        cur.lines.pop();
    }
    let mut value = SourcedText::new();
    for (i, (line, origin)) in cur.lines.iter().enumerate() {
        if i > 0 {
            value.push_str("\n", origin);
        }
        value.push_str(line, origin);
    }
    let options = match target {
        Target::None => return,
        Target::Defaults => &mut ini.defaults,
        Target::Section(at) => &mut ini.sections[*at].1,
    };
    options.insert(cur.name, value);
}

/// Byte offset where a comment starts: a line whose first non-blank is `#` or `;`, or a
/// `;` at the start or after whitespace.
fn comment_start(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return Some(0);
    }
    let bytes = line.as_bytes();
    bytes
        .iter()
        .enumerate()
        .position(|(i, &b)| b == b';' && (i == 0 || (bytes[i - 1] as char).is_whitespace()))
}

/// `[name]` → `name` (between the first `[` and the last `]`).
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// `name = value` or `name: value` → (lower-cased name, value), split at the first
/// delimiter.
fn split_option(value: &str) -> Option<(String, &str)> {
    let at = value.find(['=', ':'])?;
    let name = value[..at].trim_end();
    if name.is_empty() {
        return None;
    }
    Some((name.to_lowercase(), value[at + 1..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> IniFile {
        parse_ini(&Arc::from("t.conf"), text).unwrap()
    }

    #[test]
    fn indented_lines_continue_a_value_and_comments_inside_are_dropped() {
        let ini = parse(
            "[Definition]\nfailregex = ^a$\n    # a comment\n            ^b$\n\n            ^c$\n\nignoreregex =\n",
        );
        let def = ini.section("Definition").unwrap();
        assert_eq!(def["failregex"].as_str(), "^a$\n^b$\n\n^c$");
        assert_eq!(def["failregex"].origin_at(4).unwrap().line, 4);
        assert_eq!(def["failregex"].origin_at(9).unwrap().line, 6);
        assert_eq!(def["ignoreregex"].as_str(), "");
    }

    #[test]
    fn semicolon_after_space_is_a_comment_hash_is_not() {
        let ini = parse("[DEFAULT]\nA = x#y ; comment\nb: c;d\n");
        assert_eq!(ini.defaults["a"].as_str(), "x#y");
        assert_eq!(ini.defaults["b"].as_str(), "c;d");
    }

    #[test]
    fn option_splits_at_first_delimiter() {
        let ini = parse("[s]\nk = v: w = x\nj: a=b\n");
        let s = ini.section("s").unwrap();
        assert_eq!(s["k"].as_str(), "v: w = x");
        assert_eq!(s["j"].as_str(), "a=b");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_ini(&Arc::from("t.conf"), "a = b\n").unwrap_err();
        assert!(e.to_string().starts_with("t.conf:1: "), "{e}");
        let e = parse_ini(&Arc::from("t.conf"), "[s]\na = 1\n\nA = 2\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.conf:4: option `a` is set twice"),
            "{e}"
        );
        let e = parse_ini(&Arc::from("t.conf"), "[s]\n[s]\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("t.conf:2: section [s] appears twice"),
            "{e}"
        );
        let e = parse_ini(&Arc::from("t.conf"), "[s]\njunk\n").unwrap_err();
        assert!(e.to_string().contains("t.conf:2: `junk` is neither"), "{e}");
    }
}
