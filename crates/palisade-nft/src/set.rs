//! Set key layouts and elements in their wire form.

use crate::consts::*;

/// What a kernel set's keys are made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Ipv4,
    Ipv6,
    /// `ipv4_addr . inet_proto . inet_service`, as ipset's `hash:net,port`.
    Ipv4ProtoPort,
    /// `ipv6_addr . inet_proto . inet_service`.
    Ipv6ProtoPort,
    /// A 32-bit number (nft's `mark` type): bookkeeping values, not addresses.
    Mark,
}

impl KeyKind {
    /// Length of each field before register padding.
    pub fn field_lens(self) -> &'static [u32] {
        match self {
            KeyKind::Ipv4 => &[4],
            KeyKind::Ipv6 => &[16],
            KeyKind::Ipv4ProtoPort => &[4, 1, 2],
            KeyKind::Ipv6ProtoPort => &[16, 1, 2],
            KeyKind::Mark => &[4],
        }
    }

    /// Key length in the kernel: each field padded to a 32-bit register.
    pub fn key_len(self) -> u32 {
        self.field_lens().iter().map(|l| l.div_ceil(4) * 4).sum()
    }

    pub fn is_concat(self) -> bool {
        self.field_lens().len() > 1
    }

    /// nft's datatype id, so `nft list` can print the keys.
    pub fn key_type(self) -> u32 {
        let concat = |parts: &[u32]| parts.iter().fold(0, |acc, t| (acc << TYPE_BITS) | t);
        match self {
            KeyKind::Ipv4 => TYPE_IPADDR,
            KeyKind::Ipv6 => TYPE_IP6ADDR,
            KeyKind::Ipv4ProtoPort => concat(&[TYPE_IPADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE]),
            KeyKind::Ipv6ProtoPort => {
                concat(&[TYPE_IP6ADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE])
            }
            KeyKind::Mark => TYPE_MARK,
        }
    }

    pub fn from_type_and_len(key_type: u32, key_len: u32) -> Option<Self> {
        [
            KeyKind::Ipv4,
            KeyKind::Ipv6,
            KeyKind::Ipv4ProtoPort,
            KeyKind::Ipv6ProtoPort,
            KeyKind::Mark,
        ]
        .into_iter()
        .find(|k| k.key_type() == key_type && k.key_len() == key_len)
    }
}

/// A key in wire form: at most 24 bytes (IPv6 address, protocol and port), kept inline so
/// encoding millions of elements does not allocate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    len: u8,
    bytes: [u8; 24],
}

impl Key {
    pub fn new(b: &[u8]) -> Option<Self> {
        let mut bytes = [0; 24];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    pub fn ipv4(addr: u32) -> Self {
        Self::new(&addr.to_be_bytes()).expect("4 bytes fit")
    }

    pub fn ipv6(addr: u128) -> Self {
        Self::new(&addr.to_be_bytes()).expect("16 bytes fit")
    }

    /// Address followed by protocol and port, each in its own 32-bit register.
    pub fn with_proto_port(addr: &[u8], proto: u8, port: u16) -> Self {
        let mut v = Vec::with_capacity(addr.len() + 8);
        v.extend_from_slice(addr);
        v.extend_from_slice(&[proto, 0, 0, 0]);
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        Self::new(&v).expect("at most 24 bytes")
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The address part as an integer: IPv4 in the low 32 bits.
    pub fn addr_bits(&self) -> Option<u128> {
        match self.len {
            4 | 12 => Some(u32::from_be_bytes(self.bytes[..4].try_into().ok()?) as u128),
            16 | 24 => Some(u128::from_be_bytes(self.bytes[..16].try_into().ok()?)),
            _ => None,
        }
    }

    /// Protocol and port of a concatenated key.
    pub fn proto_port(&self) -> Option<(u8, u16)> {
        let at = match self.len {
            12 => 4,
            24 => 16,
            _ => return None,
        };
        let b = &self.bytes[at..];
        Some((b[0], u16::from_be_bytes([b[4], b[5]])))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// Shows the key the way an admin writes it: `192.0.2.1`, `2001:db8::1`, `192.0.2.1 . 6 . 22`.
impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.len, self.addr_bits()) {
            (4 | 12, Some(a)) => write!(f, "{}", std::net::Ipv4Addr::from(a as u32))?,
            (16 | 24, Some(a)) => write!(f, "{}", std::net::Ipv6Addr::from(a))?,
            _ => {
                for b in self.as_bytes() {
                    write!(f, "{b:02x}")?;
                }
                return Ok(());
            }
        }
        if let Some((proto, port)) = self.proto_port() {
            write!(f, " . {proto} . {port}")?;
        }
        Ok(())
    }
}

/// One element to add or delete.
///
/// For a plain interval set, a range is two elements: its first address, and the address after
/// its last one flagged `INTERVAL_END`. For a concatenated interval set, a range is one element
/// with `key_end`. [`crate::Batch`] takes care of this from [`Element::range`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element<'a> {
    pub key: Key,
    pub key_end: Option<Key>,
    pub flags: u32,
    pub timeout_ms: Option<u64>,
    pub comment: Option<&'a str>,
}

impl<'a> Element<'a> {
    pub fn key(key: Key) -> Self {
        Self {
            key,
            key_end: None,
            flags: 0,
            timeout_ms: None,
            comment: None,
        }
    }

    pub fn interval_end(key: Key) -> Self {
        Self {
            flags: NFT_SET_ELEM_INTERVAL_END,
            ..Self::key(key)
        }
    }
}

/// What `GETSETELEM` reports about one element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementInfo {
    pub key: Key,
    pub key_end: Option<Key>,
    pub flags: u32,
    pub timeout_ms: Option<u64>,
    pub expiration_ms: Option<u64>,
    pub comment: Option<String>,
}

impl ElementInfo {
    pub fn is_interval_end(&self) -> bool {
        self.flags & NFT_SET_ELEM_INTERVAL_END != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layouts_match_nft() {
        assert_eq!(KeyKind::Ipv4.key_len(), 4);
        assert_eq!(KeyKind::Ipv6ProtoPort.key_len(), 24);
        assert_eq!(KeyKind::Ipv4ProtoPort.key_len(), 12);
        // nft: ipv4_addr . inet_proto . inet_service
        assert_eq!(
            KeyKind::Ipv4ProtoPort.key_type(),
            (7 << 12) | (12 << 6) | 13
        );
        let k = Key::with_proto_port(&[192, 0, 2, 1], 6, 22);
        assert_eq!(k.as_bytes(), &[192, 0, 2, 1, 6, 0, 0, 0, 0, 22, 0, 0]);
        assert_eq!(k.to_string(), "192.0.2.1 . 6 . 22");
        assert_eq!(Key::ipv6(1).to_string(), "::1");
    }
}
