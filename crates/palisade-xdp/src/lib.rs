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
//! # Layout
//! Pure, tested without a kernel: [`prefix`] (intervals → trie prefixes), [`plan`] (owner
//! choice, desired content, diff), [`layout`] (bytes shared with the C program), [`time`]
//! (deadlines), [`rtnl`] (the netlink answer that says which mode runs), [`pins`] (file
//! names and the mount rule). Every system call is in [`sys`].
//!
//! # Memory
//! The tries are not preallocated: an IPv4 entry costs about 100 bytes of kernel memory and an
//! IPv6 one about 120 (trie node, key, value, slab rounding, plus intermediate nodes), so a
//! million IPv4 entries take roughly 100 MB; the default cap of 2,000,000 entries per family
//! costs nothing until filled. The counters are 258 slots × 16 bytes per CPU.

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
    kernel_now, ActiveMode, AttachInfo, Capacity, DropEntries, IfaceStatus, Mode, SyncReport, Xdp,
};
pub use time::KernelTime;
