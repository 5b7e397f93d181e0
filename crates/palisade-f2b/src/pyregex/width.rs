//! Whether a pattern always matches the same number of characters: Python allows only
//! such patterns inside a lookbehind, and so does fancy-regex (without its optional
//! variable-length support, which is left out).

use super::ast::{GroupKind, Node};

/// The number of characters every match of `node` has, `None` if it varies.
pub(super) fn fixed_width(node: &Node) -> Option<usize> {
    match node {
        Node::Empty
        | Node::LineStart { .. }
        | Node::LineEnd { .. }
        | Node::TextStart
        | Node::TextEnd
        | Node::WordBoundary { .. } => Some(0),
        Node::Literal { .. } | Node::Any { .. } | Node::Class { .. } | Node::Perl { .. } => Some(1),
        Node::Group { kind, body } => match kind {
            GroupKind::Look(_) => Some(0),
            _ => fixed_width(body),
        },
        Node::Concat(nodes) => nodes.iter().map(fixed_width).sum(),
        Node::Alternation(branches) => {
            let first = fixed_width(branches.first()?)?;
            branches[1..]
                .iter()
                .all(|b| fixed_width(b) == Some(first))
                .then_some(first)
        }
        Node::Repeat { body, min, max, .. } => {
            (Some(*min) == *max).then(|| fixed_width(body).map(|w| w * *min as usize))?
        }
        Node::Backref(_) => None,
        Node::Conditional { yes, no, .. } => {
            let w = fixed_width(yes)?;
            (fixed_width(no) == Some(w)).then_some(w)
        }
    }
}
