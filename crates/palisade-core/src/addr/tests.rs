use super::*;
use proptest::prelude::*;

fn v4(s: &str) -> u32 {
    u32::from(s.parse::<Ipv4Addr>().unwrap())
}

fn v6(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().unwrap())
}

fn r4(a: &str, b: &str) -> AddrRange {
    AddrRange::V4(Interval::new(v4(a), v4(b)).unwrap())
}

fn r6(a: &str, b: &str) -> AddrRange {
    AddrRange::V6(Interval::new(v6(a), v6(b)).unwrap())
}

#[test]
fn parses_accepted_forms() {
    let cases = [
        ("1.2.3.4", r4("1.2.3.4", "1.2.3.4")),
        ("  1.2.3.4\t", r4("1.2.3.4", "1.2.3.4")),
        ("1.2.3.0/24", r4("1.2.3.0", "1.2.3.255")),
        ("0.0.0.0/0", r4("0.0.0.0", "255.255.255.255")),
        ("1.2.3.4/32", r4("1.2.3.4", "1.2.3.4")),
        ("1.2.3.4-1.2.3.10", r4("1.2.3.4", "1.2.3.10")),
        ("1.2.3.4 - 1.2.3.10", r4("1.2.3.4", "1.2.3.10")),
        ("1.2.3.4-1.2.3.4", r4("1.2.3.4", "1.2.3.4")),
        ("::1", r6("::1", "::1")),
        (
            "2001:db8::/32",
            r6("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
        ),
        ("::/0", r6("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
        ("2001:db8::1-2001:db8::9", r6("2001:db8::1", "2001:db8::9")),
        // IPv4-mapped IPv6 is the IPv4 host or network it stands for (issue 12, defect 5).
        ("::ffff:1.2.3.4", r4("1.2.3.4", "1.2.3.4")),
        ("::ffff:1.2.3.0/120", r4("1.2.3.0", "1.2.3.255")),
    ];
    for (s, want) in cases {
        assert_eq!(parse_addr_range(s, false), Ok(want), "{s}");
    }
}

#[test]
fn host_bits() {
    assert_eq!(
        parse_addr_range("10.1.2.3/8", false),
        Err(Problem::HostBitsSet {
            canonical: "10.0.0.0/8".into()
        })
    );
    assert_eq!(
        parse_addr_range("10.1.2.3/8", true),
        Ok(r4("10.0.0.0", "10.255.255.255"))
    );
    assert_eq!(
        parse_addr_range("2001:db8::1/32", false),
        Err(Problem::HostBitsSet {
            canonical: "2001:db8::/32".into()
        })
    );
    let msg = parse_addr_range("10.1.2.3/8", false)
        .unwrap_err()
        .to_string();
    // The core speaks of the input; the command line adds its flag as a hint.
    assert_eq!(msg, "host bits set; the network is 10.0.0.0/8");
}

#[test]
fn rejects_with_clear_problems() {
    use Problem::*;
    let cases: Vec<(&str, Problem)> = vec![
        ("", Empty),
        ("   ", Empty),
        ("foo", NotAnAddress),
        ("1.2.3", NotAnAddress),
        ("1.2.3.256", NotAnAddress),
        ("01.2.3.4", NotAnAddress),
        ("1.2.3.4/", BadPrefix("".into())),
        ("1.2.3.4/x", BadPrefix("x".into())),
        ("1.2.3.4/-1", BadPrefix("-1".into())),
        ("1.2.3.4/+8", BadPrefix("+8".into())),
        ("1.2.3.4/99999999999", BadPrefix("99999999999".into())),
        ("foo/8", NotAnAddress),
        ("/8", Empty),
        (
            "1.2.3.4/33",
            PrefixTooLong {
                len: 33,
                family: Family::V4,
                max: 32,
            },
        ),
        (
            "::/129",
            PrefixTooLong {
                len: 129,
                family: Family::V6,
                max: 128,
            },
        ),
        (
            "1.2.3.10-1.2.3.4",
            RangeReversed {
                first: "1.2.3.10".into(),
                last: "1.2.3.4".into(),
            },
        ),
        ("1.2.3.4-::1", MixedFamilies),
        ("1.2.3.4-", Empty),
        ("1.2.3.4-1.2.3.5-1.2.3.6", NotAnAddress),
        ("fe80::1%eth0", NotAnAddress),
        ("1.2.3.4 5", NotAnAddress),
        ("1.2.3.4,22", NotAnAddress),
        ("ü", NotAnAddress),
    ];
    for (s, want) in cases {
        assert_eq!(parse_addr_range(s, false), Err(want), "{s:?}");
    }
    assert_eq!(
        parse_addr_range("1.2.3.4/33", false)
            .unwrap_err()
            .to_string(),
        "prefix length 33 is too long for IPv4 (at most 32)"
    );
    assert_eq!(
        parse_addr_range("nope", false).unwrap_err().to_string(),
        "not an IP address or network"
    );
}

#[test]
fn display() {
    let cases = [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.0/24", "1.2.3.0/24"),
        ("1.2.3.4-1.2.3.7", "1.2.3.4/30"),
        ("1.2.3.4-1.2.3.10", "1.2.3.4-1.2.3.10"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("255.255.255.255", "255.255.255.255"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0db8::/32", "2001:db8::/32"),
        ("::/0", "::/0"),
        ("::1-::3", "::1-::3"),
    ];
    for (s, want) in cases {
        assert_eq!(parse_addr_range(s, false).unwrap().to_string(), want, "{s}");
    }
}

#[test]
fn elements_with_ports() {
    let a = r4("1.2.3.4", "1.2.3.4");
    let tcp22 = Some(ProtoPort { proto: 6, port: 22 });
    for s in [
        "1.2.3.4,22",
        "1.2.3.4,tcp:22",
        "1.2.3.4,TCP:22",
        "1.2.3.4 . 22",
        "1.2.3.4 . tcp . 22",
        "1.2.3.4 .22",
        " 1.2.3.4 , tcp:22 ",
    ] {
        assert_eq!(parse_element(s, true, false), Ok((a, tcp22)), "{s}");
    }
    assert_eq!(
        parse_element("1.2.3.0/24,udp:53", true, false),
        Ok((
            r4("1.2.3.0", "1.2.3.255"),
            Some(ProtoPort {
                proto: 17,
                port: 53
            })
        ))
    );
    assert_eq!(
        parse_element("2001:db8::1,sctp:9", true, false),
        Ok((
            r6("2001:db8::1", "2001:db8::1"),
            Some(ProtoPort {
                proto: 132,
                port: 9
            })
        ))
    );
    assert_eq!(
        parse_element("2001:db8::/32 . udp . 0", true, false),
        Ok((
            r6("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
            Some(ProtoPort { proto: 17, port: 0 })
        ))
    );
    assert_eq!(parse_element("1.2.3.4", false, false), Ok((a, None)));
}

#[test]
fn element_problems() {
    use Problem::*;
    let cases: Vec<(&str, bool, Problem)> = vec![
        ("1.2.3.4", true, MissingPort),
        ("1.2.3.4,22", false, UnexpectedPort),
        ("1.2.3.4 . 22", false, UnexpectedPort),
        ("1.2.3.4,65536", true, BadPort("65536".into())),
        ("1.2.3.4,", true, BadPort("".into())),
        ("1.2.3.4,ssh", true, BadPort("ssh".into())),
        ("1.2.3.4,icmp:8", true, UnknownProtocol("icmp".into())),
        ("1.2.3.4,tcp:80-90", true, Unsupported("port ranges")),
        (
            "1.2.3.4,tcp:80,5.6.7.8",
            true,
            Unsupported("elements with more than two parts"),
        ),
        (
            "1.2.3.4 . tcp . 80 . 5.6.7.8",
            true,
            Unsupported("elements with more than two parts"),
        ),
        ("1.2.3.x,22", true, NotAnAddress),
        ("1.2.3.4 . tcp", true, BadPort("tcp".into())),
    ];
    for (s, ports, want) in cases {
        assert_eq!(parse_element(s, ports, false), Err(want), "{s:?}");
    }
}

#[test]
fn proto_port_display() {
    assert_eq!(ProtoPort { proto: 6, port: 22 }.to_string(), "tcp:22");
    assert_eq!(ProtoPort { proto: 47, port: 1 }.to_string(), "47:1");
    let el = Element {
        addr: r4("1.2.3.4", "1.2.3.4"),
        port: Some(ProtoPort {
            proto: 17,
            port: 53,
        }),
        timeout: None,
        comment: None,
    };
    assert_eq!(el.to_string(), "1.2.3.4,udp:53");
    let (addr, port) = parse_element(&el.to_string(), true, false).unwrap();
    assert_eq!((addr, port), (el.addr, el.port));
}

/// Strings made of the characters addresses are made of, so the fuzzing
/// reaches deep into the parser rather than failing on the first byte.
fn addressish() -> impl Strategy<Value = String> {
    let chars: Vec<char> = "0123456789abcdefABCDEF.:/-, ;#tcpudsx\"%ü\u{feff}\t"
        .chars()
        .collect();
    proptest::collection::vec(proptest::sample::select(chars), 0..48)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn never_panics_on_any_string(s in any::<String>(), ports in any::<bool>(), norm in any::<bool>()) {
        let _ = parse_addr_range(&s, norm);
        let _ = parse_element(&s, ports, norm);
    }

    #[test]
    fn never_panics_on_addressish(s in addressish(), ports in any::<bool>(), norm in any::<bool>()) {
        let _ = parse_addr_range(&s, norm);
        let _ = parse_element(&s, ports, norm);
    }

    #[test]
    fn never_panics_on_lossy_bytes(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        let s = String::from_utf8_lossy(&b);
        let _ = parse_addr_range(&s, true);
        let _ = parse_element(&s, true, false);
    }

    #[test]
    fn cidr_roundtrip_v4(a in any::<u32>(), b in any::<u32>()) {
        let r = Interval::new(a.min(b), a.max(b)).unwrap();
        let mut parts = Vec::new();
        for (net, len) in r.to_cidrs() {
            let block = Interval::from_prefix(net, len).unwrap();
            let text = AddrRange::V4(block).to_string();
            prop_assert_eq!(parse_addr_range(&text, false), Ok(AddrRange::V4(block)), "{}", text);
            parts.push(block);
        }
        prop_assert_eq!(crate::IntervalSet::from_unsorted(parts).into_vec(), vec![r]);
        // The whole range also round-trips in its own display form.
        let text = AddrRange::V4(r).to_string();
        prop_assert_eq!(parse_addr_range(&text, false), Ok(AddrRange::V4(r)));
    }

    #[test]
    fn cidr_roundtrip_v6(a in any::<u128>(), b in any::<u128>(), shift in 0u32..128) {
        let (a, b) = (a >> shift, b | (u128::MAX >> shift));
        let r = Interval::new(a.min(b), a.max(b)).unwrap();
        for (net, len) in r.to_cidrs() {
            let block = Interval::from_prefix(net, len).unwrap();
            let text = AddrRange::V6(block).to_string();
            prop_assert_eq!(parse_addr_range(&text, false), Ok(AddrRange::V6(block)), "{}", text);
        }
        let text = AddrRange::V6(r).to_string();
        prop_assert_eq!(parse_addr_range(&text, false), Ok(AddrRange::V6(r)));
    }

    #[test]
    fn normalize_masks_host_bits(a in any::<u32>(), len in 0u8..=32) {
        let text = format!("{}/{}", Ipv4Addr::from(a), len);
        let net = Interval::from_prefix(a, len).unwrap();
        prop_assert_eq!(parse_addr_range(&text, true), Ok(AddrRange::V4(net)));
        let strict = parse_addr_range(&text, false);
        if net.first == a {
            prop_assert_eq!(strict, Ok(AddrRange::V4(net)));
        } else {
            prop_assert!(
                matches!(strict, Err(Problem::HostBitsSet { .. })),
                "expected HostBitsSet, got {:?}",
                strict
            );
        }
    }
}

#[test]
fn ipv4_mapped_ipv6_is_the_ipv4_host() {
    let v4 = |s: &str| parse_addr_range(s, false).unwrap();
    assert_eq!(v4("::ffff:10.99.0.2"), v4("10.99.0.2"));
    assert_eq!(v4("::ffff:10.99.0.0/120"), v4("10.99.0.0/24"));
    assert_eq!(
        v4("::ffff:10.0.0.1-::ffff:10.0.0.9"),
        v4("10.0.0.1-10.0.0.9")
    );
    assert_eq!(v4("::ffff:0:0/96"), v4("0.0.0.0/0"));
    // Only what lies wholly inside ::ffff:0:0/96 is mapped.
    assert!(matches!(v4("::/0"), AddrRange::V6(_)));
    assert!(matches!(v4("::fffe:0:0/95"), AddrRange::V6(_)));
    let ip: std::net::IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    assert_eq!(AddrRange::from(ip), v4("192.0.2.1"));
}
