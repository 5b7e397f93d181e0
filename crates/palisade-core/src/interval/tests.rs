use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn iv(first: u32, last: u32) -> Interval<u32> {
    Interval::new(first, last).unwrap()
}

fn set(v: &[(u32, u32)]) -> IntervalSet<u32> {
    IntervalSet::from_unsorted(v.iter().map(|&(a, b)| iv(a, b)).collect())
}

fn ip(s: &str) -> u32 {
    u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
}

// ---------- unit tests ----------

#[test]
fn new_rejects_reversed() {
    assert_eq!(Interval::new(5u32, 4), None);
    assert_eq!(Interval::new(5u32, 5), Some(Interval::single(5)));
}

#[test]
fn from_prefix_edges() {
    assert_eq!(
        Interval::from_prefix(ip("10.1.2.3"), 8),
        Some(iv(ip("10.0.0.0"), ip("10.255.255.255")))
    );
    assert_eq!(Interval::from_prefix(123u32, 0), Some(iv(0, u32::MAX)));
    assert_eq!(Interval::from_prefix(123u32, 32), Some(iv(123, 123)));
    assert_eq!(Interval::from_prefix(123u32, 33), None);
    assert_eq!(Interval::from_prefix(7u128, 0), Interval::new(0, u128::MAX));
    assert_eq!(Interval::from_prefix(7u128, 128), Some(Interval::single(7)));
    assert_eq!(Interval::from_prefix(7u128, 129), None);
}

#[test]
fn size_saturates() {
    assert_eq!(iv(0, u32::MAX).size(), 1 << 32);
    assert_eq!(iv(3, 3).size(), 1);
    assert_eq!(Interval::new(0u128, u128::MAX).unwrap().size(), u128::MAX);
    assert_eq!(Interval::new(1u128, u128::MAX).unwrap().size(), u128::MAX);
}

#[test]
fn to_cidrs_examples() {
    assert_eq!(iv(0, u32::MAX).to_cidrs(), vec![(0, 0)]);
    assert_eq!(iv(u32::MAX, u32::MAX).to_cidrs(), vec![(u32::MAX, 32)]);
    assert_eq!(
        iv(ip("10.0.0.1"), ip("10.0.0.6")).to_cidrs(),
        vec![
            (ip("10.0.0.1"), 32),
            (ip("10.0.0.2"), 31),
            (ip("10.0.0.4"), 31),
            (ip("10.0.0.6"), 32)
        ]
    );
    assert_eq!(
        iv(ip("10.0.0.0"), ip("10.0.1.255")).to_cidrs(),
        vec![(ip("10.0.0.0"), 23)]
    );
    // [1, MAX] needs one block of every size.
    let blocks = iv(1, u32::MAX).to_cidrs();
    assert_eq!(blocks.len(), 32);
    assert_eq!(blocks[0], (1, 32));
    assert_eq!(blocks[31], (1 << 31, 1));
    assert_eq!(iv(0, u32::MAX - 1).to_cidrs().len(), 32);
}

#[test]
fn to_cidrs_u128_edges() {
    let all = Interval::new(0u128, u128::MAX).unwrap();
    assert_eq!(all.to_cidrs(), vec![(0, 0)]);
    assert_eq!(
        Interval::single(u128::MAX).to_cidrs(),
        vec![(u128::MAX, 128)]
    );
    let blocks = Interval::new(1u128, u128::MAX).unwrap().to_cidrs();
    assert_eq!(blocks.len(), 128);
    assert_eq!(*blocks.last().unwrap(), (1u128 << 127, 1));
    assert_eq!(
        Interval::new(0u128, u128::MAX - 1)
            .unwrap()
            .to_cidrs()
            .len(),
        128
    );
    // Worst case: 2 * (128 - 1) blocks.
    assert_eq!(
        Interval::new(1u128, u128::MAX - 1)
            .unwrap()
            .to_cidrs()
            .len(),
        254
    );
}

#[test]
fn as_prefix_matches_to_cidrs() {
    assert_eq!(iv(0, u32::MAX).as_prefix(), Some((0, 0)));
    assert_eq!(iv(4, 7).as_prefix(), Some((4, 30)));
    assert_eq!(iv(4, 8).as_prefix(), None);
    assert_eq!(iv(2, 5).as_prefix(), None);
    assert_eq!(iv(9, 9).as_prefix(), Some((9, 32)));
    assert_eq!(
        Interval::new(0u128, u128::MAX).unwrap().as_prefix(),
        Some((0, 0))
    );
}

#[test]
fn from_unsorted_merges_overlap_and_adjacency() {
    let s = set(&[(10, 20), (0, 5), (6, 8), (21, 21), (15, 30), (40, 50)]);
    assert_eq!(s.as_slice(), &[iv(0, 8), iv(10, 30), iv(40, 50)]);
    assert_eq!(s.len(), 3);
    assert_eq!(s.address_count(), 9 + 21 + 11);
    // Gap of one address is kept.
    assert_eq!(set(&[(0, 5), (7, 9)]).len(), 2);
    assert!(IntervalSet::<u32>::from_unsorted(vec![]).is_empty());
}

#[test]
fn from_unsorted_at_max() {
    let s = set(&[
        (u32::MAX, u32::MAX),
        (u32::MAX - 5, u32::MAX - 1),
        (0, u32::MAX - 10),
    ]);
    assert_eq!(
        s.as_slice(),
        &[iv(0, u32::MAX - 10), iv(u32::MAX - 5, u32::MAX)]
    );
    let s = set(&[(0, u32::MAX), (5, 6), (u32::MAX, u32::MAX)]);
    assert_eq!(s.as_slice(), &[iv(0, u32::MAX)]);
    assert_eq!(s.address_count(), 1 << 32);
    let s = IntervalSet::from_unsorted(vec![
        Interval::single(u128::MAX),
        Interval::new(0, u128::MAX - 1).unwrap(),
    ]);
    assert_eq!(s.as_slice(), &[Interval::new(0, u128::MAX).unwrap()]);
    assert_eq!(s.address_count(), u128::MAX);
    assert!(s.contains(u128::MAX) && s.contains(0));
}

#[test]
fn contains_binary_search() {
    let s = set(&[(10, 20), (30, 30), (u32::MAX - 1, u32::MAX)]);
    for (a, want) in [
        (0, false),
        (9, false),
        (10, true),
        (20, true),
        (21, false),
        (30, true),
        (31, false),
        (u32::MAX - 2, false),
        (u32::MAX, true),
    ] {
        assert_eq!(s.contains(a), want, "{a}");
    }
    assert!(!IntervalSet::<u32>::new().contains(0));
}

#[test]
fn set_operations_examples() {
    let a = set(&[(0, 10), (20, 30)]);
    let b = set(&[(5, 22), (30, 40)]);
    assert_eq!(a.union(&b).as_slice(), &[iv(0, 40)]);
    assert_eq!(
        a.intersection(&b).as_slice(),
        &[iv(5, 10), iv(20, 22), iv(30, 30)]
    );
    assert_eq!(a.difference(&b).as_slice(), &[iv(0, 4), iv(23, 29)]);
    assert_eq!(b.difference(&a).as_slice(), &[iv(11, 19), iv(31, 40)]);
    let all = set(&[(0, u32::MAX)]);
    assert_eq!(
        all.difference(&set(&[(0, 0), (u32::MAX, u32::MAX)]))
            .as_slice(),
        &[iv(1, u32::MAX - 1)]
    );
    assert!(all.difference(&all).is_empty());
    // One cut spanning several ranges of self.
    let many = set(&[(0, 1), (3, 4), (6, 7), (9, 10)]);
    assert_eq!(
        many.difference(&set(&[(1, 9)])).as_slice(),
        &[iv(0, 0), iv(10, 10)]
    );
}

#[test]
fn diff_examples() {
    let current = [iv(0, 4), iv(5, 9), iv(20, 30)];
    let desired = [iv(0, 9), iv(20, 30), iv(40, 40)];
    let d = diff(&current, &desired);
    assert_eq!(d.remove, vec![iv(0, 4), iv(5, 9)]);
    assert_eq!(d.add, vec![iv(0, 9), iv(40, 40)]);
    assert!(diff(&desired, &desired).is_empty());
    // Unsorted input still gives the right answer.
    let d2 = diff(
        &[iv(20, 30), iv(5, 9), iv(0, 4)],
        &[iv(40, 40), iv(20, 30), iv(0, 9)],
    );
    assert_eq!(d, d2);
}

// ---------- property tests against a naive model ----------

/// Addresses live in a 301-address window at the bottom or top of the
/// space, so the overflow edges at 0 and MAX are exercised constantly.
fn base(high: bool) -> u32 {
    if high {
        u32::MAX - 300
    } else {
        0
    }
}

fn interval_in(base: u32) -> impl Strategy<Value = Interval<u32>> {
    (0u32..=300, 0u32..=300).prop_map(move |(a, b)| iv(base + a.min(b), base + a.max(b)))
}

fn intervals(base: u32) -> impl Strategy<Value = Vec<Interval<u32>>> {
    proptest::collection::vec(interval_in(base), 0..12)
}

fn model(v: &[Interval<u32>]) -> BTreeSet<u32> {
    v.iter().flat_map(|r| r.first..=r.last).collect()
}

fn assert_canonical(s: &IntervalSet<u32>) {
    for w in s.as_slice().windows(2) {
        let next = w[0]
            .last
            .checked_succ()
            .expect("a range ending at MAX must be last");
        assert!(
            next < w[1].first,
            "not sorted/disjoint/non-adjacent: {:?}",
            s
        );
    }
}

/// Disjoint, sorted, possibly adjacent intervals, like a kernel set holds.
fn kernel_like(base: u32) -> impl Strategy<Value = Vec<Interval<u32>>> {
    proptest::collection::vec((0u32..4, 0u32..20), 0..15).prop_map(move |parts| {
        let mut out = Vec::new();
        let mut next = base;
        for (gap, len) in parts {
            let Some(first) = next.checked_add(gap) else {
                break;
            };
            let Some(last) = first.checked_add(len) else {
                break;
            };
            out.push(iv(first, last));
            match last.checked_add(1) {
                Some(n) => next = n,
                None => break,
            }
        }
        out
    })
}

fn check_cidrs<T: AddrBits>(r: Interval<T>) {
    let blocks = r.to_cidrs();
    assert!(!blocks.is_empty());
    assert_eq!(blocks.first().unwrap().0, r.first);
    let mut expect_next = Some(r.first);
    let mut prev: Option<(T, u8)> = None;
    for &(net, len) in &blocks {
        assert!(u32::from(len) <= T::BITS);
        let host = T::low_mask(T::BITS - u32::from(len));
        assert_eq!(net & host, T::ZERO, "misaligned block {net:?}/{len}");
        assert_eq!(Some(net), expect_next, "gap or overlap");
        let block_last = net | host;
        assert!(block_last <= r.last);
        // Maximal: the block of twice the size at the same start is either
        // misaligned or runs past the end.
        if len > 0 {
            let bigger = T::low_mask(T::BITS - u32::from(len) + 1);
            assert!(
                net & bigger != T::ZERO || (net | bigger) > r.last,
                "block {net:?}/{len} could be bigger"
            );
        }
        // No two consecutive blocks merge into one aligned block.
        if let Some((pnet, plen)) = prev {
            if plen == len && len > 0 {
                let bigger = T::low_mask(T::BITS - u32::from(len) + 1);
                assert!(
                    pnet & bigger != T::ZERO,
                    "{pnet:?}/{plen} and {net:?}/{len} merge"
                );
            }
        }
        prev = Some((net, len));
        expect_next = block_last.checked_succ();
    }
    let (net, len) = *blocks.last().unwrap();
    assert_eq!(net | T::low_mask(T::BITS - u32::from(len)), r.last);
    assert_eq!(r.as_prefix().is_some(), blocks.len() == 1);
}

proptest! {
    #[test]
    fn from_unsorted_matches_model(v in any::<bool>().prop_flat_map(|h| intervals(base(h)))) {
        let m = model(&v);
        let s = IntervalSet::from_unsorted(v);
        assert_canonical(&s);
        prop_assert_eq!(model(s.as_slice()), m.clone());
        prop_assert_eq!(s.address_count(), m.len() as u128);
        let lo = s.as_slice().first().map_or(0, |r| r.first.saturating_sub(2));
        for a in lo..=lo.saturating_add(305) {
            prop_assert_eq!(s.contains(a), m.contains(&a));
        }
    }

    #[test]
    fn set_ops_match_model(
        (a, b) in any::<bool>().prop_flat_map(|h| (intervals(base(h)), intervals(base(h))))
    ) {
        let (ma, mb) = (model(&a), model(&b));
        let (sa, sb) = (IntervalSet::from_unsorted(a), IntervalSet::from_unsorted(b));
        let u = sa.union(&sb);
        let d = sa.difference(&sb);
        let i = sa.intersection(&sb);
        for s in [&u, &d, &i] {
            assert_canonical(s);
        }
        prop_assert_eq!(model(u.as_slice()), &ma | &mb);
        prop_assert_eq!(model(d.as_slice()), &ma - &mb);
        prop_assert_eq!(model(i.as_slice()), &ma & &mb);
        // Canonical form is unique, so equal sets have equal lists.
        prop_assert_eq!(u.clone(), sb.union(&sa));
        prop_assert_eq!(i, sb.intersection(&sa));
    }

    #[test]
    fn to_cidrs_small(r in any::<bool>().prop_flat_map(|h| interval_in(base(h)))) {
        check_cidrs(r);
    }

    #[test]
    fn to_cidrs_u32(a in any::<u32>(), b in any::<u32>()) {
        check_cidrs(iv(a.min(b), a.max(b)));
    }

    #[test]
    fn to_cidrs_u128(a in any::<u128>(), b in any::<u128>(), shift in 0u32..128) {
        // Shifting makes long runs of zero/one bits (aligned edges) likely.
        let (a, b) = (a >> shift, b | (u128::MAX >> shift));
        check_cidrs(Interval::new(a.min(b), a.max(b)).unwrap());
    }

    #[test]
    fn diff_reaches_desired(
        (current, desired) in any::<bool>().prop_flat_map(|h| (kernel_like(base(h)), kernel_like(base(h))))
    ) {
        let d = diff(&current, &desired);
        for r in &d.remove {
            prop_assert!(current.contains(r));
            prop_assert!(!desired.contains(r));
        }
        for r in &d.add {
            prop_assert!(desired.contains(r));
            prop_assert!(!current.contains(r));
        }
        let kept: Vec<_> = current.iter().copied().filter(|r| !d.remove.contains(r)).collect();
        // What remains after deletions never overlaps an addition, so the
        // kernel accepts the additions.
        for k in &kept {
            for a in &d.add {
                prop_assert!(k.last < a.first || a.last < k.first);
            }
        }
        let mut result = kept;
        result.extend_from_slice(&d.add);
        result.sort_unstable();
        prop_assert_eq!(&result, &desired);
        // Minimal: identical inputs need nothing.
        prop_assert!(diff(&desired, &desired).is_empty());
    }
}
