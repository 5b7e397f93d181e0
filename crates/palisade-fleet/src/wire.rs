//! The bytes a host puts on the bus: a signed envelope of ban and lift records.
//!
//! Why envelopes and not one signed message per ban: an Ed25519 signature costs about
//! 35 µs to make and 50 µs to check on the 2-core machines palisade targets, so 100,000
//! individually signed bans would cost five seconds of CPU on every receiver, over the
//! two-second budget. An envelope carries up to [`MAX_RECORDS`] records under one
//! signature; a lone ban still travels alone (the publisher never waits to fill one).
//!
//! Why a hand-written binary format: it is tiny (a single IPv4 ban with a short reason is
//! about 35 bytes inside an envelope), versioned by its first byte, and checked field by
//! field with hard limits, so the decoder has no way to allocate without bound or panic.
//! Integers are big-endian. Layout (version 1):
//!
//! ```text
//! envelope := version:u8 (=1)  origin_len:u8  origin  seq:u64  count:u16  record*count
//!             signature:[u8;64]
//! record   := flags:u8  first:(4|16)  [last:(4|16) unless SINGLE]
//!             [expires:u64  reason_len:u8  reason   when op is ban]
//! flags    := op (bit 0: 0 ban, 1 lift) | source << 1 (bits 1-2: 1 watch, 2 manual, 3 flood)
//!             | V6 (bit 3) | SINGLE (bit 4); other bits must be 0
//! ```
//!
//! `seq` is per origin, strictly increasing: the microseconds since the epoch at which the
//! envelope was sealed (bumped by one when the clock has not moved). It doubles as the
//! issue time, and because it comes from the clock it keeps increasing across a restart of
//! the origin, which has no state to remember its last number. The signature covers
//! [`SIGNING_CONTEXT`] followed by every byte before it.

use std::fmt;

use palisade_core::{AddrRange, Interval};

/// The only version this build reads and writes.
pub const VERSION: u8 = 1;
/// Hard limit on an envelope on the bus; anything larger is refused before decoding.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Most records one envelope may carry.
pub const MAX_RECORDS: usize = 2000;
/// Longest reason text, in bytes.
pub const MAX_REASON_BYTES: usize = 200;
/// Longest host name, in bytes.
pub const MAX_ORIGIN_BYTES: usize = 64;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Prefixed to the signed bytes so a ban envelope's signature can never be passed off as
/// a list's signature or anything else this key signs.
pub const SIGNING_CONTEXT: &[u8] = b"palisade-fleet bans v1\0";

const FLAG_LIFT: u8 = 1;
const FLAG_V6: u8 = 1 << 3;
const FLAG_SINGLE: u8 = 1 << 4;
const SOURCE_SHIFT: u8 = 1;
const SOURCE_MASK: u8 = 0b11 << SOURCE_SHIFT;
const KNOWN_FLAGS: u8 = FLAG_LIFT | SOURCE_MASK | FLAG_V6 | FLAG_SINGLE;

/// Where a ban came from on its origin host: receivers choose which kinds they accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BanSource {
    /// The log watcher (`palisade watch`).
    Watch,
    /// An admin's `palisade set add` / block.
    Manual,
    /// A kernel ban-on-exceed flood limit.
    Flood,
}

impl BanSource {
    pub const ALL: [BanSource; 3] = [BanSource::Watch, BanSource::Manual, BanSource::Flood];

    pub fn name(self) -> &'static str {
        match self {
            BanSource::Watch => "watch",
            BanSource::Manual => "manual",
            BanSource::Flood => "flood",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    fn code(self) -> u8 {
        match self {
            BanSource::Watch => 1,
            BanSource::Manual => 2,
            BanSource::Flood => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl fmt::Display for BanSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When a ban ends: an absolute time, so a ban delivered late is not made longer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expiry {
    /// Unix seconds.
    At(u64),
    Never,
}

impl Expiry {
    /// Whether the ban is over at `now` (unix seconds).
    pub fn is_over(self, now: u64) -> bool {
        matches!(self, Expiry::At(t) if t <= now)
    }

    fn to_wire(self) -> u64 {
        match self {
            Expiry::At(t) => t,
            Expiry::Never => 0,
        }
    }

    fn from_wire(v: u64) -> Self {
        if v == 0 {
            Expiry::Never
        } else {
            Expiry::At(v)
        }
    }
}

/// One change to the fleet's bans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Ban {
        target: AddrRange,
        source: BanSource,
        expires: Expiry,
        reason: String,
    },
    /// The origin lifted its ban on `target` before it expired.
    Lift {
        target: AddrRange,
        source: BanSource,
    },
}

impl Record {
    pub fn target(&self) -> AddrRange {
        match self {
            Record::Ban { target, .. } | Record::Lift { target, .. } => *target,
        }
    }

    pub fn source(&self) -> BanSource {
        match self {
            Record::Ban { source, .. } | Record::Lift { source, .. } => *source,
        }
    }

    /// Bytes this record takes in an envelope, so the publisher can fill envelopes up to
    /// the limit without encoding twice.
    pub fn encoded_len(&self) -> usize {
        let addr = match self.target() {
            AddrRange::V4(r) => 4 * if r.first == r.last { 1 } else { 2 },
            AddrRange::V6(r) => 16 * if r.first == r.last { 1 } else { 2 },
        };
        1 + addr
            + match self {
                Record::Ban { reason, .. } => 8 + 1 + reason.len().min(MAX_REASON_BYTES),
                Record::Lift { .. } => 0,
            }
    }
}

/// Bytes of an envelope around its records: version, origin, seq, count, signature.
pub fn envelope_overhead(origin: &str) -> usize {
    1 + 1 + origin.len() + 8 + 2 + SIGNATURE_BYTES
}

/// An envelope's contents, before signing or after verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub origin: String,
    pub seq: u64,
    pub records: Vec<Record>,
}

/// What is wrong with bytes that claim to be an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{0} bytes is over the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("version {0} is not one this palisade reads (it reads {VERSION})")]
    Version(u8),
    #[error("cut short at byte {0}")]
    Truncated(usize),
    #[error("{0} trailing bytes after the signature")]
    Trailing(usize),
    #[error("host name is empty, too long or has characters other than letters, digits, `-`, `_`")]
    Origin,
    #[error("{0} records is over the limit of {MAX_RECORDS}")]
    TooManyRecords(usize),
    #[error("record {0}: unknown flags {1:#04x}")]
    Flags(usize, u8),
    #[error("record {0}: first address is after the last")]
    Range(usize),
    #[error("record {0}: reason is not UTF-8 or has control characters")]
    Reason(usize),
}

/// A host name as it may appear on the bus: also a NATS subject token and an object name.
pub fn valid_origin(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ORIGIN_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reasons are shown to admins: no control characters (no terminal escapes from a peer).
fn valid_reason(reason: &str) -> bool {
    reason.len() <= MAX_REASON_BYTES && !reason.chars().any(char::is_control)
}

/// Cut `reason` to what an envelope can carry, at a character boundary, without control
/// characters.
pub fn clean_reason(reason: &str) -> String {
    let mut out = String::new();
    for c in reason.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_REASON_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// The envelope's bytes up to (not including) the signature. The caller signs
/// `SIGNING_CONTEXT ‖ these bytes` and appends the signature.
///
/// Panics (a programming error, not input) if the origin is invalid or the records do not
/// fit the limits: the publisher sizes envelopes with [`Record::encoded_len`].
pub fn encode_unsigned(env: &Envelope) -> Vec<u8> {
    assert!(valid_origin(&env.origin), "invalid origin {:?}", env.origin);
    assert!(env.records.len() <= MAX_RECORDS);
    let mut out = Vec::with_capacity(
        envelope_overhead(&env.origin) + env.records.iter().map(Record::encoded_len).sum::<usize>(),
    );
    out.push(VERSION);
    out.push(env.origin.len() as u8);
    out.extend_from_slice(env.origin.as_bytes());
    out.extend_from_slice(&env.seq.to_be_bytes());
    out.extend_from_slice(&(env.records.len() as u16).to_be_bytes());
    for r in &env.records {
        encode_record(&mut out, r);
    }
    assert!(out.len() + SIGNATURE_BYTES <= MAX_ENVELOPE_BYTES);
    out
}

fn encode_record(out: &mut Vec<u8>, r: &Record) {
    let mut flags = r.source().code() << SOURCE_SHIFT;
    if matches!(r, Record::Lift { .. }) {
        flags |= FLAG_LIFT;
    }
    let (first, last, v6): (Vec<u8>, Vec<u8>, bool) = match r.target() {
        AddrRange::V4(i) => (
            i.first.to_be_bytes().to_vec(),
            i.last.to_be_bytes().to_vec(),
            false,
        ),
        AddrRange::V6(i) => (
            i.first.to_be_bytes().to_vec(),
            i.last.to_be_bytes().to_vec(),
            true,
        ),
    };
    if v6 {
        flags |= FLAG_V6;
    }
    let single = first == last;
    if single {
        flags |= FLAG_SINGLE;
    }
    out.push(flags);
    out.extend_from_slice(&first);
    if !single {
        out.extend_from_slice(&last);
    }
    if let Record::Ban {
        expires, reason, ..
    } = r
    {
        let reason = clean_reason(reason);
        out.extend_from_slice(&expires.to_wire().to_be_bytes());
        out.push(reason.len() as u8);
        out.extend_from_slice(reason.as_bytes());
    }
}

/// The envelope's bytes with its signature: what goes on the bus.
pub fn seal(env: &Envelope, key: &ed25519_dalek::SigningKey) -> Vec<u8> {
    let mut bytes = encode_unsigned(env);
    let signature = crate::keys::sign(key, SIGNING_CONTEXT, &bytes);
    bytes.extend_from_slice(&signature);
    bytes
}

/// An envelope as read off the bus, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub envelope: Envelope,
    /// The bytes the signature covers (after [`SIGNING_CONTEXT`]).
    pub signed: &'a [u8],
    pub signature: [u8; SIGNATURE_BYTES],
}

/// Parse an envelope. Never panics, never allocates more than the input justifies.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, WireError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let origin_len = usize::from(r.u8()?);
    let origin = std::str::from_utf8(r.take(origin_len)?).map_err(|_| WireError::Origin)?;
    if !valid_origin(origin) {
        return Err(WireError::Origin);
    }
    let seq = r.u64()?;
    let count = usize::from(r.u16()?);
    if count > MAX_RECORDS {
        return Err(WireError::TooManyRecords(count));
    }
    let mut records = Vec::with_capacity(count.min(bytes.len() / 5));
    for i in 0..count {
        records.push(decode_record(&mut r, i)?);
    }
    let signed = &bytes[..r.pos];
    let signature: [u8; SIGNATURE_BYTES] = r
        .take(SIGNATURE_BYTES)?
        .try_into()
        .map_err(|_| WireError::Truncated(r.pos))?;
    if r.pos != bytes.len() {
        return Err(WireError::Trailing(bytes.len() - r.pos));
    }
    Ok(Decoded {
        envelope: Envelope {
            origin: origin.to_string(),
            seq,
            records,
        },
        signed,
        signature,
    })
}

fn decode_record(r: &mut Reader<'_>, i: usize) -> Result<Record, WireError> {
    let flags = r.u8()?;
    let source = BanSource::from_code((flags & SOURCE_MASK) >> SOURCE_SHIFT);
    let Some(source) = source.filter(|_| flags & !KNOWN_FLAGS == 0) else {
        return Err(WireError::Flags(i, flags));
    };
    let single = flags & FLAG_SINGLE != 0;
    let target = if flags & FLAG_V6 != 0 {
        let first = u128::from_be_bytes(r.array()?);
        let last = if single {
            first
        } else {
            u128::from_be_bytes(r.array()?)
        };
        AddrRange::V6(Interval::new(first, last).ok_or(WireError::Range(i))?)
    } else {
        let first = u32::from_be_bytes(r.array()?);
        let last = if single {
            first
        } else {
            u32::from_be_bytes(r.array()?)
        };
        AddrRange::V4(Interval::new(first, last).ok_or(WireError::Range(i))?)
    };
    if flags & FLAG_LIFT != 0 {
        return Ok(Record::Lift { target, source });
    }
    let expires = Expiry::from_wire(r.u64()?);
    let len = usize::from(r.u8()?);
    let reason = std::str::from_utf8(r.take(len)?).map_err(|_| WireError::Reason(i))?;
    if !valid_reason(reason) {
        return Err(WireError::Reason(i));
    }
    Ok(Record::Ban {
        target,
        source,
        expires,
        reason: reason.to_string(),
    })
}

/// A cursor over untrusted bytes: every read is bounds-checked.
pub(crate) struct Reader<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(WireError::Truncated(self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let pos = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| WireError::Truncated(pos))
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests;
