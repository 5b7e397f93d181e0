//! A Python regular expression as a tree, so it can be written out again for Rust's
//! engines: exactly (for `regex` or `fancy-regex`) or loosened (a quick screen).

/// Flags Python sets with `(?aimsx)` and friends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub ignore_case: bool,
    pub multi_line: bool,
    pub dot_all: bool,
    pub verbose: bool,
    /// `(?a)`: `\w`, `\d`, `\s`, `\b` are ASCII only.
    pub ascii: bool,
}

impl Flags {
    /// These flags with `on` turned on and `off` turned off (`(?on-off:...)`); ASCII mode
    /// cannot be turned off.
    pub fn with(mut self, on: Flags, off: Flags) -> Flags {
        self.ignore_case = (self.ignore_case || on.ignore_case) && !off.ignore_case;
        self.multi_line = (self.multi_line || on.multi_line) && !off.multi_line;
        self.dot_all = (self.dot_all || on.dot_all) && !off.dot_all;
        self.verbose = (self.verbose || on.verbose) && !off.verbose;
        self.ascii = self.ascii || on.ascii;
        self
    }
}

/// `\d`, `\w`, `\s` and their negations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perl {
    Digit,
    Word,
    Space,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassItem {
    Char(char),
    Range(char, char),
    Perl {
        class: Perl,
        negated: bool,
        ascii: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    Ahead,
    NotAhead,
    Behind,
    NotBehind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// Capture group number (from 1) and name.
    Capture {
        index: usize,
        name: Option<String>,
    },
    NonCapture,
    /// `(?flags-flags:...)`: the flags inside.
    Flags {
        on: Flags,
        off: Flags,
    },
    Atomic,
    Look(Look),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Empty,
    Literal {
        ch: char,
        ignore_case: bool,
    },
    /// `.`; `dot_all` if it also matches `\n`.
    Any {
        dot_all: bool,
    },
    Class {
        negated: bool,
        items: Vec<ClassItem>,
        ignore_case: bool,
    },
    Perl {
        class: Perl,
        negated: bool,
        ascii: bool,
    },
    /// `^` (`multi_line`: also after each `\n`).
    LineStart {
        multi_line: bool,
    },
    /// `$`.
    LineEnd {
        multi_line: bool,
    },
    /// `\A`.
    TextStart,
    /// `\Z`.
    TextEnd,
    WordBoundary {
        negated: bool,
        ascii: bool,
    },
    Group {
        kind: GroupKind,
        body: Box<Node>,
    },
    Concat(Vec<Node>),
    Alternation(Vec<Node>),
    Repeat {
        body: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        possessive: bool,
    },
    /// `\1` or `(?P=name)`: the group's number.
    Backref(usize),
    /// `(?(group)yes|no)`.
    Conditional {
        group: usize,
        yes: Box<Node>,
        no: Box<Node>,
    },
}

impl Node {
    /// Whether the tree needs the backtracking engine (Rust's `regex` has no lookaround,
    /// backreferences, conditionals or atomic groups).
    pub fn needs_backtracking(&self) -> bool {
        match self {
            Node::Backref(_) | Node::Conditional { .. } => true,
            Node::Group { kind, body } => {
                matches!(kind, GroupKind::Atomic | GroupKind::Look(_)) || body.needs_backtracking()
            }
            Node::Repeat {
                body, possessive, ..
            } => *possessive || body.needs_backtracking(),
            Node::Concat(nodes) | Node::Alternation(nodes) => {
                nodes.iter().any(Node::needs_backtracking)
            }
            _ => false,
        }
    }
}
