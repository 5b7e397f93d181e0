//! Which peers ban each address in the `fleet` set, until when, and what the kernel must be
//! told when that changes.
//!
//! Several peers may ban one address, each until its own time, but the kernel holds one
//! element per address with one timeout. So the element's timeout is the longest of the
//! peers' bans, and a lift (or `fleet forget`) from one peer must not unban an address that
//! another peer still bans: the timeout falls back to the longest remaining ban instead, and
//! only an address no peer bans any more is deleted. The kernel (6.18) sets an existing
//! element's timeout when it is added again, longer or shorter, so every change but a
//! deletion is one addition. Pure: time is passed in (unix seconds).

use std::collections::{BTreeMap, HashMap};

use palisade_core::AddrRange;
use palisade_fleet::{Expiry, VerifiedBan};

use super::forgotten::Forgotten;

/// What one origin holds against an address.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    expires: Expiry,
    reason: String,
}

/// The element the kernel should hold for an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub target: AddrRange,
    pub expires: Expiry,
    /// `fleet ORIGIN: REASON`, of the origin whose ban lasts longest.
    pub comment: String,
}

/// What to do in the kernel: add (or re-time) these, delete those.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelChange {
    pub set: Vec<Element>,
    pub remove: Vec<AddrRange>,
}

impl KernelChange {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// The kernel comment of a peer's ban. `fleet forget` finds an origin's elements by it.
pub fn comment(origin: &str, reason: &str) -> String {
    let mut c = format!("fleet {origin}: {reason}");
    // The kernel keeps at most 256 bytes of user data per element.
    if c.len() > 200 {
        let mut end = 200;
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        c.truncate(end);
    }
    c
}

/// The origin a kernel comment names, if it is one of ours.
pub fn comment_origin(comment: &str) -> Option<&str> {
    comment.strip_prefix("fleet ")?.split(':').next()
}

#[derive(Debug, Default)]
pub struct Holdings {
    targets: HashMap<AddrRange, BTreeMap<String, Held>>,
    /// Origins `fleet forget` dropped, and when: the bans they issued up to then stay out,
    /// whenever they arrive (a restart's catch-up brings them again).
    forgotten: Forgotten,
}

fn active(h: &Held, now: u64) -> bool {
    !h.expires.is_over(now)
}

/// `Never` outlasts every time.
fn longer(a: Expiry, b: Expiry) -> bool {
    match (a, b) {
        (Expiry::Never, Expiry::Never) => false,
        (Expiry::Never, _) => true,
        (Expiry::At(_), Expiry::Never) => false,
        (Expiry::At(x), Expiry::At(y)) => x > y,
    }
}

impl Holdings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holdings that keep out what these origins issued before they were forgotten.
    pub fn with_forgotten(forgotten: Forgotten) -> Self {
        Self {
            forgotten,
            ..Self::default()
        }
    }

    /// Whether `b` was issued after any forget of its origin.
    fn wanted(&self, b: &VerifiedBan) -> bool {
        self.forgotten
            .get(&b.origin)
            .is_none_or(|forgot| b.issued_at > *forgot)
    }

    /// Addresses with at least one ban (some may have just expired).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The element the kernel should hold for `target` now, if any.
    fn effective(&self, target: AddrRange, now: u64) -> Option<Element> {
        let mut best: Option<(&String, &Held)> = None;
        for (origin, held) in self.targets.get(&target)? {
            if active(held, now) && best.is_none_or(|(_, b)| longer(held.expires, b.expires)) {
                best = Some((origin, held));
            }
        }
        best.map(|(origin, held)| Element {
            target,
            expires: held.expires,
            comment: comment(origin, &held.reason),
        })
    }

    /// Run `edit` on the holdings, and say what the kernel must do for `targets`: compare
    /// what each should hold before and after.
    fn change(
        &mut self,
        targets: Vec<AddrRange>,
        now: u64,
        edit: impl FnOnce(&mut Self),
    ) -> KernelChange {
        let mut before: Vec<(AddrRange, Option<Element>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for t in targets {
            if seen.insert(t) {
                before.push((t, self.effective(t, now)));
            }
        }
        edit(self);
        let mut out = KernelChange::default();
        for (t, was) in before {
            let is = self.effective(t, now);
            if self.targets.get(&t).is_some_and(BTreeMap::is_empty) {
                self.targets.remove(&t);
            }
            match (was, is) {
                (Some(_), None) => out.remove.push(t),
                (was, Some(is)) if was.as_ref() != Some(&is) => out.set.push(is),
                _ => {}
            }
        }
        out
    }

    /// Peers' bans arrived.
    pub fn apply(&mut self, bans: &[VerifiedBan], now: u64) -> KernelChange {
        let bans: Vec<&VerifiedBan> = bans.iter().filter(|b| self.wanted(b)).collect();
        let targets = bans.iter().map(|b| b.target).collect();
        self.change(targets, now, |h| {
            for b in bans {
                h.targets.entry(b.target).or_default().insert(
                    b.origin.clone(),
                    Held {
                        expires: b.expires,
                        reason: b.reason.clone(),
                    },
                );
            }
        })
    }

    /// Replace everything with the catch-up: every peer ban active now. The elements the
    /// kernel set should hold, and nothing else.
    pub fn replace_all(&mut self, bans: &[VerifiedBan], now: u64) -> Vec<Element> {
        self.targets.clear();
        self.apply(bans, now).set
    }

    /// `origin` lifted its ban on `target`.
    pub fn lift(&mut self, origin: &str, target: AddrRange, now: u64) -> KernelChange {
        self.change(vec![target], now, |h| {
            if let Some(by) = h.targets.get_mut(&target) {
                by.remove(origin);
            }
        })
    }

    /// Several lifts, as one change.
    pub fn lift_all<'a>(
        &mut self,
        lifts: impl IntoIterator<Item = (&'a str, AddrRange)>,
        now: u64,
    ) -> KernelChange {
        let lifts: Vec<(&str, AddrRange)> = lifts.into_iter().collect();
        self.change(lifts.iter().map(|(_, t)| *t).collect(), now, |h| {
            for (origin, target) in &lifts {
                if let Some(by) = h.targets.get_mut(target) {
                    by.remove(*origin);
                }
            }
        })
    }

    /// Drop everything `origin` sent, and keep out what it issued until `now`.
    pub fn forget(&mut self, origin: &str, now: u64) -> KernelChange {
        let forgot = self.forgotten.entry(origin.to_string()).or_default();
        *forgot = (*forgot).max(now);
        let targets: Vec<AddrRange> = self
            .targets
            .iter()
            .filter(|(_, by)| by.contains_key(origin))
            .map(|(t, _)| *t)
            .collect();
        self.change(targets, now, |h| {
            for by in h.targets.values_mut() {
                by.remove(origin);
            }
        })
    }

    /// Drop every ban on the targets `covers` picks, whoever made it: they became this
    /// host's own addresses, which no peer may make it drop.
    pub fn release(&mut self, covers: impl Fn(AddrRange) -> bool, now: u64) -> KernelChange {
        let targets: Vec<AddrRange> = self
            .targets
            .keys()
            .copied()
            .filter(|t| covers(*t))
            .collect();
        let gone = targets.clone();
        self.change(targets, now, |h| {
            for t in &gone {
                h.targets.remove(t);
            }
        })
    }

    /// Forget bans that are over (the kernel timed their elements out by itself).
    pub fn prune(&mut self, now: u64) {
        self.targets.retain(|_, by| {
            by.retain(|_, h| active(h, now));
            !by.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_fleet::BanSource;
    use proptest::prelude::*;

    const NOW: u64 = 1_000_000;

    fn addr(i: u8) -> AddrRange {
        AddrRange::from(std::net::IpAddr::from([203, 0, 113, i]))
    }

    fn ban(origin: &str, i: u8, expires: Expiry) -> VerifiedBan {
        VerifiedBan {
            origin: origin.into(),
            target: addr(i),
            source: BanSource::Watch,
            expires,
            remaining: None,
            reason: format!("by {origin}"),
            issued_at: NOW,
        }
    }

    fn at(secs: u64) -> Expiry {
        Expiry::At(NOW + secs)
    }

    #[test]
    fn the_longest_ban_sets_the_timeout_and_a_shorter_one_changes_nothing() {
        let mut h = Holdings::new();
        let c = h.apply(&[ban("a", 1, at(60))], NOW);
        assert_eq!(c.set.len(), 1);
        assert_eq!(
            (c.set[0].expires, c.set[0].comment.as_str()),
            (at(60), "fleet a: by a")
        );
        assert!(h.apply(&[ban("b", 1, at(30))], NOW).is_empty());
        let c = h.apply(&[ban("c", 1, Expiry::Never)], NOW);
        assert_eq!(c.set[0].expires, Expiry::Never);
        assert_eq!(comment_origin(&c.set[0].comment), Some("c"));
    }

    #[test]
    fn a_lift_falls_back_to_the_other_peers_and_deletes_only_when_none_is_left() {
        let mut h = Holdings::new();
        h.apply(&[ban("a", 1, at(600)), ban("b", 1, at(60))], NOW);
        let c = h.lift("a", addr(1), NOW);
        assert_eq!(c.set.len(), 1, "re-timed to b's ban");
        assert_eq!(c.set[0].expires, at(60));
        assert!(c.remove.is_empty());
        assert!(h.lift("a", addr(1), NOW).is_empty(), "a lift of nothing");
        let c = h.lift("b", addr(1), NOW);
        assert_eq!(c.remove, vec![addr(1)]);
        assert!(h.is_empty());
    }

    #[test]
    fn a_lift_of_a_ban_the_kernel_timed_out_deletes_nothing() {
        let mut h = Holdings::new();
        h.apply(&[ban("a", 1, at(10))], NOW);
        assert!(h.lift("a", addr(1), NOW + 20).is_empty());
    }

    #[test]
    fn forget_drops_one_origin_everywhere() {
        let mut h = Holdings::new();
        h.apply(
            &[
                ban("a", 1, at(600)),
                ban("a", 2, at(600)),
                ban("b", 2, at(60)),
                ban("b", 3, at(60)),
            ],
            NOW,
        );
        let mut c = h.forget("a", NOW);
        c.set.sort_by_key(|e| e.target);
        assert_eq!(c.remove, vec![addr(1)]);
        assert_eq!(c.set.len(), 1);
        assert_eq!((c.set[0].target, c.set[0].expires), (addr(2), at(60)));
        assert!(h.forget("a", NOW).is_empty());
    }

    #[test]
    fn a_released_address_is_deleted_whoever_banned_it() {
        let mut h = Holdings::new();
        h.apply(
            &[
                ban("a", 1, at(60)),
                ban("b", 1, at(600)),
                ban("a", 2, at(60)),
            ],
            NOW,
        );
        let c = h.release(|t| t == addr(1), NOW);
        assert_eq!((c.remove, c.set.len()), (vec![addr(1)], 0));
        assert_eq!(h.len(), 1, "the other address stays");
    }

    #[test]
    fn a_forgotten_origins_old_bans_stay_out_and_its_new_ones_count() {
        let mut h = Holdings::new();
        h.apply(&[ban("a", 1, at(600))], NOW);
        h.forget("a", NOW + 10);
        // What a catch-up after a restart brings: a's old ban again, and b's.
        let old = ban("a", 1, at(600));
        let elements = h.replace_all(&[old.clone(), ban("b", 2, at(60))], NOW + 20);
        assert_eq!(
            elements.iter().map(|e| e.target).collect::<Vec<_>>(),
            vec![addr(2)]
        );
        let new = VerifiedBan {
            issued_at: NOW + 30,
            ..ban("a", 3, at(600))
        };
        assert_eq!(
            h.apply(&[old, new], NOW + 30).set.len(),
            1,
            "only the new one"
        );
        // The record survives a restart: a new Holdings made from it keeps the old ban out.
        let mut again = Holdings::with_forgotten(HashMap::from([("a".to_string(), NOW + 10)]));
        assert!(again.apply(&[ban("a", 1, at(600))], NOW + 40).is_empty());
    }

    #[test]
    fn the_catch_up_replaces_everything_and_expired_bans_are_pruned() {
        let mut h = Holdings::new();
        h.apply(&[ban("a", 1, at(600))], NOW);
        let elems = h.replace_all(&[ban("b", 2, at(5)), ban("b", 3, Expiry::Never)], NOW);
        assert_eq!(elems.len(), 2);
        assert!(h.lift("a", addr(1), NOW).is_empty(), "a's ban is gone");
        h.prune(NOW + 10);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn comments_are_bounded_and_name_their_origin() {
        let long = "é".repeat(300);
        let c = comment("web-1", &long);
        assert!(c.len() <= 200);
        assert_eq!(comment_origin(&c), Some("web-1"));
        assert_eq!(comment_origin("sshd: 5 failures"), None);
    }

    proptest! {
        /// Whatever the order of bans and lifts, the kernel view built from the changes equals
        /// the longest active ban per address.
        #[test]
        fn changes_keep_the_kernel_view_exact(ops in proptest::collection::vec((0u8..3, 0u8..4, 0u64..5, any::<bool>()), 0..40)) {
            let origins = ["a", "b", "c"];
            let mut h = Holdings::new();
            let mut kernel: HashMap<AddrRange, Expiry> = HashMap::new();
            let mut model: HashMap<(u8, u8), Expiry> = HashMap::new();
            for (o, t, e, is_ban) in ops {
                let change = if is_ban {
                    let expires = if e == 4 { Expiry::Never } else { at(10 + e) };
                    model.insert((o, t), expires);
                    h.apply(&[ban(origins[o as usize], t, expires)], NOW)
                } else {
                    model.remove(&(o, t));
                    h.lift(origins[o as usize], addr(t), NOW)
                };
                for r in change.remove { kernel.remove(&r); }
                for s in change.set { kernel.insert(s.target, s.expires); }
            }
            for t in 0u8..4 {
                let want = (0u8..3).filter_map(|o| model.get(&(o, t)).copied())
                    .fold(None, |acc: Option<Expiry>, e| match acc { Some(a) if !longer(e, a) => Some(a), _ => Some(e) });
                prop_assert_eq!(kernel.get(&addr(t)).copied(), want);
            }
        }
    }
}
