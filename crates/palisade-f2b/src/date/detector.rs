//! Which template finds the timestamp of a line: `datepattern` as fail2ban reads it.
//!
//! Without a `datepattern`, every default form is tried, each first anchored at the line
//! start, then anywhere in the line. `{^LN-BEG}` (what `common.conf` sets) tries only the
//! line-start forms. A `datepattern` line with `{DATE}` is a frame placed around each
//! default form (`^[^\[]*\[({DATE})`). Other lines are templates of their own.
//!
//! fail2ban also reorders templates by how often they hit and remembers where the last
//! date was; the first anchored template that matches, else the leftmost match, is what
//! that heuristic settles on for the logs it is meant for, without state.

use super::template::{Begin, Template};

/// fail2ban's default forms, most specific first.
const DEFAULTS: &[&str] = &[
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    r"%m/%d/%ExY:%H:%M:%S",
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    "EPOCH",
    r"{^LN-BEG}%H:%M:%S",
    r"^<%m/%d/%Exy@%H:%M:%S>",
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    r"%b %d, %ExY %I:%M:%S %p",
    r"^%b-%d-%Exy %k:%M:%S",
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    "TAI64N",
];

const EPOCH: &str = r"\d{10,11}\b(?:\.\d{3,6})?";
const LONG_EPOCH: &str = r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?";

/// Finds the timestamp in lines.
#[derive(Clone, Debug, Default)]
pub struct DateDetector {
    templates: Vec<Template>,
}

impl DateDetector {
    /// From the (interpolated) `datepattern` option; `None`: fail2ban's defaults. The
    /// error names the offending line's text.
    pub fn new(datepattern: Option<&str>) -> Result<Self, (String, String)> {
        let mut d = Self::default();
        let Some(text) = datepattern else {
            d.add_defaults(false)?;
            return Ok(d);
        };
        for line in text.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
            d.add_line(line)?;
        }
        Ok(d)
    }

    fn push(&mut self, template: Template) {
        if !self.templates.iter().any(|t| t.name == template.name) {
            self.templates.push(template);
        }
    }

    fn add_line(&mut self, line: &str) -> Result<(), (String, String)> {
        let err = |e: String| (line.to_string(), e);
        let key = if line.contains('%') {
            line.to_string()
        } else {
            line.to_uppercase()
        };
        match key.as_str() {
            "{^LN-BEG}" => return self.add_defaults(true),
            "{DEFAULT}" => return self.add_defaults(false),
            "{NONE}" => {
                let nothing = Template::from_regex(line, "^", Begin::None, false).map_err(err)?;
                self.push(nothing);
                return Ok(());
            }
            _ => {}
        }
        if key.contains("{DATE}") {
            for pattern in DEFAULTS
                .iter()
                .filter(|p| !matches!(**p, "EPOCH" | "TAI64N"))
            {
                let inner = pattern.trim_start_matches("{^LN-BEG}");
                let framed = replace_ignore_case(line, "{DATE}", inner);
                self.push(Self::pattern(&framed).map_err(err)?);
            }
            return Ok(());
        }
        self.push(Self::pattern(line).map_err(err)?);
        Ok(())
    }

    /// fail2ban's defaults; `line_start_only`: only those anchored at the line start.
    fn add_defaults(&mut self, line_start_only: bool) -> Result<(), (String, String)> {
        let mut anchored_copies = Vec::new();
        let mut originals = Vec::new();
        for pattern in DEFAULTS {
            if !pattern.starts_with("{^LN-BEG}") && !pattern.starts_with('^') {
                anchored_copies.push(
                    Self::pattern(&format!("{{^LN-BEG}}{pattern}"))
                        .map_err(|e| (pattern.to_string(), e))?,
                );
            }
            originals.push(Self::pattern(pattern).map_err(|e| (pattern.to_string(), e))?);
        }
        for t in anchored_copies.into_iter().chain(originals) {
            if !line_start_only || t.anchored {
                self.push(t);
            }
        }
        Ok(())
    }

    /// One template from a `datepattern` line.
    fn pattern(line: &str) -> Result<Template, String> {
        let upper = line.to_uppercase();
        let (begin, rest) = if let Some(rest) = line.strip_prefix("{UNB}") {
            (Begin::None, rest)
        } else if let Some(rest) = line.strip_prefix("{^LN-BEG}") {
            (Begin::LineStart, rest)
        } else {
            (Begin::Word, line)
        };
        let end = begin != Begin::None;
        let special = rest.to_uppercase();
        let line_start = begin == Begin::LineStart || special.starts_with('^');
        let bare = special.trim_start_matches('^');
        match bare {
            "EPOCH" | "LEPOCH" => {
                let epoch = if bare == "LEPOCH" { LONG_EPOCH } else { EPOCH };
                if line_start {
                    Template::from_regex(line, &format!("({epoch})"), Begin::LineStart, true)
                } else {
                    let any = format!(r"^({epoch})|^\[({epoch})|\baudit\(({epoch})");
                    Template::from_regex(line, &any, Begin::None, true)
                }
            }
            "TAI64N" => {
                let begin = if line_start {
                    Begin::LineStart
                } else {
                    Begin::None
                };
                Template::from_regex(line, "@[0-9a-f]{24}", begin, true)
            }
            _ if upper.contains("{EPOCH}") || upper.contains("{LEPOCH}") => {
                let long = upper.contains("{LEPOCH}");
                let epoch = format!("({})", if long { LONG_EPOCH } else { EPOCH });
                let replaced = replace_ignore_case(
                    &replace_ignore_case(rest, "{LEPOCH}", &epoch),
                    "{EPOCH}",
                    &epoch,
                );
                Template::from_regex(line, &format!("({replaced})"), begin, end)
            }
            _ => Template::from_pattern(line, rest, begin, end),
        }
    }

    /// The byte range of the timestamp in `line`, if any template finds one. `last` is
    /// the caller's memory of the template that hit last: an anchored one is tried first
    /// (fail2ban does the same), which spares trying the others on every line of a log.
    pub fn find(&self, line: &str, last: &mut Option<usize>) -> Option<(usize, usize)> {
        if let Some(i) = *last {
            if let Some(t) = self.templates.get(i).filter(|t| t.anchored) {
                if let Some((_, span)) = t.find(line) {
                    return Some(span);
                }
            }
        }
        let mut best: Option<(usize, usize, (usize, usize))> = None;
        for (i, t) in self.templates.iter().enumerate() {
            let Some((start, span)) = t.find(line) else {
                continue;
            };
            if t.anchored || start <= 1 {
                *last = Some(i);
                return Some(span);
            }
            if best.is_none_or(|(s, _, _)| start < s) {
                best = Some((start, i, span));
            }
        }
        let (_, i, span) = best?;
        *last = Some(i);
        Some(span)
    }
}

fn replace_ignore_case(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_uppercase();
    match lower.find(needle) {
        Some(at) if lower.len() == text.len() => {
            format!("{}{with}{}", &text[..at], &text[at + needle.len()..])
        }
        _ => text.replace(needle, with),
    }
}

#[cfg(test)]
mod tests;
