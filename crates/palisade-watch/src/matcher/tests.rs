//! Each built-in jail against lines written for these tests (in the formats the daemons
//! write today), attacker-crafted lines, and arbitrary bytes.

use super::*;
use crate::builtin::builtin;
use proptest::prelude::*;

/// The built-in jail's matcher, compiled once for all tests.
fn jail(name: &str) -> &'static Matcher {
    static JAILS: std::sync::OnceLock<Vec<(&'static str, Matcher)>> = std::sync::OnceLock::new();
    let all = JAILS.get_or_init(|| {
        crate::builtin_names()
            .iter()
            .map(|n| {
                (
                    *n,
                    Matcher::new(&builtin(n).unwrap().patterns, &[]).unwrap(),
                )
            })
            .collect()
    });
    &all.iter().find(|(n, _)| *n == name).unwrap().1
}

/// Every line yields exactly the expected address (or none), by the fast split search
/// and by the capture group alike.
fn check(name: &str, cases: &[(&str, Option<&str>)]) {
    let m = jail(name);
    for (line, want) in cases {
        let want: Option<IpAddr> = want.map(|w| w.parse().unwrap());
        assert_eq!(m.find_host(line.as_bytes()), want, "{name}: {line}");
        for (fast, slow) in m.both_ways(line.as_bytes()) {
            assert_eq!(fast, slow, "{name}: split and captures disagree on {line}");
        }
    }
}

#[test]
fn sshd() {
    let p = "Jun  2 11:04:17 gw sshd[4410]:";
    let lines = [
        (format!("{p} Failed password for root from 198.51.100.23 port 40122 ssh2"), Some("198.51.100.23")),
        (format!("{p} Failed password for invalid user oracle from 198.51.100.24 port 40188 ssh2"), Some("198.51.100.24")),
        ("Invalid user test from 2001:db8:4::17 port 52014".into(), Some("2001:db8:4::17")),
        ("sshd[811]: Invalid user ubnt from 203.0.113.5 port 3321".into(), Some("203.0.113.5")),
        (format!("{p} Invalid user  from 203.0.113.6 port 3322"), Some("203.0.113.6")),
        ("2024-06-02T11:04:17.512938+02:00 gw sshd[4410]: Connection closed by authenticating user admin 192.0.2.200 port 60124 [preauth]".into(), Some("192.0.2.200")),
        (format!("{p} Disconnected from authenticating user pi 192.0.2.201 port 60130 [preauth]"), Some("192.0.2.201")),
        (format!("{p} error: maximum authentication attempts exceeded for root from 203.0.113.90 port 48812 ssh2 [preauth]"), Some("203.0.113.90")),
        (format!("{p} error: maximum authentication attempts exceeded for invalid user support from 2001:db8::5a port 48813 ssh2 [preauth]"), Some("2001:db8::5a")),
        (format!("{p} Did not receive identification string from 198.51.100.77 port 61000"), Some("198.51.100.77")),
        (format!("{p} banner exchange: Connection from 198.51.100.78 port 55120: invalid format"), Some("198.51.100.78")),
        (format!("{p} Failed password for root from ::ffff:203.0.113.44 port 2200 ssh2"), Some("203.0.113.44")),
        (format!("{p} Failed publickey for invalid user git from 192.0.2.150 port 41000 ssh2: ED25519 SHA256:Hx2m0k7yTq9ZVd3pG1fXcL8bN5aRwUeJtY6sKoQiMvA"), Some("192.0.2.150")),
        (format!("{p} Failed keyboard-interactive/pam for invalid user ftpuser from 2001:db8::beef port 50000 ssh2"), Some("2001:db8::beef")),
        ("Mar  9 08:00:01 host sshd-session[9012]: Failed password for root from 192.0.2.9 port 1022 ssh2".into(), Some("192.0.2.9")),
        (format!("{p} User root from 198.51.100.5 not allowed because not listed in AllowUsers"), Some("198.51.100.5")),
        (format!("{p} Received disconnect from 198.51.100.6 port 4000:11: Bye Bye [preauth]"), Some("198.51.100.6")),
        (format!("{p} Received disconnect from 198.51.100.7 port 4001:3: com.jcraft.jsch.JSchException: Auth fail [preauth]"), Some("198.51.100.7")),
        ("<38>1 2024-06-02T11:04:17.512938+02:00 gw sshd 4410 - - Failed password for root from 192.0.2.33 port 1000 ssh2".into(), Some("192.0.2.33")),
        ("Failed password for admin from 192.0.2.34 port 1001 ssh2\n".into(), Some("192.0.2.34")),
        // Injection: the client chose the user name (or a hostbased client user).
        (format!("{p} Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 192.0.2.61 port 4022 ssh2"), Some("192.0.2.61")),
        (format!("{p} Invalid user from 6.6.6.6 port 22 from 192.0.2.62 port 4023"), Some("192.0.2.62")),
        (format!("{p} Connection closed by authenticating user root 6.6.6.6 port 22 192.0.2.63 port 4024 [preauth]"), Some("192.0.2.63")),
        (format!("{p} Failed password for invalid user a from 6.6.6.6 port 1 ssh2: RSA x from 192.0.2.64 port 4025 ssh2"), Some("192.0.2.64")),
        (format!("{p} Failed hostbased for root from 192.0.2.65 port 4026 ssh2: ED25519 SHA256:abc, client user \"x from 6.6.6.6 port 1 ssh2\", client host \"h\""), Some("192.0.2.65")),
        (format!("{p} Invalid user Failed password for root from 6.6.6.6 port 1 ssh2 from 192.0.2.67 port 4027"), Some("192.0.2.67")),
        // Not failures, not sshd, not addresses.
        (format!("{p} Accepted password for deploy from 192.0.2.10 port 5000 ssh2"), None),
        (format!("{p} Accepted publickey for deploy from 192.0.2.10 port 5000 ssh2: ED25519 SHA256:Hx2m0k7yTq9ZVd3pG1fXcL8bN5aRwUeJtY6sKoQiMvA"), None),
        (format!("{p} Failed publickey for deploy from 192.0.2.10 port 5000 ssh2: RSA SHA256:Qm9vZ0l1c3RhcmFuZG9ta2V5ZmluZ2VycHJpbnQ"), None),
        (format!("{p} pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.11  user=root"), None),
        (format!("{p} Connection closed by 192.0.2.12 port 5001"), None),
        (format!("{p} Received disconnect from 192.0.2.13 port 5002:11: disconnected by user"), None),
        (format!("{p} Disconnected from user deploy 192.0.2.14 port 5003"), None),
        (format!("{p} pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"), None),
        (format!("{p} Failed password for root from server.example.com port 22 ssh2"), None),
        (format!("{p} Failed password for root from 1.2.3.4.example.com port 22 ssh2"), None),
        (format!("{p} Failed password for root from 192.0.2.300 port 22 ssh2"), None),
        (format!("{p} Failed password for root from 0.0.0.0 port 22 ssh2"), None),
        ("Jun  2 11:04:17 gw myapp[77]: Failed password for root from 192.0.2.15 port 22 ssh2".into(), None),
        ("Jun  2 11:04:17 gw CRON[77]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)".into(), None),
        (format!("{p} Address 192.0.2.16 maps to x.example, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!"), None),
        (format!("{p} Server listening on :: port 22."), None),
        (String::new(), None),
    ];
    let cases: Vec<(&str, Option<&str>)> = lines.iter().map(|(l, h)| (l.as_str(), *h)).collect();
    check("sshd", &cases);
}

#[test]
fn nginx_http_auth() {
    let p = "2024/05/18 09:14:03 [error] 1911#1911: *4402";
    let tail = r#"server: intranet.example.org, request: "GET /admin/ HTTP/1.1", host: "intranet.example.org""#;
    let lines = [
        (format!(r#"{p} user "admin" was not found in "/etc/nginx/.htpasswd", client: 203.0.113.18, {tail}"#), Some("203.0.113.18")),
        (format!(r#"{p} user "bob smith": password mismatch, client: 2001:db8:1::42, {tail}, referrer: "https://intranet.example.org/""#), Some("2001:db8:1::42")),
        (r#"2024/05/18 09:14:03 [info] 1911#1911: *4403 no user/password was provided for basic authentication, client: 192.0.2.44, server: , request: "GET / HTTP/2.0", host: "intranet.example.org""#.to_string(), Some("192.0.2.44")),
        (format!(r#"Jun  1 10:00:00 web nginx[983]: {p} user "x" was not found in "/etc/nginx/htpasswd", client: 198.51.100.3, {tail}"#), Some("198.51.100.3")),
        // Injection: the user name carries a whole fake tail.
        (format!(r#"{p} user "a", client: 6.6.6.6, {tail}": password mismatch, client: 192.0.2.45, {tail}"#), Some("192.0.2.45")),
        (format!(r#"{p} user "a": password mismatch, client: 192.0.2.46, server: x, request: "GET /", client: 6.6.6.6, server: x, request: "GET / HTTP/1.1", host: "y""#), None),
        (format!(r#"{p} open() "/var/www/html/favicon.ico" failed (2: No such file or directory), client: 192.0.2.5, {tail}"#), None),
        (format!(r#"{p} limiting requests, excess: 20.340 by zone "perip", client: 198.51.100.200, {tail}"#), None),
        (r#"192.0.2.7 - admin [18/May/2024:09:14:03 +0200] "GET /admin/ HTTP/1.1" 401 179 "-" "curl/8.5.0""#.into(), None),
    ];
    let cases: Vec<(&str, Option<&str>)> = lines.iter().map(|(l, h)| (l.as_str(), *h)).collect();
    check("nginx-http-auth", &cases);
}

#[test]
fn nginx_limit_req() {
    let tail =
        r#"server: shop.example.com, request: "POST /login HTTP/1.1", host: "shop.example.com""#;
    let lines = [
        (
            format!(
                r#"2024/05/18 09:20:00 [error] 1911#1911: *5521 limiting requests, excess: 20.340 by zone "perip", client: 198.51.100.200, {tail}"#
            ),
            Some("198.51.100.200"),
        ),
        (
            format!(
                r#"2024/05/18 09:20:01 [warn] 1911#1911: *5522 limiting requests, excess: 5.000 by zone "login", client: 2001:db8::c8, {tail}"#
            ),
            Some("2001:db8::c8"),
        ),
        (
            format!(
                r#"2024/05/18 09:20:02 [error] 1911#1911: *5523 limiting requests, dry run, excess: 20.340 by zone "perip", client: 198.51.100.201, {tail}"#
            ),
            None,
        ),
        (
            format!(
                r#"2024/05/18 09:20:03 [warn] 1911#1911: *5524 delaying request, excess: 0.500, by zone "perip", client: 198.51.100.202, {tail}"#
            ),
            None,
        ),
        (
            format!(
                r#"2024/05/18 09:20:04 [error] 1911#1911: *5525 limiting connections by zone "addr", client: 198.51.100.203, {tail}"#
            ),
            None,
        ),
    ];
    let cases: Vec<(&str, Option<&str>)> = lines.iter().map(|(l, h)| (l.as_str(), *h)).collect();
    check("nginx-limit-req", &cases);
}

#[test]
fn apache_auth() {
    let p = "[Sat May 18 10:02:11.482913 2024]";
    let cases = [
        (format!(r#"{p} [auth_basic:error] [pid 2231:tid 140330] [client 203.0.113.71:51234] AH01617: user alice: authentication failure for "/private": Password Mismatch"#), Some("203.0.113.71")),
        (format!("{p} [auth_basic:error] [pid 2231:tid 140331] [client 2001:db8::71:51236] AH01618: user mallory not found: /private"), Some("2001:db8::71")),
        (format!("{p} [auth_basic:error] [pid 2231:tid 140332] [client 198.51.100.8:4400] AH01614: client used wrong authentication scheme: /admin, referer: https://example.org/"), Some("198.51.100.8")),
        (format!("{p} [authz_core:error] [pid 2232:tid 140333] [client 198.51.100.9:4401] AH01797: client denied by server configuration: /var/www/html/.git/config"), Some("198.51.100.9")),
        (format!("{p} [auth_basic:error] [pid 2231:tid 140334] [client 192.0.2.80:5555] AH01618: user x [client 6.6.6.6:1] not found: /"), Some("192.0.2.80")),
        (format!("{p} [auth_basic:error] [pid 2231:tid 140335] [client 2001:db8::72:4401] AH01618: user bob not found: /private"), Some("2001:db8::72")),
        (format!("{p} [core:notice] [pid 2231] AH00094: Command line: '/usr/sbin/apache2'"), None),
        (format!("{p} [php:error] [pid 2233] [client 192.0.2.82:5556] PHP Warning:  Undefined variable $x in /var/www/html/index.php on line 3"), None),
        (format!("{p} [ssl:info] [pid 2234] [client 192.0.2.83:5557] AH01964: Connection to child 1 established (server example.org:443)"), None),
    ];
    let cases: Vec<(&str, Option<&str>)> = cases.iter().map(|(l, h)| (l.as_str(), *h)).collect();
    check("apache-auth", &cases);
}

#[test]
fn apache_badbots() {
    let d = "[18/May/2024:10:15:02 +0200]";
    let cases = [
        (
            format!(
                r#"198.51.100.33 - - {d} "GET /contact HTTP/1.1" 200 5120 "-" "EmailCollector/1.0""#
            ),
            Some("198.51.100.33"),
        ),
        (
            format!(
                r#"www.example.org 198.51.100.34 - - {d} "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)""#
            ),
            Some("198.51.100.34"),
        ),
        (
            format!(
                r#"2001:db8::35 - - {d} "GET /?id=1%27 HTTP/1.1" 500 100 "-" "sqlmap/1.7.2#stable (https://sqlmap.org)""#
            ),
            Some("2001:db8::35"),
        ),
        (
            format!(
                r#"192.0.2.36 - - {d} "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0 \"compatible\" zgrab/0.x""#
            ),
            Some("192.0.2.36"),
        ),
        (
            format!(
                r#"192.0.2.37 - - {d} "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0""#
            ),
            None,
        ),
        (
            format!(
                r#"192.0.2.38 - - {d} "GET /sqlmap HTTP/1.1" 404 0 "https://example.org/?q=Nikto" "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0""#
            ),
            None,
        ),
        (
            format!(
                r#"192.0.2.39 - - {d} "GET /\" \"EmailCollector\" HTTP/1.1" 404 0 "-" "curl/8.5.0""#
            ),
            None,
        ),
        (
            format!(r#"webhost.example - - {d} "GET / HTTP/1.1" 200 1 "-" "TrackBack/1.02""#),
            None,
        ),
    ];
    let cases: Vec<(&str, Option<&str>)> = cases.iter().map(|(l, h)| (l.as_str(), *h)).collect();
    check("apache-badbots", &cases);
}

#[test]
fn postfix_sasl() {
    let cases = [
        ("May 18 10:30:44 mx postfix/smtps/smtpd[8812]: warning: unknown[203.0.113.150]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", Some("203.0.113.150")),
        ("warning: mail-relay.example.net[198.51.100.151]: SASL PLAIN authentication failed: ", Some("198.51.100.151")),
        ("May 18 10:30:45 mx postfix/submission/smtpd[8813]: warning: unknown[2001:db8::152]: SASL CRAM-MD5 authentication failed: authentication failure", Some("2001:db8::152")),
        ("May 18 10:30:46 mx postfix/smtpd[8814]: connect from unknown[203.0.113.150]", None),
        ("May 18 10:30:47 mx postfix/smtpd[8814]: lost connection after AUTH from unknown[203.0.113.150]", None),
        ("May 18 10:30:48 mx postfix/smtpd[8814]: warning: hostname 1-2-3-4.example does not resolve to address 203.0.113.153", None),
        ("May 18 10:30:49 mx dovecot[99]: warning: unknown[203.0.113.154]: SASL LOGIN authentication failed: x", None),
    ];
    check("postfix-sasl", &cases);
}

#[test]
fn every_builtin_compiles_with_a_prefilter_and_split() {
    for name in crate::builtin_names() {
        let m = jail(name);
        assert!(m.ungated.is_empty(), "{name}: a pattern runs on every line");
        assert!(m.split_count() > 0, "{name}");
    }
}

#[test]
fn long_lines_and_invalid_utf8_are_skipped() {
    let m = jail("sshd");
    let good = "Failed password for root from 192.0.2.1 port 22 ssh2";
    assert!(m.find_host(good.as_bytes()).is_some());
    let mut long = good.as_bytes().to_vec();
    long.extend(std::iter::repeat_n(b' ', MAX_LINE));
    assert_eq!(m.find_host(&long), None);
    let mut bad = b"Failed password for \xff\xfe from 192.0.2.1 port 22 ssh2".to_vec();
    assert_eq!(m.find_host(&bad), None);
    bad[20] = b'x';
    bad[21] = b'y';
    assert!(m.find_host(&bad).is_some());
}

#[test]
fn custom_patterns_and_ignore() {
    let m = Matcher::new(
        &[
            r"^login failed for \S+ from <HOST>$".into(),
            r"(?i)^BAD TOKEN \[(?:<HOST>|host <HOST>)\]".into(),
        ],
        &[r"from 192\.0\.2\.".into()],
    )
    .unwrap();
    assert_eq!(m.patterns().len(), 2);
    let host = |s: &str| m.find_host(s.as_bytes());
    assert_eq!(
        host("login failed for a from 198.51.100.1"),
        Some("198.51.100.1".parse().unwrap())
    );
    assert_eq!(host("login failed for a from 192.0.2.1"), None, "ignored");
    assert_eq!(
        host("bad token [198.51.100.2]"),
        Some("198.51.100.2".parse().unwrap())
    );
    assert_eq!(
        host("Bad Token [host 2001:db8::3]"),
        Some("2001:db8::3".parse().unwrap())
    );
    assert_eq!(host("login failed for a from 198.51.100.1 again"), None);
}

#[test]
fn pattern_errors_name_the_pattern() {
    let e = Matcher::new(&["from <HOST>".into(), "from (<HOST>".into()], &[]).unwrap_err();
    assert!(e.starts_with("pattern 2: "), "{e}");
    assert!(e.contains("unclosed group"), "{e}");
    let e = Matcher::new(&["failed login".into()], &[]).unwrap_err();
    assert!(e.starts_with("pattern 1: has no <HOST>"), "{e}");
    let e = Matcher::new(&["from <HOST>".into()], &["[".into()]).unwrap_err();
    assert!(e.starts_with("ignore pattern 1: "), "{e}");
}

#[test]
fn required_literals_pick_the_most_selective_part() {
    let lits = |p: &str| {
        required_literals(&expand_host(p)).map(|v| {
            v.into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(
        lits(r"^(?:\S+ )?Failed password for \S+ from <HOST>"),
        Some(vec!["Failed password for ".into()])
    );
    assert_eq!(
        lits(r"x (?:alpha|beta) y"),
        Some(vec!["alpha".into(), "beta".into()])
    );
    assert_eq!(lits(r"(?i)failed from <HOST>"), None);
    assert_eq!(lits(r"ab|cd <HOST>"), None);
    assert_eq!(
        lits(r"(?:Failed)? from <HOST>"),
        Some(vec![" from ".into()])
    );
}

#[test]
fn split_needs_a_top_level_host() {
    assert!(Split::new(r"(?-u)^from <HOST> port").is_some());
    assert!(Split::new(r"^from (?:<HOST>) port").is_none());
    assert!(Split::new(r"^from (?:a|<HOST>)").is_none());
    assert!(Split::new(r"^a(?i)b <HOST> c").is_none());
    assert!(Split::new(r"^a(?i:b) <HOST> c").is_some());
    assert_eq!(leading_flags("(?-u)x"), 5);
    assert_eq!(leading_flags("(?:x)"), 0);
}

/// Fragments real lines are made of, so generated lines come close to matching.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Failed password for ".to_string()),
        Just("invalid user ".to_string()),
        Just("Invalid user ".to_string()),
        Just(" from ".to_string()),
        Just(" port 22".to_string()),
        Just(" ssh2".to_string()),
        Just(": ".to_string()),
        Just(" [preauth]".to_string()),
        Just("authenticating user ".to_string()),
        Just("Connection closed by ".to_string()),
        Just(", client: ".to_string()),
        Just(r#", server: x, request: "GET / HTTP/1.1""#.to_string()),
        Just("[client ".to_string()),
        Just("]".to_string()),
        Just("::ffff:".to_string()),
        Just("1.2.3.4".to_string()),
        Just("2001:db8::1".to_string()),
        Just(":".to_string()),
        Just(".".to_string()),
        "[0-9a-f:. ]{0,12}",
        "\\PC{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn split_search_agrees_with_captures(parts in proptest::collection::vec(fragment(), 0..14)) {
        let tail = parts.concat();
        for name in crate::builtin_names() {
            let m = jail(name);
            for line in [
                tail.clone(),
                format!("Jun  2 11:04:17 gw sshd[4410]: {tail}"),
                format!("2024/05/18 09:14:03 [error] 1#1: *2 user \"{tail}"),
                format!("[Sat May 18 10:02:11 2024] [auth_basic:error] [pid 1] [client {tail}"),
            ] {
                for (fast, slow) in m.both_ways(line.as_bytes()) {
                    prop_assert_eq!(fast, slow, "{}: {:?}", name, line);
                }
            }
        }
    }

    #[test]
    fn never_panics_on_bytes(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        for name in crate::builtin_names() {
            let _ = jail(name).find_host(&line);
        }
    }

}
