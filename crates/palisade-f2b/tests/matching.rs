//! Lines to failures as fail2ban decides them: the timestamp cut out first, `prefregex`
//! and `<F-CONTENT>`, the first matching failregex, `ignoreregex`, multi-line buffers and
//! connection ids. Filters and lines are written for these tests.

use std::net::IpAddr;
use std::path::PathBuf;

use palisade_f2b::{load_filter, DirSource, Filter, FilterSpec, MemorySource};

fn demo(spec: &str) -> Filter {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/filters");
    load_filter(&FilterSpec::parse(spec).unwrap(), &DirSource::new(dir)).unwrap()
}

fn one(failregex: &str, extra: &str) -> Filter {
    let text = format!("[Definition]\nfailregex = {failregex}\n{extra}\n");
    load_filter(
        &FilterSpec::named("t"),
        &MemorySource::new().with("t.conf", &text),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Feeds lines in order; returns (line number from 1, host) of each failure.
fn run(filter: &Filter, lines: &[&str]) -> Vec<(usize, IpAddr)> {
    let mut m = filter.matcher();
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| m.feed(l.as_bytes()).map(|f| (i + 1, f.host)))
        .collect()
}

#[test]
fn timestamp_is_cut_out_before_failregex_sees_the_line() {
    // fail2ban's web filters rely on it: `\[\]` is where the date was.
    let f = one(r#"^<HOST> \S+ \S+ \[\] "GET [^"]*" 401"#, "");
    let line = r#"192.0.2.1 - bob [05/Mar/2024:14:39:21 +0100] "GET /admin HTTP/1.1" 401 12"#;
    assert_eq!(run(&f, &[line]), [(1, ip("192.0.2.1"))]);
    // At the line start, with {^LN-BEG}: the failregex starts after the timestamp.
    let f = one(r"^\s*login failed for <HOST>$", "datepattern = {^LN-BEG}");
    assert_eq!(
        run(
            &f,
            &[
                "2024-03-05T14:39:21.5+01:00 login failed for 192.0.2.2",
                "Mar  5 14:39:21 login failed for 192.0.2.3"
            ]
        ),
        [(1, ip("192.0.2.2")), (2, ip("192.0.2.3"))]
    );
    // A custom datepattern (%% is configparser's escape for %), and epoch seconds.
    let f = one(r"^ bad <HOST>$", "datepattern = ^%%d.%%m.%%Y %%H:%%M");
    assert_eq!(
        run(&f, &["05.03.2024 14:39 bad 192.0.2.4"]),
        [(1, ip("192.0.2.4"))]
    );
    let f = one(r"^ bad <HOST>$", "datepattern = {^LN-BEG}EPOCH");
    assert_eq!(
        run(&f, &["1709645961.250 bad 192.0.2.5"]),
        [(1, ip("192.0.2.5"))]
    );
}

#[test]
fn prefregex_content_connection_ids_and_nofail_lines() {
    let f = demo("demo-sshd");
    let lines = [
        "Mar  5 10:00:00 web1 sshd[100]: Connection from 192.0.2.10 port 5000 on 198.51.100.1 port 22",
        // No address on this line: it is tied to the earlier one by `sshd[100]`.
        "Mar  5 10:00:01 web1 sshd[100]: User root not allowed because account is locked",
        "Mar  5 10:00:02 web1 sshd[101]: User admin not allowed because account is locked",
        "Mar  5 10:00:03 web1 sshd[101]: Disconnected from 192.0.2.11 port 5001",
        "Mar  5 10:00:04 web1 sshd[102]: error: Failed password for invalid user x from 192.0.2.12 port 5002 ssh2",
        // Another program's line is not read as sshd's.
        "Mar  5 10:00:05 web1 cron[103]: Failed password for x from 192.0.2.13 port 1 ssh2",
    ];
    assert_eq!(
        run(&f, &lines),
        [
            (2, ip("192.0.2.10")),
            (4, ip("192.0.2.11")),
            (5, ip("192.0.2.12"))
        ],
        "the pending failure of sshd[101] fires when its address arrives"
    );
}

#[test]
fn a_successful_login_is_no_failure_and_clears_a_pending_one() {
    let f = demo("demo-sshd");
    let lines = [
        "Mar  5 10:00:00 web1 sshd[200]: Connection from 192.0.2.20 port 5000 on 198.51.100.1 port 22",
        "Mar  5 10:00:01 web1 sshd[200]: Accepted publickey for alice from 192.0.2.20 port 5000 ssh2",
        // Pending (no address yet), then the same connection logs in: nothing to count.
        "Mar  5 10:00:02 web1 sshd[201]: User root not allowed because account is locked",
        "Mar  5 10:00:03 web1 sshd[201]: Accepted publickey for root from 192.0.2.21 port 5001 ssh2",
    ];
    assert_eq!(run(&f, &lines), []);
}

#[test]
fn ignoreregex_cancels_a_match() {
    let f = demo("demo-sshd");
    let lines = [
        "Mar  5 10:00:00 web1 sshd[300]: Failed password for root from 192.0.2.250 port 1 ssh2",
        "Mar  5 10:00:00 web1 sshd[301]: Failed password for root from 192.0.2.251 port 1 ssh2",
    ];
    assert_eq!(run(&f, &lines), [(2, ip("192.0.2.251"))]);
}

#[test]
fn maxlines_buffers_lines_and_skiplines_skips_between() {
    let f = one(
        r"^\s*session (?P<sid>\d+) opened<SKIPLINES>\s*session (?P=sid) failed for <HOST>$",
        "maxlines = 3\ndatepattern = {^LN-BEG}",
    );
    let lines = [
        "Mar  5 10:00:00 session 7 opened",
        "Mar  5 10:00:01 unrelated chatter",
        "Mar  5 10:00:02 session 7 failed for 192.0.2.30",
        "Mar  5 10:00:03 session 8 failed for 192.0.2.31",
    ];
    assert_eq!(
        run(&f, &lines),
        [(3, ip("192.0.2.30"))],
        "a line outside the window does not match"
    );
}

#[test]
fn address_forms_and_what_is_never_a_host() {
    let f = one(r"^from <HOST>$", "");
    for (line, expected) in [
        ("from 192.0.2.40", Some("192.0.2.40")),
        ("from [2001:db8::1]", Some("2001:db8::1")),
        ("from ::ffff:192.0.2.41", Some("192.0.2.41")),
        ("from 2001:db8::ffff:1", Some("2001:db8::ffff:1")),
        // A host name matches <HOST> as in fail2ban, but is never resolved.
        ("from attacker.example.com", None),
        // Not addresses: out of range, leading zeros (octal to some readers), unspecified.
        ("from 192.0.2.400", None),
        ("from 192.000.2.1", None),
        ("from 0.0.0.0", None),
    ] {
        let got = f.matcher().feed(line.as_bytes()).map(|x| x.host);
        assert_eq!(got, expected.map(ip), "{line}");
    }
}

#[test]
fn ids_users_and_subnets_are_reported() {
    let f = one(r"^user <F-USER>\S+</F-USER> id <F-ID/> from <SUBNET>$", "");
    let got = f
        .matcher()
        .feed(b"user bob id s-1 from 192.0.2.0/24")
        .unwrap();
    assert_eq!(
        (
            got.host,
            got.prefix_len,
            got.user.as_deref(),
            got.id.as_deref()
        ),
        (ip("192.0.2.0"), Some(24), Some("bob"), Some("s-1"))
    );
    // The first matching failregex decides, in the filter's order.
    let f = one("^a <HOST>\n  ^a <HOST>$", "");
    assert_eq!(f.matcher().feed(b"a 192.0.2.50").unwrap().regex_index, 0);
}

#[test]
fn journal_lines_have_no_timestamp_to_cut() {
    let files = MemorySource::new().with(
        "j.conf",
        "[Definition]\nfailregex = ^2024-03-05 10:00:00 bad <HOST>$\n",
    );
    let spec = FilterSpec::named("j").with_option("logtype", "journal");
    let f = load_filter(&spec, &files).unwrap();
    assert_eq!(f.logtype(), "journal");
    assert_eq!(
        run(&f, &["2024-03-05 10:00:00 bad 192.0.2.60"]),
        [(1, ip("192.0.2.60"))]
    );
    let file_log = load_filter(&FilterSpec::named("j"), &files).unwrap();
    assert_eq!(
        run(&file_log, &["2024-03-05 10:00:00 bad 192.0.2.60"]),
        [],
        "a file line's date is cut out"
    );
}

#[test]
fn connection_ids_expire_after_five_minutes_when_the_time_is_given() {
    let f = demo("demo-sshd");
    let mut m = f.matcher();
    let hello = b"Mar  5 10:00:00 web1 sshd[400]: Connection from 192.0.2.70 port 5000 on 198.51.100.1 port 22";
    let locked = b"Mar  5 10:10:00 web1 sshd[400]: User root not allowed because account is locked";
    assert!(m.feed_at(hello, 1_000).is_none());
    assert!(
        m.feed_at(locked, 1_000 + 600).is_none(),
        "the address of a long-gone connection is not reused"
    );
    let mut m = f.matcher();
    assert!(m.feed_at(hello, 1_000).is_none());
    assert_eq!(
        m.feed_at(locked, 1_000 + 60).map(|x| x.host),
        Some(ip("192.0.2.70"))
    );
}

#[test]
fn lines_that_are_too_long_or_not_utf8_never_panic() {
    let f = demo("demo-sshd");
    let mut m = f.matcher();
    let long = format!(
        "Mar  5 10:00:00 web1 sshd[1]: Invalid user {} from 192.0.2.80 port 1",
        "a".repeat(20_000)
    );
    assert!(m.feed(long.as_bytes()).is_none());
    let mut bytes =
        b"Mar  5 10:00:00 web1 sshd[1]: Invalid user \xff\xfe from 192.0.2.81 port 1".to_vec();
    assert_eq!(
        m.feed(&bytes).map(|x| x.host),
        Some(ip("192.0.2.81")),
        "invalid UTF-8 is replaced, as fail2ban does"
    );
    bytes.extend_from_slice(b"\r\n");
    assert!(m.feed(&bytes).is_some(), "line endings are stripped");
}
