//! Streaming parsers for blocklist files.
//!
//! Lists come from many sources in a handful of dialects (plain address
//! lists, FireHOL `.netset`/`.ipset`, Spamhaus DROP, `ipset save` output).
//! They can hold millions of lines, so the reader streams: it keeps one
//! reused line buffer, never the whole file, and yields one element or one
//! error per line so the caller decides whether a bad line is fatal.

use std::fmt;
use std::io::{BufRead, ErrorKind};
use std::str::FromStr;

use crate::addr::{parse_element, Element};
use crate::problem::Problem;

mod ipset_save;
pub mod ranges_json;

use ipset_save::parse_ipset_save_line;

/// Dialect of a list file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Detect from the file name and first lines (see [`detect_format`]).
    Auto,
    /// One address, network or range per line; `#` and `;` comments.
    Plain,
    /// FireHOL `.netset` (same rules as `Plain`).
    Netset,
    /// FireHOL `.ipset` (same rules as `Plain`).
    Ipset,
    /// Spamhaus DROP: `1.10.16.0/20 ; SBL256894`, the reference kept as comment.
    Spamhaus,
    /// Output of `ipset save`: `create` lines skipped, `add` lines loaded.
    IpsetSave,
    /// A JSON IP-range document as Google publishes (`{"prefixes": [{"ipv4Prefix": …}]}`),
    /// see [`ranges_json`].
    Json,
}

const FORMAT_NAMES: [(&str, Format); 7] = [
    ("auto", Format::Auto),
    ("plain", Format::Plain),
    ("netset", Format::Netset),
    ("ipset", Format::Ipset),
    ("spamhaus", Format::Spamhaus),
    ("ipset-save", Format::IpsetSave),
    ("json", Format::Json),
];

impl FromStr for Format {
    type Err = Problem;
    fn from_str(s: &str) -> Result<Self, Problem> {
        FORMAT_NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s.trim()))
            .map(|(_, f)| *f)
            .ok_or_else(|| Problem::UnknownFormat(s.to_string()))
    }
}

/// The name [`Format::from_str`] accepts.
impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = FORMAT_NAMES
            .iter()
            .find(|(_, fmt)| fmt == self)
            .map_or("auto", |(name, _)| name);
        f.write_str(name)
    }
}

/// Guess the dialect of a list; never returns [`Format::Auto`].
///
/// A JSON document (starting with `{`) first, whatever its name; then by extension
/// (`.netset`, `.ipset`), then by content: `create `/
/// `add ` lines mean `ipset save` output (this wins over an `.ipset`
/// extension too, since a saved ipset is often named that way and would
/// otherwise fail on every line), `CIDR ; SBL…` means Spamhaus, anything
/// else is a plain list.
pub fn detect_format(file_name: &str, first_lines: &[&str]) -> Format {
    if ranges_json::looks_like_json(first_lines) {
        return Format::Json;
    }
    let looks_saved = first_lines.iter().any(|l| {
        let l = l.trim_start();
        ["create ", "add ", "-N ", "-A "]
            .iter()
            .any(|p| l.starts_with(p))
    });
    if looks_saved {
        return Format::IpsetSave;
    }
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".netset") {
        return Format::Netset;
    }
    if lower.ends_with(".ipset") {
        return Format::Ipset;
    }
    let looks_spamhaus = first_lines.iter().any(|l| {
        let l = l.trim_start();
        !l.starts_with(';')
            && l.split_once(';')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with("SBL"))
    });
    if looks_spamhaus {
        Format::Spamhaus
    } else {
        Format::Plain
    }
}

/// How strict to be with elements; see [`parse_element`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// Elements carry a port (`ADDR,tcp:22`); required when set, refused when not.
    pub with_ports: bool,
    /// Accept networks with host bits set by masking them.
    pub normalize: bool,
}

/// One bad line: where it is, what it says and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: `{content}`: {problem}")]
pub struct LineError {
    pub source_name: String,
    /// 1-based line number.
    pub line: u64,
    /// The line, cut to about 120 characters so a binary file can't flood
    /// the terminal.
    pub content: String,
    pub problem: Problem,
}

/// Longest line we buffer; anything longer is reported and skipped, so a
/// binary file without newlines can't make us hold all of it in memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Most bytes read in search of one line's end before the input is declared not a list:
/// reading `/dev/zero` or a binary file without newlines ends with an error instead of
/// spinning forever.
pub const MAX_LINE_SEARCH: usize = 1024 * 1024;
const MAX_SHOWN_CHARS: usize = 120;

/// Iterator over the elements of one list, streaming.
///
/// Yields `Ok(Element)` or `Err(LineError)`; I/O errors and invalid UTF-8 are
/// line errors too (`Problem::Io`, `Problem::NotUtf8`). After an I/O error
/// the iterator ends, since retrying a failing reader could loop forever.
pub struct ListReader<R: BufRead> {
    source_name: String,
    reader: R,
    format: Format,
    opts: ParseOptions,
    buf: Vec<u8>,
    line: u64,
    done: bool,
    /// A JSON document's elements and errors, read at its first element.
    json: Option<std::vec::IntoIter<Result<Element, LineError>>>,
}

impl<R: BufRead> ListReader<R> {
    /// `format` should not be [`Format::Auto`]; if it is, the format is
    /// detected from `source_name` and the first buffered bytes.
    pub fn new(
        source_name: impl Into<String>,
        reader: R,
        format: Format,
        opts: ParseOptions,
    ) -> Self {
        ListReader {
            source_name: source_name.into(),
            reader,
            format,
            opts,
            buf: Vec::with_capacity(256),
            line: 0,
            done: false,
            json: None,
        }
    }

    /// The format in use (after detection, once the first line was read).
    pub fn format(&self) -> Format {
        self.format
    }

    /// Number of lines read so far. A JSON document counts each prefix as a line (so shares
    /// of invalid lines weigh prefixes, however the document is laid out), or, when it is
    /// no range document at all, up to the line of its error.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    fn error(&self, content: &str, problem: Problem) -> LineError {
        LineError {
            source_name: self.source_name.clone(),
            line: self.line,
            content: shorten(content),
            problem,
        }
    }

    /// The next element or error of a JSON range document, which is read whole at the
    /// first call.
    fn next_json(&mut self) -> Option<Result<Element, LineError>> {
        if self.json.is_none() {
            let opts = self.opts;
            let items: Vec<_> = match ranges_json::read(&mut self.reader, |s| element(s, opts)) {
                Ok(items) => {
                    self.line = items.len() as u64;
                    items
                        .into_iter()
                        .map(|item| {
                            item.result.map_err(|problem| LineError {
                                source_name: self.source_name.clone(),
                                line: item.line,
                                content: shorten(&item.shown),
                                problem,
                            })
                        })
                        .collect()
                }
                Err((line, problem)) => {
                    self.line = line.max(1);
                    vec![Err(self.error("", problem))]
                }
            };
            self.json = Some(items.into_iter());
        }
        self.json.as_mut()?.next()
    }

    /// Peek at the buffered start of the input to resolve `Format::Auto`.
    fn detect(&mut self) {
        let peek = loop {
            match self.reader.fill_buf() {
                Ok(b) => break String::from_utf8_lossy(b).into_owned(),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break String::new(), // reported by the first read
            }
        };
        let lines: Vec<&str> = peek.lines().take(50).collect();
        self.format = detect_format(&self.source_name, &lines);
    }

    /// Read one line into `buf` (without its terminator). `Ok(false)` at end
    /// of input, `Ok(true)` otherwise; sets `too_long` if it was cut, and
    /// `endless` if no line end came within [`MAX_LINE_SEARCH`] bytes.
    fn read_line(&mut self, too_long: &mut bool, endless: &mut bool) -> std::io::Result<bool> {
        self.buf.clear();
        let mut any = false;
        let mut searched = 0usize;
        loop {
            if searched > MAX_LINE_SEARCH {
                *endless = true;
                return Ok(true);
            }
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(any);
            }
            any = true;
            let (end, used) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, available.len()),
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.buf.len());
            if used > room {
                *too_long = true;
            }
            self.buf.extend_from_slice(&available[..used.min(room)]);
            self.reader.consume(used);
            searched += used;
            if end {
                return Ok(true);
            }
        }
    }
}

impl<R: BufRead> Iterator for ListReader<R> {
    type Item = Result<Element, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.format == Format::Auto {
            self.detect();
        }
        if self.format == Format::Json {
            return self.next_json();
        }
        loop {
            if self.done {
                return None;
            }
            let (mut too_long, mut endless) = (false, false);
            match self.read_line(&mut too_long, &mut endless) {
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Ok(true) => self.line += 1,
                Err(e) => {
                    self.done = true;
                    self.line += 1;
                    return Some(Err(self.error("", Problem::Io(e.to_string()))));
                }
            }
            if endless {
                self.done = true;
                let problem = Problem::NoLineEnd {
                    limit: MAX_LINE_SEARCH,
                };
                return Some(Err(self.error("", problem)));
            }
            let mut bytes = self.buf.as_slice();
            if let [rest @ .., b'\n'] = bytes {
                bytes = rest;
            }
            if let [rest @ .., b'\r'] = bytes {
                bytes = rest;
            }
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            if too_long {
                let shown = String::from_utf8_lossy(bytes).into_owned();
                let problem = Problem::LineTooLong {
                    max: MAX_LINE_BYTES,
                };
                return Some(Err(self.error(&shown, problem)));
            }
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    let shown = String::from_utf8_lossy(bytes).into_owned();
                    return Some(Err(self.error(&shown, Problem::NotUtf8)));
                }
            };
            match parse_line(text, self.format, self.opts) {
                Ok(None) => continue,
                Ok(Some(el)) => return Some(Ok(el)),
                Err(p) => {
                    let shown = text.trim().to_string();
                    return Some(Err(self.error(&shown, p)));
                }
            }
        }
    }
}

/// Cut to about [`MAX_SHOWN_CHARS`] characters, on a char boundary.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Parse one line (without its terminator); `Ok(None)` for blank and comment lines.
pub fn parse_line(
    text: &str,
    format: Format,
    opts: ParseOptions,
) -> Result<Option<Element>, Problem> {
    match format {
        // A JSON document never comes here: the reader reads it whole.
        Format::Auto | Format::Plain | Format::Netset | Format::Ipset | Format::Json => {
            let t = before_comment(text, &['#', ';']).trim();
            if t.is_empty() {
                return Ok(None);
            }
            element(t, opts).map(Some)
        }
        Format::Spamhaus => {
            let (addr, reference) = text.split_once(';').unwrap_or((text, ""));
            let addr = before_comment(addr, &['#']).trim();
            if addr.is_empty() {
                return Ok(None);
            }
            let mut el = element(addr, opts)?;
            let reference = reference.trim();
            if !reference.is_empty() {
                el.comment = Some(reference.to_string());
            }
            Ok(Some(el))
        }
        Format::IpsetSave => parse_ipset_save_line(text, opts),
    }
}

fn before_comment<'a>(s: &'a str, markers: &[char]) -> &'a str {
    match s.find(markers) {
        Some(i) => &s[..i],
        None => s,
    }
}

fn element(s: &str, opts: ParseOptions) -> Result<Element, Problem> {
    let (addr, port) = parse_element(s, opts.with_ports, opts.normalize)?;
    Ok(Element {
        addr,
        port,
        timeout: None,
        comment: None,
    })
}

#[cfg(test)]
mod tests;
