//! Which rules a line could match, from the literals each rule cannot match without.
//!
//! One Aho-Corasick automaton with SIMD (Teddy) says whether any literal occurs; most
//! lines of a busy log have none, and cost that one scan. Only then an overlapping scan,
//! from the first literal on, finds every rule whose literal occurs.

use aho_corasick::{AhoCorasick, Input, MatchKind};

/// Up to this many rules, candidates are a bit mask; past it, every rule is tried.
pub(crate) const MASK_BITS: usize = 128;

/// The literals of some of a matcher's rules (a view: a jail may leave rules out while
/// they could change nothing).
#[derive(Clone, Debug)]
pub(crate) struct Prefilter {
    /// Leftmost-first, with SIMD: does any literal occur, and where is the first.
    gate: Option<AhoCorasick>,
    /// Overlapping: every literal that occurs.
    all: Option<AhoCorasick>,
    /// For each literal, the rules it gates.
    literal_rules: Vec<Vec<usize>>,
    /// Rules of the view without a usable literal: candidates on every line.
    ungated: u128,
}

impl Prefilter {
    /// The view over the rules `include` keeps; `literals[i]` are rule `i`'s literals
    /// (`None`: it has none worth scanning for).
    pub fn build(
        literals: &[Option<Vec<Vec<u8>>>],
        include: impl Fn(usize) -> bool,
    ) -> Result<Self, String> {
        let mut all_literals: Vec<Vec<u8>> = Vec::new();
        let mut literal_rules: Vec<Vec<usize>> = Vec::new();
        let mut ungated = 0u128;
        for (rule, set) in literals.iter().enumerate().filter(|(i, _)| include(*i)) {
            match set {
                Some(set) => {
                    for lit in set {
                        match all_literals.iter().position(|l| l == lit) {
                            Some(i) => literal_rules[i].push(rule),
                            None => {
                                all_literals.push(lit.clone());
                                literal_rules.push(vec![rule]);
                            }
                        }
                    }
                }
                None => ungated |= bit(rule),
            }
        }
        let build = |kind| {
            AhoCorasick::builder()
                .match_kind(kind)
                .build(&all_literals)
                .map_err(|e| format!("prefilter: {e}"))
        };
        let (gate, all) = if all_literals.is_empty() {
            (None, None)
        } else {
            (
                Some(build(MatchKind::LeftmostFirst)?),
                Some(build(MatchKind::Standard)?),
            )
        };
        Ok(Self {
            gate,
            all,
            literal_rules,
            ungated,
        })
    }

    /// The rules `line` could match, as a bit mask.
    pub fn candidates(&self, line: &[u8]) -> u128 {
        let mut mask = self.ungated;
        let (Some(gate), Some(all)) = (&self.gate, &self.all) else {
            return mask;
        };
        // The common case: no literal occurs; one scan, no allocation.
        let Some(first) = gate.find(line) else {
            return mask;
        };
        for m in all.find_overlapping_iter(Input::new(line).range(first.start()..)) {
            for &rule in &self.literal_rules[m.pattern().as_usize()] {
                mask |= bit(rule);
            }
        }
        mask
    }

    /// Whether some rule of the view has no literal (then every line is a candidate).
    #[cfg(test)]
    pub fn has_ungated(&self) -> bool {
        self.ungated != 0
    }
}

/// Rule `i`'s bit (none past [`MASK_BITS`]: those rules are always tried).
pub(crate) fn bit(i: usize) -> u128 {
    1u128.checked_shl(i as u32).unwrap_or(0)
}
