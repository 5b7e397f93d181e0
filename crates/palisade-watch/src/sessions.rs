//! The connections a built-in jail follows across lines, each named by its session key
//! (sshd's host and process id, Postfix's queue id): the address a connection has, its
//! failures still waiting for that address, and PAM's failures waiting to learn whether
//! sshd tells them again (see [`Kind`]).
//!
//! Bounded: at most [`CAPACITY`] connections, each forgotten [`LIFETIME`] seconds after
//! it was first seen (sshd gives a client two minutes to log in; ids are reused, and a
//! connection remembered too long would merge with a stranger's). A connection forgotten
//! this way still counts the PAM failures it holds, as a disconnect would.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Where failures go: one call per failure, with its address.
pub type Each<'a> = &'a mut dyn FnMut(IpAddr);

use crate::jails::Kind;

/// Most connections followed at once (sshd admits 100 unauthenticated ones by default).
pub const CAPACITY: usize = 4096;
/// Seconds a connection is followed after its first line.
pub const LIFETIME: u64 = 600;
/// Most failures one connection holds back (a flood of lines must not grow a counter
/// into a flood of failures at its end).
const MAX_HELD: u32 = 64;

#[derive(Debug)]
struct Session {
    host: Option<IpAddr>,
    /// Failures told without an address, before one was known.
    pending: u32,
    /// PAM failures not (yet) told again by sshd.
    soft: u32,
    first_seen: u64,
    /// Which entry of `order` is this session's.
    seq: u64,
}

/// The connections of one source.
#[derive(Debug, Default)]
pub struct Sessions {
    map: HashMap<Vec<u8>, Session>,
    /// Keys by first sight, oldest first; entries whose `seq` no longer matches the
    /// session's are left over from a connection that ended.
    order: VecDeque<(u64, Vec<u8>)>,
    next_seq: u64,
}

impl Sessions {
    /// Whether no connection is followed: then a failure with its address and a
    /// connection's end need no session at all (the common case, and the fast one).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A line of kind `kind` (with its address, if it has one) on connection `key`; the
    /// failures it makes go to `out`. A connection is followed from the first line that
    /// leaves something to remember (an address without a failure, a failure without an
    /// address, PAM's failure).
    pub fn apply(&mut self, key: &[u8], kind: Kind, host: Option<IpAddr>, now: u64, out: Each<'_>) {
        self.expire(now, out);
        if !self.map.contains_key(key) {
            match kind {
                Kind::Failure | Kind::FailureEnd => {
                    host.into_iter().for_each(out);
                    return;
                }
                Kind::End => return,
                Kind::Hostless | Kind::Soft | Kind::Address => self.insert(key, now, out),
            }
        }
        let Some(s) = self.map.get_mut(key) else {
            return;
        };
        if let Some(h) = host {
            if s.host.is_some_and(|old| old != h) {
                // Another connection under a reused id: the old one ended unseen.
                commit(s, out);
                s.pending = 0;
                s.first_seen = now;
            }
            s.host = Some(h);
            for _ in 0..std::mem::take(&mut s.pending) {
                out(h);
            }
        }
        match kind {
            Kind::Failure | Kind::FailureEnd => {
                host.into_iter().for_each(&mut *out);
                s.soft = s.soft.saturating_sub(1);
            }
            Kind::Hostless => match s.host {
                Some(h) => out(h),
                None => s.pending = (s.pending + 1).min(MAX_HELD),
            },
            Kind::Soft => s.soft = (s.soft + 1).min(MAX_HELD),
            Kind::Address | Kind::End => {}
        }
        if matches!(kind, Kind::FailureEnd | Kind::End) {
            if let Some(mut s) = self.map.remove(key) {
                commit(&mut s, out);
            }
        }
    }

    fn insert(&mut self, key: &[u8], now: u64, out: Each<'_>) {
        while self.map.len() >= CAPACITY {
            let Some((seq, old)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|s| s.seq == seq) {
                if let Some(mut s) = self.map.remove(&old) {
                    commit(&mut s, out);
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, key.to_vec()));
        self.map.insert(
            key.to_vec(),
            Session {
                host: None,
                pending: 0,
                soft: 0,
                first_seen: now,
                seq,
            },
        );
    }

    /// Forget connections past their lifetime (oldest first, so this is cheap), and the
    /// leftovers of ended ones.
    fn expire(&mut self, now: u64, out: Each<'_>) {
        while let Some((seq, key)) = self.order.front() {
            match self.map.get(key) {
                Some(s) if s.seq == *seq => {
                    if s.first_seen.saturating_add(LIFETIME) > now {
                        return;
                    }
                    if let Some(mut s) = self.map.remove(key) {
                        commit(&mut s, out);
                    }
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// A connection ends: the PAM failures sshd never told again count now.
fn commit(s: &mut Session, out: Each<'_>) {
    if let Some(h) = s.host {
        for _ in 0..std::mem::take(&mut s.soft) {
            out(h);
        }
    }
    s.soft = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `Sessions::apply`, collecting into `out`.
    fn apply_to(
        s: &mut Sessions,
        key: &[u8],
        kind: Kind,
        host: Option<IpAddr>,
        now: u64,
        out: &mut Vec<IpAddr>,
    ) {
        s.apply(key, kind, host, now, &mut |h| out.push(h));
    }

    #[test]
    fn a_failure_without_address_waits_for_its_connection() {
        let mut s = Sessions::default();
        let mut out = Vec::new();
        apply_to(&mut s, b"a", Kind::Hostless, None, 0, &mut out);
        assert!(out.is_empty());
        apply_to(&mut s, b"b", Kind::End, Some(ip("192.0.2.2")), 1, &mut out);
        assert!(out.is_empty(), "another connection's end");
        apply_to(&mut s, b"a", Kind::End, Some(ip("192.0.2.1")), 2, &mut out);
        assert_eq!(out, [ip("192.0.2.1")]);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn pam_failures_count_once_with_sshds_own() {
        let mut s = Sessions::default();
        let mut out = Vec::new();
        let h = ip("192.0.2.3");
        apply_to(&mut s, b"a", Kind::Soft, Some(h), 0, &mut out);
        apply_to(&mut s, b"a", Kind::Failure, Some(h), 0, &mut out);
        apply_to(&mut s, b"a", Kind::Soft, Some(h), 0, &mut out);
        assert_eq!(
            out,
            [h],
            "one failure so far: the first PAM line was told again"
        );
        apply_to(&mut s, b"a", Kind::End, Some(h), 1, &mut out);
        assert_eq!(out, [h, h], "the second PAM failure was never told again");
    }

    #[test]
    fn a_reused_id_is_a_new_connection() {
        let mut s = Sessions::default();
        let mut out = Vec::new();
        apply_to(
            &mut s,
            b"a",
            Kind::Address,
            Some(ip("192.0.2.4")),
            0,
            &mut out,
        );
        apply_to(
            &mut s,
            b"a",
            Kind::Address,
            Some(ip("192.0.2.5")),
            1,
            &mut out,
        );
        apply_to(&mut s, b"a", Kind::Hostless, None, 2, &mut out);
        assert_eq!(out, [ip("192.0.2.5")]);
    }

    #[test]
    fn connections_expire_and_the_table_is_bounded() {
        let mut s = Sessions::default();
        let mut out = Vec::new();
        apply_to(
            &mut s,
            b"old",
            Kind::Soft,
            Some(ip("192.0.2.6")),
            0,
            &mut out,
        );
        apply_to(&mut s, b"x", Kind::Hostless, None, LIFETIME, &mut out);
        assert_eq!(
            out,
            [ip("192.0.2.6")],
            "expired with its PAM failure counted"
        );
        assert_eq!(s.len(), 1);
        for i in 0..CAPACITY as u32 + 10 {
            apply_to(
                &mut s,
                &i.to_be_bytes(),
                Kind::Hostless,
                None,
                LIFETIME,
                &mut out,
            );
        }
        assert_eq!(s.len(), CAPACITY);
    }
}
