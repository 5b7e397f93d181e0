//! The escapes and character classes of Python's `re`: `\\d`, `\\x41`, `\\101` (octal),
//! `\\1` (a backreference, unless it is three octal digits), `[...]` with its own escape
//! rules (`\\b` is a backspace there). Letters Python does not know after `\\` are
//! errors, as in Python 3.11; other characters stand for themselves.

use super::ast::{ClassItem, Flags, Node, Perl};
use super::parse::{ParseError, Parser};

impl Parser<'_> {
    pub(super) fn escape(&mut self, start: usize, flags: Flags) -> Result<Node, ParseError> {
        let c = self
            .peek()
            .ok_or_else(|| self.err(start, "bad escape (end of pattern)"))?;
        let perl = |class, negated| Node::Perl {
            class,
            negated,
            ascii: flags.ascii,
        };
        let node = match c {
            'A' => Node::TextStart,
            'Z' => Node::TextEnd,
            'b' | 'B' => Node::WordBoundary {
                negated: c == 'B',
                ascii: flags.ascii,
            },
            'd' | 'D' => perl(Perl::Digit, c == 'D'),
            'w' | 'W' => perl(Perl::Word, c == 'W'),
            's' | 'S' => perl(Perl::Space, c == 'S'),
            '1'..='9' => {
                let digits: String = self.text[self.pos..]
                    .chars()
                    .take(3)
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if digits.len() == 3 && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    self.pos += 3;
                    return self.octal(&digits, start, flags);
                }
                let number = &digits[..digits.len().min(2)];
                self.pos += number.len();
                return Ok(Node::Backref(self.group_number(number, start)?));
            }
            _ => {
                let ch = self.char_escape(start)?;
                return Ok(Node::Literal {
                    ch,
                    ignore_case: flags.ignore_case,
                });
            }
        };
        self.bump();
        Ok(node)
    }

    fn octal(&self, digits: &str, start: usize, flags: Flags) -> Result<Node, ParseError> {
        let value =
            u32::from_str_radix(digits, 8).map_err(|_| self.err(start, "bad octal escape"))?;
        if value > 0o377 {
            return Err(self.err(
                start,
                format!("octal escape value \\{digits} outside of range 0-0o377"),
            ));
        }
        Ok(Node::Literal {
            ch: char::from_u32(value).unwrap_or('\0'),
            ignore_case: flags.ignore_case,
        })
    }

    /// An escape that stands for one character (after the `\`, at `self.pos`).
    fn char_escape(&mut self, start: usize) -> Result<char, ParseError> {
        let c = self
            .bump()
            .ok_or_else(|| self.err(start, "bad escape (end of pattern)"))?;
        let hex = |p: &mut Self, n: usize| -> Result<char, ParseError> {
            let digits: String = p.text[p.pos..].chars().take(n).collect();
            if digits.len() != n || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(p.err(start, format!("incomplete escape \\{c}{digits}")));
            }
            p.pos += n;
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| p.err(start, format!("bad escape \\{c}{digits}")))
        };
        Ok(match c {
            'a' => '\x07',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            'x' => hex(self, 2)?,
            'u' => hex(self, 4)?,
            'U' => hex(self, 8)?,
            '0' => {
                let more: String = self.text[self.pos..]
                    .chars()
                    .take(2)
                    .take_while(|c| ('0'..='7').contains(c))
                    .collect();
                self.pos += more.len();
                char::from_u32(u32::from_str_radix(&format!("0{more}"), 8).unwrap_or(0)).unwrap_or('\0')
            }
            'N' => {
                return Err(self.err(
                    start,
                    "named Unicode escapes `\\N{...}` are not supported: write the character, or `\\uXXXX`",
                ))
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(self.err(start, format!("bad escape \\{c}")))
            }
            c => c,
        })
    }

    pub(super) fn class(&mut self, start: usize, flags: Flags) -> Result<Node, ParseError> {
        let negated = self.eat("^");
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let item_start = self.pos;
            let c = self
                .bump()
                .ok_or_else(|| self.err(start, "unterminated character set"))?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let low = match c {
                '\\' => match self.class_escape(item_start, flags)? {
                    ClassItem::Char(ch) => ch,
                    perl => {
                        items.push(perl);
                        continue;
                    }
                },
                ch => ch,
            };
            if self.text[self.pos..].starts_with('-') && !self.text[self.pos + 1..].starts_with(']')
            {
                self.pos += 1;
                let hi_start = self.pos;
                let hi = match self
                    .bump()
                    .ok_or_else(|| self.err(start, "unterminated character set"))?
                {
                    '\\' => match self.class_escape(hi_start, flags)? {
                        ClassItem::Char(ch) => ch,
                        _ => return Err(self.err(item_start, "bad character range")),
                    },
                    ch => ch,
                };
                if hi < low {
                    return Err(self.err(item_start, format!("bad character range {low}-{hi}")));
                }
                items.push(ClassItem::Range(low, hi));
            } else {
                items.push(ClassItem::Char(low));
            }
        }
        Ok(Node::Class {
            negated,
            items,
            ignore_case: flags.ignore_case,
        })
    }

    /// An escape inside `[...]` (after the `\`).
    fn class_escape(&mut self, start: usize, flags: Flags) -> Result<ClassItem, ParseError> {
        let c = self
            .peek()
            .ok_or_else(|| self.err(start, "unterminated character set"))?;
        let perl = |class| ClassItem::Perl {
            class,
            negated: c.is_ascii_uppercase(),
            ascii: flags.ascii,
        };
        let item = match c {
            'd' | 'D' => perl(Perl::Digit),
            'w' | 'W' => perl(Perl::Word),
            's' | 'S' => perl(Perl::Space),
            'b' => ClassItem::Char('\x08'),
            '1'..='7' => {
                let digits: String = self.text[self.pos..]
                    .chars()
                    .take(3)
                    .take_while(|c| ('0'..='7').contains(c))
                    .collect();
                self.pos += digits.len();
                match self.octal(&digits, start, flags)? {
                    Node::Literal { ch, .. } => return Ok(ClassItem::Char(ch)),
                    _ => return Err(self.err(start, "bad octal escape")),
                }
            }
            _ => return Ok(ClassItem::Char(self.char_escape(start)?)),
        };
        self.bump();
        Ok(item)
    }
}
