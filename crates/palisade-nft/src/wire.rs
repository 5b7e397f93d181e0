//! Netlink framing: writing messages and attributes into a byte buffer, and reading them back.
//!
//! Everything here is pure byte manipulation, so the whole protocol layer can be unit-tested
//! without a kernel. Readers never panic on malformed input: a truncated or oversized header
//! ends iteration instead.

use crate::consts::*;

/// Round up to the 4-byte alignment netlink uses for messages and attributes.
pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Largest payload a nested attribute can carry: `nla_len` is a `u16`.
pub const MAX_ATTR_LEN: usize = u16::MAX as usize;

/// A growing buffer of netlink messages.
///
/// Messages and nested attributes are opened and closed explicitly; lengths are patched in when
/// they close. This keeps encoding of millions of set elements to plain appends.
#[derive(Default)]
pub struct MsgWriter {
    buf: Vec<u8>,
}

/// Position of an open message or nested attribute, to be closed later.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct Open(usize);

impl MsgWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Start a message: `nlmsghdr` followed by the `nfgenmsg` every nfnetlink message carries.
    pub fn begin_msg(&mut self, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Open {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in end_msg
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        self.buf.push(family);
        self.buf.push(NFNETLINK_V0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        Open(start)
    }

    pub fn end_msg(&mut self, open: Open) {
        let len = (self.buf.len() - open.0) as u32;
        self.buf[open.0..open.0 + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Append an attribute with a raw payload, padded to alignment.
    pub fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        debug_assert!(len <= MAX_ATTR_LEN);
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    pub fn attr_str(&mut self, ty: u16, s: &str) {
        let len = NLA_HDRLEN + s.len() + 1;
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    pub fn attr_u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }

    pub fn attr_u64(&mut self, ty: u16, v: u64) {
        self.attr(ty, &v.to_be_bytes());
    }

    pub fn begin_nested(&mut self, ty: u16) -> Open {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        Open(start)
    }

    /// Close a nested attribute. Callers keep nests under [`MAX_ATTR_LEN`] by chunking.
    pub fn end_nested(&mut self, open: Open) {
        let len = self.buf.len() - open.0;
        debug_assert!(len <= MAX_ATTR_LEN, "nested attribute of {len} bytes");
        self.buf[open.0..open.0 + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    /// Bytes written since `open`: lets chunking decide before a nest outgrows `u16`.
    pub fn written_since(&self, open: Open) -> usize {
        self.buf.len() - open.0
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }
}

/// A netlink message header as read from the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgHeader {
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl MsgHeader {
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < NLMSG_HDRLEN {
            return None;
        }
        Some(Self {
            len: u32::from_ne_bytes(b[0..4].try_into().ok()?),
            ty: u16::from_ne_bytes(b[4..6].try_into().ok()?),
            flags: u16::from_ne_bytes(b[6..8].try_into().ok()?),
            seq: u32::from_ne_bytes(b[8..12].try_into().ok()?),
            pid: u32::from_ne_bytes(b[12..16].try_into().ok()?),
        })
    }

    /// The nftables message type, if this is an nftables message.
    pub fn nft_msg(&self) -> Option<u16> {
        (self.ty >> 8 == NFNL_SUBSYS_NFTABLES).then_some(self.ty & 0xff)
    }
}

/// Iterates over the messages in a receive buffer, yielding each header and its payload
/// (everything after the 16-byte header).
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = (MsgHeader, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let hdr = MsgHeader::parse(self.rest)?;
        let len = hdr.len as usize;
        if len < NLMSG_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let payload = &self.rest[NLMSG_HDRLEN..len];
        self.rest = self.rest.get(align4(len)..).unwrap_or(&[]);
        Some((hdr, payload))
    }
}

/// Iterates over attributes, yielding (type without flag bits, payload).
#[derive(Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }

    /// Attributes of an nfnetlink message payload: skips the 4-byte `nfgenmsg`.
    pub fn of_nfmsg(payload: &'a [u8]) -> Self {
        Self::new(payload.get(4..).unwrap_or(&[]))
    }

    /// First attribute of the given type.
    pub fn find(&self, ty: u16) -> Option<&'a [u8]> {
        self.clone().find_map(|(t, p)| (t == ty).then_some(p))
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < NLA_HDRLEN {
            return None;
        }
        let len = u16::from_ne_bytes([self.rest[0], self.rest[1]]) as usize;
        let ty = u16::from_ne_bytes([self.rest[2], self.rest[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let payload = &self.rest[NLA_HDRLEN..len];
        self.rest = self.rest.get(align4(len)..).unwrap_or(&[]);
        Some((ty, payload))
    }
}

/// Decoders for attribute payloads; `None` when the payload has the wrong size.
pub fn be_u32(p: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(p.try_into().ok()?))
}

pub fn be_u64(p: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(p.try_into().ok()?))
}

/// A NUL-terminated string attribute.
pub fn cstr(p: &[u8]) -> Option<&str> {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    std::str::from_utf8(&p[..end]).ok()
}

/// libnftnl "udata": a list of (type u8, length u8, value) records.
pub fn udata_find(p: &[u8], want: u8) -> Option<&[u8]> {
    let mut rest = p;
    while rest.len() >= 2 {
        let (ty, len) = (rest[0], rest[1] as usize);
        let value = rest.get(2..2 + len)?;
        if ty == want {
            return Some(value);
        }
        rest = &rest[2 + len..];
    }
    None
}

/// Encode a udata record holding a NUL-terminated comment, the way `nft` stores comments.
/// Comments are cut to 127 bytes (on a character boundary), nft's own limit.
pub fn udata_comment(ty: u8, comment: &str) -> Vec<u8> {
    let mut end = comment.len().min(127);
    while !comment.is_char_boundary(end) {
        end -= 1;
    }
    let mut v = Vec::with_capacity(end + 3);
    v.push(ty);
    v.push((end + 1) as u8);
    v.extend_from_slice(&comment.as_bytes()[..end]);
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trip() {
        let mut w = MsgWriter::new();
        let m = w.begin_msg(0x0a09, NLM_F_REQUEST, 7, NFPROTO_INET, 0);
        w.attr_str(NFTA_SET_NAME, "abc");
        let n = w.begin_nested(NFTA_SET_DESC);
        w.attr_u32(NFTA_SET_FIELD_LEN, 4);
        w.end_nested(n);
        w.end_msg(m);
        let bytes = w.into_bytes();
        let msgs: Vec<_> = Messages::new(&bytes).collect();
        assert_eq!(msgs.len(), 1);
        let (hdr, payload) = msgs[0];
        assert_eq!(hdr.seq, 7);
        assert_eq!(hdr.nft_msg(), Some(9));
        assert_eq!(hdr.len as usize, bytes.len());
        let attrs = Attrs::of_nfmsg(payload);
        assert_eq!(attrs.find(NFTA_SET_NAME).and_then(cstr), Some("abc"));
        let desc = attrs.find(NFTA_SET_DESC).unwrap();
        assert_eq!(
            Attrs::new(desc).find(NFTA_SET_FIELD_LEN).and_then(be_u32),
            Some(4)
        );
    }

    #[test]
    fn udata_round_trip_and_truncation() {
        let u = udata_comment(7, "hello");
        assert_eq!(udata_find(&u, 7).and_then(cstr), Some("hello"));
        let long = "é".repeat(100);
        let u = udata_comment(0, &long);
        let back = udata_find(&u, 0).and_then(cstr).unwrap();
        assert!(back.len() <= 127 && long.starts_with(back));
    }

    proptest::proptest! {
        #[test]
        fn readers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            for (_, p) in Messages::new(&bytes) {
                for (_, a) in Attrs::of_nfmsg(p) {
                    let _ = Attrs::new(a).count();
                }
            }
            let _ = Attrs::new(&bytes).count();
            let _ = udata_find(&bytes, 0);
        }
    }
}
