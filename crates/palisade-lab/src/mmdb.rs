//! A minimal MMDB writer, for tests and benchmarks of country and AS sets.
//!
//! Real geolocation databases (DB-IP Lite, GeoLite2) may not be copied into the project, and
//! tests need to know exactly which network carries which country. So tests write their own
//! small databases in the same binary format (MaxMind DB 2.0: a binary search tree, a data
//! section, a metadata map), which palisade then reads with the same reader it uses on real
//! files. IPv6 database with the IPv4 space at `::/96`, 32-bit records, no aliases; networks
//! must not overlap.

use std::net::IpAddr;

/// A value of the data section.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(String, Value)>),
    Array(Vec<Value>),
}

/// `{"country": {"iso_code": CODE}}`, as in GeoLite2-Country and DB-IP country lite.
pub fn country(code: &str) -> Value {
    Value::Map(vec![(
        "country".into(),
        Value::Map(vec![("iso_code".into(), Value::Str(code.into()))]),
    )])
}

/// `{"autonomous_system_number": N, "autonomous_system_organization": ORG}`, as in
/// GeoLite2-ASN and DB-IP ASN lite.
pub fn asn(number: u32, organization: &str) -> Value {
    Value::Map(vec![
        ("autonomous_system_number".into(), Value::U32(number)),
        (
            "autonomous_system_organization".into(),
            Value::Str(organization.into()),
        ),
    ])
}

#[derive(Clone, Copy, Debug)]
enum Record {
    Empty,
    Node(u32),
    Data(usize),
}

/// A database being written.
pub struct Writer {
    database_type: String,
    nodes: Vec<[Record; 2]>,
    values: Vec<Value>,
}

impl Writer {
    pub fn new(database_type: &str) -> Self {
        Self {
            database_type: database_type.into(),
            nodes: vec![[Record::Empty; 2]],
            values: Vec::new(),
        }
    }

    /// Add a network (`192.0.2.0/24`, `2001:db8::/32`) with its value.
    ///
    /// # Panics
    /// On a malformed network, or one that overlaps a network added before.
    pub fn insert(&mut self, network: &str, value: Value) -> &mut Self {
        let (addr, len) = network.split_once('/').expect("ADDRESS/PREFIX");
        let addr: IpAddr = addr.parse().expect("an address");
        let len: u32 = len.parse().expect("a prefix length");
        let (bits, depth) = match addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 96 + len),
            IpAddr::V6(a) => (u128::from(a), len),
        };
        assert!((1..=128).contains(&depth), "prefix of {network}");
        self.values.push(value);
        let data = self.values.len() - 1;
        let mut node = 0usize;
        for i in 0..depth {
            let bit = ((bits >> (127 - i)) & 1) as usize;
            if i == depth - 1 {
                assert!(
                    matches!(self.nodes[node][bit], Record::Empty),
                    "{network} overlaps a network added before"
                );
                self.nodes[node][bit] = Record::Data(data);
                break;
            }
            node = match self.nodes[node][bit] {
                Record::Node(n) => n as usize,
                Record::Empty => {
                    self.nodes.push([Record::Empty; 2]);
                    let n = self.nodes.len() - 1;
                    self.nodes[node][bit] = Record::Node(n as u32);
                    n
                }
                Record::Data(_) => panic!("{network} lies inside a network added before"),
            };
        }
        self
    }

    /// The database file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let offsets: Vec<usize> = self
            .values
            .iter()
            .map(|v| {
                let at = data.len();
                encode(v, &mut data);
                at
            })
            .collect();
        let node_count = self.nodes.len();
        let record = |r: Record| -> u32 {
            let n = match r {
                Record::Empty => node_count,
                Record::Node(n) => n as usize,
                Record::Data(d) => node_count + 16 + offsets[d],
            };
            u32::try_from(n).expect("the database fits 32-bit records")
        };
        let mut out = Vec::with_capacity(node_count * 8 + 16 + data.len() + 512);
        for [left, right] in &self.nodes {
            out.extend_from_slice(&record(*left).to_be_bytes());
            out.extend_from_slice(&record(*right).to_be_bytes());
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = Value::Map(vec![
            ("binary_format_major_version".into(), Value::U16(2)),
            ("binary_format_minor_version".into(), Value::U16(0)),
            ("build_epoch".into(), Value::U64(1_700_000_000)),
            (
                "database_type".into(),
                Value::Str(self.database_type.clone()),
            ),
            (
                "description".into(),
                Value::Map(vec![(
                    "en".into(),
                    Value::Str("palisade test database".into()),
                )]),
            ),
            ("ip_version".into(), Value::U16(6)),
            (
                "languages".into(),
                Value::Array(vec![Value::Str("en".into())]),
            ),
            ("node_count".into(), Value::U32(node_count as u32)),
            ("record_size".into(), Value::U16(32)),
        ]);
        encode(&metadata, &mut out);
        out
    }

    /// Write the database to `path`.
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_bytes())
    }
}

/// A control byte (and extended type byte) for `kind` and `size`, then the size's extra bytes.
fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    let (bits, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, Vec::new()),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if kind <= 7 {
        out.push((kind << 5) | bits);
    } else {
        out.push(bits);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

/// An unsigned integer in as few big-endian bytes as it needs.
fn unsigned(kind: u8, v: u64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(kind, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            control(2, s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::U16(n) => unsigned(5, u64::from(*n), out),
        Value::U32(n) => unsigned(6, u64::from(*n), out),
        Value::U64(n) => unsigned(9, *n, out),
        Value::Map(pairs) => {
            control(7, pairs.len(), out);
            for (k, v) in pairs {
                encode(&Value::Str(k.clone()), out);
                encode(v, out);
            }
        }
        Value::Array(items) => {
            control(11, items.len(), out);
            for v in items {
                encode(v, out);
            }
        }
    }
}
