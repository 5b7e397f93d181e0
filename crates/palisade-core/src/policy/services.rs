//! Service names: `ssh` means TCP port 22.
//!
//! A built-in table covers what servers commonly open, with the protocols that matter (DNS is
//! UDP *and* TCP; `/etc/services` lists both for nearly everything, which would open UDP ports
//! nobody asked for). Names the table lacks are looked up in `/etc/services` text, which the
//! caller reads and passes in, so this module stays free of files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A transport protocol that has ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProto {
    Tcp,
    Udp,
}

impl PortProto {
    pub fn name(self) -> &'static str {
        match self {
            PortProto::Tcp => "tcp",
            PortProto::Udp => "udp",
        }
    }

    pub fn number(self) -> u8 {
        match self {
            PortProto::Tcp => 6,
            PortProto::Udp => 17,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tcp" => Some(PortProto::Tcp),
            "udp" => Some(PortProto::Udp),
            _ => None,
        }
    }
}

/// An inclusive port range; a single port has `first == last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(p: u16) -> Self {
        Self { first: p, last: p }
    }

    pub fn contains(&self, p: u16) -> bool {
        (self.first..=self.last).contains(&p)
    }

    /// `22`, `8000-8100` (also `8000:8100`, as iptables writes it).
    pub fn parse(s: &str) -> Result<Self, String> {
        let port = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(0) | Err(_) => Err(format!("`{t}` is not a port (1-65535)")),
                Ok(p) => Ok(p),
            }
        };
        match s.split_once(['-', ':']) {
            Some((a, b)) => {
                let (first, last) = (port(a)?, port(b)?);
                if first > last {
                    return Err(format!("port range `{s}` runs backwards"));
                }
                Ok(Self { first, last })
            }
            None => port(s).map(Self::single),
        }
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// What a service name opens: protocol and port pairs.
pub type ServicePorts = Vec<(PortProto, PortRange)>;

const TCP: &[PortProto] = &[PortProto::Tcp];
const UDP: &[PortProto] = &[PortProto::Udp];
const BOTH: &[PortProto] = &[PortProto::Tcp, PortProto::Udp];

/// The built-in table: name, protocols, ports.
const BUILT_IN: &[(&str, &[PortProto], &[u16])] = &[
    ("ssh", TCP, &[22]),
    ("http", TCP, &[80]),
    ("https", TCP, &[443]),
    ("http3", UDP, &[443]),
    ("dns", BOTH, &[53]),
    ("domain", BOTH, &[53]),
    ("ntp", UDP, &[123]),
    ("smtp", TCP, &[25]),
    ("submission", TCP, &[587]),
    ("smtps", TCP, &[465]),
    ("imap", TCP, &[143]),
    ("imaps", TCP, &[993]),
    ("pop3", TCP, &[110]),
    ("pop3s", TCP, &[995]),
    ("ftp", TCP, &[21]),
    ("dhcp", UDP, &[67, 68]),
    ("dhcpv6-client", UDP, &[546]),
    ("mysql", TCP, &[3306]),
    ("postgresql", TCP, &[5432]),
    ("redis", TCP, &[6379]),
    ("ldap", TCP, &[389]),
    ("ldaps", TCP, &[636]),
    ("rsync", TCP, &[873]),
    ("git", TCP, &[9418]),
    ("openvpn", UDP, &[1194]),
    ("wireguard", UDP, &[51820]),
    ("mdns", UDP, &[5353]),
    ("snmp", UDP, &[161]),
    ("syslog", UDP, &[514]),
    ("kerberos", BOTH, &[88]),
    ("http-alt", TCP, &[8080]),
];

/// Service names resolved from the built-in table, then from `/etc/services` text.
#[derive(Clone, Debug, Default)]
pub struct Services {
    system: BTreeMap<String, ServicePorts>,
}

impl Services {
    /// With the text of `/etc/services` (pass `""` when there is none).
    pub fn new(etc_services: &str) -> Self {
        Self {
            system: parse_etc_services(etc_services),
        }
    }

    pub fn lookup(&self, name: &str) -> Option<ServicePorts> {
        if let Some((_, protos, ports)) = BUILT_IN.iter().find(|(n, _, _)| *n == name) {
            return Some(
                protos
                    .iter()
                    .flat_map(|p| ports.iter().map(|port| (*p, PortRange::single(*port))))
                    .collect(),
            );
        }
        self.system.get(name).cloned()
    }

    /// The built-in names, for help and error messages.
    pub fn built_in_names() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(n, _, _)| *n)
    }
}

/// `name port/proto [aliases...] # comment` lines; anything else is skipped, never an error:
/// the file belongs to the system, not to the admin's config.
pub fn parse_etc_services(text: &str) -> BTreeMap<String, ServicePorts> {
    let mut out: BTreeMap<String, ServicePorts> = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((port, proto)) = port_proto.split_once('/') else {
            continue;
        };
        let (Ok(port), Some(proto)) = (port.parse::<u16>(), PortProto::parse(proto)) else {
            continue;
        };
        if port == 0 {
            continue;
        }
        for n in std::iter::once(name).chain(words) {
            let entry = out.entry(n.to_string()).or_default();
            if !entry.contains(&(proto, PortRange::single(port))) {
                entry.push((proto, PortRange::single(port)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_names_win_and_dns_is_both_protocols() {
        let s = Services::new("ssh 2222/tcp\nfoo 7000/udp bar # comment\n");
        assert_eq!(
            s.lookup("ssh"),
            Some(vec![(PortProto::Tcp, PortRange::single(22))])
        );
        assert_eq!(s.lookup("dns").unwrap().len(), 2);
        assert_eq!(
            s.lookup("bar"),
            Some(vec![(PortProto::Udp, PortRange::single(7000))])
        );
        assert_eq!(s.lookup("nope"), None);
    }

    #[test]
    fn port_ranges() {
        assert_eq!(PortRange::parse("22"), Ok(PortRange::single(22)));
        assert_eq!(
            PortRange::parse("8000:8100"),
            Ok(PortRange {
                first: 8000,
                last: 8100
            })
        );
        assert!(PortRange::parse("0").is_err());
        assert!(PortRange::parse("70000").is_err());
        assert!(PortRange::parse("9-3").is_err());
        assert!(PortRange::parse("x").is_err());
    }

    #[test]
    fn etc_services_junk_is_skipped() {
        let m = parse_etc_services("garbage\n\n# only comment\nx 0/tcp\ny 12/sctp\nz 80/tcp\n");
        assert_eq!(m.len(), 1);
    }
}
