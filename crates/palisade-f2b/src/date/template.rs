//! One date template: where in a line a timestamp of one form is.
//!
//! fail2ban removes the timestamp it finds from a line before its failregexes see it, so
//! which text counts as "the timestamp" changes what the failregexes match. Templates are
//! built the way fail2ban builds them from `datepattern` lines:
//! - `%Y`, `%b`, `%H`... (strptime directives, plus fail2ban's `%Ex...` strict forms and
//!   `%k`/`%l`/`%z`/`%Z`) become regex pieces; a pattern with month or day names is
//!   case-insensitive;
//! - without a capture group of its own, the whole pattern is the timestamp (group 1);
//! - `{^LN-BEG}` anchors it at the line start, allowing up to two non-word characters
//!   before it (`[`, `(`); otherwise it must start and end at word boundaries, unless it
//!   starts with `^`/`**` or ends with `$`/`\b`/`\s`/`**`; `{UNB}` drops the boundaries;
//! - `EPOCH`/`LEPOCH` (Unix time, in seconds or milli/microseconds) and `TAI64N` (`@4000...`).
//!
//! Only the span is needed here (palisade times failures by when it reads them), so the
//! parsed time value is not computed.

use crate::pyregex::{Flags, ParseError, PyRegex};

/// Year with century: fail2ban accepts the last and next few years; this accepts 2000-2099.
const YEAR: &str = r"20\d\d";

const MONTHS_ABBR: &str = "sep|jan|feb|mar|apr|may|jun|jul|aug|oct|nov|dec";
const MONTHS: &str =
    "september|february|november|december|january|october|august|april|march|june|july|may";
const DAYS_ABBR: &str = "mon|tue|wed|thu|fri|sat|sun";
const DAYS: &str = "wednesday|thursday|saturday|tuesday|monday|friday|sunday";
const TZ_ABBR: &str = r"[A-Z](?:[A-Z]{2,4})?";

/// The regex for a strptime directive (`Y`, `ExY`, ...), `None` if unknown.
fn directive(name: &str) -> Option<String> {
    let named = |group: &str, body: &str| format!("(?P<{group}>{body})");
    Some(match name {
        "%" => "%".to_string(),
        "a" => named("a", DAYS_ABBR),
        "A" => named("A", DAYS),
        "b" => named("b", MONTHS_ABBR),
        "B" => named("B", MONTHS),
        "p" => named("p", "am|pm"),
        "d" => named("d", r"[1-2]\d|[0 ]?[1-9]|3[0-1]"),
        "m" => named("m", r"0?[1-9]|1[0-2]"),
        "Y" => named("Y", r"\d{4}"),
        "y" => named("y", r"\d\d"),
        "H" => named("H", r"[0-1]?\d|2[0-3]"),
        "k" => format!(" ?{}", named("H", r"[0-2]?\d")),
        "I" => named("I", r"1[0-2]|0[1-9]|[1-9]"),
        "l" => format!(" ?{}", named("I", r"1?\d")),
        "M" => named("M", r"[0-5]?\d"),
        "S" => named("S", r"[0-5]?\d|6[0-1]"),
        "f" => named("f", r"[0-9]{1,6}"),
        "j" => named(
            "j",
            r"36[0-6]|3[0-5]\d|[12]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9]",
        ),
        "U" => named("U", r"5[0-3]|[0-4]\d|\d"),
        "W" => named("W", r"5[0-3]|[0-4]\d|\d"),
        "w" => named("w", "[0-6]"),
        "u" => named("u", "[1-7]"),
        "G" => named("G", r"\d\d\d\d"),
        "V" => named("V", r"5[0-3]|0[1-9]|[1-4]\d|\d"),
        "Z" => named("Z", "Z|[A-Z]{3,5}"),
        "z" => named("z", r"Z|UTC|GMT|[+-][01]\d(?::?\d{2})?"),
        "ExZ" => named("Z", TZ_ABBR),
        "Exz" => named(
            "z",
            &format!(r"(?:{TZ_ABBR})?[+-][01]\d(?::?\d{{2}})?|{TZ_ABBR}"),
        ),
        "Exd" => named("d", r"[1-2]\d|0[1-9]|3[0-1]"),
        "Exm" => named("m", r"0[1-9]|1[0-2]"),
        "ExH" => named("H", r"[0-1]\d|2[0-3]"),
        "Exk" => format!(" ?{}", named("H", r"[0-1]?\d|2[0-3]")),
        "Exl" => format!(" ?{}", named("I", r"1[0-2]|\d")),
        "ExM" => named("M", r"[0-5]\d"),
        "ExS" => named("S", r"[0-5]\d|6[0-1]"),
        "ExY" => named("Y", YEAR),
        "Exy" => named("y", r"\d{2}"),
        // The C locale's composite forms.
        "c" => expand("%a %b %d %H:%M:%S %Y").ok()?,
        "x" => expand("%m/%d/%y").ok()?,
        "X" => expand("%H:%M:%S").ok()?,
        _ => return None,
    })
}

/// Replaces every `%X` directive; an unknown one is an error (as in fail2ban, where it
/// breaks Python's `%` formatting).
pub fn expand(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() * 4);
    let mut rest = pattern;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let ex_len = after
            .strip_prefix("Ex")
            .and_then(|r| r.chars().next())
            .filter(|c| c.is_ascii_alphabetic())
            .map(|_| 3);
        let (name, len) = match ex_len {
            Some(len) if directive(&after[..len]).is_some() => (&after[..len], len),
            _ => {
                let c = after
                    .chars()
                    .next()
                    .ok_or("`%` at the end of the pattern")?;
                (&after[..c.len_utf8()], c.len_utf8())
            }
        };
        let piece = directive(name).ok_or_else(|| {
            format!("`%{name}` is not a date directive (write `%%` for a percent sign)")
        })?;
        out.push_str(&piece);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How a template is bounded at its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    None,
    /// At a word boundary.
    Word,
    /// At the line start, after at most two non-word characters.
    LineStart,
}

/// A compiled date template.
#[derive(Clone, Debug)]
pub struct Template {
    pub name: String,
    regex: PyRegex,
    word_begin: bool,
    word_end: bool,
    /// Anchored at the line start or end: its first match is taken without comparing.
    pub anchored: bool,
}

impl Template {
    /// A template from a `datepattern` line (after `{^LN-BEG}` / `{UNB}` were read).
    pub fn from_pattern(
        name: &str,
        pattern: &str,
        begin: Begin,
        end: bool,
    ) -> Result<Self, String> {
        let mut regex = expand(pattern)?;
        let alpha = ["%a", "%A", "%b", "%B", "%p", "%c"]
            .iter()
            .any(|d| pattern.contains(d) && !pattern.contains(&format!("%{d}")));
        if alpha {
            regex = format!("(?iu){regex}");
        }
        Self::from_regex(name, &regex, begin, end)
    }

    /// fail2ban's `DateTemplate.setRegex`.
    pub fn from_regex(name: &str, regex: &str, begin: Begin, end: bool) -> Result<Self, String> {
        let mut regex = regex.trim().to_string();
        let flags = take_global_flags(&mut regex);
        let bound_begin = begin != Begin::None && !starts_unbounded(&regex);
        let bound_end = end && !ends_unbounded(&regex);
        if !has_plain_group(&regex) {
            regex = wrap_in_group(&regex);
        }
        let mut anchored = false;
        if bound_begin && begin == Begin::LineStart {
            regex = format!(r"^(?:\W{{0,2}})?{regex}");
            anchored = true;
        }
        let body = regex.trim_start_matches('(');
        anchored |= regex.starts_with('^') || body.starts_with('^') || body.starts_with("?:^");
        anchored |= regex.ends_with('$') && !regex.ends_with("\\$") && !regex.ends_with("|$");
        let regex = format!("{flags}{}", remove_star_markers(&regex));
        let compiled = PyRegex::new(&regex, Flags::default())
            .map_err(|e: ParseError| format!("{} (in `{regex}`)", e.message))?;
        Ok(Self {
            name: name.to_string(),
            regex: compiled,
            word_begin: bound_begin && begin == Begin::Word,
            word_end: bound_end,
            anchored,
        })
    }

    /// The first match in `line`: (start of the whole match, span of the timestamp).
    pub fn find(&self, line: &str) -> Option<(usize, (usize, usize))> {
        let mut from = 0;
        while from <= line.len() {
            let spans = self.regex.search_at(line, from)?;
            let (start, end) = spans[0]?;
            let ok_begin = !self.word_begin || !inside_word(line, start);
            let ok_end = !self.word_end || !inside_word(line, end);
            if ok_begin && ok_end {
                // Group 1 normally; the epoch template has one group per place it looks.
                let date = spans[1..]
                    .iter()
                    .flatten()
                    .next()
                    .copied()
                    .unwrap_or((start, start));
                return Some((start, date));
            }
            from = start + line[start..].chars().next().map_or(1, char::len_utf8);
        }
        None
    }
}

/// Whether `at` is between two word characters (where fail2ban's `(?=^|\b|\W)` and
/// `(?=\b|\W|$)` fail).
fn inside_word(line: &str, at: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let before = line[..at].chars().next_back().is_some_and(word);
    let after = line[at..].chars().next().is_some_and(word);
    before && after
}

/// Removes the first `(?flags)` group and returns it (to be put back in front).
fn take_global_flags(regex: &mut String) -> String {
    let mut search = 0;
    while let Some(found) = regex[search..].find("(?") {
        let at = search + found;
        let len = regex[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase())
            .count();
        if len > 0
            && regex[at + 2 + len..].starts_with(')')
            && (at == 0 || !regex[..at].ends_with('\\'))
        {
            let flags = regex[at..at + 3 + len].to_string();
            regex.replace_range(at..at + 3 + len, "");
            return flags;
        }
        search = at + 2;
    }
    String::new()
}

/// `^...`, `(^...`, `**...`: no word boundary needed at the start.
fn starts_unbounded(regex: &str) -> bool {
    let mut rest = regex.trim_start_matches('(');
    if let Some(r) = rest.strip_prefix("?") {
        if let Some(close) = r.find(')') {
            if r[..close].chars().all(|c| c.is_alphanumeric()) {
                rest = r[close + 1..].trim_start_matches('(');
            }
        }
    }
    rest.starts_with('^') || rest.starts_with("**") || rest.starts_with("?:^")
}

/// `...$`, `...\b`, `...\s`, `...**`: no word boundary needed at the end.
fn ends_unbounded(regex: &str) -> bool {
    let r = regex.trim_end_matches(')');
    let stars = r.ends_with("**") && !r.ends_with("\\**");
    let r2 = regex.strip_suffix(')').unwrap_or(regex);
    (regex.ends_with('$') || r2.ends_with('$')) && !r2.ends_with("\\$")
        || regex.ends_with("\\b")
        || regex.ends_with("\\s")
        || stars
}

/// Whether there is a `(` that opens a capture group (not escaped, not `(?`).
fn has_plain_group(regex: &str) -> bool {
    let bytes = regex.as_bytes();
    (0..bytes.len()).any(|i| {
        bytes[i] == b'('
            && bytes.get(i + 1) != Some(&b'?')
            && (i == 0 || bytes[i - 1] != b'\\')
            && !(i >= 2 && &bytes[i - 2..i] == b"(?")
    })
}

/// `^body$` → `^(body)$`, keeping leading flags and `^` and a trailing `$` outside.
fn wrap_in_group(regex: &str) -> String {
    let mut head = 0;
    let flag_group = |s: &str| -> usize {
        s.strip_prefix("(?")
            .and_then(|r| {
                let n = r
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .count();
                (n > 0 && r[n..].starts_with(')')).then_some(n + 3)
            })
            .unwrap_or(0)
    };
    head += flag_group(&regex[head..]);
    if regex[head..].starts_with('^') {
        head += 1;
    }
    head += flag_group(&regex[head..]);
    let tail = if regex.len() > head && regex.ends_with('$') {
        1
    } else {
        0
    };
    format!(
        "{}({}){}",
        &regex[..head],
        &regex[head..regex.len() - tail],
        &regex[regex.len() - tail..]
    )
}

/// `**` markers (no boundary here) are removed from both ends.
fn remove_star_markers(regex: &str) -> String {
    let mut r = regex.to_string();
    let lead = r.trim_start_matches('(').len();
    let start = r.len() - lead;
    if r[start..].starts_with("**") {
        r.replace_range(start..start + 2, "");
    }
    let trail = r.trim_end_matches(')').len();
    if r[..trail].ends_with("**") && !r[..trail].ends_with("\\**") {
        r.replace_range(trail - 2..trail, "");
    }
    r
}
