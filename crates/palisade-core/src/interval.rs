//! Address interval algebra, generic over the address width.
//!
//! Blocklists are sets of addresses, and the kernel stores them as interval
//! sets. Working on inclusive `[first, last]` ranges (instead of CIDR blocks)
//! lets us merge, subtract and compare millions of entries with sorted linear
//! passes, and only turn ranges back into CIDR blocks where a human or a tool
//! needs them. Inclusive bounds (rather than half-open ones) are used so that
//! the last address of the space (`255.255.255.255`, `ffff:…:ffff`) is
//! representable without a wider integer type.

use std::fmt::Debug;
use std::hash::Hash;
use std::ops::{BitAnd, BitOr, Not, Shl, Shr, Sub};

/// Address bits: `u32` for IPv4, `u128` for IPv6.
///
/// The algebra is written once against this trait so that both families get
/// exactly the same (tested) code.
pub trait AddrBits:
    Copy
    + Ord
    + Eq
    + Hash
    + Debug
    + Send
    + Sync
    + 'static
    + Sub<Output = Self>
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + Not<Output = Self>
    + Shl<u32, Output = Self>
    + Shr<u32, Output = Self>
{
    /// Width of an address in bits (32 or 128).
    const BITS: u32;
    /// The first address of the space.
    const ZERO: Self;
    /// The last address of the space.
    const MAX: Self;

    /// `self + 1`, `None` on overflow.
    fn checked_succ(self) -> Option<Self>;
    /// `self - 1`, `None` on underflow.
    fn checked_pred(self) -> Option<Self>;
    /// Widen to `u128` (lossless).
    fn to_u128(self) -> u128;
    /// Narrow from `u128`, keeping the low `BITS` bits.
    fn from_u128_truncating(v: u128) -> Self;
    /// Number of leading zero bits.
    fn leading_zeros(self) -> u32;
    /// Number of trailing zero bits (`BITS` for zero).
    fn trailing_zeros(self) -> u32;

    /// A value with the low `k` bits set (`k` may be anything from 0 to `BITS`).
    ///
    /// Written with a shift of the all-ones value so that `k == BITS` does not
    /// overflow the shift.
    fn low_mask(k: u32) -> Self {
        if k == 0 {
            Self::ZERO
        } else {
            Self::MAX >> (Self::BITS - k.min(Self::BITS))
        }
    }
}

macro_rules! impl_addr_bits {
    ($t:ty) => {
        impl AddrBits for $t {
            const BITS: u32 = <$t>::BITS;
            const ZERO: Self = 0;
            const MAX: Self = <$t>::MAX;

            #[inline]
            fn checked_succ(self) -> Option<Self> {
                self.checked_add(1)
            }
            #[inline]
            fn checked_pred(self) -> Option<Self> {
                self.checked_sub(1)
            }
            #[inline]
            fn to_u128(self) -> u128 {
                u128::from(self)
            }
            #[inline]
            fn from_u128_truncating(v: u128) -> Self {
                v as $t
            }
            #[inline]
            fn leading_zeros(self) -> u32 {
                <$t>::leading_zeros(self)
            }
            #[inline]
            fn trailing_zeros(self) -> u32 {
                <$t>::trailing_zeros(self)
            }
        }
    };
}

impl_addr_bits!(u32);
impl_addr_bits!(u128);

/// Inclusive range of addresses `[first, last]`.
///
/// Ordering is by `first`, then `last`, which is the order the kernel lists
/// interval set elements in and what the linear merges below rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval<T> {
    pub first: T,
    pub last: T,
}

impl<T: AddrBits> Interval<T> {
    /// `None` if `first > last`: an empty range has no meaning for a set element.
    pub fn new(first: T, last: T) -> Option<Self> {
        (first <= last).then_some(Interval { first, last })
    }

    /// The range holding exactly one address.
    pub fn single(a: T) -> Self {
        Interval { first: a, last: a }
    }

    /// The network of length `prefix_len` containing `addr` (host bits are
    /// ignored). `None` if `prefix_len` is longer than the address.
    pub fn from_prefix(addr: T, prefix_len: u8) -> Option<Self> {
        let len = u32::from(prefix_len);
        if len > T::BITS {
            return None;
        }
        let host = T::low_mask(T::BITS - len);
        let first = addr & !host;
        Some(Interval {
            first,
            last: first | host,
        })
    }

    pub fn contains(&self, a: T) -> bool {
        self.first <= a && a <= self.last
    }

    /// Number of addresses, saturating: the whole IPv6 space has 2^128
    /// addresses, one more than `u128` holds.
    pub fn size(&self) -> u128 {
        (self.last - self.first).to_u128().saturating_add(1)
    }

    /// If this range is exactly one CIDR block, its `(network, prefix_len)`.
    ///
    /// Used to print ranges the way admins write them (`10.0.0.0/8` rather
    /// than `10.0.0.0-10.255.255.255`).
    pub fn as_prefix(&self) -> Option<(T, u8)> {
        let span = self.last - self.first;
        let host_bits = T::BITS - span.leading_zeros();
        if span != T::low_mask(host_bits) || self.first & span != T::ZERO {
            return None;
        }
        Some((self.first, (T::BITS - host_bits) as u8))
    }

    /// Minimal list of CIDR blocks `(network, prefix_len)` exactly covering
    /// this interval, ascending.
    ///
    /// Needed because some consumers (humans, `ipset`, other tools) only
    /// understand prefixes. Greedy: at each step take the largest block that
    /// is aligned at the current address and does not pass `last`; that is
    /// known to give the minimal decomposition.
    pub fn to_cidrs(&self) -> Vec<(T, u8)> {
        self.cidrs().collect()
    }

    /// The blocks of [`Interval::to_cidrs`] lazily, for very large ranges
    /// (an IPv6 range can need up to 254 blocks; nothing huge, but an
    /// iterator avoids the allocation on hot paths).
    pub fn cidrs(&self) -> Cidrs<T> {
        Cidrs {
            next: Some(self.first),
            last: self.last,
        }
    }
}

/// Iterator returned by [`Interval::cidrs`].
#[derive(Clone, Debug)]
pub struct Cidrs<T> {
    next: Option<T>,
    last: T,
}

impl<T: AddrBits> Iterator for Cidrs<T> {
    type Item = (T, u8);

    fn next(&mut self) -> Option<(T, u8)> {
        let cur = self.next?;
        let remaining = self.last - cur; // number of addresses left, minus one
                                         // Largest k with 2^k - 1 <= remaining.
        let size_bits = match remaining.checked_succ() {
            Some(n) => T::BITS - 1 - n.leading_zeros(),
            None => T::BITS,
        };
        let k = size_bits.min(cur.trailing_zeros());
        let block_last = cur | T::low_mask(k);
        self.next = if block_last >= self.last {
            None
        } else {
            block_last.checked_succ()
        };
        Some((cur, (T::BITS - k) as u8))
    }
}

/// Sorted, disjoint, non-adjacent intervals: overlapping or touching ranges
/// are merged, so every set of addresses has exactly one representation and
/// two sets are equal iff their range lists are equal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct IntervalSet<T> {
    ranges: Vec<Interval<T>>,
}

impl<T: AddrBits> IntervalSet<T> {
    pub fn new() -> Self {
        IntervalSet { ranges: Vec::new() }
    }

    /// Sort and merge overlapping and adjacent ranges, in O(n log n).
    ///
    /// Blocklists reach millions of entries, so this sorts in place (unstable
    /// sort, no extra allocation) and merges in one pass over the same vector.
    pub fn from_unsorted(mut v: Vec<Interval<T>>) -> Self {
        v.sort_unstable();
        let mut out = 0usize;
        for i in 0..v.len() {
            let r = v[i];
            if out > 0 {
                let prev = &mut v[out - 1];
                // `None` means prev reaches MAX: it absorbs everything after it.
                match prev.last.checked_succ() {
                    None => break,
                    Some(next) if r.first <= next => {
                        if r.last > prev.last {
                            prev.last = r.last;
                        }
                        continue;
                    }
                    Some(_) => {}
                }
            }
            v[out] = r;
            out += 1;
        }
        v.truncate(out);
        IntervalSet { ranges: v }
    }

    pub fn as_slice(&self) -> &[Interval<T>] {
        &self.ranges
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Interval<T>> {
        self.ranges.iter()
    }

    /// Number of ranges (not addresses; see [`IntervalSet::address_count`]).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Membership by binary search.
    pub fn contains(&self, a: T) -> bool {
        let i = self.ranges.partition_point(|r| r.last < a);
        self.ranges.get(i).is_some_and(|r| r.first <= a)
    }

    /// Number of addresses covered, saturating at `u128::MAX`.
    pub fn address_count(&self) -> u128 {
        self.ranges
            .iter()
            .fold(0u128, |acc, r| acc.saturating_add(r.size()))
    }

    /// Number of CIDR blocks needed to express the set; what a prefix-only
    /// consumer would have to store.
    pub fn cidr_count(&self) -> usize {
        self.ranges.iter().map(|r| r.cidrs().count()).sum()
    }

    /// Addresses in either set. Linear merge of the two sorted lists.
    pub fn union(&self, other: &Self) -> Self {
        let (a, b) = (&self.ranges, &other.ranges);
        let mut out: Vec<Interval<T>> = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let r = if j >= b.len() || (i < a.len() && a[i].first <= b[j].first) {
                i += 1;
                a[i - 1]
            } else {
                j += 1;
                b[j - 1]
            };
            push_merging(&mut out, r);
        }
        IntervalSet { ranges: out }
    }

    /// Addresses in `self` but not in `other`. Linear in both sizes.
    pub fn difference(&self, other: &Self) -> Self {
        let b = &other.ranges;
        let mut out = Vec::with_capacity(self.ranges.len());
        let mut j = 0;
        for &r in &self.ranges {
            // Ranges of `other` ending before `r` can't affect later ranges either.
            while j < b.len() && b[j].last < r.first {
                j += 1;
            }
            let mut cur = Some(r.first);
            let mut k = j;
            while let Some(start) = cur {
                match b.get(k) {
                    Some(cut) if cut.first <= r.last => {
                        if cut.first > start {
                            out.push(Interval {
                                first: start,
                                last: cut.first.checked_pred().expect("cut.first > start"),
                            });
                        }
                        cur = if cut.last >= r.last {
                            None
                        } else {
                            cut.last.checked_succ()
                        };
                        k += 1;
                    }
                    _ => {
                        out.push(Interval {
                            first: start,
                            last: r.last,
                        });
                        cur = None;
                    }
                }
            }
            // The last cut may reach into the next range of self: don't skip it.
            j = k.saturating_sub(1).max(j);
        }
        IntervalSet { ranges: out }
    }

    /// Addresses in both sets. Linear two-pointer walk.
    pub fn intersection(&self, other: &Self) -> Self {
        let (a, b) = (&self.ranges, &other.ranges);
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let first = a[i].first.max(b[j].first);
            let last = a[i].last.min(b[j].last);
            if first <= last {
                out.push(Interval { first, last });
            }
            if a[i].last < b[j].last {
                i += 1;
            } else {
                j += 1;
            }
        }
        IntervalSet { ranges: out }
    }

    pub fn into_vec(self) -> Vec<Interval<T>> {
        self.ranges
    }
}

/// Append `r` (whose `first` is >= every `first` already in `out`), merging
/// it into the last range when they overlap or touch.
fn push_merging<T: AddrBits>(out: &mut Vec<Interval<T>>, r: Interval<T>) {
    if let Some(prev) = out.last_mut() {
        match prev.last.checked_succ() {
            None => return,
            Some(next) if r.first <= next => {
                if r.last > prev.last {
                    prev.last = r.last;
                }
                return;
            }
            Some(_) => {}
        }
    }
    out.push(r);
}

impl<T: AddrBits> FromIterator<Interval<T>> for IntervalSet<T> {
    fn from_iter<I: IntoIterator<Item = Interval<T>>>(iter: I) -> Self {
        Self::from_unsorted(iter.into_iter().collect())
    }
}

impl<'a, T> IntoIterator for &'a IntervalSet<T> {
    type Item = &'a Interval<T>;
    type IntoIter = std::slice::Iter<'a, Interval<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.ranges.iter()
    }
}

/// What to send to the kernel to turn `current` into `desired`.
///
/// Deletions must be applied before additions in the same transaction:
/// an added range may overlap a removed one, and the kernel rejects
/// overlapping elements in an interval set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntervalDiff<T> {
    pub remove: Vec<Interval<T>>,
    pub add: Vec<Interval<T>>,
}

impl<T> IntervalDiff<T> {
    /// True when the kernel already holds exactly the desired elements.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

/// Compute the element changes turning `current` into `desired`.
///
/// `current` is what a kernel interval set holds: sorted by first address and
/// disjoint, but possibly adjacent (not merged). Elements are compared
/// exactly: a current interval is kept only if the same interval is desired,
/// because the kernel deletes elements by exact match. Only the changed
/// elements are sent, so reloading a million-entry list that changed a
/// little costs a little.
///
/// Linear merge of two sorted slices; if either slice is not sorted it is
/// sorted first (on a copy) rather than producing a wrong answer.
pub fn diff<T: AddrBits>(current: &[Interval<T>], desired: &[Interval<T>]) -> IntervalDiff<T> {
    let cur_sorted;
    let current = if is_sorted(current) {
        current
    } else {
        cur_sorted = sorted(current);
        &cur_sorted
    };
    let des_sorted;
    let desired = if is_sorted(desired) {
        desired
    } else {
        des_sorted = sorted(desired);
        &des_sorted
    };

    let mut d = IntervalDiff {
        remove: Vec::new(),
        add: Vec::new(),
    };
    let (mut i, mut j) = (0, 0);
    while i < current.len() && j < desired.len() {
        match current[i].cmp(&desired[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                d.remove.push(current[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                d.add.push(desired[j]);
                j += 1;
            }
        }
    }
    d.remove.extend_from_slice(&current[i..]);
    d.add.extend_from_slice(&desired[j..]);
    d
}

fn is_sorted<T: Ord>(v: &[T]) -> bool {
    v.windows(2).all(|w| w[0] <= w[1])
}

fn sorted<T: Ord + Copy>(v: &[T]) -> Vec<T> {
    let mut s = v.to_vec();
    s.sort_unstable();
    s
}

#[cfg(test)]
mod tests;
