//! The matching engine: custom patterns, errors, the prefilter's literals, the split search
//! against the capture group, the one-reading check, and arbitrary bytes. The built-in
//! jails' own lines are in `jails::tests`.

use super::split::leading_flags;
use super::*;
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
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
        Some(ip("198.51.100.1"))
    );
    assert_eq!(host("login failed for a from 192.0.2.1"), None, "ignored");
    assert_eq!(host("bad token [198.51.100.2]"), Some(ip("198.51.100.2")));
    assert_eq!(
        host("Bad Token [host 2001:db8::3]"),
        Some(ip("2001:db8::3"))
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
fn rules_without_an_address_are_found_only_where_allowed() {
    let m = Matcher::compile(
        &["^gone: too many$".into(), "^fail from <HOST>$".into()],
        &[],
        true,
    )
    .unwrap();
    assert_eq!(m.find(b"gone: too many"), Some(Found::Hostless { rule: 0 }));
    assert_eq!(
        m.find(b"fail from 192.0.2.1"),
        Some(Found::Host {
            rule: 1,
            host: ip("192.0.2.1")
        })
    );
    assert!(Matcher::compile(&["^gone$".into()], &[], false).is_err());
}

#[test]
fn a_line_read_two_ways_accuses_nobody() {
    // The user name is the client's: `.*`.
    let m = Matcher::new(
        &[r"^Failed for (?:invalid user .*|\S+) from <HOST> port \d+(?:: .*)?$".into()],
        &[],
    )
    .unwrap();
    let find = |s: &str| m.find(s.as_bytes());
    assert_eq!(
        find("Failed for invalid user x from 192.0.2.1 port 1: from 6.6.6.6 port 2"),
        Some(Found::Ambiguous { rule: 0 }),
        "a hostile suffix or a hostile user name: nobody can tell"
    );
    assert_eq!(
        find("Failed for invalid user x from 6.6.6.6 port 1 from 192.0.2.2 port 2"),
        Some(Found::Host {
            rule: 0,
            host: ip("192.0.2.2")
        }),
        "one reading: the user name holds the fake part"
    );
    assert_eq!(
        find("Failed for root from 192.0.2.3 port 1: ruser from 6.6.6.6 port 2"),
        Some(Found::Host {
            rule: 0,
            host: ip("192.0.2.3")
        }),
        "a valid user's name has no spaces"
    );
    assert_eq!(
        find("Failed for invalid user 192.0.2.4 from 192.0.2.4 port 1: from 192.0.2.4 port 1"),
        Some(Found::Host {
            rule: 0,
            host: ip("192.0.2.4")
        }),
        "two readings of the same address are one accusation"
    );
}

#[test]
fn an_ipv6_address_and_a_port_that_could_be_its_last_group_are_ambiguous() {
    let m = Matcher::new(
        &[r"^\[client \[?<HOST>\]?(?::\d{1,5})?\] denied$".into()],
        &[],
    )
    .unwrap();
    assert_eq!(
        m.find_host(b"[client 2001:db8::71:51236] denied"),
        Some(ip("2001:db8::71"))
    );
    assert_eq!(
        m.find_host(b"[client [2001:db8::71]:5123] denied"),
        Some(ip("2001:db8::71"))
    );
    assert_eq!(
        m.find(b"[client 2001:db8::71:5123] denied"),
        Some(Found::Ambiguous { rule: 0 }),
        "2001:db8::71:5123, or 2001:db8::71 on port 5123"
    );
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

#[test]
fn long_lines_and_invalid_utf8_are_skipped() {
    let m = Matcher::new(
        &[r"^Failed password for \S+ from <HOST> port \d+ ssh2$".into()],
        &[],
    )
    .unwrap();
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

/// Every built-in jail's rules in every mode.
pub(crate) fn all_builtin_rules() -> &'static [(String, crate::jail_matcher::Rules)] {
    static ALL: std::sync::OnceLock<Vec<(String, crate::jail_matcher::Rules)>> =
        std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut out = Vec::new();
        for name in crate::builtin_names() {
            for mode in crate::jails::builtin_modes(name).unwrap() {
                let b = crate::jails::builtin(name, mode).unwrap();
                let rules = crate::jail_matcher::Rules::builtin(&b, &[]).unwrap();
                out.push((format!("{name}[{mode}]"), rules));
            }
        }
        out
    })
}

#[test]
fn every_builtin_rule_with_an_address_has_a_prefilter_and_the_split_search() {
    for (name, rules) in all_builtin_rules() {
        let m = rules.matcher();
        assert!(!m.has_ungated(), "{name}: a rule runs on every line");
        assert!(m.split_count() > 0, "{name}");
        assert!(
            m.unsplit().is_empty(),
            "{name}: no one-reading check for {:?}",
            m.unsplit()
        );
    }
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
        Just("rip=".to_string()),
        Just("unknown[".to_string()),
        Just("'@'".to_string()),
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
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn split_search_agrees_with_captures(parts in proptest::collection::vec(fragment(), 0..14)) {
        let tail = parts.concat();
        for (name, rules) in all_builtin_rules() {
            let m = rules.matcher();
            for line in [
                tail.clone(),
                format!("Jun  2 11:04:17 gw sshd[4410]: {tail}"),
                format!("2024/05/18 09:14:03 [error] 1#1: *2 user \"{tail}"),
                format!("[Sat May 18 10:02:11 2024] [auth_basic:error] [pid 1] [client {tail}"),
                format!("May 18 10:30:44 mx postfix/smtpd[8812]: {tail}"),
            ] {
                for (fast, slow) in m.both_ways(line.as_bytes()) {
                    prop_assert_eq!(fast, slow, "{}: {:?}", name, line);
                }
            }
        }
    }

    #[test]
    fn never_panics_on_bytes(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        for (_, rules) in all_builtin_rules() {
            let _ = rules.matcher().find(&line);
        }
    }
}

#[test]
#[ignore]
fn print_literals() {
    for (name, rules) in all_builtin_rules() {
        for p in rules.patterns() {
            let lits = required_literals(&expand_host(p)).map(|v| {
                v.into_iter()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .collect::<Vec<_>>()
            });
            println!("{name}: {lits:?}");
        }
    }
}
