//! A network namespace's own addresses, kept current without a thread of their own.
//!
//! Two route netlink sockets, both created inside the namespace: one subscribed to the
//! address groups, where the kernel queues a notification for every change, and one for
//! dump requests. The subscription is made before the first dump, so a change that races
//! the dump is queued and applied after it (applying a change the dump already shows changes
//! nothing). The owner calls [`HostAddrs::refresh`] whenever it is about to rely on the list:
//! the kernel queues the notification of an IPv4 address before the `ip addr add` that caused
//! it returns (of an IPv6 one, from its address work queue an instant later), so what happened
//! after the change (a log line from the new address) is decided with it known. If
//! notifications were lost because the queue overflowed, the addresses are dumped again.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use std::path::Path;

use crate::error::{describe_errno, NftError, Result};
use crate::route::{
    addr_dump_request, parse_datagram, AddrTable, RouteMsg, NLM_F_DUMP_INTR, RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
};
use crate::socket::{in_netns, NlSocket};

/// A dump the kernel says was interrupted by a change is tried again, this many times.
const DUMP_ATTEMPTS: usize = 5;

/// The addresses of one network namespace, followed as they change.
pub struct HostAddrs {
    /// Subscribed to address changes: notifications wait here between refreshes.
    events: NlSocket,
    /// Not subscribed: only the replies to dump requests arrive here.
    requests: NlSocket,
    table: AddrTable,
    seq: u32,
    buf: Vec<u8>,
}

impl HostAddrs {
    /// The addresses of the namespace this thread is in.
    pub fn open() -> Result<Self> {
        Self::start(Self::sockets()?)
    }

    /// The addresses of the namespace at `path` (`/run/netns/NAME`).
    pub fn open_in_netns(path: &Path) -> Result<Self> {
        Self::start(in_netns(path, Self::sockets)?)
    }

    fn sockets() -> io::Result<(NlSocket, NlSocket)> {
        let events = NlSocket::open_route(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)?;
        Ok((events, NlSocket::open_route(0)?))
    }

    fn start((events, requests): (NlSocket, NlSocket)) -> Result<Self> {
        let mut me = Self {
            events,
            requests,
            table: AddrTable::default(),
            seq: 0,
            buf: vec![0; 64 * 1024],
        };
        me.table = me.dump()?;
        Ok(me)
    }

    /// Every address of the namespace, as of the last refresh.
    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        self.table.addresses()
    }

    /// Apply the changes queued since the last call, without waiting for more; whether any
    /// arrived that changed the table (an address, or only its interface or prefix).
    pub fn refresh(&mut self) -> Result<bool> {
        let mut changed = false;
        loop {
            match self.events.recv(&mut self.buf, false) {
                Ok(n) => {
                    for (_, msg) in parse_datagram(&self.buf[..n]) {
                        changed |= self.table.apply(&msg);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // Notifications were lost: only a new dump says what is true now. Those
                // queued after the loss are still applied after it.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    let now = self.dump()?;
                    changed |= now != self.table;
                    self.table = now;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(changed)
    }

    fn dump(&mut self) -> Result<AddrTable> {
        for _ in 0..DUMP_ATTEMPTS {
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            self.requests.send(&addr_dump_request(seq))?;
            let mut table = AddrTable::default();
            let mut interrupted = false;
            'replies: loop {
                let n = self.requests.recv(&mut self.buf, true)?;
                for (hdr, msg) in parse_datagram(&self.buf[..n]) {
                    if hdr.seq != seq {
                        continue;
                    }
                    interrupted |= hdr.flags & NLM_F_DUMP_INTR != 0;
                    match msg {
                        RouteMsg::Done => break 'replies,
                        RouteMsg::Error(e) if e != 0 => {
                            return Err(NftError::Kernel {
                                what: "the dump of the namespace's addresses".into(),
                                errno: -e,
                                reason: describe_errno(-e, None),
                            })
                        }
                        msg => {
                            table.apply(&msg);
                        }
                    }
                }
            }
            if !interrupted {
                return Ok(table);
            }
        }
        Err(NftError::Protocol(format!(
            "the namespace's addresses changed during each of {DUMP_ATTEMPTS} dumps"
        )))
    }
}
