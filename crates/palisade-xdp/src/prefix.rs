//! Networks as an LPM trie stores them: an address and a prefix length.
//!
//! palisade keeps sets as inclusive address intervals (`palisade_core::AddrRange`); an LPM trie
//! only knows prefixes. Every interval becomes its minimal list of CIDR blocks
//! (`palisade_core::Cidrs`), so `10.0.0.0-10.0.0.2` costs two entries (`10.0.0.0/31`,
//! `10.0.0.2/32`) and matches exactly the same addresses.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use palisade_core::{AddrBits, AddrRange, Family, Interval};

/// An address width the trie maps are keyed by, with its key bytes (network order, as the
/// kernel's `struct bpf_lpm_trie_key` wants them).
pub trait TrieAddr: AddrBits {
    /// The address in network byte order: `[u8; 4]` or `[u8; 16]`.
    type Bytes: Copy + Eq + fmt::Debug + AsRef<[u8]> + Send + Sync + 'static;
    const FAMILY: Family;
    fn to_be_bytes(self) -> Self::Bytes;
    fn from_be_bytes(bytes: Self::Bytes) -> Self;
    /// How admins write the address.
    fn display(self) -> String;
    /// The interval of `r` if it is of this family.
    fn interval_of(r: &AddrRange) -> Option<Interval<Self>>;
}

impl TrieAddr for u32 {
    type Bytes = [u8; 4];
    const FAMILY: Family = Family::V4;
    fn to_be_bytes(self) -> [u8; 4] {
        u32::to_be_bytes(self)
    }
    fn from_be_bytes(bytes: [u8; 4]) -> Self {
        u32::from_be_bytes(bytes)
    }
    fn display(self) -> String {
        Ipv4Addr::from(self).to_string()
    }
    fn interval_of(r: &AddrRange) -> Option<Interval<Self>> {
        match r {
            AddrRange::V4(iv) => Some(*iv),
            AddrRange::V6(_) => None,
        }
    }
}

impl TrieAddr for u128 {
    type Bytes = [u8; 16];
    const FAMILY: Family = Family::V6;
    fn to_be_bytes(self) -> [u8; 16] {
        u128::to_be_bytes(self)
    }
    fn from_be_bytes(bytes: [u8; 16]) -> Self {
        u128::from_be_bytes(bytes)
    }
    fn display(self) -> String {
        Ipv6Addr::from(self).to_string()
    }
    fn interval_of(r: &AddrRange) -> Option<Interval<Self>> {
        match r {
            AddrRange::V6(iv) => Some(*iv),
            AddrRange::V4(_) => None,
        }
    }
}

/// A network: `addr` with every bit past `len` cleared. Ordered by address, then length, so a
/// sorted list of prefixes can be diffed with one linear pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix<T> {
    addr: T,
    len: u8,
}

impl<T: TrieAddr> Prefix<T> {
    /// The network of length `len` containing `addr` (host bits are cleared, as the trie
    /// ignores them anyway). `None` if `len` is longer than the address.
    pub fn new(addr: T, len: u8) -> Option<Self> {
        let iv = Interval::from_prefix(addr, len)?;
        Some(Prefix {
            addr: iv.first,
            len,
        })
    }

    pub fn addr(&self) -> T {
        self.addr
    }

    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for the prefix of length zero, which covers the whole family.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains(&self, a: T) -> bool {
        self.interval().contains(a)
    }

    /// The addresses this prefix covers.
    pub fn interval(&self) -> Interval<T> {
        Interval::from_prefix(self.addr, self.len).expect("len was checked at construction")
    }
}

impl<T: TrieAddr> fmt::Display for Prefix<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr.display(), self.len)
    }
}

/// The minimal prefixes exactly covering an interval, ascending.
pub fn interval_prefixes<T: TrieAddr>(iv: Interval<T>) -> impl Iterator<Item = Prefix<T>> {
    iv.cidrs().map(|(addr, len)| Prefix { addr, len })
}

/// The prefixes of the ranges of family `T` among `ranges`, in the ranges' order.
pub fn prefixes_of_family<T: TrieAddr>(ranges: &[AddrRange]) -> Vec<Prefix<T>> {
    ranges
        .iter()
        .filter_map(T::interval_of)
        .flat_map(interval_prefixes)
        .collect()
}

/// Ranges of both families split into the prefixes of each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyPrefixes {
    pub v4: Vec<Prefix<u32>>,
    pub v6: Vec<Prefix<u128>>,
}

impl FamilyPrefixes {
    pub fn of(ranges: &[AddrRange]) -> Self {
        FamilyPrefixes {
            v4: prefixes_of_family(ranges),
            v6: prefixes_of_family(ranges),
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn host_bits_are_cleared_and_lengths_checked() {
        let p = Prefix::new(v4("10.1.2.3"), 8).unwrap();
        assert_eq!(p.to_string(), "10.0.0.0/8");
        assert!(p.contains(v4("10.255.0.1")));
        assert!(!p.contains(v4("11.0.0.0")));
        assert!(Prefix::new(v4("1.2.3.4"), 33).is_none());
        assert!(Prefix::new(0u128, 129).is_none());
        assert_eq!(Prefix::new(0u32, 0).unwrap().interval().size(), 1 << 32);
        let p6 = Prefix::new(u128::from("2001:db8::1".parse::<Ipv6Addr>().unwrap()), 32).unwrap();
        assert_eq!(p6.to_string(), "2001:db8::/32");
    }

    #[test]
    fn ranges_split_into_minimal_prefixes_per_family() {
        let ranges = [
            AddrRange::V4(Interval::new(v4("10.0.0.0"), v4("10.0.0.2")).unwrap()),
            AddrRange::V6(Interval::single(1u128)),
        ];
        let got = FamilyPrefixes::of(&ranges);
        let text: Vec<String> = got.v4.iter().map(|p| p.to_string()).collect();
        assert_eq!(text, ["10.0.0.0/31", "10.0.0.2/32"]);
        assert_eq!(got.v6, vec![Prefix::new(1u128, 128).unwrap()]);
        assert_eq!(got.len(), 3);
    }

    proptest! {
        /// The prefixes of an interval cover exactly its addresses, without overlap.
        #[test]
        fn prefixes_tile_the_interval(a: u32, b: u32) {
            let iv = Interval::new(a.min(b), a.max(b)).unwrap();
            let ps: Vec<_> = interval_prefixes(iv).collect();
            let mut next = Some(iv.first);
            for p in &ps {
                let piv = p.interval();
                prop_assert_eq!(Some(piv.first), next);
                next = piv.last.checked_add(1);
            }
            prop_assert_eq!(ps.last().unwrap().interval().last, iv.last);
            prop_assert!(ps.len() <= 62);
        }
    }
}
