//! The literals a pattern cannot match without, for the prefilter: most lines of a busy
//! log contain none of them, and one scan for all of them skips those lines.

use regex_syntax::hir::{Hir, HirKind};

/// Literals shorter than this make a useless prefilter (they occur in most lines).
const MIN_LITERAL: usize = 3;
/// A literal set larger than this is not worth the automaton size.
const MAX_LITERALS: usize = 64;

/// Literals at least one of which occurs in every match of `pattern`, or `None` if the
/// pattern has no such set worth scanning for.
pub(crate) fn required_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let set = required(&hir)?;
    (score(&set) >= MIN_LITERAL).then_some(set)
}

/// The shortest literal of a set: how selective scanning for it is.
fn score(set: &[Vec<u8>]) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Literal(lit) => Some(vec![lit.0.to_vec()]),
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .filter_map(required)
            .max_by_key(|set| (score(set), std::cmp::Reverse(set.len()))),
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for b in branches {
                let set = required(b)?;
                if score(&set) < MIN_LITERAL {
                    return None;
                }
                all.extend(set);
            }
            (all.len() <= MAX_LITERALS).then_some(all)
        }
        _ => None,
    }
}
