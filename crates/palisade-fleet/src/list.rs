//! The bytes of a shared blocklist on the bus, signed by the host that published it.
//!
//! A list is a name, a version and two sets of address ranges (IPv4, IPv6), as
//! `palisade_core` holds them. It travels whole (NATS object store chunks it), so every
//! host can fetch the current version after any outage without replaying history; the
//! receiver diffs it against what it holds. Signed like ban envelopes, with its own context
//! so one can never be passed off as the other. Layout (version 1, big-endian):
//!
//! ```text
//! list := version:u8 (=1)  origin_len:u8 origin  name_len:u8 name  list_version:u64
//!         v4_count:u32  v6_count:u32  (first:u32 last:u32)*v4_count
//!         (first:u128 last:u128)*v6_count  signature:[u8;64]
//! ```
//!
//! The digest that tells "unchanged" apart is SHA-256 over the counts and ranges only, so
//! re-publishing the same contents under a new version is recognised as no change.

use ed25519_dalek::{SigningKey, VerifyingKey};
use palisade_core::{Interval, IntervalSet};
use sha2::{Digest, Sha256};

use crate::keys;
use crate::wire::{valid_origin, Reader, WireError, SIGNATURE_BYTES, VERSION};

/// Hard limit on a list on the bus: 4 million IPv4 ranges, or a quarter of that in IPv6.
pub const MAX_LIST_BYTES: usize = 32 * 1024 * 1024;
pub const LIST_SIGNING_CONTEXT: &[u8] = b"palisade-fleet list v1\0";

/// A list's contents and identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListContents {
    pub origin: String,
    pub name: String,
    pub version: u64,
    pub v4: IntervalSet<u32>,
    pub v6: IntervalSet<u128>,
}

/// A list read off the bus, not yet verified.
#[derive(Debug)]
pub struct DecodedList<'a> {
    pub list: ListContents,
    pub digest: [u8; 32],
    pub signed: &'a [u8],
    pub signature: [u8; SIGNATURE_BYTES],
}

/// A list name is a host-name-like token: it is also the object's name in the store.
pub fn valid_list_name(name: &str) -> bool {
    valid_origin(name)
}

/// Encode and sign. Panics (a programming error) on an invalid origin or name, which the
/// publisher checks first.
pub fn seal_list(list: &ListContents, key: &SigningKey) -> Vec<u8> {
    assert!(valid_origin(&list.origin) && valid_list_name(&list.name));
    let mut out = Vec::with_capacity(
        32 + list.origin.len()
            + list.name.len()
            + 8 * list.v4.len()
            + 32 * list.v6.len()
            + SIGNATURE_BYTES,
    );
    out.push(VERSION);
    out.push(list.origin.len() as u8);
    out.extend_from_slice(list.origin.as_bytes());
    out.push(list.name.len() as u8);
    out.extend_from_slice(list.name.as_bytes());
    out.extend_from_slice(&list.version.to_be_bytes());
    out.extend_from_slice(&(list.v4.len() as u32).to_be_bytes());
    out.extend_from_slice(&(list.v6.len() as u32).to_be_bytes());
    for r in list.v4.iter() {
        out.extend_from_slice(&r.first.to_be_bytes());
        out.extend_from_slice(&r.last.to_be_bytes());
    }
    for r in list.v6.iter() {
        out.extend_from_slice(&r.first.to_be_bytes());
        out.extend_from_slice(&r.last.to_be_bytes());
    }
    let signature = keys::sign(key, LIST_SIGNING_CONTEXT, &out);
    out.extend_from_slice(&signature);
    out
}

/// The digest of a list's contents, as [`decode_list`] computes it.
pub fn contents_digest(v4: &IntervalSet<u32>, v6: &IntervalSet<u128>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((v4.len() as u32).to_be_bytes());
    h.update((v6.len() as u32).to_be_bytes());
    for r in v4.iter() {
        h.update(r.first.to_be_bytes());
        h.update(r.last.to_be_bytes());
    }
    for r in v6.iter() {
        h.update(r.first.to_be_bytes());
        h.update(r.last.to_be_bytes());
    }
    h.finalize().into()
}

/// Parse a list. Never panics; allocation is bounded by the input's length.
pub fn decode_list(bytes: &[u8]) -> Result<DecodedList<'_>, WireError> {
    if bytes.len() > MAX_LIST_BYTES {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let origin = token(&mut r)?;
    let name = token(&mut r)?;
    let list_version = r.u64()?;
    let counts_at = r.pos;
    let v4_count = r.u32()? as usize;
    let v6_count = r.u32()? as usize;
    // Checked before allocating: the counts must fit in what is left.
    let need = v4_count
        .checked_mul(8)
        .and_then(|a| v6_count.checked_mul(32).and_then(|b| a.checked_add(b)))
        .and_then(|n| n.checked_add(SIGNATURE_BYTES));
    if need != Some(bytes.len() - r.pos) {
        return Err(WireError::Truncated(r.pos));
    }
    let mut v4 = Vec::with_capacity(v4_count);
    for i in 0..v4_count {
        let (first, last) = (r.u32()?, r.u32()?);
        v4.push(Interval::new(first, last).ok_or(WireError::Range(i))?);
    }
    let mut v6 = Vec::with_capacity(v6_count);
    for i in 0..v6_count {
        let (first, last) = (
            u128::from_be_bytes(r.array()?),
            u128::from_be_bytes(r.array()?),
        );
        v6.push(Interval::new(first, last).ok_or(WireError::Range(v4_count + i))?);
    }
    let signed = &bytes[..r.pos];
    let digest: [u8; 32] = Sha256::digest(&bytes[counts_at..r.pos]).into();
    let signature = r.array::<SIGNATURE_BYTES>()?;
    Ok(DecodedList {
        list: ListContents {
            origin,
            name,
            version: list_version,
            v4: IntervalSet::from_unsorted(v4),
            v6: IntervalSet::from_unsorted(v6),
        },
        digest,
        signed,
        signature,
    })
}

fn token(r: &mut Reader<'_>) -> Result<String, WireError> {
    let len = usize::from(r.u8()?);
    let s = std::str::from_utf8(r.take(len)?).map_err(|_| WireError::Origin)?;
    if !valid_origin(s) {
        return Err(WireError::Origin);
    }
    Ok(s.to_string())
}

/// Whether `key` signed this list.
pub fn verify_list(decoded: &DecodedList<'_>, key: &VerifyingKey) -> bool {
    keys::verify(
        key,
        LIST_SIGNING_CONTEXT,
        decoded.signed,
        &decoded.signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[9; 32])
    }

    fn sample() -> ListContents {
        ListContents {
            origin: "web1".into(),
            name: "drop".into(),
            version: 42,
            v4: IntervalSet::from_unsorted(vec![
                Interval::from_prefix(0x0a00_0000, 8).unwrap(),
                Interval::single(0xc000_0207),
            ]),
            v6: IntervalSet::from_unsorted(vec![
                Interval::from_prefix(0x2001_0db8u128 << 96, 32).unwrap()
            ]),
        }
    }

    #[test]
    fn round_trips_and_verifies() {
        let list = sample();
        let bytes = seal_list(&list, &key());
        assert_eq!(bytes.len(), 1 + 5 + 5 + 8 + 8 + 2 * 8 + 32 + 64);
        let d = decode_list(&bytes).unwrap();
        assert_eq!(d.list, list);
        assert_eq!(d.digest, contents_digest(&list.v4, &list.v6));
        assert!(verify_list(&d, &key().verifying_key()));
        assert!(!verify_list(
            &d,
            &SigningKey::from_bytes(&[8; 32]).verifying_key()
        ));
    }

    #[test]
    fn the_digest_ignores_version_and_origin() {
        let a = sample();
        let mut b = sample();
        b.version = 43;
        b.origin = "web2".into();
        let da = decode_list(&seal_list(&a, &key())).unwrap().digest;
        let db = decode_list(&seal_list(&b, &key())).unwrap().digest;
        assert_eq!(da, db);
        b.v4 = IntervalSet::new();
        let dc = decode_list(&seal_list(&b, &key())).unwrap().digest;
        assert_ne!(da, dc);
    }

    #[test]
    fn a_flipped_bit_breaks_the_signature() {
        let mut bytes = seal_list(&sample(), &key());
        let i = bytes.len() - 70;
        bytes[i] ^= 0x40;
        if let Ok(d) = decode_list(&bytes) {
            assert!(!verify_list(&d, &key().verifying_key()));
        }
    }

    #[test]
    fn counts_that_do_not_fit_the_bytes_are_refused_before_allocating() {
        let mut bytes = seal_list(&sample(), &key());
        // v4_count sits after version, origin, name and list version.
        let at = 1 + 5 + 5 + 8;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode_list(&bytes), Err(WireError::Truncated(_))));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_list(&bytes);
        }

        #[test]
        fn never_panics_on_mutated_lists(i in 0usize..200, b in any::<u8>(), cut in 0usize..200) {
            let mut bytes = seal_list(&sample(), &key());
            let n = bytes.len();
            bytes[i % n] = b;
            bytes.truncate(n - cut % n);
            let _ = decode_list(&bytes);
        }
    }
}
