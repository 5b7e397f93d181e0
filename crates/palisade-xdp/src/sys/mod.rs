//! The thin shell: every system call of the crate (through aya, rtnetlink and a few raw BPF
//! commands) lives under this module; the decisions it carries out are made by the pure
//! modules above it.
//!
//! State is found, not held: each call opens the pinned maps and links of the calling thread's
//! network namespace, so any palisade process (a later `palisade set add`, the daemon, `status`)
//! works on the same attachment. Writers take an exclusive lock on the namespace's state
//! directory.

mod attach;
mod bpf_link;
mod host;
mod maps;
mod names;
mod netlink;
mod sets;
mod sync;

use std::fmt;
use std::path::{Path, PathBuf};

pub use host::kernel_now;
pub use maps::Capacity;
pub use sets::{EntryCounts, SetReport};
pub use sync::SyncReport;

use crate::error::{Result, XdpError};
use crate::layout::{self, Counters, DropValue};
use crate::pins;
use crate::prefix::Prefix;

/// How to attach: the mode requested.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Native if the driver supports it, generic otherwise.
    #[default]
    Auto,
    /// Native (driver) mode only; fails if the driver cannot run XDP itself.
    Native,
    /// Generic mode: runs after the driver built an skb, still before the stack and netfilter.
    Generic,
}

/// The mode the program actually runs in, as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveMode {
    Native,
    Generic,
    Offload,
}

impl fmt::Display for ActiveMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActiveMode::Native => "native",
            ActiveMode::Generic => "generic",
            ActiveMode::Offload => "offload",
        })
    }
}

/// The outcome of an attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachInfo {
    pub ifname: String,
    pub ifindex: u32,
    pub mode: ActiveMode,
    /// The kernel's id of the program now running on the interface.
    pub program_id: u32,
    /// Why native mode was not used, when [`Mode::Auto`] fell back to generic.
    pub native_refused: Option<String>,
    /// True when palisade's program was already attached in a fitting mode (nothing changed).
    pub already_attached: bool,
    pub capacity: Capacity,
}

/// One interface palisade's state directory has a link for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceStatus {
    pub ifindex: u32,
    /// `None` when the interface no longer exists.
    pub name: Option<String>,
    /// The mode palisade's program runs in; `None` when it is not running there (the interface
    /// is gone, or something else replaced it).
    pub mode: Option<ActiveMode>,
    /// The program id held by palisade's link.
    pub program_id: Option<u32>,
}

/// The drop tries' content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropEntries {
    pub v4: Vec<(Prefix<u32>, DropValue)>,
    pub v6: Vec<(Prefix<u128>, DropValue)>,
}

/// palisade's XDP state in one network namespace: its maps, found on the BPF filesystem.
pub struct Xdp {
    dir: PathBuf,
    maps: maps::Maps,
}

impl Xdp {
    /// The state directory of the calling thread's network namespace under `pin_root`.
    pub fn state_dir(pin_root: &Path) -> Result<PathBuf> {
        Ok(pin_root.join(host::netns_key()?))
    }

    /// Find palisade's pinned XDP maps for this network namespace; `None` if palisade has never
    /// attached here (or detached everywhere since).
    pub fn open(pin_root: &Path) -> Result<Option<Xdp>> {
        Self::open_at(&Self::state_dir(pin_root)?)
    }

    /// Find palisade's pinned XDP maps in a state directory found earlier with
    /// [`Xdp::state_dir`]: unlike [`Xdp::open`], this works from any thread, whatever network
    /// namespace it is in (a process that enters a namespace only for a moment keeps the path).
    pub fn open_at(dir: &Path) -> Result<Option<Xdp>> {
        if !dir.join(layout::DROP_V4).exists() {
            return Ok(None);
        }
        let maps = maps::Maps::open(dir)?;
        Ok(Some(Xdp {
            dir: dir.to_path_buf(),
            maps,
        }))
    }

    /// Attach palisade's program to `ifname` (in the calling thread's network namespace),
    /// creating and pinning the maps on first use. The attachment outlives this process: the
    /// link is pinned under `pin_root`. Attaching again in a fitting mode changes nothing.
    ///
    /// `capacity` applies when the maps are created; existing maps keep theirs (reported in
    /// [`AttachInfo::capacity`]).
    pub fn attach(
        pin_root: &Path,
        ifname: &str,
        mode: Mode,
        capacity: Capacity,
    ) -> Result<AttachInfo> {
        attach::attach(pin_root, ifname, mode, capacity)
    }

    /// The directory this state is pinned in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The capacity the maps were created with.
    pub fn capacity(&self) -> Capacity {
        self.maps.capacity
    }

    /// Take the program off `ifname` and remove its link. When no interface is left, the maps
    /// and the state directory are removed too (returns true then); this handle stays usable
    /// but writes no longer reach any program.
    pub fn detach(&self, ifname: &str) -> Result<bool> {
        attach::detach(&self.dir, ifname)
    }

    /// Take palisade's program off every interface of this network namespace (including links
    /// whose interface was removed) and remove the pinned state. Needs no working maps, so it
    /// also clears state left by another palisade version. Returns the number of links removed
    /// (0 when there was no state).
    pub fn detach_all(pin_root: &Path) -> Result<usize> {
        attach::detach_all(&Self::state_dir(pin_root)?)
    }

    /// Every interface palisade attached to in this namespace, with what the kernel says runs
    /// there now.
    pub fn status(&self) -> Result<Vec<IfaceStatus>> {
        attach::status(&self.dir)
    }

    /// Per-set drop counters and the allowlist and expiry pass counts, summed over CPUs.
    pub fn counters(&self) -> Result<Counters> {
        self.maps.counters()
    }

    /// Every drop entry, per family, as the kernel holds it (for `status` listings and tests;
    /// two system calls per entry).
    pub fn drop_entries(&mut self) -> Result<DropEntries> {
        Ok(DropEntries {
            v4: self.maps.read_drops::<u32>()?,
            v6: self.maps.read_drops::<u128>()?,
        })
    }

    /// Number of drop entries per family `(IPv4, IPv6)`. Walks the tries, one system call per
    /// entry: for status and tests, not hot paths.
    pub fn drop_entry_counts(&mut self) -> Result<(usize, usize)> {
        Ok((
            self.maps.count_drops::<u32>()?,
            self.maps.count_drops::<u128>()?,
        ))
    }

    fn lock(&self) -> Result<host::DirLock> {
        host::lock_dir(&self.dir)
    }
}

impl fmt::Debug for Xdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Xdp").field("dir", &self.dir).finish()
    }
}

/// The error for an interface with no link of palisade's.
fn not_attached(ifname: &str) -> XdpError {
    XdpError::NotAttached {
        ifname: ifname.into(),
    }
}

/// The link pin of `ifname` in `dir`, with the interface index.
fn link_of(dir: &Path, ifname: &str) -> Result<(u32, PathBuf)> {
    let ifindex = host::ifindex(ifname)?;
    Ok((ifindex, pins::link_pin(dir, ifindex)))
}
