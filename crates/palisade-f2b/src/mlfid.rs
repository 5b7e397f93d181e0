//! Failures told over several lines of one connection (fail2ban's `<F-MLFID>`).
//!
//! Some daemons write the client's address on one line (`Connection from 1.2.3.4`) and the
//! failure on a later one that has no address (`User root not allowed because account is
//! locked`), tied together by a connection id (`sshd[1234]`). fail2ban keeps, per id, what
//! the earlier lines said and merges later lines into it; this follows its rules:
//! - a `<F-NOFAIL>` match remembers the address but is no failure by itself;
//! - a failure without address is "pending" until a line of the same id brings one;
//! - `<F-MLFFORGET>` (a disconnect) ends the id, `<F-MLFGAINED>` (a login) clears pending
//!   failures;
//! - two different user names tried in one connection make it a failure even if each line
//!   alone was a "no failure".
//!
//! The cache is fail2ban's: at most [`CAPACITY`] ids, the oldest forgotten first, and an
//! id is forgotten [`LIFETIME_SECS`] after it was first seen when the caller says what time
//! it is. A bigger cache is not better: sshd reuses process ids, and an id remembered
//! too long merges two unrelated connections (the second one's good login would then count
//! as a failure of its own client, because the first tried another user name).

use std::collections::{HashMap, VecDeque};

/// fail2ban's `maxCount`.
pub const CAPACITY: usize = 100;
/// fail2ban's `maxTime`.
pub const LIFETIME_SECS: u64 = 5 * 60;

/// What the groups of a match (and the lines before it) say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fail {
    pub ip4: Option<String>,
    pub ip6: Option<String>,
    pub dns: Option<String>,
    pub cidr: Option<String>,
    pub fid: Option<String>,
    pub user: Option<String>,
    pub mlfid: Option<String>,
    pub nofail: Option<String>,
    pub mlfgained: Option<String>,
    pub mlfforget: Option<String>,
    /// Distinct user names seen for this id.
    pub users: Vec<String>,
    pub pending: bool,
}

fn truthy(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

impl Fail {
    pub fn is_nofail(&self) -> bool {
        truthy(&self.nofail)
    }

    /// Values this match has overwrite the remembered ones.
    fn overwrite_with(&mut self, newer: &Fail) {
        let fields = [
            (&mut self.ip4, &newer.ip4),
            (&mut self.ip6, &newer.ip6),
            (&mut self.dns, &newer.dns),
            (&mut self.cidr, &newer.cidr),
            (&mut self.fid, &newer.fid),
            (&mut self.user, &newer.user),
            (&mut self.mlfid, &newer.mlfid),
            (&mut self.nofail, &newer.nofail),
            (&mut self.mlfgained, &newer.mlfgained),
        ];
        for (mine, theirs) in fields {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
    }

    fn add_user(&mut self, user: Option<&str>) {
        if let Some(u) = user.filter(|u| !u.is_empty()) {
            if !self.users.iter().any(|x| x == u) {
                self.users.push(u.to_string());
            }
        }
    }
}

/// Remembered state per connection id.
#[derive(Clone, Debug, Default)]
pub struct MlfidCache {
    /// Each id's state and the time it was first seen (if the caller gave one).
    entries: HashMap<String, (Fail, Option<u64>)>,
    order: VecDeque<String>,
}

impl MlfidCache {
    /// fail2ban's `_mergeFailure`: merges `fail` into what `mlfid` said before and
    /// returns the merged failure.
    pub fn merge(&mut self, mlfid: &str, mut fail: Fail, now: Option<u64>) -> Fail {
        let expired = match (self.entries.get(mlfid), now) {
            (Some((_, Some(seen))), Some(now)) => now.saturating_sub(*seen) >= LIFETIME_SECS,
            _ => false,
        };
        if expired {
            self.remove(mlfid);
        }
        const NOFAIL: u8 = 1;
        const FORGET: u8 = 2;
        const WAS_NOFAIL: u8 = 4;
        const GAINED: u8 = 8;
        let mut flags = 0;
        if truthy(&fail.mlfgained) {
            flags |= GAINED | NOFAIL;
            if !truthy(&fail.nofail) {
                fail.nofail = fail.mlfgained.clone();
            }
        } else if truthy(&fail.nofail) {
            flags |= NOFAIL;
        }
        if truthy(&fail.mlfforget.take()) {
            flags |= FORGET;
        }
        let mut standalone = None;
        if let Some((cached, _)) = self.entries.get_mut(mlfid) {
            cached.add_user(fail.user.as_deref());
            if truthy(&cached.nofail.take()) {
                flags |= WAS_NOFAIL;
            }
            if truthy(&cached.mlfgained.take()) {
                flags |= WAS_NOFAIL;
            }
            if flags & GAINED != 0 {
                cached.pending = false;
            }
            cached.overwrite_with(&fail);
            if flags & FORGET != 0 {
                standalone = self.remove(mlfid);
            }
        } else if flags & FORGET == 0 {
            fail.add_user(fail.user.clone().as_deref());
            self.insert(mlfid, fail, now);
        } else {
            standalone = Some(fail);
        }
        let entry = match standalone.as_mut() {
            Some(e) => e,
            None => match self.entries.get_mut(mlfid) {
                Some((e, _)) => e,
                None => return Fail::default(),
            },
        };
        let pending = std::mem::take(&mut entry.pending);
        if pending || entry.users.len() > 1 {
            entry.nofail = None;
            entry.mlfgained = None;
        }
        entry.clone()
    }

    /// A failure of `mlfid` is waiting for a line with the address.
    pub fn mark_pending(&mut self, mlfid: &str) {
        if let Some((e, _)) = self.entries.get_mut(mlfid) {
            e.pending = true;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn insert(&mut self, mlfid: &str, fail: Fail, now: Option<u64>) {
        while self.entries.len() >= CAPACITY {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.order.push_back(mlfid.to_string());
        self.entries.insert(mlfid.to_string(), (fail, now));
    }

    fn remove(&mut self, mlfid: &str) -> Option<Fail> {
        self.order.retain(|k| k != mlfid);
        self.entries.remove(mlfid).map(|(f, _)| f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a match says: its address, user and "no failure" flag.
    fn said(ip4: Option<&str>, user: Option<&str>, nofail: Option<&str>) -> Fail {
        let own = |v: Option<&str>| v.map(str::to_string);
        Fail {
            ip4: own(ip4),
            user: own(user),
            nofail: own(nofail),
            ..Fail::default()
        }
    }

    #[test]
    fn address_from_a_nofail_line_completes_a_later_failure() {
        let mut c = MlfidCache::default();
        let hello = said(Some("192.0.2.7"), None, Some("Connection from"));
        assert!(c.merge("sshd[1]", hello, None).is_nofail());
        let merged = c.merge("sshd[1]", said(None, Some("root"), None), None);
        assert!(!merged.is_nofail());
        assert_eq!(merged.ip4.as_deref(), Some("192.0.2.7"));
    }

    #[test]
    fn pending_failure_fires_when_the_address_arrives_and_forget_ends_the_id() {
        let mut c = MlfidCache::default();
        let merged = c.merge("id", Fail::default(), None);
        assert!(merged.ip4.is_none());
        c.mark_pending("id");
        let mut later = said(Some("192.0.2.8"), None, Some("x"));
        later.mlfforget = Some("disconnect".into());
        let merged = c.merge("id", later, None);
        assert!(!merged.is_nofail(), "pending failure must win over nofail");
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn two_user_names_in_one_connection_are_a_failure() {
        let mut c = MlfidCache::default();
        assert!(c
            .merge("id", said(Some("192.0.2.9"), Some("a"), Some("n")), None)
            .is_nofail());
        assert!(!c
            .merge("id", said(None, Some("b"), Some("n")), None)
            .is_nofail());
    }

    #[test]
    fn an_id_is_forgotten_after_its_lifetime() {
        let mut c = MlfidCache::default();
        let first = said(Some("192.0.2.9"), Some("a"), Some("n"));
        assert!(c.merge("id", first, Some(1000)).is_nofail());
        let again = said(None, Some("b"), Some("n"));
        let merged = c.merge("id", again, Some(1000 + LIFETIME_SECS));
        assert!(
            merged.is_nofail(),
            "a new connection with a reused id starts afresh"
        );
        assert!(merged.ip4.is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut c = MlfidCache::default();
        for i in 0..CAPACITY + 10 {
            c.merge(&i.to_string(), Fail::default(), None);
        }
        assert_eq!(c.len(), CAPACITY);
    }
}
