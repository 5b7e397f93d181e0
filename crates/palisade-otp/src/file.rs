//! The OTPW hash file (`~/.otpw`): parse and emit.
//!
//! ```text
//! OTPW1
//! # an optional comment line
//! 280 3 12 8            entries, digits per number, hash characters, password characters
//! 268DtJtKF2Yf3Pe       number then hash, one line per password, in any order
//! ---------------       a used password, overwritten in place
//! ```
//!
//! Every entry line has the same length, so a used one can be overwritten in place, at an
//! offset known from the parse, without rewriting (and risking) the rest of the file.

use crate::alphabet;
use crate::hash::{Hash, HASH_CHARS};
use thiserror::Error;

/// The first line of every hash file.
pub const MAGIC: &str = "OTPW1";

/// The largest number of entries a file may declare: beyond this no real file goes (OTPW
/// makes at most 1000), and a bound keeps a hostile header from asking for huge allocations.
pub const MAX_ENTRIES: usize = 100_000;
/// Longest password the 160-bit hash could have been generated from (26 × 6 bits ≤ 160).
pub const MAX_PASSWORD_CHARS: usize = 26;
/// Shortest password OTPW accepts.
pub const MIN_PASSWORD_CHARS: usize = 4;
/// Most digits a challenge number may have.
pub const MAX_NUMBER_DIGITS: usize = 9;

/// The counts line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Passwords generated (used ones included).
    pub entries: usize,
    /// Digits of each challenge number.
    pub number_digits: usize,
    /// Characters of each password.
    pub password_chars: usize,
}

/// One password's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Unused { number: u32, hash: Hash },
    Used,
}

/// A parsed hash file, with where its entry lines start so one can be burnt in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashFile {
    pub header: Header,
    pub comment: Option<String>,
    pub entries: Vec<Entry>,
    /// Byte offset of the first entry line.
    entries_start: usize,
}

/// What is wrong with a hash file, and on which line (1-based).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("line 1: not an OTPW hash file (the first line must be `{MAGIC}`)")]
    Magic,
    #[error("line {line}: expected `ENTRIES DIGITS 12 PASSWORD_CHARS` (e.g. `280 3 12 8`)")]
    Header { line: usize },
    #[error("line {line}: {what} {value} is out of range ({range})")]
    HeaderRange {
        line: usize,
        what: &'static str,
        value: usize,
        range: &'static str,
    },
    #[error("line {line}: expected {expected} characters (number and hash) or as many `-`")]
    EntryLength { line: usize, expected: usize },
    #[error("line {line}: the number must be digits and the hash modified-base64 characters")]
    EntryCharacters { line: usize },
    #[error("line {line}: password number {number} appears twice")]
    DuplicateNumber { line: usize, number: u32 },
    #[error("the file ends after {found} of the {declared} entries its header declares")]
    Truncated { found: usize, declared: usize },
    #[error("line {line}: unexpected text after the {declared} declared entries")]
    TrailingData { line: usize, declared: usize },
}

/// Lines of `bytes`, each with its start offset; the last line may lack its newline.
fn lines_with_offsets(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8], bool)> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let rest = &bytes[start..];
        let (line, terminated) = match rest.iter().position(|&b| b == b'\n') {
            Some(n) => (&rest[..n], true),
            None => (rest, false),
        };
        let item = (start, line, terminated);
        start += line.len() + 1;
        Some(item)
    })
}

fn parse_header(line: &[u8], line_no: usize) -> Result<Header, FormatError> {
    let bad = || FormatError::Header { line: line_no };
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let fields = text
        .split_ascii_whitespace()
        .map(|f| f.parse::<usize>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    let [entries, digits, hash_chars, password_chars] = fields[..] else {
        return Err(bad());
    };
    let check = |what, value, ok: bool, range| {
        if ok {
            Ok(())
        } else {
            Err(FormatError::HeaderRange {
                line: line_no,
                what,
                value,
                range,
            })
        }
    };
    check(
        "entries",
        entries,
        (1..=MAX_ENTRIES).contains(&entries),
        "1 to 100000",
    )?;
    check(
        "digits",
        digits,
        (1..=MAX_NUMBER_DIGITS).contains(&digits),
        "1 to 9",
    )?;
    check(
        "hash length",
        hash_chars,
        hash_chars == HASH_CHARS,
        "must be 12",
    )?;
    check(
        "password length",
        password_chars,
        (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password_chars),
        "4 to 26",
    )?;
    Ok(Header {
        entries,
        number_digits: digits,
        password_chars,
    })
}

fn parse_entry(line: &[u8], header: &Header, line_no: usize) -> Result<Entry, FormatError> {
    let expected = header.number_digits + HASH_CHARS;
    if line.len() != expected {
        return Err(FormatError::EntryLength {
            line: line_no,
            expected,
        });
    }
    if line.iter().all(|&b| b == b'-') {
        return Ok(Entry::Used);
    }
    let (digits, hash) = line.split_at(header.number_digits);
    if !digits.iter().all(u8::is_ascii_digit) || !hash.iter().all(|&b| alphabet::contains(b)) {
        return Err(FormatError::EntryCharacters { line: line_no });
    }
    let number = digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let mut h = [0u8; HASH_CHARS];
    h.copy_from_slice(hash);
    Ok(Entry::Unused { number, hash: h })
}

impl HashFile {
    /// Parse a whole file. Strict: anything but the format is an error naming the line,
    /// since a file the verifier half-understands must never accept a login.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut lines = lines_with_offsets(bytes).peekable();
        match lines.next() {
            Some((_, line, true)) if line == MAGIC.as_bytes() => {}
            _ => return Err(FormatError::Magic),
        }
        let mut line_no = 2;
        let comment = match lines.peek() {
            Some((_, line, true)) if line.first() == Some(&b'#') => {
                let text = String::from_utf8_lossy(line).into_owned();
                lines.next();
                line_no += 1;
                Some(text)
            }
            _ => None,
        };
        let header = match lines.next() {
            Some((_, line, true)) => parse_header(line, line_no)?,
            _ => return Err(FormatError::Header { line: line_no }),
        };
        let mut entries = Vec::with_capacity(header.entries);
        let mut entries_start = 0;
        let mut seen = std::collections::HashSet::new();
        for (offset, line, terminated) in lines {
            line_no += 1;
            if entries.len() == header.entries {
                return Err(FormatError::TrailingData {
                    line: line_no,
                    declared: header.entries,
                });
            }
            if entries.is_empty() {
                entries_start = offset;
            }
            if !terminated {
                return Err(FormatError::Truncated {
                    found: entries.len(),
                    declared: header.entries,
                });
            }
            let entry = parse_entry(line, &header, line_no)?;
            if let Entry::Unused { number, .. } = entry {
                if !seen.insert(number) {
                    return Err(FormatError::DuplicateNumber {
                        line: line_no,
                        number,
                    });
                }
            }
            entries.push(entry);
        }
        if entries.len() != header.entries {
            return Err(FormatError::Truncated {
                found: entries.len(),
                declared: header.entries,
            });
        }
        Ok(HashFile {
            header,
            comment,
            entries,
            entries_start,
        })
    }

    /// A new file of unused entries, in the given order.
    pub fn new(number_digits: usize, password_chars: usize, entries: Vec<Entry>) -> Self {
        let mut file = HashFile {
            header: Header {
                entries: entries.len(),
                number_digits,
                password_chars,
            },
            comment: None,
            entries,
            entries_start: 0,
        };
        file.entries_start = file.preamble().len();
        file
    }

    /// Everything before the entries.
    fn preamble(&self) -> String {
        let h = &self.header;
        let comment = self
            .comment
            .as_deref()
            .map(|c| format!("{c}\n"))
            .unwrap_or_default();
        format!(
            "{MAGIC}\n{comment}{} {} {HASH_CHARS} {}\n",
            h.entries, h.number_digits, h.password_chars
        )
    }

    /// The file's bytes, as `parse` reads them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.preamble().into_bytes();
        for entry in &self.entries {
            match entry {
                Entry::Unused { number, hash } => {
                    out.extend_from_slice(self.format_number(*number).as_bytes());
                    out.extend_from_slice(hash);
                }
                Entry::Used => out.extend(std::iter::repeat_n(b'-', self.entry_chars())),
            }
            out.push(b'\n');
        }
        out
    }

    /// Characters of an entry line, without its newline.
    pub fn entry_chars(&self) -> usize {
        self.header.number_digits + HASH_CHARS
    }

    /// Where entry `index`'s line starts in the file: overwrite `entry_chars()` bytes there
    /// with `-` to burn it.
    pub fn entry_offset(&self, index: usize) -> u64 {
        (self.entries_start + index * (self.entry_chars() + 1)) as u64
    }

    /// A challenge number as it is printed and used in the lock, zero-padded.
    pub fn format_number(&self, number: u32) -> String {
        format!("{number:0width$}", width = self.header.number_digits)
    }

    /// Unused entries: (index in the file, number, hash), in file order.
    pub fn unused(&self) -> impl Iterator<Item = (usize, u32, &Hash)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Entry::Unused { number, hash } => Some((i, *number, hash)),
                Entry::Used => None,
            })
    }

    /// How many passwords are left.
    pub fn remaining(&self) -> usize {
        self.unused().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "OTPW1\n3 3 12 8\n002qEJMquH%oSeY\n---------------\n000snDPEESgZChE\n";

    #[test]
    fn parses_and_emits_the_same_bytes() {
        let f = HashFile::parse(SMALL.as_bytes()).unwrap();
        assert_eq!(
            f.header,
            Header {
                entries: 3,
                number_digits: 3,
                password_chars: 8
            }
        );
        assert_eq!(f.remaining(), 2);
        assert_eq!(
            f.unused().map(|(i, n, _)| (i, n)).collect::<Vec<_>>(),
            [(0, 2), (2, 0)]
        );
        assert_eq!(f.to_bytes(), SMALL.as_bytes());
        assert_eq!(f.entry_offset(0), 15);
        assert_eq!(f.entry_offset(2), 15 + 32);
        assert_eq!(&SMALL[47..62], "000snDPEESgZChE");
    }

    #[test]
    fn keeps_a_comment_line() {
        let text = "OTPW1\n# made by hand\n1 3 12 8\n000snDPEESgZChE\n";
        let f = HashFile::parse(text.as_bytes()).unwrap();
        assert_eq!(f.comment.as_deref(), Some("# made by hand"));
        assert_eq!(f.entry_offset(0), 30);
        assert_eq!(f.to_bytes(), text.as_bytes());
    }

    #[test]
    fn reads_a_file_written_by_otpw_gen() {
        let bytes = include_bytes!("../tests/data/otpw-gen-280.otpw");
        let f = HashFile::parse(bytes).unwrap();
        assert_eq!(f.header.entries, 280);
        assert_eq!(f.remaining(), 280);
        assert_eq!(f.to_bytes(), bytes);
        let mut numbers: Vec<u32> = f.unused().map(|(_, n, _)| n).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..280).collect::<Vec<_>>());
    }

    #[test]
    fn new_files_parse_back() {
        let f = HashFile::new(
            3,
            8,
            vec![
                Entry::Unused {
                    number: 7,
                    hash: *b"iTN39VsxuAxe",
                },
                Entry::Used,
            ],
        );
        let bytes = f.to_bytes();
        assert_eq!(
            bytes,
            b"OTPW1\n2 3 12 8\n007iTN39VsxuAxe\n---------------\n"
        );
        assert_eq!(HashFile::parse(&bytes).unwrap(), f);
    }

    #[test]
    fn refuses_malformed_files_naming_the_line() {
        let cases: &[(&str, FormatError)] = &[
            ("", FormatError::Magic),
            ("OTPW2\n1 3 12 8\n000snDPEESgZChE\n", FormatError::Magic),
            ("OTPW1", FormatError::Magic),
            ("OTPW1\n", FormatError::Header { line: 2 }),
            ("OTPW1\n1 3 12\n", FormatError::Header { line: 2 }),
            ("OTPW1\n1 3 12 8 9\n", FormatError::Header { line: 2 }),
            ("OTPW1\n-1 3 12 8\n", FormatError::Header { line: 2 }),
            ("OTPW1\n#c\n1 x 12 8\n", FormatError::Header { line: 3 }),
            (
                "OTPW1\n0 3 12 8\n",
                FormatError::HeaderRange {
                    line: 2,
                    what: "entries",
                    value: 0,
                    range: "1 to 100000",
                },
            ),
            (
                "OTPW1\n1 3 16 8\n",
                FormatError::HeaderRange {
                    line: 2,
                    what: "hash length",
                    value: 16,
                    range: "must be 12",
                },
            ),
            (
                "OTPW1\n1 3 12 27\n",
                FormatError::HeaderRange {
                    line: 2,
                    what: "password length",
                    value: 27,
                    range: "4 to 26",
                },
            ),
            (
                "OTPW1\n1 3 12 8\n000snDPEESgZCh\n",
                FormatError::EntryLength {
                    line: 3,
                    expected: 15,
                },
            ),
            (
                "OTPW1\n1 3 12 8\n00asnDPEESgZChE\n",
                FormatError::EntryCharacters { line: 3 },
            ),
            (
                "OTPW1\n1 3 12 8\n000snDPEESgZCh0\n",
                FormatError::EntryCharacters { line: 3 },
            ),
            (
                "OTPW1\n1 3 12 8\n--------------x\n",
                FormatError::EntryCharacters { line: 3 },
            ),
            (
                "OTPW1\n2 3 12 8\n000snDPEESgZChE\n000snDPEESgZChE\n",
                FormatError::DuplicateNumber { line: 4, number: 0 },
            ),
            (
                "OTPW1\n2 3 12 8\n000snDPEESgZChE\n",
                FormatError::Truncated {
                    found: 1,
                    declared: 2,
                },
            ),
            (
                "OTPW1\n1 3 12 8\n000snDPEESgZChE",
                FormatError::Truncated {
                    found: 0,
                    declared: 1,
                },
            ),
            (
                "OTPW1\n1 3 12 8\n000snDPEESgZChE\n\n",
                FormatError::TrailingData {
                    line: 4,
                    declared: 1,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                HashFile::parse(text.as_bytes()).unwrap_err(),
                *want,
                "{text:?}"
            );
        }
    }
}
