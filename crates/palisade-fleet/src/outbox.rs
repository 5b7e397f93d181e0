//! Where this host's bans wait to go on the bus, and the [`Publisher`] handle that puts them
//! there from any thread.
//!
//! The caller has already applied a ban locally when it hands it over; sharing it must
//! never hold the caller up, bus or no bus. So [`Publisher::ban`] only appends to an
//! in-memory queue and wakes the network thread. The queue has a bound (`[fleet] queue`):
//! during a long outage the oldest waiting records are thrown away first (and counted),
//! since the newest bans are the ones still worth sending. Lists wait in a separate slot per
//! name, where a newer version replaces an older one not yet sent.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use palisade_core::{AddrRange, IntervalSet};

use crate::list::valid_list_name;
use crate::wire::{
    clean_reason, envelope_overhead, BanSource, Expiry, Record, MAX_ENVELOPE_BYTES, MAX_RECORDS,
};

/// A list waiting to be published.
#[derive(Clone, Debug)]
pub(crate) struct PendingList {
    pub v4: IntervalSet<u32>,
    pub v6: IntervalSet<u128>,
}

#[derive(Default)]
struct Queues {
    records: VecDeque<Record>,
    /// Records handed in and neither acknowledged by the bus nor dropped.
    unsent: u64,
    dropped: u64,
    /// Per name, the newest version not yet stored on the bus, with a generation number so
    /// a version handed in while an older one was being sent is not mistaken for it.
    lists: BTreeMap<String, (u64, PendingList)>,
    list_generation: u64,
}

pub(crate) struct Outbox {
    queues: Mutex<Queues>,
    bound: usize,
    /// Wakes the publisher task when records arrive.
    pub wake: tokio::sync::Notify,
    /// Wakes the list task when a list arrives.
    pub wake_lists: tokio::sync::Notify,
}

impl Outbox {
    pub fn new(bound: usize) -> Self {
        Self {
            queues: Mutex::new(Queues::default()),
            bound,
            wake: tokio::sync::Notify::new(),
            wake_lists: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, record: Record) {
        {
            let mut q = self.lock();
            if q.records.len() >= self.bound {
                q.records.pop_front();
                q.dropped += 1;
                q.unsent -= 1;
            }
            q.records.push_back(record);
            q.unsent += 1;
        }
        self.wake.notify_one();
    }

    pub fn push_many(&self, records: Vec<Record>) {
        for r in records {
            self.push(r);
        }
    }

    /// (records waiting, records dropped so far)
    pub fn counts(&self) -> (usize, u64) {
        let q = self.lock();
        (q.records.len(), q.dropped)
    }

    pub fn has_records(&self) -> bool {
        !self.lock().records.is_empty()
    }

    /// The bus acknowledged `n` records.
    pub fn mark_sent(&self, n: u64) {
        let mut q = self.lock();
        q.unsent = q.unsent.saturating_sub(n);
    }

    /// Whether anything handed in has not reached the bus yet.
    pub fn has_work(&self) -> bool {
        let q = self.lock();
        q.unsent > 0 || !q.lists.is_empty()
    }

    /// As many waiting records as fit in one envelope from `origin`.
    pub fn take_envelope(&self, origin: &str) -> Vec<Record> {
        let mut q = self.lock();
        let mut size = envelope_overhead(origin);
        let mut out = Vec::new();
        while let Some(r) = q.records.front() {
            let len = r.encoded_len();
            if out.len() == MAX_RECORDS || size + len > MAX_ENVELOPE_BYTES {
                break;
            }
            size += len;
            out.extend(q.records.pop_front());
        }
        out
    }

    pub fn push_list(&self, name: &str, list: PendingList) {
        {
            let mut q = self.lock();
            q.list_generation += 1;
            let generation = q.list_generation;
            q.lists.insert(name.to_string(), (generation, list));
        }
        self.wake_lists.notify_one();
    }

    /// The lists waiting, each with its generation for [`Outbox::list_stored`].
    pub fn waiting_lists(&self) -> Vec<(String, u64, PendingList)> {
        self.lock()
            .lists
            .iter()
            .map(|(name, (generation, list))| (name.clone(), *generation, list.clone()))
            .collect()
    }

    /// The bus stored generation `generation` of list `name` (or it needed no storing).
    pub fn list_stored(&self, name: &str, generation: u64) {
        let mut q = self.lock();
        if q.lists.get(name).is_some_and(|(g, _)| *g == generation) {
            q.lists.remove(name);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("list \"{0}\" is not in [fleet.share] lists, so it is not published")]
    ListNotShared(String),
    #[error("\"{0}\" is not a valid list name (letters, digits, `-`, `_`, at most 64)")]
    ListName(String),
}

/// Shares this host's bans and lists with the fleet. Cheap to clone; usable from any
/// thread; never blocks on the network.
#[derive(Clone)]
pub struct Publisher {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) share_bans: BTreeSet<BanSource>,
    pub(crate) share_lists: BTreeSet<String>,
}

impl Publisher {
    /// Share a ban this host has applied. Returns `false` (and sends nothing) when this
    /// kind of ban is not in `[fleet.share] bans`.
    pub fn ban(&self, target: AddrRange, source: BanSource, expires: Expiry, reason: &str) -> bool {
        if !self.share_bans.contains(&source) {
            return false;
        }
        self.outbox.push(Record::Ban {
            target,
            source,
            expires,
            reason: clean_reason(reason),
        });
        true
    }

    /// Share that this host lifted its ban on `target` before it expired.
    pub fn lift(&self, target: AddrRange, source: BanSource) -> bool {
        if !self.share_bans.contains(&source) {
            return false;
        }
        self.outbox.push(Record::Lift { target, source });
        true
    }

    /// Publish the full contents of a shared list (a new version, if they changed).
    pub fn publish_list(
        &self,
        name: &str,
        v4: IntervalSet<u32>,
        v6: IntervalSet<u128>,
    ) -> Result<(), PublishError> {
        if !valid_list_name(name) {
            return Err(PublishError::ListName(name.to_string()));
        }
        if !self.share_lists.contains(name) {
            return Err(PublishError::ListNotShared(name.to_string()));
        }
        self.outbox.push_list(name, PendingList { v4, v6 });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(i: u32) -> Record {
        Record::Ban {
            target: AddrRange::V4(palisade_core::Interval::single(i)),
            source: BanSource::Watch,
            expires: Expiry::Never,
            reason: "r".repeat(100),
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let o = Outbox::new(3);
        for i in 0..5 {
            o.push(ban(i));
        }
        assert_eq!(o.counts(), (3, 2));
        let taken = o.take_envelope("web1");
        assert_eq!(taken.iter().map(|r| r.target()).collect::<Vec<_>>(), {
            (2..5)
                .map(|i| AddrRange::V4(palisade_core::Interval::single(i)))
                .collect::<Vec<_>>()
        });
    }

    #[test]
    fn envelopes_are_filled_up_to_the_size_limit() {
        let o = Outbox::new(100_000);
        for i in 0..2000 {
            o.push(ban(i));
        }
        let first = o.take_envelope("web1");
        let size = envelope_overhead("web1") + first.iter().map(Record::encoded_len).sum::<usize>();
        assert!(size <= MAX_ENVELOPE_BYTES);
        assert!(size + ban(0).encoded_len() > MAX_ENVELOPE_BYTES);
        let rest = o.take_envelope("web1");
        assert_eq!(first.len() + rest.len() + o.counts().0, 2000);
        o.mark_sent((first.len() + rest.len()) as u64);
        assert!(o.has_work(), "some are still waiting");
    }

    #[test]
    fn only_shared_kinds_and_lists_go_out() {
        let p = Publisher {
            outbox: Arc::new(Outbox::new(10)),
            share_bans: BTreeSet::from([BanSource::Watch]),
            share_lists: BTreeSet::from(["drop".to_string()]),
        };
        let t = AddrRange::V4(palisade_core::Interval::single(1));
        assert!(p.ban(t, BanSource::Watch, Expiry::Never, "x"));
        assert!(!p.ban(t, BanSource::Manual, Expiry::Never, "x"));
        assert!(!p.lift(t, BanSource::Flood));
        assert_eq!(p.outbox.counts().0, 1);
        assert!(p
            .publish_list("drop", IntervalSet::new(), IntervalSet::new())
            .is_ok());
        assert!(matches!(
            p.publish_list("other", IntervalSet::new(), IntervalSet::new()),
            Err(PublishError::ListNotShared(_))
        ));
        assert!(matches!(
            p.publish_list("a.b", IntervalSet::new(), IntervalSet::new()),
            Err(PublishError::ListName(_))
        ));
    }
}
