use super::*;
use crate::addr::{AddrRange, ProtoPort};
use crate::interval::Interval;
use proptest::prelude::*;
use std::io::{BufReader, Cursor, Read};
use std::time::Duration;

fn read_all(text: &[u8], format: Format, opts: ParseOptions) -> Vec<Result<Element, LineError>> {
    ListReader::new("test", Cursor::new(text.to_vec()), format, opts).collect()
}

fn ok_all(text: &str, format: Format, opts: ParseOptions) -> Vec<Element> {
    read_all(text.as_bytes(), format, opts)
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn a4(s: &str) -> AddrRange {
    crate::parse_addr_range(s, false).unwrap()
}

const PORTS: ParseOptions = ParseOptions {
    with_ports: true,
    normalize: false,
};

#[test]
fn format_names() {
    for name in [
        "auto",
        "plain",
        "netset",
        "ipset",
        "spamhaus",
        "ipset-save",
        "json",
    ] {
        let f: Format = name.parse().unwrap();
        assert_eq!(f.to_string(), name);
    }
    assert_eq!("IPSET-SAVE".parse::<Format>(), Ok(Format::IpsetSave));
    assert_eq!(
        "csv".parse::<Format>(),
        Err(Problem::UnknownFormat("csv".into()))
    );
}

#[test]
fn detects_formats() {
    assert_eq!(
        detect_format("x/firehol_level1.netset", &["# hi", "1.2.3.0/24"]),
        Format::Netset
    );
    assert_eq!(detect_format("ciarmy.IPSET", &["1.2.3.4"]), Format::Ipset);
    assert_eq!(
        detect_format("drop.txt", &["; Spamhaus DROP", "1.10.16.0/20 ; SBL256894"]),
        Format::Spamhaus
    );
    assert_eq!(
        detect_format(
            "saved",
            &["create bad hash:net family inet", "add bad 1.2.3.0/24"]
        ),
        Format::IpsetSave
    );
    assert_eq!(
        detect_format("saved.ipset", &["create bad hash:ip"]),
        Format::IpsetSave
    );
    assert_eq!(
        detect_format("list.txt", &["1.2.3.4", "; comment"]),
        Format::Plain
    );
    assert_eq!(detect_format("", &[]), Format::Plain);
}

#[test]
fn plain_rules() {
    let text = "\u{feff}# header\r\n\r\n  1.2.3.4  \r\n10.0.0.0/8 # trailing\n; also a comment\n2001:db8::/32;x\n1.1.1.1-1.1.1.3\n   \n";
    let els = ok_all(text, Format::Plain, ParseOptions::default());
    let addrs: Vec<_> = els.iter().map(|e| e.addr).collect();
    assert_eq!(
        addrs,
        vec![
            a4("1.2.3.4"),
            a4("10.0.0.0/8"),
            a4("2001:db8::/32"),
            a4("1.1.1.1-1.1.1.3")
        ]
    );
    assert!(els
        .iter()
        .all(|e| e.comment.is_none() && e.timeout.is_none() && e.port.is_none()));
    // No trailing newline on the last line.
    assert_eq!(
        ok_all("1.2.3.4", Format::Netset, ParseOptions::default()).len(),
        1
    );
}

#[test]
fn spamhaus_reference_becomes_comment() {
    let text = "; Spamhaus DROP List\n1.10.16.0/20 ; SBL256894\n2001:678:6c4::/48 ; SBL626637\n1.2.3.0/24\n; EOF\n";
    let els = ok_all(text, Format::Spamhaus, ParseOptions::default());
    assert_eq!(els.len(), 3);
    assert_eq!(els[0].addr, a4("1.10.16.0/20"));
    assert_eq!(els[0].comment.as_deref(), Some("SBL256894"));
    assert_eq!(els[1].comment.as_deref(), Some("SBL626637"));
    assert_eq!(els[2].comment, None);
}

#[test]
fn ipset_save() {
    let text = r#"create bad hash:net family inet hashsize 1024 maxelem 65536 timeout 300 comment counters
add bad 1.2.3.0/24 timeout 120 comment "from honeypot 7"
add bad 5.6.7.8 timeout 0 packets 10 bytes 800
add bad 9.9.9.1-9.9.9.5 skbmark 0x1/0xff comment ""
create bad6 hash:ip family inet6
add bad6 2001:db8::1
"#;
    let els = ok_all(text, Format::IpsetSave, ParseOptions::default());
    assert_eq!(els.len(), 4);
    assert_eq!(els[0].addr, a4("1.2.3.0/24"));
    assert_eq!(els[0].timeout, Some(Duration::from_secs(120)));
    assert_eq!(els[0].comment.as_deref(), Some("from honeypot 7"));
    assert_eq!(els[1].addr, a4("5.6.7.8"));
    assert_eq!(els[1].timeout, None);
    assert_eq!(els[2].addr, a4("9.9.9.1-9.9.9.5"));
    assert_eq!(els[2].comment, None);
    assert_eq!(els[3].addr, a4("2001:db8::1"));
}

#[test]
fn ipset_save_with_ports() {
    let text = "create web hash:ip,port family inet\nadd web 1.2.3.4,tcp:22\nadd web 1.2.3.4,udp:53 timeout 5\n";
    let els = ok_all(text, Format::IpsetSave, PORTS);
    assert_eq!(els[0].port, Some(ProtoPort { proto: 6, port: 22 }));
    assert_eq!(
        els[1].port,
        Some(ProtoPort {
            proto: 17,
            port: 53
        })
    );
    assert_eq!(els[1].timeout, Some(Duration::from_secs(5)));
    let errs = read_all(text.as_bytes(), Format::IpsetSave, ParseOptions::default());
    assert!(errs.iter().all(|r| matches!(
        r,
        Err(LineError {
            problem: Problem::UnexpectedPort,
            ..
        })
    )));
}

#[test]
fn ipset_save_problems() {
    use Problem::*;
    let cases: Vec<(&str, Problem)> = vec![
        ("add bad 1.2.3.4 nomatch", Unsupported("nomatch")),
        ("add bad", MissingElement),
        ("add", MissingElement),
        ("del bad 1.2.3.4", UnknownIpsetCommand("del".into())),
        ("flush", UnknownIpsetCommand("flush".into())),
        ("add bad 1.2.3.4 comment \"oops", UnterminatedQuote),
        (
            "add bad 1.2.3.4 timeout",
            MissingOptionValue {
                option: "timeout".into(),
            },
        ),
        (
            "add bad 1.2.3.4 comment",
            MissingOptionValue {
                option: "comment".into(),
            },
        ),
        (
            "add bad 1.2.3.4 timeout soon",
            BadOptionValue {
                option: "timeout".into(),
                value: "soon".into(),
            },
        ),
        (
            "add bad 1.2.3.4/33",
            PrefixTooLong {
                len: 33,
                family: crate::Family::V4,
                max: 32,
            },
        ),
        ("add bad aa:bb:cc:dd:ee:ff", NotAnAddress),
    ];
    for (line, want) in cases {
        let got = read_all(line.as_bytes(), Format::IpsetSave, ParseOptions::default());
        assert_eq!(got.len(), 1, "{line}");
        assert_eq!(got[0].as_ref().unwrap_err().problem, want, "{line}");
    }
    // Old-style `ipset -S` output.
    let old = "-N bad iphash\n-A bad 1.2.3.4\nCOMMIT\n";
    assert_eq!(
        ok_all(old, Format::IpsetSave, ParseOptions::default()).len(),
        1
    );
}

#[test]
fn errors_carry_position_and_continue() {
    let text = b"1.2.3.4\nnot-an-ip\n\xff\xfe\n10.1.2.3/8\n5.6.7.8\n";
    let got = read_all(text, Format::Plain, ParseOptions::default());
    assert_eq!(got.len(), 5);
    assert!(got[0].is_ok());
    let e = got[1].as_ref().unwrap_err();
    assert_eq!(
        (e.line, e.content.as_str(), &e.problem),
        (2, "not-an-ip", &Problem::NotAnAddress)
    );
    assert_eq!(
        e.to_string(),
        "test:2: `not-an-ip`: not an IP address or network"
    );
    assert_eq!(got[2].as_ref().unwrap_err().problem, Problem::NotUtf8);
    assert_eq!(got[2].as_ref().unwrap_err().line, 3);
    assert!(matches!(
        got[3].as_ref().unwrap_err().problem,
        Problem::HostBitsSet { .. }
    ));
    assert_eq!(got[4].as_ref().unwrap().addr, a4("5.6.7.8"));
    // With normalize the same file loads cleanly except the two bad lines.
    let norm = ParseOptions {
        with_ports: false,
        normalize: true,
    };
    let got = read_all(text, Format::Plain, norm);
    assert_eq!(got.iter().filter(|r| r.is_err()).count(), 2);
}

#[test]
fn content_is_truncated_on_char_boundary() {
    let line = "é".repeat(500);
    let got = read_all(line.as_bytes(), Format::Plain, ParseOptions::default());
    let e = got[0].as_ref().unwrap_err();
    assert_eq!(e.content.chars().count(), 121);
    assert!(e.content.ends_with('…'));
}

#[test]
fn overlong_line_is_skipped_not_buffered() {
    let mut text = vec![b'1'; MAX_LINE_BYTES * 3];
    text.extend_from_slice(b"\n1.2.3.4\n");
    let got = read_all(&text, Format::Plain, ParseOptions::default());
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].as_ref().unwrap_err().problem,
        Problem::LineTooLong {
            max: MAX_LINE_BYTES
        }
    );
    assert_eq!(got[1].as_ref().unwrap().addr, a4("1.2.3.4"));
}

/// Reads some bytes, then fails forever.
struct Failing {
    data: Cursor<Vec<u8>>,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.data.read(buf)? {
            0 => Err(std::io::Error::other("disk on fire")),
            n => Ok(n),
        }
    }
}

#[test]
fn io_error_is_reported_once_and_ends() {
    let reader = BufReader::with_capacity(
        4,
        Failing {
            data: Cursor::new(b"1.2.3.4\n5.6.7.8\n".to_vec()),
        },
    );
    let got: Vec<_> =
        ListReader::new("f", reader, Format::Plain, ParseOptions::default()).collect();
    assert_eq!(got.len(), 3);
    let e = got[2].as_ref().unwrap_err();
    assert_eq!(e.problem, Problem::Io("disk on fire".into()));
    assert_eq!(e.line, 3);
}

#[test]
fn auto_detects_from_content() {
    let text = "create s hash:ip\nadd s 1.2.3.4 timeout 9\n";
    let mut r = ListReader::new(
        "saved",
        Cursor::new(text),
        Format::Auto,
        ParseOptions::default(),
    );
    let el = r.next().unwrap().unwrap();
    assert_eq!(r.format(), Format::IpsetSave);
    assert_eq!(el.timeout, Some(Duration::from_secs(9)));
    let mut r = ListReader::new(
        "x.txt",
        Cursor::new("1.1.1.0/24 ; SBL1\n"),
        Format::Auto,
        ParseOptions::default(),
    );
    assert_eq!(r.next().unwrap().unwrap().comment.as_deref(), Some("SBL1"));
    assert_eq!(r.format(), Format::Spamhaus);
}

#[test]
fn small_buffer_splits_lines_correctly() {
    let text = "1.2.3.4\n# comment that is long\n10.0.0.0/8 ; x\n2001:db8::/32\n";
    for cap in 1..8 {
        let r = ListReader::new(
            "t",
            BufReader::with_capacity(cap, text.as_bytes()),
            Format::Plain,
            ParseOptions::default(),
        );
        let got: Vec<_> = r.map(|e| e.unwrap().addr).collect();
        assert_eq!(
            got,
            vec![a4("1.2.3.4"), a4("10.0.0.0/8"), a4("2001:db8::/32")],
            "cap {cap}"
        );
    }
}

/// Not run by default: prints parse throughput. Run with
/// `cargo test -p palisade-core --release -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    let mut text = String::new();
    for i in 0..3_000_000u32 {
        let a = std::net::Ipv4Addr::from(i.wrapping_mul(2_654_435_761));
        if i % 4 == 0 {
            text.push_str(&format!("{a}/32\n"));
        } else {
            text.push_str(&format!("{a}\n"));
        }
    }
    let start = std::time::Instant::now();
    let ranges: Vec<Interval<u32>> =
        ListReader::new("t", text.as_bytes(), Format::Plain, ParseOptions::default())
            .filter_map(|r| match r.ok()?.addr {
                AddrRange::V4(r) => Some(r),
                AddrRange::V6(_) => None,
            })
            .collect();
    let secs = start.elapsed().as_secs_f64();
    let n = ranges.len();
    println!(
        "{n} lines in {secs:.3}s = {:.1} M lines/s",
        n as f64 / secs / 1e6
    );
    assert_eq!(n, 3_000_000);
    let start = std::time::Instant::now();
    let set = crate::IntervalSet::from_unsorted(ranges);
    println!(
        "merged into {} ranges in {:.3}s",
        set.len(),
        start.elapsed().as_secs_f64()
    );
}

fn listish() -> impl Strategy<Value = Vec<u8>> {
    let pieces: Vec<&'static [u8]> = vec![
        b"1.2.3.4",
        b"/24",
        b"-",
        b"::1",
        b",",
        b"tcp:22",
        b" . ",
        b"\n",
        b"\r\n",
        b";",
        b"#",
        b" ",
        b"add s ",
        b"create s hash:ip ",
        b"timeout ",
        b"0",
        b"99999999999999999999",
        b"comment ",
        b"\"",
        b"nomatch",
        b"packets",
        b"\xff",
        b"\xc3",
        b"\xa9",
        b"\xef\xbb\xbf",
        b"SBL1",
    ];
    proptest::collection::vec(proptest::sample::select(pieces), 0..40).prop_map(|v| v.concat())
}

fn any_format() -> impl Strategy<Value = Format> {
    proptest::sample::select(vec![
        Format::Auto,
        Format::Plain,
        Format::Netset,
        Format::Ipset,
        Format::Spamhaus,
        Format::IpsetSave,
    ])
}

proptest! {
    #[test]
    fn reader_never_panics_on_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        format in any_format(),
        ports in any::<bool>(),
        cap in 1usize..64,
    ) {
        let opts = ParseOptions { with_ports: ports, normalize: false };
        let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
        let r = ListReader::new("p", BufReader::with_capacity(cap, data.as_slice()), format, opts);
        let items: Vec<_> = r.collect();
        prop_assert!(items.len() as u64 <= newlines + 1);
    }

    #[test]
    fn reader_never_panics_on_listish(data in listish(), format in any_format(), ports in any::<bool>()) {
        let opts = ParseOptions { with_ports: ports, normalize: true };
        for item in ListReader::new("p", data.as_slice(), format, opts) {
            if let Err(e) = item {
                // Messages render without panicking too.
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn reader_never_panics_on_strings(s in any::<String>(), format in any_format()) {
        let _ = ListReader::new("p", s.as_bytes(), format, ParseOptions::default()).count();
        let lines: Vec<&str> = s.lines().collect();
        prop_assert_ne!(detect_format(&s, &lines), Format::Auto);
    }

    #[test]
    fn plain_lines_roundtrip(v in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..50)) {
        let ranges: Vec<AddrRange> = v
            .iter()
            .map(|&(a, len)| AddrRange::V4(Interval::from_prefix(a, len).unwrap()))
            .collect();
        let text: String = ranges.iter().map(|r| format!("{r}\n")).collect();
        let got: Vec<AddrRange> = ListReader::new("p", text.as_bytes(), Format::Plain, ParseOptions::default())
            .map(|r| r.map(|e| e.addr))
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(got, ranges);
    }
}

/// An endless input without line ends (`/dev/zero`) ends with one error, in bounded time and
/// memory, whether invalid lines are skipped or not.
#[test]
fn input_without_line_ends_is_not_read_forever() {
    let endless = std::io::BufReader::new(std::io::repeat(0));
    let items: Vec<_> = ListReader::new("zero", endless, Format::Plain, ParseOptions::default())
        .take(10)
        .collect();
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(matches!(
        items[0],
        Err(LineError {
            problem: Problem::NoLineEnd { .. },
            ..
        })
    ));
}
