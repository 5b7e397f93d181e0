//! The pinned maps, opened by path, with reads and writes in the layout of `layout`.
//!
//! Every map access of the crate goes through here, so errors are classified in one place: a
//! full trie becomes [`XdpError::MapFull`] naming the set being written, a missing BPF
//! becomes [`XdpError::BpfUnavailable`].

use std::io;
use std::path::Path;

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Map, MapData, MapError, PerCpuArray, PerCpuValues};
use aya::Pod;

use crate::error::{Result, XdpError};
use crate::layout::{self, Counter, Counters, DropValue, DROP_VALUE_LEN};
use crate::prefix::{Prefix, TrieAddr};

type DropTrie<K> = LpmTrie<MapData, K, [u8; DROP_VALUE_LEN]>;
type AllowTrie<K> = LpmTrie<MapData, K, u32>;

/// How many entries each trie can hold, as fixed when the maps were created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Drop entries per family (IPv4 and IPv6 each).
    pub drop_per_family: u32,
    /// Allowlist entries per family.
    pub allow_per_family: u32,
}

impl Default for Capacity {
    /// 2,000,000 drop entries per family: room for a million-entry blocklist and the same
    /// again in bans. The tries are not preallocated, so the cap costs nothing until used.
    fn default() -> Self {
        Capacity {
            drop_per_family: 2_000_000,
            allow_per_family: 65_536,
        }
    }
}

pub struct Maps {
    drop_v4: DropTrie<[u8; 4]>,
    drop_v6: DropTrie<[u8; 16]>,
    allow_v4: AllowTrie<[u8; 4]>,
    allow_v6: AllowTrie<[u8; 16]>,
    counters: PerCpuArray<MapData, [u64; 2]>,
    pub capacity: Capacity,
}

/// Reach one family's tries in [`Maps`], so the sync code is written once for both.
pub trait FamilyMaps: TrieAddr<Bytes: Pod> {
    const DROP: &'static str;
    const ALLOW: &'static str;
    fn drop_trie(m: &mut Maps) -> &mut DropTrie<Self::Bytes>;
    fn allow_trie(m: &mut Maps) -> &mut AllowTrie<Self::Bytes>;
}

impl FamilyMaps for u32 {
    const DROP: &'static str = layout::DROP_V4;
    const ALLOW: &'static str = layout::ALLOW_V4;
    fn drop_trie(m: &mut Maps) -> &mut DropTrie<[u8; 4]> {
        &mut m.drop_v4
    }
    fn allow_trie(m: &mut Maps) -> &mut AllowTrie<[u8; 4]> {
        &mut m.allow_v4
    }
}

impl FamilyMaps for u128 {
    const DROP: &'static str = layout::DROP_V6;
    const ALLOW: &'static str = layout::ALLOW_V6;
    fn drop_trie(m: &mut Maps) -> &mut DropTrie<[u8; 16]> {
        &mut m.drop_v6
    }
    fn allow_trie(m: &mut Maps) -> &mut AllowTrie<[u8; 16]> {
        &mut m.allow_v6
    }
}

/// The io::Error inside an aya error, rebuilt (io::Error is not Clone) with its errno.
fn io_of(e: &MapError) -> io::Error {
    let inner = match e {
        MapError::SyscallError(s) => Some(&s.io_error),
        MapError::IoError(io) => Some(io),
        MapError::CreateError { io_error, .. } => Some(io_error),
        _ => None,
    };
    match inner.and_then(io::Error::raw_os_error) {
        Some(errno) => io::Error::from_raw_os_error(errno),
        None => io::Error::other(e.to_string()),
    }
}

pub fn map_error(what: impl Into<String>, e: MapError) -> XdpError {
    XdpError::kernel(what, "a BPF map operation", io_of(&e))
}

fn open_one(dir: &Path, name: &str, key_size: u32, value_size: u32) -> Result<(Map, u32)> {
    let path = dir.join(name);
    let data = MapData::from_pin(&path).map_err(|e| match io_of(&e).raw_os_error() {
        Some(libc::ENOENT) => XdpError::IncompatibleState {
            path: dir.to_path_buf(),
            problem: format!("map `{name}` is missing"),
        },
        _ => map_error(format!("opening pinned map {}", path.display()), e),
    })?;
    let info = data
        .info()
        .map_err(|e| map_error(format!("reading map {}", path.display()), e))?;
    if info.key_size() != key_size || info.value_size() != value_size {
        return Err(XdpError::IncompatibleState {
            path: dir.to_path_buf(),
            problem: format!(
                "map `{name}` has {}-byte keys and {}-byte values, this version uses {key_size} \
                 and {value_size}",
                info.key_size(),
                info.value_size()
            ),
        });
    }
    let map = Map::from_map_data(data)
        .map_err(|e| map_error(format!("opening map {}", path.display()), e))?;
    Ok((map, info.max_entries()))
}

fn incompatible(dir: &Path, name: &str, e: MapError) -> XdpError {
    XdpError::IncompatibleState {
        path: dir.to_path_buf(),
        problem: format!("map `{name}` has the wrong type: {e}"),
    }
}

/// One pinned trie, checked for the key and value sizes this build uses.
fn open_trie<K: Pod, V: Pod>(dir: &Path, name: &str) -> Result<(LpmTrie<MapData, K, V>, u32)> {
    let key_size = (4 + std::mem::size_of::<K>()) as u32;
    let (map, capacity) = open_one(dir, name, key_size, std::mem::size_of::<V>() as u32)?;
    let trie = LpmTrie::try_from(map).map_err(|e| incompatible(dir, name, e))?;
    Ok((trie, capacity))
}

impl Maps {
    /// Open the maps pinned in a netns state directory, checking their layout.
    pub fn open(dir: &Path) -> Result<Self> {
        let (drop_v4, drop_per_family) = open_trie(dir, layout::DROP_V4)?;
        let (drop_v6, _) = open_trie(dir, layout::DROP_V6)?;
        let (allow_v4, allow_per_family) = open_trie(dir, layout::ALLOW_V4)?;
        let (allow_v6, _) = open_trie(dir, layout::ALLOW_V6)?;
        let (c, _) = open_one(dir, layout::COUNTERS, 4, 16)?;
        let counters =
            PerCpuArray::try_from(c).map_err(|e| incompatible(dir, layout::COUNTERS, e))?;
        Ok(Maps {
            drop_v4,
            drop_v6,
            allow_v4,
            allow_v6,
            counters,
            capacity: Capacity {
                drop_per_family,
                allow_per_family,
            },
        })
    }

    /// Every drop entry of one family. Keys no palisade wrote are skipped (they cannot be
    /// there unless someone else wrote the pinned map).
    pub fn read_drops<T: FamilyMaps>(&mut self) -> Result<Vec<(Prefix<T>, DropValue)>> {
        let mut out = Vec::new();
        for item in T::drop_trie(self).iter() {
            match item {
                Ok((k, v)) => {
                    if let Some(p) = layout::prefix_of_key::<T>(k.prefix_len(), k.data()) {
                        out.push((p, DropValue::decode(&v)));
                    }
                }
                Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(map_error(format!("reading map {}", T::DROP), e)),
            }
        }
        Ok(out)
    }

    /// Every allowlist prefix of one family.
    pub fn read_allow<T: FamilyMaps>(&mut self) -> Result<Vec<Prefix<T>>> {
        let mut out = Vec::new();
        for key in T::allow_trie(self).keys() {
            match key {
                Ok(k) => out.extend(layout::prefix_of_key::<T>(k.prefix_len(), k.data())),
                Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(map_error(format!("reading map {}", T::ALLOW), e)),
            }
        }
        Ok(out)
    }

    /// The drop entry stored for exactly `p` (not a shorter covering prefix).
    pub fn drop_entry<T: FamilyMaps>(&mut self, p: &Prefix<T>) -> Result<Option<DropValue>> {
        let (len, bytes) = layout::trie_key(p);
        match T::drop_trie(self).get(&Key::new(len, bytes), 0) {
            Ok(v) => Ok(Some(DropValue::decode(&v)).filter(|v| v.prefix_len == p.len())),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(map_error(format!("looking up {p} in {}", T::DROP), e)),
        }
    }

    /// The longest entry covering `addr` among those of length `max_len` or shorter, as the
    /// kernel's trie lookup finds it (expired or not), with its prefix.
    pub fn longest_match<T: FamilyMaps>(
        &mut self,
        addr: T,
        max_len: u8,
    ) -> Result<Option<(Prefix<T>, DropValue)>> {
        let Some(probe) = Prefix::new(addr, max_len) else {
            return Ok(None);
        };
        let (len, bytes) = layout::trie_key(&probe);
        match T::drop_trie(self).get(&Key::new(len, bytes), 0) {
            Ok(v) => {
                let v = DropValue::decode(&v);
                Ok(Prefix::new(addr, v.prefix_len).map(|p| (p, v)))
            }
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(map_error(format!("looking up {probe} in {}", T::DROP), e)),
        }
    }

    /// Write one drop entry; `set_name` names the set in a "map full" error.
    pub fn write_drop<T: FamilyMaps>(
        &mut self,
        p: &Prefix<T>,
        v: &DropValue,
        set_name: &str,
    ) -> Result<()> {
        let (len, bytes) = layout::trie_key(p);
        let capacity = self.capacity.drop_per_family;
        T::drop_trie(self)
            .insert(&Key::new(len, bytes), v.encode(), 0)
            .map_err(|e| full_or(e, T::DROP, set_name, capacity, p))
    }

    pub fn delete_drop<T: FamilyMaps>(&mut self, p: &Prefix<T>) -> Result<()> {
        let (len, bytes) = layout::trie_key(p);
        ignore_absent(T::drop_trie(self).remove(&Key::new(len, bytes)))
            .map_err(|e| map_error(format!("deleting {p} from {}", T::DROP), e))
    }

    pub fn write_allow<T: FamilyMaps>(&mut self, p: &Prefix<T>) -> Result<()> {
        let (len, bytes) = layout::trie_key(p);
        let capacity = self.capacity.allow_per_family;
        T::allow_trie(self)
            .insert(&Key::new(len, bytes), layout::ALLOW_VALUE, 0)
            .map_err(|e| full_or(e, T::ALLOW, "allowlist", capacity, p))
    }

    pub fn delete_allow<T: FamilyMaps>(&mut self, p: &Prefix<T>) -> Result<()> {
        let (len, bytes) = layout::trie_key(p);
        ignore_absent(T::allow_trie(self).remove(&Key::new(len, bytes)))
            .map_err(|e| map_error(format!("deleting {p} from {}", T::ALLOW), e))
    }

    /// Number of entries in one family's drop trie (walks the keys: one system call each).
    pub fn count_drops<T: FamilyMaps>(&mut self) -> Result<usize> {
        let mut n = 0;
        for key in T::drop_trie(self).keys() {
            match key {
                Ok(_) => n += 1,
                Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(map_error(format!("counting {}", T::DROP), e)),
            }
        }
        Ok(n)
    }

    /// Set one counter slot to zero on every CPU (a counter id given to a new set).
    pub fn zero_counter(&mut self, slot: u32) -> Result<()> {
        let err = |e| map_error(format!("clearing counter slot {slot}"), e);
        let cpus = self.counters.get(&slot, 0).map_err(err)?.len();
        let zeros =
            PerCpuValues::try_from(vec![[0u64; 2]; cpus]).map_err(|e| XdpError::Kernel {
                what: format!("clearing counter slot {slot}"),
                source: e,
            })?;
        self.counters.set(slot, zeros, 0).map_err(err)
    }

    /// Every counter slot, summed over CPUs.
    pub fn counters(&self) -> Result<Counters> {
        let slot = |i: u32| -> Result<Counter> {
            let per_cpu = self
                .counters
                .get(&i, 0)
                .map_err(|e| map_error(format!("reading counter slot {i}"), e))?;
            Ok(Counter::sum_per_cpu(per_cpu.iter().copied()))
        };
        Ok(Counters {
            dropped: (0..layout::MAX_SETS).map(slot).collect::<Result<_>>()?,
            allowed: slot(layout::SLOT_ALLOWED)?,
            expired: slot(layout::SLOT_EXPIRED)?,
        })
    }
}

fn ignore_absent(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::KeyNotFound | MapError::ElementNotFound) => Ok(()),
        Err(e) if io_of(&e).raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

fn full_or<T: TrieAddr>(
    e: MapError,
    map: &'static str,
    set: &str,
    capacity: u32,
    p: &Prefix<T>,
) -> XdpError {
    match io_of(&e).raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::E2BIG) => XdpError::MapFull {
            map,
            set: set.into(),
            capacity,
        },
        _ => map_error(format!("writing {p} of set `{set}` into {map}"), e),
    }
}
