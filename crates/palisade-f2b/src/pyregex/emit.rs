//! A [`Node`] tree written out for Rust's engines.
//!
//! - [`Target::Exact`]: the same language for `regex` (when the tree needs no
//!   backtracking) or `fancy-regex`, with the same capture groups in the same order.
//! - [`Target::Screen`]: a looser pattern for `regex` that matches at least wherever the
//!   exact one does (lookarounds dropped, a backreference read as "anything", a
//!   conditional as either branch, no captures). Lines it rejects never reach the
//!   backtracking engine, which is what keeps patterns with a lookahead cheap.
//!
//! Flags are written per construct (`(?i:a)`, `(?m:^)`, `(?s:.)`), not globally, so that
//! the meaning of each piece does not depend on where it ends up.

use std::fmt::Write;

use super::ast::{ClassItem, GroupKind, Look, Node, Perl};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Exact,
    Screen,
}

pub fn emit(node: &Node, target: Target) -> String {
    let mut out = String::new();
    write_node(node, target, &mut out);
    out
}

fn write_node(node: &Node, target: Target, out: &mut String) {
    match node {
        Node::Empty => out.push_str("(?:)"),
        Node::Literal { ch, ignore_case } => write_literal(*ch, *ignore_case, out),
        Node::Any { dot_all } => out.push_str(if *dot_all { "(?s:.)" } else { "." }),
        Node::Class {
            negated,
            items,
            ignore_case,
        } => {
            if *ignore_case {
                out.push_str("(?i:");
            }
            out.push('[');
            if *negated {
                out.push('^');
            }
            for item in items {
                write_class_item(item, out);
            }
            if items.is_empty() {
                // Python cannot write an empty set, but keep the output well-formed.
                out.push_str("\\x00&&\\x01");
            }
            out.push(']');
            if *ignore_case {
                out.push(')');
            }
        }
        Node::Perl {
            class,
            negated,
            ascii,
        } => write_perl(*class, *negated, *ascii, false, out),
        Node::LineStart { multi_line } => out.push_str(if *multi_line { "(?m:^)" } else { "^" }),
        Node::LineEnd { multi_line } => out.push_str(if *multi_line { "(?m:$)" } else { "$" }),
        Node::TextStart => out.push_str("\\A"),
        Node::TextEnd => out.push_str("\\z"),
        // The screen drops word boundaries: Unicode ones keep the lazy DFA from running.
        Node::WordBoundary { .. } if target == Target::Screen => out.push_str("(?:)"),
        Node::WordBoundary { negated, .. } => out.push_str(if *negated { "\\B" } else { "\\b" }),
        Node::Group { kind, body } => write_group(kind, body, target, out),
        Node::Concat(nodes) => {
            for n in nodes {
                write_node(n, target, out);
            }
        }
        Node::Alternation(branches) => {
            out.push_str("(?:");
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                write_node(b, target, out);
            }
            out.push(')');
        }
        Node::Repeat {
            body,
            min,
            max,
            greedy,
            possessive,
        } => {
            let atomic = *possessive && target == Target::Exact;
            if atomic {
                out.push_str("(?>");
            }
            out.push_str("(?:");
            write_node(body, target, out);
            out.push(')');
            match (min, max) {
                (0, None) => out.push('*'),
                (1, None) => out.push('+'),
                (0, Some(1)) => out.push('?'),
                (m, None) => {
                    let _ = write!(out, "{{{m},}}");
                }
                (m, Some(n)) if m == n => {
                    let _ = write!(out, "{{{m}}}");
                }
                (m, Some(n)) => {
                    let _ = write!(out, "{{{m},{n}}}");
                }
            }
            if !greedy {
                out.push('?');
            }
            if atomic {
                out.push(')');
            }
        }
        Node::Backref(index) => match target {
            Target::Exact => {
                let _ = write!(out, "(?:\\{index})");
            }
            Target::Screen => out.push_str("(?s:.*)"),
        },
        Node::Conditional { group, yes, no } => {
            match target {
                Target::Exact => {
                    let _ = write!(out, "(?({group})");
                }
                Target::Screen => out.push_str("(?:"),
            }
            write_node(yes, target, out);
            out.push('|');
            write_node(no, target, out);
            out.push(')');
        }
    }
}

fn write_group(kind: &GroupKind, body: &Node, target: Target, out: &mut String) {
    let open = match (kind, target) {
        (GroupKind::Look(_), Target::Screen) => return,
        (
            GroupKind::Capture {
                name: Some(name), ..
            },
            Target::Exact,
        ) => format!("(?P<{name}>"),
        (GroupKind::Capture { .. }, Target::Exact) => "(".to_string(),
        (GroupKind::Atomic, Target::Exact) => "(?>".to_string(),
        (GroupKind::Look(look), _) => match look {
            Look::Ahead => "(?=",
            Look::NotAhead => "(?!",
            Look::Behind => "(?<=",
            Look::NotBehind => "(?<!",
        }
        .to_string(),
        // Flags are already written on each construct inside.
        _ => "(?:".to_string(),
    };
    out.push_str(&open);
    write_node(body, target, out);
    out.push(')');
}

fn write_literal(ch: char, ignore_case: bool, out: &mut String) {
    if ignore_case && ch.is_alphabetic() {
        out.push_str("(?i:");
        push_escaped(ch, out);
        out.push(')');
    } else {
        push_escaped(ch, out);
    }
}

/// Whether Rust's regex syntax gives `ch` a meaning (so it must be escaped to be literal).
fn is_meta(ch: char) -> bool {
    regex::escape(ch.encode_utf8(&mut [0; 4])).len() > ch.len_utf8()
}

fn push_escaped(ch: char, out: &mut String) {
    if is_meta(ch) {
        out.push('\\');
        out.push(ch);
    } else if ch.is_control() || ch == ' ' || ch == '#' {
        let _ = write!(out, "\\x{{{:X}}}", ch as u32);
    } else {
        out.push(ch);
    }
}

/// A character inside `[...]`: Rust's meta characters are escaped, so its class syntax
/// (`[[:alpha:]]`, `&&`, `--`, `~~`, nested `[`) never sees an operator.
fn push_class_char(ch: char, out: &mut String) {
    if is_meta(ch) {
        out.push('\\');
        out.push(ch);
    } else if ch.is_control() || ch.is_whitespace() {
        let _ = write!(out, "\\x{{{:X}}}", ch as u32);
    } else {
        out.push(ch);
    }
}

fn write_class_item(item: &ClassItem, out: &mut String) {
    match item {
        ClassItem::Char(c) => push_class_char(*c, out),
        ClassItem::Range(a, b) => {
            push_class_char(*a, out);
            out.push('-');
            push_class_char(*b, out);
        }
        ClassItem::Perl {
            class,
            negated,
            ascii,
        } => write_perl(*class, *negated, *ascii, true, out),
    }
}

/// `\d`, `\w`, `\s` (Unicode, as in Python's text patterns) or their ASCII forms for `(?a)`.
fn write_perl(class: Perl, negated: bool, ascii: bool, in_class: bool, out: &mut String) {
    if !ascii {
        out.push_str(match (class, negated) {
            (Perl::Digit, false) => "\\d",
            (Perl::Digit, true) => "\\D",
            (Perl::Word, false) => "\\w",
            (Perl::Word, true) => "\\W",
            (Perl::Space, false) => "\\s",
            (Perl::Space, true) => "\\S",
        });
        return;
    }
    let set = match class {
        Perl::Digit => "0-9",
        Perl::Word => "0-9A-Za-z_",
        Perl::Space => "\\t\\n\\x0B\\x0C\\r ",
    };
    let _ = match (negated, in_class) {
        (false, true) => write!(out, "{set}"),
        (false, false) => write!(out, "[{set}]"),
        (true, _) => write!(out, "[^{set}]"),
    };
}
