//! What the kernel holds in a set's parts, as read back, with each range's extras.
//!
//! A dump gives elements exactly as the kernel keeps them (two touching ranges stay two
//! elements), with the time each has left and its comment. Deletions must name those exact
//! elements, so this view is kept apart from [`Contents`], which merges.

use super::def::Timed;
use super::kernel_addr::KernelRange;
use palisade_core::{AddrBits, AddrRange, Contents, Groups, Interval, ProtoPort};
use std::collections::BTreeMap;

/// The exact ranges one part holds, per port group, sorted.
pub type Exact<T> = BTreeMap<Option<ProtoPort>, Vec<Interval<T>>>;

/// What the kernel holds in one part (or several parts joined) of a palisade set.
#[derive(Clone, Debug, Default)]
pub struct Held {
    pub v4: Vec<KernelRange<u32>>,
    pub v6: Vec<KernelRange<u128>>,
}

/// A range as a timed element: the time it has left (else its timeout), and its comment.
fn timed<T>(r: KernelRange<T>) -> Timed
where
    AddrRange: From<Interval<T>>,
{
    Timed {
        addr: AddrRange::from(r.range),
        port: r.port,
        remaining: r
            .expires_ms
            .or(r.timeout_ms)
            .map(std::time::Duration::from_millis),
        comment: r.comment,
    }
}

fn has_timeout<T>(r: &KernelRange<T>) -> bool {
    r.expires_ms.or(r.timeout_ms).is_some()
}

/// The exact ranges of a family, grouped by port.
pub fn exact_family<T: Copy>(ranges: &[KernelRange<T>]) -> Exact<T> {
    let mut out: Exact<T> = BTreeMap::new();
    for r in ranges {
        out.entry(r.port).or_default().push(r.range);
    }
    out
}

/// Merged groups as the exact ranges a load wrote (loads only ever write merged ranges).
pub fn exact_of<T: AddrBits>(groups: &Groups<T>) -> Exact<T> {
    groups
        .iter()
        .map(|(p, s)| (*p, s.as_slice().to_vec()))
        .collect()
}

impl Held {
    /// Every range as a timed element.
    pub fn into_timed(self) -> Vec<Timed> {
        let v6 = self.v6.into_iter().map(timed);
        self.v4.into_iter().map(timed).chain(v6).collect()
    }

    /// Take out the ranges that carry a timeout, as timed elements; the rest stay.
    pub fn take_timed(&mut self) -> Vec<Timed> {
        let (t4, rest4): (Vec<_>, Vec<_>) = std::mem::take(&mut self.v4)
            .into_iter()
            .partition(has_timeout);
        let (t6, rest6): (Vec<_>, Vec<_>) = std::mem::take(&mut self.v6)
            .into_iter()
            .partition(has_timeout);
        self.v4 = rest4;
        self.v6 = rest6;
        Held { v4: t4, v6: t6 }.into_timed()
    }

    /// Contents as bare kernel ranges (no timeout, no comment).
    pub fn from_contents(c: &Contents) -> Self {
        fn ranges<T: AddrBits>(groups: &Groups<T>) -> Vec<KernelRange<T>> {
            groups
                .iter()
                .flat_map(|(port, set)| set.iter().map(move |iv| KernelRange::bare(*iv, *port)))
                .collect()
        }
        Self {
            v4: ranges(&c.v4),
            v6: ranges(&c.v6),
        }
    }

    /// Canonical contents: ranges merged, extras dropped.
    pub fn contents(&self) -> Contents {
        let v4 = self.v4.iter().map(|r| (AddrRange::V4(r.range), r.port));
        let v6 = self.v6.iter().map(|r| (AddrRange::V6(r.range), r.port));
        Contents::from_ranges(v4.chain(v6))
    }

    /// The exact ranges, per family and port group, extras dropped.
    pub fn exact(&self) -> (Exact<u32>, Exact<u128>) {
        (exact_family(&self.v4), exact_family(&self.v6))
    }

    /// Both parts together, for reading (membership, listing, export).
    pub fn join(mut self, other: Held) -> Held {
        self.v4.extend(other.v4);
        self.v6.extend(other.v6);
        self
    }
}
