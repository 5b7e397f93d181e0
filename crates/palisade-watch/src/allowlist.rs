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
