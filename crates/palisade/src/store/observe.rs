//! Telling an observer what a committed change did to a set.
//!
//! The XDP early drop (`crate::xdp`) keeps its maps in step with palisade's sets. Reading a set
//! back after each change would be slow for a huge one, and useless when the store has the
//! change in hand: a load its full contents, an addition its elements with their time left, a
//! deletion the addresses removed. So the store tells its observer, if it has one, right after
//! the kernel accepted a change. The observer cannot fail the change: nftables is
//! authoritative, and what the observer does only ever follows it.

use std::time::Instant;

use palisade_core::Contents;

use super::{SetDef, Store, Timed};

/// One committed change to one set.
#[derive(Clone, Copy, Debug)]
pub enum SetChange<'a> {
    /// A load: the set's loaded parts hold exactly `loaded` (elements without timeouts).
    /// `before` is what they held (`None` for a set made anew in the same transaction, which
    /// may replace an older set of that name). `folded` is what the recent part held when the
    /// load folded it in and emptied it; `None`: the recent part holds what it held, or what
    /// the same transaction put there (read it with [`Store::recent_part`]: it is small).
    Loaded {
        def: &'a SetDef,
        loaded: &'a Contents,
        before: Option<&'a Contents>,
        folded: Option<&'a Contents>,
    },
    /// Additions, each with its own time left, counted from `since` (taken before the commit,
    /// so a deadline computed from it never falls after the kernel's).
    Added {
        def: &'a SetDef,
        items: &'a [Timed],
        since: Instant,
    },
    /// Deletions: the set holds none of `items` any more.
    Deleted {
        def: &'a SetDef,
        items: &'a Contents,
    },
    /// The set was emptied.
    Flushed { def: &'a SetDef },
    /// The set was created, empty (with the block chains rebuilt for it).
    Created { def: &'a SetDef },
    /// The set is gone.
    Destroyed { name: &'a str },
}

/// Something that follows the changes to palisade's sets.
pub trait SetObserver {
    /// Whether it follows changes now: when not, the store skips the work of describing them
    /// (what a load's set held before). Checked before each load.
    fn active(&mut self) -> bool {
        true
    }

    /// Called after `change` committed; `store` may be read (not changed: the change is done).
    fn changed(&mut self, store: &mut Store, change: SetChange<'_>);
}

impl Store {
    /// Tell `observer` about every committed change to a set from now on.
    pub fn with_observer(mut self, observer: Option<Box<dyn SetObserver + Send>>) -> Self {
        self.observer = observer;
        self
    }

    /// Whether an observer follows changes now.
    pub(super) fn observing(&mut self) -> bool {
        self.observer.as_mut().is_some_and(|o| o.active())
    }

    /// Tell the observer, if any, about a committed change.
    pub(super) fn notify(&mut self, change: SetChange<'_>) {
        if let Some(mut observer) = self.observer.take() {
            observer.changed(self, change);
            self.observer = Some(observer);
        }
    }
}
