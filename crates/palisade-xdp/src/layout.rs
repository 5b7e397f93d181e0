//! The bytes shared with the XDP program: map names, key and value layouts, counter slots.
//!
//! `bpf/palisade_xdp.c` declares the same structures; this file is the Rust side of that
//! contract, kept free of system calls so the encoding is tested without a kernel. Values are
//! in host byte order (the BPF program runs on the same CPU and reads them natively); trie keys
//! carry the address in network order, as the kernel's LPM trie compares bits from the first
//! byte on.

use crate::prefix::{Prefix, TrieAddr};
use crate::time::KernelTime;

/// Map names, as declared in the C program; aya pins each under its name.
pub const DROP_V4: &str = "drop_v4";
pub const DROP_V6: &str = "drop_v6";
pub const ALLOW_V4: &str = "allow_v4";
pub const ALLOW_V6: &str = "allow_v6";
pub const COUNTERS: &str = "counters";
/// Every map the program uses, for pinning checks and cleanup.
pub const MAP_NAMES: [&str; 5] = [DROP_V4, DROP_V6, ALLOW_V4, ALLOW_V6, COUNTERS];
/// The program's function name in the object file.
pub const PROGRAM: &str = "palisade_xdp";

/// Number of drop sets the counters can tell apart (set ids 0..=255).
pub const MAX_SETS: u32 = 256;
/// Counter slot of packets a drop set matched but the allowlist let through.
pub const SLOT_ALLOWED: u32 = MAX_SETS;
/// Counter slot of packets that matched only expired entries, and passed.
pub const SLOT_EXPIRED: u32 = MAX_SETS + 1;
/// Number of slots in the per-CPU counter array.
pub const COUNTER_SLOTS: u32 = MAX_SETS + 2;

/// Size of a drop entry's value: `struct drop_value` in the C program.
pub const DROP_VALUE_LEN: usize = 16;
/// Value stored for allowlist entries (presence is all that matters).
pub const ALLOW_VALUE: u32 = 1;

/// Which drop set an entry belongs to. The id picks the entry's counter slot, so callers give
/// each set a stable id (its position in the configuration, say) for counters to mean anything
/// across processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetId(pub u8);

/// What the trie holds for one drop prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DropValue {
    /// When the entry stops dropping; `None` for a permanent entry.
    pub expires: Option<KernelTime>,
    /// The set that owns the entry (see `plan::beats` for who owns a prefix two sets hold).
    pub set: SetId,
    /// The prefix length of the entry's key, so the program can retry with a shorter prefix
    /// when this entry has expired.
    pub prefix_len: u8,
}

impl DropValue {
    /// `struct drop_value { u64 expires_ns; u8 set; u8 prefixlen; u8 pad[6]; }`. A permanent
    /// entry is written as deadline 0; a timed deadline of 0 (the boot instant, long past) is
    /// written as 1 so it stays timed and expired.
    pub fn encode(&self) -> [u8; DROP_VALUE_LEN] {
        let expires = self.expires.map_or(0, |t| t.as_nanos().max(1));
        let mut out = [0u8; DROP_VALUE_LEN];
        out[..8].copy_from_slice(&expires.to_ne_bytes());
        out[8] = self.set.0;
        out[9] = self.prefix_len;
        out
    }

    /// Inverse of [`DropValue::encode`]. Padding is ignored, so values written by another
    /// palisade build with the same layout read back the same.
    pub fn decode(bytes: &[u8; DROP_VALUE_LEN]) -> Self {
        let expires = u64::from_ne_bytes(bytes[..8].try_into().expect("8 bytes"));
        DropValue {
            expires: (expires != 0).then(|| KernelTime::from_nanos(expires)),
            set: SetId(bytes[8]),
            prefix_len: bytes[9],
        }
    }

    /// True when this entry no longer drops at `now`.
    pub fn expired_at(&self, now: KernelTime) -> bool {
        self.expires.is_some_and(|t| t.has_passed(now))
    }
}

/// The trie key of a prefix: `(prefix length, address in network order)`.
pub fn trie_key<T: TrieAddr>(p: &Prefix<T>) -> (u32, T::Bytes) {
    (u32::from(p.len()), p.addr().to_be_bytes())
}

/// The prefix a trie key read back from the kernel stands for; `None` for a key no palisade
/// wrote (a length past the address width).
pub fn prefix_of_key<T: TrieAddr>(len: u32, bytes: T::Bytes) -> Option<Prefix<T>> {
    Prefix::new(T::from_be_bytes(bytes), u8::try_from(len).ok()?)
}

/// One counter slot's totals, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

impl Counter {
    /// Sum the per-CPU copies of `struct counter { u64 packets; u64 bytes; }`.
    pub fn sum_per_cpu(values: impl IntoIterator<Item = [u64; 2]>) -> Self {
        values
            .into_iter()
            .fold(Counter::default(), |acc, [packets, bytes]| Counter {
                packets: acc.packets.wrapping_add(packets),
                bytes: acc.bytes.wrapping_add(bytes),
            })
    }
}

/// Every counter of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    /// Packets dropped, per set id (index = id; length [`MAX_SETS`]).
    pub dropped: Vec<Counter>,
    /// Packets a drop set matched that the allowlist let through.
    pub allowed: Counter,
    /// Packets that matched only expired entries and passed.
    pub expired: Counter,
}

impl Counters {
    /// Packets dropped on behalf of one set.
    pub fn dropped_by(&self, set: SetId) -> Counter {
        self.dropped[usize::from(set.0)]
    }

    /// Packets dropped by all sets together.
    pub fn dropped_total(&self) -> Counter {
        Counter::sum_per_cpu(self.dropped.iter().map(|c| [c.packets, c.bytes]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn permanent_and_timed_values_encode_as_the_c_struct() {
        let v = DropValue {
            expires: None,
            set: SetId(7),
            prefix_len: 24,
        };
        let b = v.encode();
        assert_eq!(&b[..8], &[0; 8]);
        assert_eq!((b[8], b[9]), (7, 24));
        assert_eq!(&b[10..], &[0; 6]);
        assert_eq!(DropValue::decode(&b), v);

        let at_boot = DropValue {
            expires: Some(KernelTime::from_nanos(0)),
            ..v
        };
        let back = DropValue::decode(&at_boot.encode());
        assert_eq!(back.expires, Some(KernelTime::from_nanos(1)));
        assert!(back.expired_at(KernelTime::from_nanos(1)));
    }

    #[test]
    fn keys_round_trip_and_foreign_keys_are_refused() {
        let p = Prefix::new(0x0a00_0000u32, 8).unwrap();
        let (len, bytes) = trie_key(&p);
        assert_eq!((len, bytes), (8, [10, 0, 0, 0]));
        assert_eq!(prefix_of_key::<u32>(len, bytes), Some(p));
        assert_eq!(prefix_of_key::<u32>(33, bytes), None);
        assert_eq!(prefix_of_key::<u32>(300, bytes), None);
    }

    #[test]
    fn counters_sum_over_cpus() {
        let c = Counter::sum_per_cpu([[1, 60], [2, 120], [0, 0]]);
        assert_eq!(
            c,
            Counter {
                packets: 3,
                bytes: 180
            }
        );
    }

    proptest! {
        #[test]
        fn values_round_trip(ns: u64, set: u8, len in 0u8..=128, timed: bool) {
            let v = DropValue {
                expires: timed.then(|| KernelTime::from_nanos(ns.max(1))),
                set: SetId(set),
                prefix_len: len,
            };
            prop_assert_eq!(DropValue::decode(&v.encode()), v);
        }
    }
}
