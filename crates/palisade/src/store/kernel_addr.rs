//! How palisade's address ranges become kernel set elements, and back.
//!
//! A palisade set holds ranges (single addresses and networks are ranges too). In a plain
//! interval set (the kernel's rbtree) a range is two elements: its first address, and the
//! address after its last one flagged as an interval end; a range that runs to the top of the
//! address space has no end element. In an address+port set (the kernel's pipapo, which needs
//! concatenated keys) a range is one element with an explicit end key.

use palisade_core::{AddrBits, AddrRange, Interval, ProtoPort};
use palisade_nft::{Element, ElementInfo, Key, KeyKind};

/// An address width the kernel layout knows: IPv4 (`u32`) or IPv6 (`u128`).
pub trait KernelAddr: AddrBits {
    /// Suffix of the kernel set holding this family: `NAME_v4`, `NAME_v6`.
    const SUFFIX: &'static str;
    const PLAIN: KeyKind;
    const WITH_PORTS: KeyKind;
    fn key(self) -> Key;
    fn key_with_port(self, pp: ProtoPort) -> Key;
    fn from_bits(bits: u128) -> Self;
    /// The range, if it is of this family.
    fn of(a: AddrRange) -> Option<Interval<Self>>;
}

impl KernelAddr for u32 {
    const SUFFIX: &'static str = "_v4";
    const PLAIN: KeyKind = KeyKind::Ipv4;
    const WITH_PORTS: KeyKind = KeyKind::Ipv4ProtoPort;
    fn key(self) -> Key {
        Key::ipv4(self)
    }
    fn key_with_port(self, pp: ProtoPort) -> Key {
        Key::with_proto_port(&self.to_be_bytes(), pp.proto, pp.port)
    }
    fn from_bits(bits: u128) -> Self {
        bits as u32
    }
    fn of(a: AddrRange) -> Option<Interval<Self>> {
        match a {
            AddrRange::V4(iv) => Some(iv),
            AddrRange::V6(_) => None,
        }
    }
}

impl KernelAddr for u128 {
    const SUFFIX: &'static str = "_v6";
    const PLAIN: KeyKind = KeyKind::Ipv6;
    const WITH_PORTS: KeyKind = KeyKind::Ipv6ProtoPort;
    fn key(self) -> Key {
        Key::ipv6(self)
    }
    fn key_with_port(self, pp: ProtoPort) -> Key {
        Key::with_proto_port(&self.to_be_bytes(), pp.proto, pp.port)
    }
    fn from_bits(bits: u128) -> Self {
        bits
    }
    fn of(a: AddrRange) -> Option<Interval<Self>> {
        match a {
            AddrRange::V6(iv) => Some(iv),
            AddrRange::V4(_) => None,
        }
    }
}

/// Per-element extras: timeout (ms) and comment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras<'a> {
    pub timeout_ms: Option<u64>,
    pub comment: Option<&'a str>,
}

/// The kernel elements for one range: one or two of them, produced lazily so a million
/// ranges stream straight into the batch without an intermediate list.
pub fn elements<'a, T: KernelAddr>(
    iv: Interval<T>,
    port: Option<ProtoPort>,
    extras: Extras<'a>,
) -> std::iter::Chain<std::iter::Once<Element<'a>>, std::option::IntoIter<Element<'a>>> {
    let start = |key| Element {
        timeout_ms: extras.timeout_ms,
        comment: extras.comment,
        ..Element::key(key)
    };
    let (first, second) = match port {
        Some(pp) => (
            Element {
                key_end: Some(iv.last.key_with_port(pp)),
                ..start(iv.first.key_with_port(pp))
            },
            None,
        ),
        None => (
            start(iv.first.key()),
            iv.last
                .checked_succ()
                .map(|end| Element::interval_end(end.key())),
        ),
    };
    std::iter::once(first).chain(second)
}

/// The element for one address in a hash set: its key, nothing else. Same iterator type as
/// [`elements`], so callers can pick either per kernel set.
pub fn single<'a, T: KernelAddr>(
    a: T,
    port: Option<ProtoPort>,
    extras: Extras<'a>,
) -> std::iter::Chain<std::iter::Once<Element<'a>>, std::option::IntoIter<Element<'a>>> {
    let key = match port {
        Some(pp) => a.key_with_port(pp),
        None => a.key(),
    };
    let e = Element {
        timeout_ms: extras.timeout_ms,
        comment: extras.comment,
        ..Element::key(key)
    };
    std::iter::once(e).chain(None)
}

/// Encoded size of a range's elements, to size the batch buffer once.
pub fn encoded_bytes<T: KernelAddr>() -> usize {
    // list element, key nest, value: 12 bytes of headers per element; the end carries flags.
    2 * (12 + T::PLAIN.key_len() as usize) + 8
}

/// One range as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRange<T> {
    pub range: Interval<T>,
    pub port: Option<ProtoPort>,
    pub timeout_ms: Option<u64>,
    pub expires_ms: Option<u64>,
    pub comment: Option<String>,
}

impl<T> KernelRange<T> {
    /// A range with no timeout and no comment.
    pub fn bare(range: Interval<T>, port: Option<ProtoPort>) -> Self {
        KernelRange {
            range,
            port,
            timeout_ms: None,
            expires_ms: None,
            comment: None,
        }
    }
}

/// Ranges of single addresses from a hash set's dumped elements, sorted.
pub fn decode_singles<T: KernelAddr>(elems: Vec<ElementInfo>) -> Vec<KernelRange<T>> {
    let mut out: Vec<KernelRange<T>> = elems
        .into_iter()
        .filter_map(|e| {
            let a = T::from_bits(e.key.addr_bits()?);
            Some(KernelRange {
                range: Interval::single(a),
                port: e
                    .key
                    .proto_port()
                    .map(|(proto, port)| ProtoPort { proto, port }),
                timeout_ms: e.timeout_ms,
                expires_ms: e.expiration_ms,
                comment: e.comment,
            })
        })
        .collect();
    out.sort_by_key(|r| (r.port, r.range.first));
    out
}

/// Rebuild ranges from an interval set's dumped elements, sorted by (port, first address).
pub fn decode<T: KernelAddr>(mut elems: Vec<ElementInfo>) -> Vec<KernelRange<T>> {
    let bits = |k: &Key| k.addr_bits().map(T::from_bits);
    let port_of = |k: &Key| {
        k.proto_port()
            .map(|(proto, port)| ProtoPort { proto, port })
    };
    let mut out = Vec::with_capacity(elems.len() / 2 + 1);
    if elems.iter().any(|e| e.key_end.is_some()) {
        for e in elems {
            if let (Some(first), Some(last)) = (bits(&e.key), e.key_end.as_ref().and_then(bits)) {
                if let Some(range) = Interval::new(first, last) {
                    out.push(KernelRange {
                        range,
                        port: port_of(&e.key),
                        timeout_ms: e.timeout_ms,
                        expires_ms: e.expiration_ms,
                        comment: e.comment,
                    });
                }
            }
        }
    } else {
        // An end and a start can share a key when ranges touch: the end closes the earlier one.
        elems.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(b.is_interval_end().cmp(&a.is_interval_end()))
        });
        let mut open: Option<ElementInfo> = None;
        for e in elems {
            if e.is_interval_end() {
                if let Some(start) = open.take() {
                    let (Some(first), Some(end)) = (bits(&start.key), bits(&e.key)) else {
                        continue;
                    };
                    if let Some(range) = end
                        .checked_pred()
                        .and_then(|last| Interval::new(first, last))
                    {
                        out.push(KernelRange {
                            range,
                            port: None,
                            timeout_ms: start.timeout_ms,
                            expires_ms: start.expiration_ms,
                            comment: start.comment,
                        });
                    }
                }
            } else if let Some(prev) = open.replace(e) {
                // A start without an end before the next start: a single key (non-interval use).
                if let Some(a) = bits(&prev.key) {
                    out.push(KernelRange {
                        range: Interval::single(a),
                        port: None,
                        timeout_ms: prev.timeout_ms,
                        expires_ms: prev.expiration_ms,
                        comment: prev.comment,
                    });
                }
            }
        }
        // A start with no end runs to the top of the address space.
        if let Some(start) = open {
            if let Some(first) = bits(&start.key) {
                out.push(KernelRange {
                    range: Interval {
                        first,
                        last: T::MAX,
                    },
                    port: None,
                    timeout_ms: start.timeout_ms,
                    expires_ms: start.expiration_ms,
                    comment: start.comment,
                });
            }
        }
    }
    out.sort_by_key(|r| (r.port, r.range.first));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::IntervalSet;
    use proptest::prelude::*;

    fn dumped(elems: Vec<Element<'_>>) -> Vec<ElementInfo> {
        elems
            .into_iter()
            .map(|e| ElementInfo {
                key: e.key,
                key_end: e.key_end,
                flags: e.flags,
                timeout_ms: e.timeout_ms,
                expiration_ms: None,
                comment: e.comment.map(str::to_string),
            })
            .rev() // the kernel's dump order is not ours
            .collect()
    }

    proptest! {
        /// Whatever ranges we encode, decoding the kernel's view gives them back exactly,
        /// including ranges that touch and ranges that reach the top of the address space.
        #[test]
        fn encode_decode_round_trip(raw in proptest::collection::vec((any::<u32>(), 0u32..5000), 0..60), ports in any::<bool>()) {
            let set = IntervalSet::from_unsorted(raw.into_iter().map(|(a, len)| Interval { first: a, last: a.saturating_add(len) }).collect());
            let port = ports.then_some(ProtoPort { proto: 6, port: 22 });
            let elems: Vec<_> = set.iter().flat_map(|iv| elements(*iv, port, Extras::default())).collect();
            let back: Vec<Interval<u32>> = decode::<u32>(dumped(elems)).into_iter().map(|r| r.range).collect();
            prop_assert_eq!(back, set.into_vec());
        }
    }

    #[test]
    fn touching_ranges_decode_separately() {
        let mut elems = Vec::new();
        for iv in [
            Interval {
                first: 0u32,
                last: 9,
            },
            Interval {
                first: 10,
                last: 19,
            },
            Interval {
                first: 30,
                last: u32::MAX,
            },
        ] {
            elems.extend(elements(iv, None, Extras::default()));
        }
        let back: Vec<_> = decode::<u32>(dumped(elems))
            .into_iter()
            .map(|r| (r.range.first, r.range.last))
            .collect();
        assert_eq!(back, vec![(0, 9), (10, 19), (30, u32::MAX)]);
    }
}
