//! Which of palisade's sets the XDP maps hold, and as what. Pure: no system calls.
//!
//! XDP may only drop what nftables drops in its prerouting chain, so it holds:
//! - sets that drop their sources (`block = drop`, direction `in` or `both`), without ports
//!   (the tries hold addresses; a port set drops only some of an address's traffic);
//! - the allowlist: sets with `block = allow` that guard sources, whose addresses nftables
//!   never drops; their ports, if any, are ignored, so XDP passes more, never less;
//! - the admin's pinned SSH session: nftables accepts it ahead of every block, so its client
//!   address joins the allowlist (XDP cannot match one connection; nftables still drops the
//!   address's other traffic).
//!
//! Reject sets are left to nftables: dropping in XDP would change the answer the client gets.

use std::time::Duration;

use palisade_core::{AddrRange, Contents};
use palisade_nft::RuleInfo;
use palisade_xdp::{Entry, KernelTime};

use crate::store::chains::{pinned_client, PINS};
use crate::store::{BlockAction, SetDef, Timed};

/// What a set is to the XDP maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Its entries drop their sources.
    Drop,
    /// Its addresses are passed, whatever a drop set holds.
    Allow,
}

/// The set's role in XDP; `None` for sets XDP leaves to nftables.
pub fn role(def: &SetDef) -> Option<Role> {
    if !def.direction.sources() {
        return None;
    }
    match def.block {
        Some(BlockAction::Drop) if !def.with_ports => Some(Role::Drop),
        Some(BlockAction::Allow) => Some(Role::Allow),
        _ => None,
    }
}

/// The addresses of `c`, ports left out (a set XDP holds has none, or they are ignored).
pub fn ranges(c: &Contents) -> Vec<AddrRange> {
    let mut out: Vec<AddrRange> = c.ranges().map(|(a, _)| a).collect();
    out.dedup();
    out
}

/// A load's contents as permanent entries.
pub fn permanent(c: &Contents) -> Vec<Entry> {
    ranges(c)
        .into_iter()
        .map(|range| Entry {
            range,
            expires: None,
        })
        .collect()
}

/// Entries for elements read back from the kernel: each with its own time left (a permanent
/// element reports none), counted from `base`, a kernel time taken before the elements were
/// read, so no deadline falls after the kernel's.
pub fn held_entries(items: &[Timed], base: KernelTime) -> Vec<Entry> {
    entries(items, base, |t| t.remaining)
}

/// Entries for elements just added to `def`, counted from `base` (taken before the commit). An
/// element without a time of its own gets the set's default timeout where the kernel gives it
/// one: in the recent part, not in a dynamic set's singles part (see `Store::stage_add_timed`).
pub fn added_entries(def: &SetDef, items: &[Timed], base: KernelTime) -> Vec<Entry> {
    entries(items, base, |t| {
        let to_singles = def.dynamic && t.addr.size() == 1;
        t.remaining.or(if to_singles {
            None
        } else {
            def.default_timeout
        })
    })
}

fn entries(
    items: &[Timed],
    base: KernelTime,
    time_left: impl Fn(&Timed) -> Option<Duration>,
) -> Vec<Entry> {
    items
        .iter()
        .map(|t| Entry {
            range: t.addr,
            expires: time_left(t).map(|d| deadline(base, d)),
        })
        .collect()
}

/// The deadline `left` after `base`, rounded down to a whole second of the kernel's clock.
/// Each computation of one ban's deadline (from the time left nftables reports, in
/// milliseconds, and a clock read before it) lands a little differently; rounded down, they
/// land on the same second, so a sync finds the entry unchanged instead of rewriting every
/// timed entry each time. Down, so XDP stops at most a second before nftables, never after.
pub fn deadline(base: KernelTime, left: Duration) -> KernelTime {
    const SECOND: u64 = 1_000_000_000;
    let exact = base.after(left).as_nanos();
    KernelTime::from_nanos(exact - exact % SECOND)
}

/// Entries grouped by deadline, for incremental adds (one call per distinct deadline).
pub fn by_deadline(entries: &[Entry]) -> Vec<(Option<KernelTime>, Vec<AddrRange>)> {
    let mut groups: std::collections::BTreeMap<Option<KernelTime>, Vec<AddrRange>> =
        Default::default();
    for e in entries {
        groups.entry(e.expires).or_default().push(e.range);
    }
    groups.into_iter().collect()
}

/// The clients whose SSH sessions are pinned in palisade's table.
pub fn pinned_clients(rules: &[RuleInfo]) -> Vec<AddrRange> {
    let mut out: Vec<AddrRange> = rules
        .iter()
        .filter(|r| r.chain == PINS)
        .filter_map(|r| r.comment.as_deref().and_then(pinned_client))
        .map(AddrRange::from)
        .collect();
    out.sort_by_key(|r| r.to_string());
    out.dedup();
    out
}

/// `base` moved back by `elapsed` (the time since an instant before a commit).
pub fn before(base: KernelTime, elapsed: Duration) -> KernelTime {
    let back = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    KernelTime::from_nanos(base.as_nanos().saturating_sub(back))
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::policy::SetDirection;
    use palisade_core::{Interval, ProtoPort};

    fn def(block: Option<BlockAction>, direction: SetDirection, with_ports: bool) -> SetDef {
        SetDef {
            block,
            direction,
            with_ports,
            ..SetDef::new("s")
        }
    }

    #[test]
    fn only_sets_nftables_drops_at_prerouting_are_held() {
        use BlockAction::*;
        use SetDirection::*;
        assert_eq!(role(&def(Some(Drop), In, false)), Some(Role::Drop));
        assert_eq!(role(&def(Some(Drop), Both, false)), Some(Role::Drop));
        assert_eq!(role(&def(Some(Drop), Out, false)), None);
        assert_eq!(role(&def(Some(Drop), In, true)), None, "port sets");
        assert_eq!(role(&def(Some(Reject), In, false)), None);
        assert_eq!(role(&def(None, In, false)), None);
        assert_eq!(role(&def(Some(Allow), In, false)), Some(Role::Allow));
        assert_eq!(role(&def(Some(Allow), In, true)), Some(Role::Allow));
        assert_eq!(role(&def(Some(Allow), Out, false)), None);
    }

    fn one(a: u32) -> AddrRange {
        AddrRange::V4(Interval::single(a))
    }

    #[test]
    fn deadlines_count_from_the_base_and_the_default_timeout_applies() {
        let base = KernelTime::from_nanos(1_000_000_000);
        let items = [
            Timed {
                addr: one(1),
                port: None,
                remaining: Some(Duration::from_secs(3)),
                comment: None,
            },
            Timed {
                addr: one(2),
                port: None,
                remaining: None,
                comment: None,
            },
        ];
        let e = held_entries(&items, base);
        assert_eq!(e[0].expires, Some(KernelTime::from_nanos(4_000_000_000)));
        // Rounded down to the second: two reads a few milliseconds apart agree.
        let early = KernelTime::from_nanos(1_000_300_000);
        let late = KernelTime::from_nanos(1_004_000_000);
        let left = Duration::from_millis(2_500);
        assert_eq!(deadline(early, left), deadline(late, left));
        assert!(deadline(late, left) <= late.after(left));
        assert_eq!(e[1].expires, None);
        let mut def = SetDef {
            default_timeout: Some(Duration::from_secs(10)),
            ..SetDef::new("bans")
        };
        let e = added_entries(&def, &items, base);
        assert_eq!(e[0].expires, Some(KernelTime::from_nanos(4_000_000_000)));
        assert_eq!(e[1].expires, Some(KernelTime::from_nanos(11_000_000_000)));
        // A dynamic set's single addresses go to its singles part, which has no default.
        def.dynamic = true;
        assert_eq!(added_entries(&def, &items, base)[1].expires, None);
        let groups = by_deadline(&e);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            before(base, Duration::from_millis(500)).as_nanos(),
            500_000_000
        );
        assert_eq!(before(base, Duration::from_secs(5)).as_nanos(), 0);
    }

    #[test]
    fn contents_lose_their_ports_and_become_permanent() {
        let c = Contents::from_ranges([
            (one(5), Some(ProtoPort { proto: 6, port: 22 })),
            (one(5), Some(ProtoPort { proto: 6, port: 80 })),
            (one(9), None),
        ]);
        let r = ranges(&c);
        assert!(r.contains(&one(5)) && r.contains(&one(9)));
        assert!(permanent(&c).iter().all(|e| e.expires.is_none()));
    }

    #[test]
    fn pinned_sessions_are_read_from_the_pin_rules_only() {
        let rule = |chain: &str, comment: &str| RuleInfo {
            family: 1,
            table: "palisade".into(),
            chain: chain.into(),
            handle: 1,
            comment: Some(comment.into()),
            exprs: vec![],
            lookups: vec![],
            counter: None,
        };
        let pin = format!("{}192.0.2.7", crate::store::chains::PIN_COMMENT);
        let rules = [
            rule(PINS, &pin),
            rule(PINS, &pin),
            rule("block_pre", &pin),
            rule(PINS, "palisade: something else"),
        ];
        assert_eq!(
            pinned_clients(&rules),
            vec![AddrRange::from(
                "192.0.2.7".parse::<std::net::IpAddr>().unwrap()
            )]
        );
    }
}
