//! Addresses the log watcher never bans, whatever the logs say.

use std::net::IpAddr;

use palisade_core::{AddrRange, Interval, IntervalSet};

/// Addresses that are never banned, whatever the logs say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowlist {
    v4: IntervalSet<u32>,
    v6: IntervalSet<u128>,
}

impl Allowlist {
    /// `nets` plus loopback (127.0.0.0/8 and ::1), which no config can remove: banning
    /// the host's own services talking to themselves only ever breaks the host.
    pub fn new(nets: Vec<AddrRange>) -> Self {
        let mut list = Self {
            v4: IntervalSet::from_unsorted(vec![Interval {
                first: 0x7f00_0000,
                last: 0x7fff_ffff,
            }]),
            v6: IntervalSet::from_unsorted(vec![Interval::single(1)]),
        };
        for n in nets {
            list.add(n);
        }
        list
    }

    /// This list and `more`, built in one union per family (a host can have thousands of
    /// addresses, and the list is rebuilt whenever one comes or goes).
    pub fn with(&self, more: impl IntoIterator<Item = AddrRange>) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in more {
            match net {
                AddrRange::V4(r) => v4.push(r),
                AddrRange::V6(r) => v6.push(r),
            }
        }
        Self {
            v4: self.v4.union(&IntervalSet::from_unsorted(v4)),
            v6: self.v6.union(&IntervalSet::from_unsorted(v6)),
        }
    }

    pub fn add(&mut self, net: AddrRange) {
        match net {
            AddrRange::V4(r) => self.v4 = self.v4.union(&IntervalSet::from_unsorted(vec![r])),
            AddrRange::V6(r) => self.v6 = self.v6.union(&IntervalSet::from_unsorted(vec![r])),
        }
    }

    /// Whether `a` is allowlisted. An IPv4-mapped IPv6 address is checked as its IPv4
    /// address: it is the same host.
    pub fn contains(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(v4) => self.v4.contains(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.contains(u32::from(v4)),
                None => self.v6.contains(u128::from(v6)),
            },
        }
    }

    /// Whether any address of `range` is allowlisted.
    pub fn overlaps(&self, range: AddrRange) -> bool {
        match range {
            AddrRange::V4(r) => !self
                .v4
                .intersection(&IntervalSet::from_unsorted(vec![r]))
                .is_empty(),
            AddrRange::V6(r) => !self
                .v6
                .intersection(&IntervalSet::from_unsorted(vec![r]))
                .is_empty(),
        }
    }
}

impl Default for Allowlist {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> AddrRange {
        palisade_core::parse_addr_range(s, false).unwrap()
    }

    #[test]
    fn with_adds_to_a_copy_and_keeps_loopback() {
        let configured = Allowlist::new(vec![range("192.0.2.0/24")]);
        let host = configured.with([range("198.51.100.7"), range("2001:db8::7")]);
        for a in [
            "192.0.2.9",
            "198.51.100.7",
            "2001:db8::7",
            "127.0.0.5",
            "::1",
        ] {
            assert!(host.contains(a.parse().unwrap()), "{a}");
        }
        assert!(!configured.contains("198.51.100.7".parse().unwrap()));
        assert!(!host.contains("198.51.100.8".parse().unwrap()));
        assert_eq!(configured.with([]), configured);
    }
}
