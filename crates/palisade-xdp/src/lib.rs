//! XDP early drop: palisade's drop sets, enforced in the network driver.
//!
//! Under a flood from listed sources even nftables' earliest hook (prerouting at raw priority)
//! pays for an skb per packet. An XDP program runs in the driver's receive path, before an skb
//! exists, so a dropped packet costs almost nothing. This crate attaches such a program to
//! chosen interfaces and keeps its maps in step with palisade's sets. nftables stays
//! authoritative and keeps matching the same sets: XDP only ever drops *earlier* what
//! nftables would drop anyway, and when in doubt (unparsed packet, map full, XDP unavailable)
//! it passes the packet on to nftables.
//!
//! # The program
//! `bpf/palisade_xdp.c`, compiled by build.rs with Debian's `clang -target bpf` (stable Rust
//! cannot build BPF programs; the C file defines the few constants and map macros it needs, so
//! clang is the only build dependency, no kernel or libbpf headers). Per packet: source
//! address → longest match in an LPM trie of its family (IPv4, IPv6; networks and addresses) →
//! if the entry is timed and its deadline (stored in the value, on the kernel's monotonic
//! clock) has passed, retry with shorter prefixes → if an unexpired entry matched and the
//! allowlist trie does not hold the address, count it for the entry's set in a per-CPU array
//! and drop. The kernel's verifier checks the program when it loads.
//!
//! # State between processes
//! The link and the maps are pinned on bpffs, one directory per network namespace (see
//! [`pins`]), so `attach` in one process, `sync`/`add`/`remove` in another and `status` or
//! `detach` in a third all find the same attachment.
//!
//! # One set at a time
//! A full [`Xdp::sync`] needs every set's contents. palisade's commands change one set and
//! have only that one in hand, so [`Xdp::replace_set`] (a load), [`Xdp::add`] (a block, a ban),
//! [`Xdp::withdraw`] (an unblock: entries are cut around the addresses) and
//! [`Xdp::clear_set`] touch only the entries that set owns. Counter ids are given to set
//! names once, beside the maps ([`Xdp::set_id`]), so every process agrees on them.
//!
//! # Layout
//! Pure, tested without a kernel: [`prefix`] (intervals → trie prefixes), [`plan`] (owner
//! choice, desired content, diff, per-set plans), [`layout`] (bytes shared with the C program), [`time`]
//! (deadlines), [`rtnl`] (the netlink answer that says which mode runs), [`pins`] (file
//! names and the mount rule). Every system call is in [`sys`].
//!
//! # Memory
//! The tries are not preallocated, so the default cap of 2,000,000 drop entries per family
//! costs nothing until filled. Each entry costs a trie node with its key and value, plus the
//! intermediate nodes the trie needs: measured on Linux 6.18, a million random IPv4 addresses
//! grew kernel slab memory by about 136 MiB (a million random networks, which share more of
//! their paths, by about 97 MiB), while the kernel's own accounting of the maps (`memlock`)
//! says 41 MiB. The per-CPU counters take 258 × 16 bytes per CPU.
//!
//! # bpffs
//! Pins need a BPF filesystem. palisade mounts one only at its standard place,
//! `/sys/fs/bpf`, when the pin root lies under it and nothing is mounted there yet (as systemd
//! would at boot); any other pin root must already be on bpffs, or attach says how to mount one.

pub mod error;
pub mod layout;
pub mod pins;
pub mod plan;
pub mod prefix;
pub mod rtnl;
pub mod sys;
pub mod time;

pub use error::{Result, XdpError};
pub use layout::{Counter, Counters, DropValue, SetId};
pub use pins::DEFAULT_PIN_ROOT;
pub use plan::{DropSet, Entry};
pub use prefix::Prefix;
pub use sys::{
    kernel_now, ActiveMode, AttachInfo, Capacity, DropEntries, EntryCounts, IfaceStatus, Mode,
    SetReport, SyncReport, Xdp,
};
pub use time::KernelTime;
