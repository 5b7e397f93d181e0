//! Python's `re` syntax (as of Python 3.11, what Debian's fail2ban runs on) into a
//! [`Node`] tree. Every construct Python accepts is either represented or refused with the
//! byte offset of the construct, so the caller can point at the filter line; nothing is
//! silently read differently from Python.

use super::ast::{Flags, GroupKind, Look, Node};
use super::width::fixed_width;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the pattern of the construct.
    pub offset: usize,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct Parsed {
    pub root: Node,
    /// Capture group names, by number - 1.
    pub groups: Vec<Option<String>>,
}

pub fn parse(pattern: &str, base: Flags) -> Result<Parsed, ParseError> {
    let mut p = Parser {
        text: pattern,
        pos: 0,
        depth: 0,
        groups: Vec::new(),
        open: Vec::new(),
        conditions: Vec::new(),
    };
    let mut flags = base;
    // Global flags are only allowed at the very start (Python 3.11).
    while let Some((on, off, len)) = p.flag_group_at(p.pos)? {
        if !p.text[p.pos + len - 1..].starts_with(')') {
            break;
        }
        if off != Flags::default() {
            return Err(p.err(
                p.pos,
                "global flags cannot be turned off (`(?-i)`); use `(?-i:...)`",
            ));
        }
        flags = flags.with(on, Flags::default());
        p.pos += len;
    }
    let root = p.alternation(flags)?;
    if p.pos < p.text.len() {
        return Err(p.err(p.pos, "unbalanced parenthesis: `)` without `(`"));
    }
    for (offset, group) in p.conditions.clone() {
        if group > p.groups.len() {
            return Err(p.err(offset, "conditional refers to a group that does not exist"));
        }
    }
    Ok(Parsed {
        root,
        groups: p.groups,
    })
}

/// Groups may nest this deep (Rust's `regex` allows 250; fail2ban's use a handful).
const MAX_NESTING: usize = 100;

pub(super) struct Parser<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
    /// Groups currently open around the parse position.
    depth: usize,
    groups: Vec<Option<String>>,
    /// Numbers of the groups still open (a backreference to one is an error).
    open: Vec<usize>,
    /// (offset, group) of conditionals, checked once all groups are known.
    conditions: Vec<(usize, usize)>,
}

impl Parser<'_> {
    pub(super) fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            offset,
            message: message.into(),
        }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(super) fn eat(&mut self, s: &str) -> bool {
        if self.text[self.pos..].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// In verbose mode, whitespace and `#` comments between tokens are nothing.
    fn skip_verbose(&mut self, flags: Flags) {
        if !flags.verbose {
            return;
        }
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn alternation(&mut self, flags: Flags) -> Result<Node, ParseError> {
        let mut branches = vec![self.concat(flags)?];
        while self.eat("|") {
            branches.push(self.concat(flags)?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alternation(branches)
        })
    }

    fn concat(&mut self, flags: Flags) -> Result<Node, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_verbose(flags);
            let start = self.pos;
            match self.peek() {
                None | Some('|') | Some(')') => break,
                Some('*' | '+' | '?') => return Err(self.err(start, "nothing to repeat")),
                Some('{') if self.quantifier_braces(start).is_some() => {
                    return Err(self.err(start, "nothing to repeat"))
                }
                _ => {}
            }
            let atom = self.atom(flags)?;
            let atom = self.quantified(atom, flags)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    /// `{m}`, `{m,}`, `{,n}`, `{m,n}` at `at`: (min, max, length); `None` if the braces
    /// are not a quantifier (Python then reads `{` as a literal).
    fn quantifier_braces(&self, at: usize) -> Option<(u32, Option<u32>, usize)> {
        let rest = self.text[at..].strip_prefix('{')?;
        let close = rest.find('}')?;
        let inner = &rest[..close];
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let (min, max) = match inner.split_once(',') {
            None if !inner.is_empty() && digits(inner) => {
                let n = inner.parse().ok()?;
                (n, Some(n))
            }
            Some((lo, hi)) if digits(lo) && digits(hi) => (
                if lo.is_empty() { 0 } else { lo.parse().ok()? },
                if hi.is_empty() {
                    None
                } else {
                    Some(hi.parse().ok()?)
                },
            ),
            _ => return None,
        };
        Some((min, max, close + 2))
    }

    fn quantified(&mut self, atom: Node, flags: Flags) -> Result<Node, ParseError> {
        self.skip_verbose(flags);
        let start = self.pos;
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => match self.quantifier_braces(start) {
                Some((min, max, len)) => {
                    self.pos += len - 1;
                    if max.is_some_and(|max| max < min) {
                        return Err(self.err(start, "min repeat greater than max repeat"));
                    }
                    (min, max)
                }
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        self.bump();
        let greedy = !self.eat("?");
        let possessive = greedy && self.eat("+");
        let after = self.pos;
        self.skip_verbose(flags);
        if matches!(self.peek(), Some('*' | '+' | '?'))
            || (self.peek() == Some('{') && self.quantifier_braces(self.pos).is_some())
        {
            return Err(self.err(self.pos, "multiple repeat"));
        }
        self.pos = after;
        Ok(Node::Repeat {
            body: Box::new(atom),
            min,
            max,
            greedy,
            possessive,
        })
    }

    fn atom(&mut self, flags: Flags) -> Result<Node, ParseError> {
        let start = self.pos;
        let c = self
            .bump()
            .ok_or_else(|| self.err(start, "unexpected end"))?;
        Ok(match c {
            '(' => self.group(start, flags)?,
            '[' => self.class(start, flags)?,
            '.' => Node::Any {
                dot_all: flags.dot_all,
            },
            '^' => Node::LineStart {
                multi_line: flags.multi_line,
            },
            '$' => Node::LineEnd {
                multi_line: flags.multi_line,
            },
            '\\' => self.escape(start, flags)?,
            ch => Node::Literal {
                ch,
                ignore_case: flags.ignore_case,
            },
        })
    }

    /// `(?aiLmsux-imsx` at `at`: (on, off, length up to and including `:` or `)`).
    fn flag_group_at(&self, at: usize) -> Result<Option<(Flags, Flags, usize)>, ParseError> {
        let Some(rest) = self.text[at..].strip_prefix("(?") else {
            return Ok(None);
        };
        let mut on = Flags::default();
        let mut off = Flags::default();
        let mut turning_off = false;
        let mut any = false;
        for (i, c) in rest.char_indices() {
            let target = if turning_off { &mut off } else { &mut on };
            match c {
                'i' => target.ignore_case = true,
                'm' => target.multi_line = true,
                's' => target.dot_all = true,
                'x' => target.verbose = true,
                'a' if !turning_off => target.ascii = true,
                'u' if !turning_off => {}
                'L' => {
                    return Err(self.err(
                        at,
                        "the LOCALE flag `(?L)` cannot be used with text patterns",
                    ))
                }
                '-' if !turning_off => {
                    turning_off = true;
                    continue;
                }
                ':' | ')' if any => return Ok(Some((on, off, 2 + i + 1))),
                _ => return Ok(None),
            }
            any = true;
        }
        Ok(None)
    }

    fn group(&mut self, start: usize, flags: Flags) -> Result<Node, ParseError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(start, format!("groups nest more than {MAX_NESTING} deep")));
        }
        self.depth += 1;
        let node = self.group_body(start, flags);
        self.depth -= 1;
        node
    }

    fn group_body(&mut self, start: usize, flags: Flags) -> Result<Node, ParseError> {
        let kind = if !self.eat("?") {
            self.groups.push(None);
            GroupKind::Capture {
                index: self.groups.len(),
                name: None,
            }
        } else if self.eat(":") {
            GroupKind::NonCapture
        } else if self.eat("P<") {
            let name = self.name_until('>', start)?;
            if self
                .groups
                .iter()
                .any(|g| g.as_deref() == Some(name.as_str()))
            {
                return Err(self.err(start, format!("redefinition of group name `{name}`")));
            }
            self.groups.push(Some(name.clone()));
            GroupKind::Capture {
                index: self.groups.len(),
                name: Some(name),
            }
        } else if self.eat("P=") {
            let name = self.name_until(')', start)?;
            let index = self.group_number(&name, start)?;
            return Ok(Node::Backref(index));
        } else if self.eat("#") {
            match self.text[self.pos..].find(')') {
                Some(close) => self.pos += close + 1,
                None => return Err(self.err(start, "missing ), unterminated comment")),
            }
            return Ok(Node::Empty);
        } else if self.eat("=") {
            GroupKind::Look(Look::Ahead)
        } else if self.eat("!") {
            GroupKind::Look(Look::NotAhead)
        } else if self.eat("<=") {
            GroupKind::Look(Look::Behind)
        } else if self.eat("<!") {
            GroupKind::Look(Look::NotBehind)
        } else if self.eat(">") {
            GroupKind::Atomic
        } else if self.eat("(") {
            return self.conditional(start, flags);
        } else {
            match self.flag_group_at(start)? {
                Some((on, off, len)) if self.text[start + len - 1..].starts_with(':') => {
                    self.pos = start + len;
                    GroupKind::Flags { on, off }
                }
                Some(_) => {
                    return Err(self.err(
                        start,
                        "global flags not at the start of the expression; write `(?i:...)` around the part they apply to",
                    ))
                }
                None => {
                    let ext: String = self.text[start..].chars().take(4).collect();
                    return Err(self.err(start, format!("unknown extension `{ext}`")));
                }
            }
        };
        let inner = match &kind {
            GroupKind::Flags { on, off } => flags.with(*on, *off),
            _ => flags,
        };
        if let GroupKind::Capture { index, .. } = kind {
            self.open.push(index);
        }
        let body = self.alternation(inner)?;
        if !self.eat(")") {
            return Err(self.err(start, "missing ), unterminated subpattern"));
        }
        if let GroupKind::Capture { index, .. } = kind {
            self.open.retain(|&i| i != index);
        }
        if matches!(kind, GroupKind::Look(Look::Behind | Look::NotBehind))
            && fixed_width(&body).is_none()
        {
            return Err(self.err(
                start,
                "lookbehind must have a fixed length (Python requires it too)",
            ));
        }
        Ok(Node::Group {
            kind,
            body: Box::new(body),
        })
    }

    fn conditional(&mut self, start: usize, flags: Flags) -> Result<Node, ParseError> {
        let name = self.name_until(')', start)?;
        let group = if name.bytes().all(|b| b.is_ascii_digit()) {
            let n: usize = name
                .parse()
                .map_err(|_| self.err(start, "bad group number"))?;
            if n == 0 {
                return Err(self.err(start, "bad group number 0"));
            }
            self.conditions.push((start, n));
            n
        } else {
            self.group_index(&name)
                .ok_or_else(|| self.err(start, format!("unknown group name `{name}`")))?
        };
        let yes = self.concat(flags)?;
        let no = if self.eat("|") {
            self.concat(flags)?
        } else {
            Node::Empty
        };
        if self.peek() == Some('|') {
            return Err(self.err(start, "conditional with more than two branches"));
        }
        if !self.eat(")") {
            return Err(self.err(start, "missing ), unterminated subpattern"));
        }
        Ok(Node::Conditional {
            group,
            yes: Box::new(yes),
            no: Box::new(no),
        })
    }

    fn name_until(&mut self, end: char, start: usize) -> Result<String, ParseError> {
        let Some(len) = self.text[self.pos..].find(end) else {
            return Err(self.err(start, format!("missing `{end}` after group name")));
        };
        let name = self.text[self.pos..self.pos + len].to_string();
        self.pos += len + 1;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c.is_ascii_digit())
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !valid {
            return Err(self.err(start, format!("bad group name `{name}`")));
        }
        Ok(name)
    }

    fn group_index(&self, name: &str) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.as_deref() == Some(name))
            .map(|i| i + 1)
    }

    /// The number of a closed group, by name or number, for a backreference.
    pub(super) fn group_number(&self, name: &str, at: usize) -> Result<usize, ParseError> {
        let index = match name.parse::<usize>() {
            Ok(n) => n,
            Err(_) => self
                .group_index(name)
                .ok_or_else(|| self.err(at, format!("unknown group name `{name}`")))?,
        };
        if index == 0 || index > self.groups.len() {
            return Err(self.err(at, format!("invalid group reference {index}")));
        }
        if self.open.contains(&index) {
            return Err(self.err(at, "cannot refer to an open group"));
        }
        Ok(index)
    }
}
