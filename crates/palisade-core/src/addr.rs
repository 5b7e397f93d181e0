//! Set element types and their text syntax.
//!
//! Admins paste addresses from many places (ipset, nft, blocklists), so the
//! parser accepts the common spellings of both families and refuses anything
//! ambiguous with a message saying how to fix it. Formatting and parsing of
//! the addresses themselves is left to `std::net`, which is strict (no octal,
//! no leading zeros) and never panics.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::interval::{AddrBits, Interval};
use crate::problem::Problem;

/// An IPv4 address range.
pub type V4 = Interval<u32>;
/// An IPv6 address range.
pub type V6 = Interval<u128>;

/// Address family, for messages and for choosing the kernel set type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Prefix length of a single address.
    pub fn max_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// An address range of either family.
///
/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) stay IPv6: the kernel
/// matches them only in IPv6 sets, so silently converting them would change
/// what gets blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddrRange {
    V4(Interval<u32>),
    V6(Interval<u128>),
}

impl AddrRange {
    pub fn family(&self) -> Family {
        match self {
            AddrRange::V4(_) => Family::V4,
            AddrRange::V6(_) => Family::V6,
        }
    }

    /// Number of addresses (saturating for the whole IPv6 space).
    pub fn size(&self) -> u128 {
        match self {
            AddrRange::V4(r) => r.size(),
            AddrRange::V6(r) => r.size(),
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is the IPv4 host it maps.
impl From<IpAddr> for AddrRange {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => AddrRange::V4(Interval::single(u32::from(a))),
            IpAddr::V6(a) => AddrRange::V6(Interval::single(u128::from(a))).unmapped(),
        }
    }
}

impl AddrRange {
    /// The network of prefix length `len` around this range's first address (`None` if the
    /// length is too long for the family).
    pub fn network_of(self, len: u8) -> Option<AddrRange> {
        Some(match self {
            AddrRange::V4(r) => AddrRange::V4(Interval::from_prefix(r.first, len)?),
            AddrRange::V6(r) => AddrRange::V6(Interval::from_prefix(r.first, len)?),
        })
    }
}

/// `::ffff:0.0.0.0`, the first IPv4-mapped IPv6 address.
const MAPPED_V4: u128 = 0xffff_0000_0000;

impl AddrRange {
    /// IPv4-mapped IPv6 addresses and networks (inside `::ffff:0:0/96`) as the IPv4 ones they
    /// stand for. Packets from an IPv4 host carry its IPv4 address, so a mapped entry in an
    /// IPv6 set would match nothing: `::ffff:10.99.0.2` must block 10.99.0.2.
    pub fn unmapped(self) -> Self {
        match self {
            AddrRange::V6(r) if r.first >= MAPPED_V4 && r.last <= MAPPED_V4 | 0xffff_ffff => {
                AddrRange::V4(Interval {
                    first: (r.first - MAPPED_V4) as u32,
                    last: (r.last - MAPPED_V4) as u32,
                })
            }
            other => other,
        }
    }
}

impl From<V4> for AddrRange {
    fn from(r: V4) -> Self {
        AddrRange::V4(r)
    }
}

impl From<V6> for AddrRange {
    fn from(r: V6) -> Self {
        AddrRange::V6(r)
    }
}

/// Print the way admins write it: `1.2.3.4`, `10.0.0.0/8`, `a-b`.
fn fmt_interval<T: AddrBits, A: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    r: &Interval<T>,
    to_addr: impl Fn(T) -> A,
) -> fmt::Result {
    if r.first == r.last {
        write!(f, "{}", to_addr(r.first))
    } else if let Some((net, len)) = r.as_prefix() {
        write!(f, "{}/{}", to_addr(net), len)
    } else {
        write!(f, "{}-{}", to_addr(r.first), to_addr(r.last))
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrRange::V4(r) => fmt_interval(f, r, Ipv4Addr::from),
            AddrRange::V6(r) => fmt_interval(f, r, Ipv6Addr::from),
        }
    }
}

/// Protocol numbers ipset and nft accept by name in `proto:port` elements.
const PROTOCOLS: [(&str, u8); 3] = [("tcp", 6), ("udp", 17), ("sctp", 132)];

/// A port qualifier for address+port sets, as ipset's `hash:net,port`:
/// protocol number (6 tcp, 17 udp, 132 sctp) and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtoPort {
    pub proto: u8,
    pub port: u16,
}

impl ProtoPort {
    /// `tcp`, `udp`, `sctp`, or `None` for other protocol numbers.
    pub fn proto_name(&self) -> Option<&'static str> {
        PROTOCOLS
            .iter()
            .find(|(_, n)| *n == self.proto)
            .map(|(name, _)| *name)
    }
}

/// `tcp:22`, as ipset writes it (other protocols by number).
impl fmt::Display for ProtoPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto_name() {
            Some(name) => write!(f, "{}:{}", name, self.port),
            None => write!(f, "{}:{}", self.proto, self.port),
        }
    }
}

/// Written as its text (`10.0.0.0/8`), as in the config and saved files.
impl serde::Serialize for AddrRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AddrRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_addr_range(&text, false)
            .map_err(|p| serde::de::Error::custom(format!("`{text}`: {p}")))
    }
}

/// One entry of a list: what to put in the kernel set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub addr: AddrRange,
    pub port: Option<ProtoPort>,
    /// Per-element expiry; `None` means the element stays until removed.
    pub timeout: Option<Duration>,
    pub comment: Option<String>,
}

impl From<AddrRange> for Element {
    fn from(addr: AddrRange) -> Self {
        Element {
            addr,
            port: None,
            timeout: None,
            comment: None,
        }
    }
}

/// `addr` or `addr,proto:port` (ipset syntax); timeout and comment are not shown.
impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(p) = self.port {
            write!(f, ",{p}")?;
        }
        Ok(())
    }
}

/// One address of either family, before we know whether it is a range end.
#[derive(Clone, Copy)]
enum Ip {
    V4(u32),
    V6(u128),
}

fn parse_ip(s: &str) -> Result<Ip, Problem> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Problem::Empty);
    }
    if s.contains(':') {
        s.parse::<Ipv6Addr>()
            .map(|a| Ip::V6(u128::from(a)))
            .map_err(|_| Problem::NotAnAddress)
    } else {
        s.parse::<Ipv4Addr>()
            .map(|a| Ip::V4(u32::from(a)))
            .map_err(|_| Problem::NotAnAddress)
    }
}

/// Parse `1.2.3.4`, `1.2.3.0/24`, `2001:db8::/32`, `1.2.3.4-1.2.3.10`, `::1`.
///
/// A network with host bits set (`10.1.2.3/8`) is refused unless `normalize`,
/// because it is usually a typo for either the host or a smaller network, and
/// guessing wrong would block far more than intended.
///
/// IPv4-mapped IPv6 addresses and networks (`::ffff:10.0.0.1`) are read as the IPv4 ones
/// they stand for (see [`AddrRange::unmapped`]).
pub fn parse_addr_range(s: &str, normalize: bool) -> Result<AddrRange, Problem> {
    parse_any_range(s, normalize).map(AddrRange::unmapped)
}

fn parse_any_range(s: &str, normalize: bool) -> Result<AddrRange, Problem> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Problem::Empty);
    }
    if let Some((addr, prefix)) = s.split_once('/') {
        let prefix = prefix.trim();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            // Check the address first: `foo/bar` is not an address at all.
            parse_ip(addr)?;
            return Err(Problem::BadPrefix(prefix.to_string()));
        }
        let len: u32 = prefix
            .parse()
            .map_err(|_| Problem::BadPrefix(prefix.to_string()))?;
        return match parse_ip(addr)? {
            Ip::V4(a) => network(a, len, Family::V4, normalize).map(AddrRange::V4),
            Ip::V6(a) => network(a, len, Family::V6, normalize).map(AddrRange::V6),
        };
    }
    if let Some((first, last)) = s.split_once('-') {
        return match (parse_ip(first)?, parse_ip(last)?) {
            (Ip::V4(a), Ip::V4(b)) => ordered(a, b).map(AddrRange::V4),
            (Ip::V6(a), Ip::V6(b)) => ordered(a, b).map(AddrRange::V6),
            _ => Err(Problem::MixedFamilies),
        };
    }
    Ok(match parse_ip(s)? {
        Ip::V4(a) => AddrRange::V4(Interval::single(a)),
        Ip::V6(a) => AddrRange::V6(Interval::single(a)),
    })
}

fn network<T: AddrBits>(
    addr: T,
    len: u32,
    family: Family,
    normalize: bool,
) -> Result<Interval<T>, Problem>
where
    AddrRange: From<Interval<T>>,
{
    let max = u32::from(family.max_prefix());
    if len > max {
        return Err(Problem::PrefixTooLong { len, family, max });
    }
    let net = Interval::from_prefix(addr, len as u8).ok_or(Problem::PrefixTooLong {
        len,
        family,
        max,
    })?;
    if net.first != addr && !normalize {
        return Err(Problem::HostBitsSet {
            canonical: AddrRange::from(net).to_string(),
        });
    }
    Ok(net)
}

fn ordered<T: AddrBits>(first: T, last: T) -> Result<Interval<T>, Problem>
where
    AddrRange: From<Interval<T>>,
{
    Interval::new(first, last).ok_or_else(|| Problem::RangeReversed {
        first: AddrRange::from(Interval::single(first)).to_string(),
        last: AddrRange::from(Interval::single(last)).to_string(),
    })
}

/// Parse an element with an optional port qualifier.
///
/// With `with_ports`, accepts ipset syntax `ADDR,PORT`, `ADDR,tcp:PORT`,
/// `ADDR,udp:PORT`, `ADDR,sctp:PORT` (a bare port means tcp, as in ipset)
/// and nft syntax `ADDR . PORT` / `ADDR . tcp . PORT`; the port is then
/// required. Without `with_ports` a port is an error, so a list meant for a
/// port set is not silently loaded as "block the whole host".
pub fn parse_element(
    s: &str,
    with_ports: bool,
    normalize: bool,
) -> Result<(AddrRange, Option<ProtoPort>), Problem> {
    let s = s.trim();
    let (addr, port) = split_port(s);
    let addr = parse_addr_range(addr, normalize)?;
    match (port, with_ports) {
        (None, false) => Ok((addr, None)),
        (None, true) => Err(Problem::MissingPort),
        (Some(_), false) => Err(Problem::UnexpectedPort),
        (Some(PortSpec::Ipset(p)), true) => Ok((addr, Some(parse_proto_port(p)?))),
        (Some(PortSpec::Nft(rest)), true) => {
            let pp = match nft_dot(rest) {
                Some(i) => {
                    let proto = parse_proto(rest[..i].trim())?;
                    let port = rest[i + 1..].trim();
                    if nft_dot(port).is_some() {
                        return Err(Problem::Unsupported("elements with more than two parts"));
                    }
                    ProtoPort {
                        proto,
                        port: parse_port(port)?,
                    }
                }
                None => parse_proto_port(rest)?,
            };
            Ok((addr, Some(pp)))
        }
    }
}

enum PortSpec<'a> {
    /// After `,` (ipset).
    Ipset(&'a str),
    /// After ` . ` (nft concatenation).
    Nft(&'a str),
}

fn split_port(s: &str) -> (&str, Option<PortSpec<'_>>) {
    if let Some((a, p)) = s.split_once(',') {
        return (a, Some(PortSpec::Ipset(p)));
    }
    match nft_dot(s) {
        // `.` is ASCII, so the byte offsets around it are char boundaries.
        Some(i) => (&s[..i], Some(PortSpec::Nft(&s[i + 1..]))),
        None => (s, None),
    }
}

/// Byte offset of an nft concatenation dot: a `.` preceded by whitespace.
/// Dots inside an IPv4 address never are, so this can't cut an address.
fn nft_dot(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (1..b.len()).find(|&i| b[i] == b'.' && b[i - 1].is_ascii_whitespace())
}

/// `22`, `tcp:22`, `udp:53`, `sctp:9`.
fn parse_proto_port(s: &str) -> Result<ProtoPort, Problem> {
    let s = s.trim();
    if s.contains(',') {
        return Err(Problem::Unsupported("elements with more than two parts"));
    }
    let (proto, port) = match s.split_once(':') {
        Some((proto, port)) => (parse_proto(proto.trim())?, port.trim()),
        None => (6, s),
    };
    Ok(ProtoPort {
        proto,
        port: parse_port(port)?,
    })
}

fn parse_proto(s: &str) -> Result<u8, Problem> {
    if let Some((_, n)) = PROTOCOLS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
    {
        return Ok(*n);
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = s.parse::<u8>() {
            return Ok(n);
        }
    }
    Err(Problem::UnknownProtocol(s.to_string()))
}

fn parse_port(s: &str) -> Result<u16, Problem> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| Problem::BadPort(s.to_string()));
    }
    if let Some((a, b)) = s.split_once('-') {
        if parse_port(a.trim()).is_ok() && parse_port(b.trim()).is_ok() {
            return Err(Problem::Unsupported("port ranges"));
        }
    }
    Err(Problem::BadPort(s.to_string()))
}

#[cfg(test)]
mod tests;
