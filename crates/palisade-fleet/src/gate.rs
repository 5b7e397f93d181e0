//! The gate every envelope passes before anything in it is believed: size, format, subject,
//! trusted signer, signature, clock sanity and replay.
//!
//! Whatever reaches the bus is treated as hostile: anyone who can publish on it (a
//! compromised host, a mistyped permission) can send anything. So an envelope is accepted
//! only if the key the receiver's trust list binds to the envelope's origin signed it, and
//! it is not a replay.
//!
//! Replay: each origin numbers its envelopes with a strictly increasing `seq`. The gate
//! keeps, per origin, the highest `seq` seen and the set of `seq`s seen in the last
//! [`REPLAY_WINDOW_MICROS`] below it (the way IPsec and DTLS keep a sliding window rather
//! than a single counter). An envelope older than the window, or one already seen, is a
//! replay. The window (rather than "must exceed the last") is there because a publisher
//! that lost its connection re-sends unacknowledged envelopes, which can then land after
//! later ones; those are real, unseen events and must not be refused. Per-address ordering
//! (a ban re-sent late must not undo a later lift) is the ledger's job.

use std::collections::{BTreeSet, HashMap};

use ed25519_dalek::VerifyingKey;

use crate::keys;
use crate::status::DropReason;
use crate::wire::{self, Envelope, MAX_ENVELOPE_BYTES, SIGNING_CONTEXT};

/// How far behind an origin's newest envelope another may arrive and still be accepted.
pub const REPLAY_WINDOW_MICROS: u64 = 10 * 60 * 1_000_000;
/// How far ahead of the receiver's clock an origin's clock may be. Further ahead, its
/// envelopes are refused: accepting them would push the origin's window into the future and
/// make every later (correctly stamped) envelope look like a replay.
pub const MAX_CLOCK_AHEAD_MICROS: u64 = 5 * 60 * 1_000_000;

/// Subject prefix of ban envelopes; the last token is the origin host.
pub const BAN_SUBJECT_PREFIX: &str = "palisade.bans.";

/// The subject an origin publishes its envelopes on.
pub fn ban_subject(origin: &str) -> String {
    format!("{BAN_SUBJECT_PREFIX}{origin}")
}

/// What the gate made of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A peer's envelope, verified and new.
    Peer(Envelope),
    /// This host's own envelope coming back (signed by its own key).
    Own(Envelope),
    Dropped(DropReason),
}

#[derive(Debug, Default)]
struct Window {
    high: u64,
    seen: BTreeSet<u64>,
}

impl Window {
    /// Record `seq` if it is new and inside the window.
    fn admit(&mut self, seq: u64) -> bool {
        if seq.saturating_add(REPLAY_WINDOW_MICROS) < self.high || self.seen.contains(&seq) {
            return false;
        }
        self.seen.insert(seq);
        if seq > self.high {
            self.high = seq;
            let floor = seq.saturating_sub(REPLAY_WINDOW_MICROS);
            self.seen = self.seen.split_off(&floor);
        }
        true
    }
}

/// Trust list and replay state of one receiver.
#[derive(Debug)]
pub struct Gate {
    host: String,
    own_key: VerifyingKey,
    peers: HashMap<String, VerifyingKey>,
    windows: HashMap<String, Window>,
}

impl Gate {
    /// `peers` maps host names to the keys trusted to sign for them. This host's own name
    /// is always bound to its own key (an entry for it in `peers` is ignored).
    pub fn new(host: &str, own_key: VerifyingKey, peers: HashMap<String, VerifyingKey>) -> Self {
        Self {
            host: host.to_string(),
            own_key,
            peers,
            windows: HashMap::new(),
        }
    }

    /// Judge one message from the bus. `now_micros` is the receiver's clock.
    pub fn admit(&mut self, subject: &str, bytes: &[u8], now_micros: u64) -> Admission {
        match self.check(subject, bytes, now_micros) {
            Ok((env, own)) if own => Admission::Own(env),
            Ok((env, _)) => Admission::Peer(env),
            Err(reason) => Admission::Dropped(reason),
        }
    }

    fn check(
        &mut self,
        subject: &str,
        bytes: &[u8],
        now_micros: u64,
    ) -> Result<(Envelope, bool), DropReason> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(DropReason::Oversized);
        }
        let decoded = wire::decode(bytes).map_err(|_| DropReason::Malformed)?;
        let origin = decoded.envelope.origin.as_str();
        // The subject is where the stream files the envelope; one filed under another
        // host's subject is not that host's, whatever it says inside.
        if subject.strip_prefix(BAN_SUBJECT_PREFIX) != Some(origin) {
            return Err(DropReason::Malformed);
        }
        let own = origin == self.host;
        let key = if own {
            &self.own_key
        } else {
            self.peers.get(origin).ok_or(DropReason::Untrusted)?
        };
        if !keys::verify(key, SIGNING_CONTEXT, decoded.signed, &decoded.signature) {
            return Err(DropReason::BadSignature);
        }
        let seq = decoded.envelope.seq;
        if seq > now_micros.saturating_add(MAX_CLOCK_AHEAD_MICROS) {
            return Err(DropReason::ClockSkew);
        }
        let window = self.windows.entry(origin.to_string()).or_default();
        if !window.admit(seq) {
            return Err(DropReason::Replayed);
        }
        Ok((decoded.envelope, own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::seal;
    use crate::wire::{BanSource, Expiry, Record};
    use ed25519_dalek::SigningKey;
    use palisade_core::AddrRange;

    const NOW: u64 = 1_800_000_000_000_000;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn envelope(origin: &str, seq: u64) -> Envelope {
        Envelope {
            origin: origin.into(),
            seq,
            records: vec![Record::Ban {
                target: AddrRange::from("192.0.2.7".parse::<std::net::IpAddr>().unwrap()),
                source: BanSource::Watch,
                expires: Expiry::At(NOW / 1_000_000 + 600),
                reason: "sshd".into(),
            }],
        }
    }

    fn gate() -> Gate {
        let peers = HashMap::from([("web2".to_string(), key(2).verifying_key())]);
        Gate::new("web1", key(1).verifying_key(), peers)
    }

    #[test]
    fn accepts_a_trusted_peer_and_recognises_its_own_envelopes() {
        let mut g = gate();
        let bytes = seal(&envelope("web2", NOW), &key(2));
        assert_eq!(
            g.admit("palisade.bans.web2", &bytes, NOW),
            Admission::Peer(envelope("web2", NOW))
        );
        let own = seal(&envelope("web1", NOW), &key(1));
        assert!(matches!(
            g.admit("palisade.bans.web1", &own, NOW),
            Admission::Own(_)
        ));
    }

    #[test]
    fn refuses_untrusted_forged_misfiled_and_malformed() {
        let mut g = gate();
        let stranger = seal(&envelope("web3", NOW), &key(3));
        assert_eq!(
            g.admit("palisade.bans.web3", &stranger, NOW),
            Admission::Dropped(DropReason::Untrusted)
        );
        // web3's key claiming to be web2: the trust list binds web2 to key 2.
        let impostor = seal(&envelope("web2", NOW), &key(3));
        assert_eq!(
            g.admit("palisade.bans.web2", &impostor, NOW),
            Admission::Dropped(DropReason::BadSignature)
        );
        // A flipped bit in a record.
        let mut flipped = seal(&envelope("web2", NOW), &key(2));
        flipped[20] ^= 1;
        assert_eq!(
            g.admit("palisade.bans.web2", &flipped, NOW),
            Admission::Dropped(DropReason::BadSignature)
        );
        let good = seal(&envelope("web2", NOW), &key(2));
        assert_eq!(
            g.admit("palisade.bans.web3", &good, NOW),
            Admission::Dropped(DropReason::Malformed)
        );
        assert_eq!(
            g.admit("palisade.bans.web2", b"\x01garbage", NOW),
            Admission::Dropped(DropReason::Malformed)
        );
        assert_eq!(
            g.admit(
                "palisade.bans.web2",
                &vec![1u8; MAX_ENVELOPE_BYTES + 1],
                NOW
            ),
            Admission::Dropped(DropReason::Oversized)
        );
        // Nothing above touched web2's window: its real envelope still passes.
        assert!(matches!(
            g.admit("palisade.bans.web2", &good, NOW),
            Admission::Peer(_)
        ));
    }

    #[test]
    fn refuses_replays_but_accepts_late_unseen_envelopes_inside_the_window() {
        let mut g = gate();
        let at = |seq| seal(&envelope("web2", seq), &key(2));
        let s = "palisade.bans.web2";
        assert!(matches!(g.admit(s, &at(NOW), NOW), Admission::Peer(_)));
        assert_eq!(
            g.admit(s, &at(NOW), NOW),
            Admission::Dropped(DropReason::Replayed)
        );
        assert!(matches!(g.admit(s, &at(NOW + 10), NOW), Admission::Peer(_)));
        // Re-sent after a reconnect, landing after NOW + 10: still new.
        assert!(matches!(g.admit(s, &at(NOW - 5), NOW), Admission::Peer(_)));
        assert_eq!(
            g.admit(s, &at(NOW - 5), NOW),
            Admission::Dropped(DropReason::Replayed)
        );
        // Older than the window: refused even though never seen.
        let old = NOW - REPLAY_WINDOW_MICROS - 11;
        assert_eq!(
            g.admit(s, &at(old), NOW),
            Admission::Dropped(DropReason::Replayed)
        );
    }

    #[test]
    fn refuses_envelopes_from_a_clock_far_ahead() {
        let mut g = gate();
        let ahead = NOW + MAX_CLOCK_AHEAD_MICROS + 1;
        let bytes = seal(&envelope("web2", ahead), &key(2));
        assert_eq!(
            g.admit("palisade.bans.web2", &bytes, NOW),
            Admission::Dropped(DropReason::ClockSkew)
        );
        // And it did not move the window: a correctly stamped one still passes.
        let bytes = seal(&envelope("web2", NOW), &key(2));
        assert!(matches!(
            g.admit("palisade.bans.web2", &bytes, NOW),
            Admission::Peer(_)
        ));
    }

    #[test]
    fn the_window_forgets_what_it_no_longer_needs() {
        let mut w = Window::default();
        for i in 0..1000u64 {
            assert!(w.admit(i * REPLAY_WINDOW_MICROS / 100));
        }
        assert!(w.seen.len() <= 101, "{}", w.seen.len());
    }
}
