//! What this host takes from its peers: which kinds of bans, which shared lists, and never
//! anything on its allowlist.
//!
//! The allowlist is applied here, before the sink, and again in the kernel by the policy:
//! a peer (or a forger who got a key) must never be able to make this host drop its own
//! admin, its monitoring or loopback. A ban that touches the allowlist at all is refused
//! whole rather than trimmed: a peer banning a network around an allowed address is more
//! likely wrong than right. A shared list is trimmed instead (it is a big list of networks,
//! and one allowed address in it should not cost the other million entries).

use std::collections::BTreeSet;

use palisade_core::{AddrRange, IntervalSet};

use crate::status::DropReason;
use crate::wire::BanSource;

#[derive(Clone, Debug)]
pub struct Acceptance {
    pub bans: BTreeSet<BanSource>,
    pub lists: BTreeSet<String>,
    /// The allowlist, always with loopback (127.0.0.0/8, ::1).
    allow_v4: IntervalSet<u32>,
    allow_v6: IntervalSet<u128>,
}

impl Acceptance {
    pub fn new(bans: BTreeSet<BanSource>, lists: BTreeSet<String>, allow: &[AddrRange]) -> Self {
        let mut v4 = vec![palisade_core::Interval {
            first: 0x7f00_0000,
            last: 0x7fff_ffff,
        }];
        let mut v6 = vec![palisade_core::Interval::single(1u128)];
        for a in allow {
            match a {
                AddrRange::V4(r) => v4.push(*r),
                AddrRange::V6(r) => v6.push(*r),
            }
        }
        Self {
            bans,
            lists,
            allow_v4: IntervalSet::from_unsorted(v4),
            allow_v6: IntervalSet::from_unsorted(v6),
        }
    }

    /// Why a ban (or lift) of `target` from `source` is not for this host, if it is not.
    pub fn refuse(&self, source: BanSource, target: AddrRange) -> Option<DropReason> {
        if !self.bans.contains(&source) {
            Some(DropReason::NotAccepted)
        } else if self.overlaps_allowlist(target) {
            Some(DropReason::Allowlisted)
        } else {
            None
        }
    }

    fn overlaps_allowlist(&self, target: AddrRange) -> bool {
        match target {
            AddrRange::V4(r) => !self
                .allow_v4
                .intersection(&IntervalSet::from_unsorted(vec![r]))
                .is_empty(),
            AddrRange::V6(r) => !self
                .allow_v6
                .intersection(&IntervalSet::from_unsorted(vec![r]))
                .is_empty(),
        }
    }

    pub fn takes_list(&self, name: &str) -> bool {
        self.lists.contains(name)
    }

    /// A shared list without this host's allowlist.
    pub fn trim_list(
        &self,
        v4: &IntervalSet<u32>,
        v6: &IntervalSet<u128>,
    ) -> (IntervalSet<u32>, IntervalSet<u128>) {
        (v4.difference(&self.allow_v4), v6.difference(&self.allow_v6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::parse_addr_range;

    fn net(s: &str) -> AddrRange {
        parse_addr_range(s, false).unwrap()
    }

    fn acceptance() -> Acceptance {
        Acceptance::new(
            BTreeSet::from([BanSource::Watch, BanSource::Flood]),
            BTreeSet::from(["drop".to_string()]),
            &[net("198.51.100.0/24"), net("2001:db8::/64")],
        )
    }

    #[test]
    fn refuses_kinds_not_accepted() {
        let a = acceptance();
        assert_eq!(a.refuse(BanSource::Watch, net("203.0.113.9")), None);
        assert_eq!(
            a.refuse(BanSource::Manual, net("203.0.113.9")),
            Some(DropReason::NotAccepted)
        );
    }

    #[test]
    fn refuses_anything_touching_the_allowlist_or_loopback() {
        let a = acceptance();
        for t in [
            "198.51.100.7",
            "198.51.0.0/16",
            "0.0.0.0/0",
            "127.0.0.1",
            "::1",
            "2001:db8::5",
            "2001:db8::/32",
        ] {
            assert_eq!(
                a.refuse(BanSource::Watch, net(t)),
                Some(DropReason::Allowlisted),
                "{t}"
            );
        }
        assert_eq!(a.refuse(BanSource::Watch, net("198.51.101.0/24")), None);
    }

    #[test]
    fn trims_lists_around_the_allowlist() {
        let a = acceptance();
        let v4 = IntervalSet::from_unsorted(vec![
            palisade_core::Interval::from_prefix(0xc633_0000u32, 16).unwrap(), // 198.51.0.0/16
            palisade_core::Interval::single(0x7f00_0001),
        ]);
        let (v4, v6) = a.trim_list(&v4, &IntervalSet::new());
        assert!(!v4.contains(0xc633_6407)); // 198.51.100.7
        assert!(!v4.contains(0x7f00_0001));
        assert!(v4.contains(0xc633_6507)); // 198.51.101.7
        assert_eq!(v4.address_count(), 65536 - 256);
        assert!(v6.is_empty());
        assert!(a.takes_list("drop") && !a.takes_list("other"));
    }
}
