//! A local copy of what palisade last loaded into a set, so reloading a huge list costs only
//! its difference.
//!
//! Why: the kernel dumps a set's elements in 32 KiB rounds and restarts its tree walk for every
//! round, so reading back a million ranges takes tens of seconds: far more than loading them.
//! A load therefore trusts this cache instead, but only when it is provably current:
//! - the file is whole: a checksum covers every byte, so a damaged cache is ignored;
//! - palisade wrote nothing to the set since: each palisade set has a companion kernel set,
//!   `NAME_stamp`, holding one random token; every palisade write to the set's loaded parts
//!   flushes it in the same transaction, and a load writes a fresh token and this cache
//!   together;
//! - nobody else wrote anything at all since: the cache records the ruleset generation its
//!   load left, and every later generation must be one palisade committed (see
//!   [`super::journal`]), in the same boot and the same namespace;
//! - the element counts the kernel reports still match.
//!
//! Anything else falls back to reading the kernel.

use super::journal::Origin;
use palisade_core::{AddrBits, Contents, Interval, IntervalSet, ProtoPort};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PALSET2\n";

/// What a cache says about the load that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The token in the set's `NAME_stamp` kernel set.
    pub token: u32,
    /// The ruleset generation the load's transaction left.
    pub generation: u32,
    pub origin: Origin,
}

/// FNV-1a, 64 bits: enough to notice a damaged file, with no dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Encode a stamp and contents: little-endian, groups of (port?, ranges), then a checksum
/// of everything before it.
pub fn encode(stamp: &Stamp, contents: &Contents) -> Vec<u8> {
    let (n4, n6) = contents.range_counts();
    let mut out = Vec::with_capacity(80 + n4 * 8 + n6 * 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&stamp.token.to_le_bytes());
    out.extend_from_slice(&stamp.generation.to_le_bytes());
    out.extend_from_slice(&stamp.origin.netns_cookie.to_le_bytes());
    let boot = stamp.origin.boot_id.as_bytes();
    out.push(boot.len().min(255) as u8);
    out.extend_from_slice(&boot[..boot.len().min(255)]);
    encode_family(&mut out, &contents.v4, |out, a| {
        out.extend_from_slice(&a.to_le_bytes())
    });
    encode_family(&mut out, &contents.v6, |out, a| {
        out.extend_from_slice(&a.to_le_bytes())
    });
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn encode_family<T: AddrBits>(
    out: &mut Vec<u8>,
    groups: &BTreeMap<Option<ProtoPort>, IntervalSet<T>>,
    put: impl Fn(&mut Vec<u8>, T),
) {
    out.extend_from_slice(&(groups.len() as u32).to_le_bytes());
    for (port, set) in groups {
        let (has, proto, num) = port.map_or((0u8, 0u8, 0u16), |p| (1, p.proto, p.port));
        out.extend_from_slice(&[has, proto]);
        out.extend_from_slice(&num.to_le_bytes());
        out.extend_from_slice(&(set.len() as u64).to_le_bytes());
        for iv in set.iter() {
            put(out, iv.first);
            put(out, iv.last);
        }
    }
}

/// Reads fixed-size values off the front of a byte slice; `None` once it runs out.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

/// Decode what [`encode`] wrote; `None` for anything malformed (the caller then reads the
/// kernel instead). Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Option<(Stamp, Contents)> {
    let (body, sum) = bytes.split_last_chunk::<8>()?;
    if fnv1a(body) != u64::from_le_bytes(*sum) {
        return None;
    }
    let mut r = Reader(body.strip_prefix(MAGIC.as_slice())?);
    let token = u32::from_le_bytes(r.take()?);
    let generation = u32::from_le_bytes(r.take()?);
    let netns_cookie = u64::from_le_bytes(r.take()?);
    let [len] = r.take::<1>()?;
    let (boot, rest) = r.0.split_at_checked(usize::from(len))?;
    r.0 = rest;
    let boot_id = String::from_utf8(boot.to_vec()).ok()?;
    let v4 = decode_family(&mut r, |r| Some(u32::from_le_bytes(r.take()?)))?;
    let v6 = decode_family(&mut r, |r| Some(u128::from_le_bytes(r.take()?)))?;
    let stamp = Stamp {
        token,
        generation,
        origin: Origin {
            boot_id,
            netns_cookie,
        },
    };
    r.0.is_empty().then_some((stamp, Contents { v4, v6 }))
}

fn decode_family<T: AddrBits>(
    r: &mut Reader<'_>,
    get: impl Fn(&mut Reader<'_>) -> Option<T>,
) -> Option<BTreeMap<Option<ProtoPort>, IntervalSet<T>>> {
    let groups = u32::from_le_bytes(r.take()?);
    let mut out = BTreeMap::new();
    for _ in 0..groups {
        let [has, proto] = r.take()?;
        let port = u16::from_le_bytes(r.take()?);
        let n = u64::from_le_bytes(r.take()?);
        // Bound the allocation by what the bytes can hold.
        let mut ranges = Vec::with_capacity((n as usize).min(r.0.len() / 8));
        for _ in 0..n {
            ranges.push(Interval::new(get(r)?, get(r)?)?);
        }
        let set = IntervalSet::from_unsorted(ranges);
        let key = (has == 1).then_some(ProtoPort { proto, port });
        out.insert(key, set);
    }
    Some(out)
}

/// Where the cache of one set lives in the namespace's cache directory.
pub fn path(dir: &Path, set: &str) -> PathBuf {
    dir.join(format!("{set}.cache"))
}

/// Write atomically, so a crash never leaves half a cache.
pub fn write(path: &Path, stamp: &Stamp, contents: &Contents) -> io::Result<()> {
    crate::state::write_atomic(path, &encode(stamp, contents))
}

pub fn read(path: &Path) -> Option<(Stamp, Contents)> {
    decode(&std::fs::read(path).ok()?)
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// A random token from the kernel's generator.
pub fn new_token() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: getrandom(2) writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, b.len(), 0) };
    if n != 4 {
        // Practically unreachable; a weak token only costs a needless read of the kernel.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return t.subsec_nanos() ^ std::process::id();
    }
    u32::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::AddrRange;
    use proptest::prelude::*;

    fn stamp(token: u32) -> Stamp {
        Stamp {
            token,
            generation: 42,
            origin: Origin {
                boot_id: "0b1c".into(),
                netns_cookie: 4096,
            },
        }
    }

    fn contents(v4: Vec<(u32, u32)>, v6: Vec<(u128, u32)>, port: bool) -> Contents {
        let p = port.then_some(ProtoPort { proto: 6, port: 22 });
        let r4 = v4.into_iter().map(|(a, n)| {
            (
                AddrRange::V4(Interval {
                    first: a,
                    last: a.saturating_add(n),
                }),
                p,
            )
        });
        let r6 = v6.into_iter().map(|(a, n)| {
            (
                AddrRange::V6(Interval {
                    first: a,
                    last: a.saturating_add(n as u128),
                }),
                None,
            )
        });
        Contents::from_ranges(r4.chain(r6))
    }

    proptest! {
        #[test]
        fn round_trip(v4 in proptest::collection::vec((any::<u32>(), 0u32..1000), 0..50),
                      v6 in proptest::collection::vec((any::<u128>(), 0u32..1000), 0..20),
                      port in any::<bool>(), token in any::<u32>()) {
            let c = contents(v4, v6, port);
            let s = stamp(token);
            prop_assert_eq!(decode(&encode(&s, &c)), Some((s, c)));
        }

        /// Any one byte changed anywhere makes the cache unusable, never wrong.
        #[test]
        fn a_flipped_byte_is_detected(at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut enc = encode(&stamp(7), &contents(vec![(1, 5), (100, 0)], vec![(9, 9)], true));
            let i = at.index(enc.len());
            enc[i] ^= 1 << bit;
            prop_assert_eq!(decode(&enc), None);
        }

        #[test]
        fn garbage_is_refused_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = MAGIC.to_vec();
            b.extend(bytes);
            let _ = decode(&b);
        }

        #[test]
        fn truncation_is_detected(cut in 0usize..100) {
            let enc = encode(&stamp(7), &contents(vec![(1, 5), (100, 0)], vec![(9, 9)], false));
            prop_assume!(cut < enc.len());
            prop_assert_eq!(decode(&enc[..cut]), None);
        }
    }
}
