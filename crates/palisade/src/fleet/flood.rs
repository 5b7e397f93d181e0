//! The kernel's own flood bans, shared: a source that goes over a flood limit with
//! `over = "ban"` is put into a ban set by the kernel itself, on the packet path, where no
//! palisade process sees it. So the fleet daemon reads those sets every second or so and
//! publishes what is new, with the time it has left.
//!
//! Which sets: the dynamic sets of the applied policy (the ban sets its flood limits name),
//! never the log watcher's set (its bans come through the spool, as `watch`) and never the
//! `fleet` set (peers' bans must not come back as this host's own). These sets are small:
//! the kernel adds to them at most as fast as sources exceed a limit, and bans time out.
//!
//! [`FloodWatch`] is the pure part: given what the sets hold now, what to publish. An element
//! seen for the first time, or whose timeout the kernel refreshed (a source that went on),
//! is a ban; an element that disappeared well before its time (an admin ran `palisade
//! unblock --set flood ...`) is a lift.

use std::collections::HashMap;

use palisade_core::AddrRange;
use palisade_fleet::Expiry;

use crate::store::{Held, Store, StoreError};

/// Expiries this close are the same ban (the kernel's clock and ours tick apart).
const SLACK_SECS: u64 = 2;

/// What to publish after one look at the flood sets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FloodChanges {
    pub bans: Vec<(AddrRange, Expiry)>,
    pub lifts: Vec<AddrRange>,
}

/// The flood bans published so far, with the expiry published.
#[derive(Debug, Default)]
pub struct FloodWatch {
    published: HashMap<AddrRange, Expiry>,
}

fn later_than(a: Expiry, b: Expiry, slack: u64) -> bool {
    match (a, b) {
        (Expiry::Never, Expiry::Never) => false,
        (Expiry::Never, Expiry::At(_)) => true,
        (Expiry::At(_), Expiry::Never) => false,
        (Expiry::At(x), Expiry::At(y)) => x > y + slack,
    }
}

impl FloodWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// `held`: every element of the flood sets now (an address in several sets counts with
    /// its longest expiry). `now`: unix seconds.
    pub fn observe(&mut self, held: &[(AddrRange, Expiry)], now: u64) -> FloodChanges {
        let mut current: HashMap<AddrRange, Expiry> = HashMap::with_capacity(held.len());
        for (target, expires) in held {
            let e = current.entry(*target).or_insert(*expires);
            if later_than(*expires, *e, 0) {
                *e = *expires;
            }
        }
        let mut out = FloodChanges::default();
        for (target, expires) in &current {
            let new = self
                .published
                .get(target)
                .is_none_or(|p| later_than(*expires, *p, SLACK_SECS));
            if new {
                self.published.insert(*target, *expires);
                out.bans.push((*target, *expires));
            }
        }
        self.published.retain(|target, expires| {
            if current.contains_key(target) {
                return true;
            }
            let early = match expires {
                Expiry::Never => true,
                Expiry::At(t) => *t > now + SLACK_SECS,
            };
            if early {
                out.lifts.push(*target);
            }
            false
        });
        out.bans.sort();
        out.lifts.sort();
        out
    }
}

/// The elements of `sets` with their expiry (unix seconds, from the time they have left).
/// Address+port elements are left out: fleet bans are whole addresses.
pub fn read_flood_sets(
    store: &mut Store,
    sets: &[String],
    now: u64,
) -> Result<Vec<(AddrRange, Expiry)>, StoreError> {
    let mut out = Vec::new();
    for name in sets {
        let held: Held = match store.held(name) {
            Ok(h) => h,
            // Not created yet (the policy is not applied), or removed by a later apply.
            Err(StoreError::NoSuchSet(_)) => continue,
            Err(StoreError::Kernel(e)) if e.errno() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        for t in held.into_timed() {
            if t.port.is_some() {
                continue;
            }
            let expires = match t.remaining {
                Some(d) => Expiry::At(now + d.as_millis().div_ceil(1000) as u64),
                None => Expiry::Never,
            };
            out.push((t.addr, expires));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> AddrRange {
        AddrRange::from(std::net::IpAddr::from([203, 0, 113, i]))
    }

    #[test]
    fn new_elements_are_published_once() {
        let mut w = FloodWatch::new();
        let held = [(addr(1), Expiry::At(160)), (addr(2), Expiry::At(130))];
        let c = w.observe(&held, 100);
        assert_eq!(c.bans, held.to_vec());
        assert!(w.observe(&held, 101).bans.is_empty());
    }

    #[test]
    fn a_refreshed_timeout_is_published_again_jitter_is_not() {
        let mut w = FloodWatch::new();
        w.observe(&[(addr(1), Expiry::At(160))], 100);
        assert!(w
            .observe(&[(addr(1), Expiry::At(161))], 101)
            .bans
            .is_empty());
        let c = w.observe(&[(addr(1), Expiry::At(200))], 140);
        assert_eq!(c.bans, vec![(addr(1), Expiry::At(200))]);
    }

    #[test]
    fn an_element_gone_before_its_time_is_lifted_one_that_expired_is_not() {
        let mut w = FloodWatch::new();
        w.observe(
            &[(addr(1), Expiry::At(160)), (addr(2), Expiry::At(105))],
            100,
        );
        let c = w.observe(&[], 106);
        assert_eq!(c.lifts, vec![addr(1)]);
        assert!(c.bans.is_empty());
        assert_eq!(w.observe(&[], 107), FloodChanges::default());
    }

    #[test]
    fn an_address_in_two_sets_counts_with_its_longest_ban() {
        let mut w = FloodWatch::new();
        let c = w.observe(&[(addr(1), Expiry::At(130)), (addr(1), Expiry::Never)], 100);
        assert_eq!(c.bans, vec![(addr(1), Expiry::Never)]);
    }
}
