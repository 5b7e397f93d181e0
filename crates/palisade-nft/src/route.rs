//! Route netlink (`NETLINK_ROUTE`) for one job: knowing a network namespace's own addresses,
//! and following them as they are added and removed.
//!
//! The log watcher must never ban the host it protects, and the host's addresses change while
//! it runs (DHCP, a VPN coming up, an admin's `ip addr add`). Reading them once at start
//! misses those; reading them with `getifaddrs` reads the namespace the process runs in,
//! not the one `--netns` names. So the addresses come from the kernel of the namespace
//! itself: one `RTM_GETADDR` dump, then the `RTM_NEWADDR`/`RTM_DELADDR` notifications of the
//! address multicast groups.
//!
//! Everything here is bytes in and out (the request, the decoding, the table the messages
//! build), tested on bytes captured from a kernel; the sockets are in [`crate::socket`] and
//! the loop that ties them together is [`crate::host_addrs`].

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::consts::{NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP, NLM_F_REQUEST};
use crate::wire::{Attrs, Messages, MsgHeader};

pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
/// Multicast groups of address changes, as `nl_groups` bits (linux/rtnetlink.h).
pub const RTMGRP_IPV4_IFADDR: u32 = 0x10;
pub const RTMGRP_IPV6_IFADDR: u32 = 0x100;

/// `struct ifaddrmsg`: family, prefix length, flags, scope, interface index.
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// The address failed duplicate detection: another host on the link holds it.
const IFA_F_DADFAILED: u8 = 0x08;
/// Set on dump replies when the addresses changed while the kernel was dumping them.
pub const NLM_F_DUMP_INTR: u16 = 0x10;

/// One address of one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IfAddr {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// What one route netlink message says about addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteMsg {
    /// The interface holds this address (a dump entry, or a notification).
    Added(IfAddr),
    /// The interface no longer holds it (or it failed duplicate detection: not ours).
    Removed(IfAddr),
    /// The end of a dump.
    Done,
    /// The kernel refused the request (a negative errno, as the kernel sends it: 0 is an
    /// acknowledgement).
    Error(i32),
    /// Anything else: another message type, or an address message too short to read.
    Other,
}

/// The request for a dump of every address of every family.
pub fn addr_dump_request(seq: u32) -> Vec<u8> {
    let len = (crate::consts::NLMSG_HDRLEN + IFADDRMSG_LEN) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    b.extend_from_slice(&[0; IFADDRMSG_LEN]); // AF_UNSPEC: all families
    b
}

/// The messages of one received datagram, each with its header.
pub fn parse_datagram(buf: &[u8]) -> impl Iterator<Item = (MsgHeader, RouteMsg)> + '_ {
    Messages::new(buf).map(|(hdr, payload)| (hdr, parse_message(&hdr, payload)))
}

fn parse_message(hdr: &MsgHeader, payload: &[u8]) -> RouteMsg {
    match hdr.ty {
        NLMSG_DONE => RouteMsg::Done,
        NLMSG_ERROR => payload
            .get(0..4)
            .and_then(|b| b.try_into().ok())
            .map_or(RouteMsg::Other, |b| RouteMsg::Error(i32::from_ne_bytes(b))),
        RTM_NEWADDR | RTM_DELADDR => match parse_ifaddr(payload) {
            Some((a, flags)) if hdr.ty == RTM_NEWADDR && flags & IFA_F_DADFAILED == 0 => {
                RouteMsg::Added(a)
            }
            Some((a, _)) => RouteMsg::Removed(a),
            None => RouteMsg::Other,
        },
        _ => RouteMsg::Other,
    }
}

/// The address of an address message, and its flags. The local address is `IFA_LOCAL`
/// when present: on a point-to-point link `IFA_ADDRESS` is the peer's, which is not ours.
fn parse_ifaddr(payload: &[u8]) -> Option<(IfAddr, u8)> {
    let head = payload.get(..IFADDRMSG_LEN)?;
    let (family, prefix_len, flags) = (head[0], head[1], head[2]);
    let index = u32::from_ne_bytes(head[4..8].try_into().ok()?);
    let attrs = Attrs::new(&payload[IFADDRMSG_LEN..]);
    let raw = attrs.find(IFA_LOCAL).or_else(|| attrs.find(IFA_ADDRESS))?;
    let addr = match (i32::from(family), raw.len()) {
        (libc::AF_INET, 4) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(raw).ok()?)),
        (libc::AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(raw).ok()?)),
        _ => return None,
    };
    Some((
        IfAddr {
            index,
            addr,
            prefix_len,
        },
        flags,
    ))
}

/// A namespace's addresses, as a dump and the notifications after it describe them.
///
/// Keyed by interface and prefix as the kernel keys them: the same address on two
/// interfaces stays the host's until it is removed from both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrTable {
    entries: BTreeSet<IfAddr>,
}

impl AddrTable {
    /// Apply one message; whether the table changed.
    pub fn apply(&mut self, msg: &RouteMsg) -> bool {
        match msg {
            RouteMsg::Added(a) => self.entries.insert(*a),
            RouteMsg::Removed(a) => self.entries.remove(a),
            _ => false,
        }
    }

    /// Every address, once, whatever interfaces hold it.
    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        self.entries.iter().map(|e| e.addr).collect()
    }
}

#[cfg(test)]
mod tests;
