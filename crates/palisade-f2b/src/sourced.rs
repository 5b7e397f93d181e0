//! Text that remembers where each part of it was written.
//!
//! A failregex reaches the regex compiler after `%(name)s` interpolation, `<tag>`
//! substitution and `<HOST>` expansion have stitched it together from several lines of
//! several files. When it is refused, the admin needs the line they wrote, not "regex 7 of
//! sshd": so every piece of text carries the file and line it came from, through every
//! splice, and an error at a byte offset is traced back to that line.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A line of a filter file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file as the source names it (`filter.d/sshd.conf`, or an absolute path).
    pub file: Arc<str>,
    /// Counting from 1.
    pub line: u32,
}

impl Origin {
    /// Where text that is in no file comes from: options given with the filter name
    /// (`sshd[mode=...]`) and what is built from them.
    pub fn filter_options() -> Self {
        Self {
            file: "(options given with the filter name)".into(),
            line: 0,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A string and, for each run of bytes, the [`Origin`] of that run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcedText {
    text: String,
    /// Starts of runs, ascending, the first at 0 (when the text is not empty).
    runs: Vec<(usize, Origin)>,
}

impl SourcedText {
    pub fn new() -> Self {
        Self {
            text: String::new(),
            runs: Vec::new(),
        }
    }

    /// Text written at one place.
    pub fn plain(text: &str, origin: &Origin) -> Self {
        let mut s = Self::new();
        s.push_str(text, origin);
        s
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Where the byte at `offset` was written (the last run for offsets past the end).
    pub fn origin_at(&self, offset: usize) -> Option<&Origin> {
        let i = self.runs.partition_point(|(start, _)| *start <= offset);
        self.runs.get(i.checked_sub(1)?).map(|(_, o)| o)
    }

    /// [`Self::origin_at`], or [`Origin::filter_options`] for text from no file.
    pub fn origin_or_options(&self, offset: usize) -> Origin {
        self.origin_at(offset)
            .cloned()
            .unwrap_or_else(Origin::filter_options)
    }

    pub fn push_str(&mut self, text: &str, origin: &Origin) {
        if text.is_empty() {
            return;
        }
        if self.runs.last().map(|(_, o)| o) != Some(origin) {
            self.runs.push((self.text.len(), origin.clone()));
        }
        self.text.push_str(text);
    }

    pub fn push(&mut self, other: &SourcedText) {
        self.push_slice(other, 0..other.len());
    }

    /// Appends `other[range]` with its origins.
    pub fn push_slice(&mut self, other: &SourcedText, range: Range<usize>) {
        let mut pos = range.start;
        while pos < range.end {
            let i = other.runs.partition_point(|(start, _)| *start <= pos) - 1;
            let run_end = other.runs.get(i + 1).map_or(other.len(), |(s, _)| *s);
            let end = run_end.min(range.end);
            self.push_str(&other.text[pos..end], &other.runs[i].1);
            pos = end;
        }
    }

    pub fn slice(&self, range: Range<usize>) -> SourcedText {
        let mut s = Self::new();
        s.push_slice(self, range);
        s
    }

    /// The text with `range` replaced by `with`.
    pub fn replaced(&self, range: Range<usize>, with: &SourcedText) -> SourcedText {
        let mut s = self.slice(0..range.start);
        s.push(with);
        s.push_slice(self, range.end..self.len());
        s
    }

    /// Splits at `\n`, like Python's `str.split('\n')`.
    pub fn split_lines(&self) -> Vec<SourcedText> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, b) in self.text.bytes().enumerate() {
            if b == b'\n' {
                out.push(self.slice(start..i));
                start = i + 1;
            }
        }
        out.push(self.slice(start..self.len()));
        out
    }
}

impl Default for SourcedText {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32) -> Origin {
        Origin {
            file: "f.conf".into(),
            line,
        }
    }

    #[test]
    fn replacement_keeps_origins_of_every_part() {
        let mut outer = SourcedText::plain("^a %(x)s b$", &at(1));
        let inner = SourcedText::plain("XX", &at(7));
        outer = outer.replaced(3..8, &inner);
        assert_eq!(outer.as_str(), "^a XX b$");
        assert_eq!(outer.origin_at(0), Some(&at(1)));
        assert_eq!(outer.origin_at(3), Some(&at(7)));
        assert_eq!(outer.origin_at(4), Some(&at(7)));
        assert_eq!(outer.origin_at(5), Some(&at(1)));
    }

    #[test]
    fn split_lines_keeps_each_lines_origin() {
        let mut t = SourcedText::plain("one\n", &at(1));
        t.push_str("two", &at(2));
        let lines = t.split_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].as_str(), "two");
        assert_eq!(lines[1].origin_at(0), Some(&at(2)));
    }
}
