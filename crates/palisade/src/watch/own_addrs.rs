//! The host's own addresses in the watcher's allowlist, followed as they come and go.
//!
//! The watcher never bans the host it protects. Its addresses are those of the network
//! namespace it works in (`--netns X`: X's, not those of the namespace palisade runs in),
//! read from that namespace's kernel and kept current as addresses are added and removed
//! ([`palisade_nft::HostAddrs`]). The daemon refreshes them each time it takes in failures
//! and again right before it writes bans, so a line from an address added a moment ago is
//! judged with that address known.

use std::collections::BTreeSet;
use std::net::IpAddr;

use anyhow::{Context, Result};
use palisade_core::AddrRange;
use palisade_nft::HostAddrs;
use palisade_watch::Allowlist;

use crate::netns::Namespace;

pub struct OwnAddresses {
    host: HostAddrs,
    /// `[watch] allow` and loopback, as configured.
    configured: Allowlist,
    current: BTreeSet<IpAddr>,
    /// A refresh failed and that was said: say it again only once it works again.
    failing: bool,
}

impl OwnAddresses {
    /// Read the namespace's addresses and start following them.
    pub fn open(ns: &Namespace, configured: Allowlist) -> Result<Self> {
        let host = match &ns.name {
            Some(name) => HostAddrs::open_in_netns(&ns.file()).with_context(|| {
                format!("cannot read the addresses of network namespace `{name}`")
            }),
            None => HostAddrs::open().context("cannot read this host's addresses"),
        }?;
        let current = host.addresses();
        Ok(Self {
            host,
            configured,
            current,
            failing: false,
        })
    }

    /// The allowlist the tracker uses: the configured one and the host's own addresses.
    pub fn allowlist(&self) -> Allowlist {
        self.configured
            .with(self.current.iter().copied().map(AddrRange::from))
    }

    /// Take in the changes since the last call. `None` if the addresses are the same;
    /// else the addresses that became the host's (whose bans must be lifted). When the
    /// kernel cannot be read, the last known addresses stay in force: the watcher keeps
    /// working, and says so once.
    pub fn refresh(&mut self) -> Option<Vec<IpAddr>> {
        match self.host.refresh() {
            Ok(changed) => {
                self.failing = false;
                if !changed {
                    return None;
                }
                let now = self.host.addresses();
                if now == self.current {
                    return None;
                }
                let added = now.difference(&self.current).copied().collect();
                self.current = now;
                Some(added)
            }
            Err(e) => {
                if !self.failing {
                    eprintln!(
                        "palisade: cannot follow the host's addresses ({e}); \
                         the last known ones stay allowlisted"
                    );
                }
                self.failing = true;
                None
            }
        }
    }
}
