//! Adding timed elements over ones a part already holds: the longer-lived always wins.
//!
//! An interval set holds no overlapping elements, so an addition that overlaps what the
//! recent part holds has to be reconciled with it. The rule, address by address: what is
//! there for longer stays there, with its own time and comment. `set add S 10.0.0.0/8
//! --timeout 4s` then `set add S 10.1.1.1` (permanent) keeps 10.1.1.1 when the /8 expires:
//! the /8 is cut around it, its pieces keeping their remaining four seconds. The reverse
//! order adds nothing, as the permanent address outlives the timed network there. Pure: given
//! what a part holds and what is added, it says which elements go and which come.

use super::kernel_addr::KernelRange;
use palisade_core::{AddrBits, Interval, IntervalSet};

/// Milliseconds an element has left; `None` is permanent.
type Life = Option<u64>;

fn life<T>(r: &KernelRange<T>) -> Life {
    r.timeout_ms.map(|t| r.expires_ms.unwrap_or(t))
}

/// `a` lives at least as long as `b`.
fn outlives(a: Life, b: Life) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => x >= y,
    }
}

fn overlaps<T: AddrBits>(a: Interval<T>, b: Interval<T>) -> bool {
    a.first <= b.last && b.first <= a.last
}

fn set_of<T: AddrBits>(ranges: impl IntoIterator<Item = Interval<T>>) -> IntervalSet<T> {
    IntervalSet::from_unsorted(ranges.into_iter().collect())
}

/// The elements to delete from a part and the ones to add to it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Merged<T> {
    pub remove: Vec<KernelRange<T>>,
    pub add: Vec<KernelRange<T>>,
}

/// Reconcile `new` elements (their remaining time in `expires_ms` and `timeout_ms`) with
/// what a part `held`.
pub fn merge_timed<T: AddrBits>(held: &[KernelRange<T>], new: &[KernelRange<T>]) -> Merged<T> {
    // (element, held before this merge)
    let mut segs: Vec<(KernelRange<T>, bool)> = held.iter().map(|r| (r.clone(), true)).collect();
    let mut remove = Vec::new();
    for t in new {
        let stronger = set_of(
            segs.iter()
                .map(|(s, _)| s)
                .filter(|s| s.port == t.port && overlaps(s.range, t.range))
                .filter(|s| outlives(life(s), life(t)))
                .map(|s| s.range),
        );
        let pieces = set_of([t.range]).difference(&stronger);
        if pieces.is_empty() {
            continue;
        }
        let mut next = Vec::with_capacity(segs.len() + pieces.len());
        for (s, was_held) in segs.drain(..) {
            let cut = s.port == t.port
                && pieces.iter().any(|p| overlaps(*p, s.range))
                && !outlives(life(&s), life(t));
            if !cut {
                next.push((s, was_held));
                continue;
            }
            for rest in set_of([s.range]).difference(&pieces).iter() {
                next.push((
                    KernelRange {
                        range: *rest,
                        ..s.clone()
                    },
                    false,
                ));
            }
            if was_held {
                remove.push(s);
            }
        }
        for p in pieces.iter() {
            next.push((
                KernelRange {
                    range: *p,
                    ..t.clone()
                },
                false,
            ));
        }
        segs = next;
    }
    let add = segs
        .into_iter()
        .filter(|(_, was_held)| !was_held)
        .map(|(s, _)| s)
        .collect();
    Merged { remove, add }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn el(first: u32, last: u32, life: Life) -> KernelRange<u32> {
        KernelRange {
            range: Interval { first, last },
            port: None,
            timeout_ms: life,
            expires_ms: life,
            comment: None,
        }
    }

    /// The longest life any input gives address `a`; `Some(None)` is permanent.
    fn best(inputs: &[KernelRange<u32>], a: u32) -> Option<Life> {
        inputs
            .iter()
            .filter(|r| r.range.contains(a))
            .map(life)
            .reduce(|x, y| if outlives(x, y) { x } else { y })
    }

    #[test]
    fn a_permanent_address_survives_the_timed_network_around_it() {
        let held = [el(0, 255, Some(4000))];
        let m = merge_timed(&held, &[el(17, 17, None)]);
        assert_eq!(m.remove, held.to_vec());
        let mut add: Vec<_> = m
            .add
            .iter()
            .map(|r| (r.range.first, r.range.last, life(r)))
            .collect();
        add.sort();
        assert_eq!(
            add,
            vec![(0, 16, Some(4000)), (17, 17, None), (18, 255, Some(4000))]
        );
    }

    #[test]
    fn a_shorter_addition_under_a_longer_element_adds_nothing() {
        let held = [el(0, 255, None)];
        assert_eq!(
            merge_timed(&held, &[el(17, 17, Some(1000))]),
            Merged::default()
        );
    }

    proptest! {
        /// After the merge every address lives as long as the longest-lived input covering
        /// it, and the part holds no overlapping elements.
        #[test]
        fn the_longest_life_wins_everywhere(
            held_raw in proptest::collection::vec((0u32..60, 0u32..10, proptest::option::of(1u64..5)), 0..6),
            new_raw in proptest::collection::vec((0u32..60, 0u32..10, proptest::option::of(1u64..5)), 1..6),
        ) {
            // What a part holds never overlaps itself.
            let mut held: Vec<KernelRange<u32>> = Vec::new();
            for (f, n, l) in held_raw {
                let r = el(f, f + n, l);
                if held.iter().all(|h| !overlaps(h.range, r.range)) {
                    held.push(r);
                }
            }
            let new: Vec<_> = new_raw.into_iter().map(|(f, n, l)| el(f, f + n, l)).collect();
            let m = merge_timed(&held, &new);
            let mut after: Vec<KernelRange<u32>> = held
                .iter()
                .filter(|h| !m.remove.contains(h))
                .cloned()
                .collect();
            after.extend(m.add.iter().cloned());
            for (i, a) in after.iter().enumerate() {
                for b in &after[i + 1..] {
                    prop_assert!(!overlaps(a.range, b.range), "{a:?} overlaps {b:?}");
                }
            }
            let all: Vec<_> = held.iter().chain(&new).cloned().collect();
            for a in 0..80u32 {
                let got = after.iter().find(|r| r.range.contains(a)).map(life);
                prop_assert_eq!(got, best(&all, a), "address {}", a);
            }
        }
    }
}
