//! Clients write parts of log lines (user names, URLs, what follows `ssh2: `). Whatever
//! they write, a failure names the address the daemon wrote, or no one: never an address
//! taken from their text. These properties feed hostile lines through filters written in
//! the styles fail2ban's filters use (anchored at both ends; anchored at the start only).
//! Debian's own `sshd.conf` is checked the same way by an ignored test (it is GPL and not
//! copied here): `cargo test -p palisade-f2b --test hostile -- --ignored`.

use std::net::IpAddr;
use std::sync::OnceLock;

use palisade_f2b::{load_filter, DirSource, Filter, FilterSpec, MemorySource};
use proptest::prelude::*;

const SSHD_PREFIX: &str =
    r"prefregex = ^<F-MLFID>\s*\S+ sshd\[\d+\]:</F-MLFID> <F-CONTENT>.+</F-CONTENT>$";

fn filter(name: &str, definition: &str) -> Filter {
    let text = format!("[Definition]\n{definition}\ndatepattern = {{^LN-BEG}}\n");
    load_filter(
        &FilterSpec::named(name),
        &MemorySource::new().with(&format!("{name}.conf"), &text),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// User names may contain anything; what follows the address is sshd's own (a key).
fn any_user_filter() -> Filter {
    static F: OnceLock<Filter> = OnceLock::new();
    F.get_or_init(|| filter("users", &format!("{SSHD_PREFIX}\nfailregex = ^Failed \\S+ for (?:invalid user )?<F-USER>.*</F-USER> from <HOST> port \\d+ ssh2(?:: [A-Z][A-Z0-9-]* \\S+)?$\n            ^Invalid user <F-USER>.*</F-USER> from <HOST> port \\d+$")))
    .clone()
}

/// User names have no spaces; anything may follow `ssh2: `.
fn any_suffix_filter() -> Filter {
    static F: OnceLock<Filter> = OnceLock::new();
    F.get_or_init(|| filter("suffixes", &format!("{SSHD_PREFIX}\nfailregex = ^Failed \\S+ for (?:invalid user )?<F-USER>\\S+</F-USER> from <HOST> port \\d+ ssh2(?:: .*)?$")))
    .clone()
}

/// Anchored at the start only, reading the first ` from `, like Debian's sshd.conf.
fn start_anchored_filter() -> Filter {
    static F: OnceLock<Filter> = OnceLock::new();
    F.get_or_init(|| filter("start", &format!("{SSHD_PREFIX}\nfailregex = ^Failed \\S+ for (?:invalid user )?<F-USER>\\S+|.*?</F-USER> from <HOST>(?: port \\d+)?(?: ssh\\d*)?")))
    .clone()
}

/// Apache's error log: the client comes first, the request and user name after.
fn web_filter() -> Filter {
    static F: OnceLock<Filter> = OnceLock::new();
    F.get_or_init(|| filter("web", r#"failregex = ^\[\] \[(?:[^:\]]+:)?error\] (?:\[pid \d+\] )?\[client <HOST>:\d+\] (?:AH01617: )?user <F-USER>.*</F-USER>: authentication failure for "\S*": Password Mismatch$
            ^\[\] \[(?:[^:\]]+:)?error\] (?:\[pid \d+\] )?\[client <HOST>:\d+\] (?:AH01618: )?user <F-USER>.*</F-USER> not found: \S*$"#))
    .clone()
}

/// Text a client may choose: pieces that imitate sshd's and Apache's own, and noise.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(" from 6.6.6.6 port 22 ssh2".to_string()),
        Just(" from 6.6.6.6".to_string()),
        Just("from 2001:db8::66 port 5".to_string()),
        Just(": ".to_string()),
        Just(" port 22".to_string()),
        Just(" ssh2".to_string()),
        Just(": RSA SHA256:x".to_string()),
        Just(" [preauth]".to_string()),
        Just(" invalid user ".to_string()),
        Just("[client 6.6.6.6:80] ".to_string()),
        Just("\" not found: /x".to_string()),
        "[a-zA-Z0-9 :./\\[\\]()\"'=-]{0,10}",
        any::<char>()
            .prop_filter("one line", |c| *c != '\n' && *c != '\r')
            .prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

/// The client: never one of the addresses the hostile text uses.
fn client() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (1u8..=254).prop_map(|d| IpAddr::from([203, 0, 113, d])),
        (1u16..=0xfffe).prop_map(|d| IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, d])),
    ]
}

fn sshd_line(user: &str, client: IpAddr, port: u16, suffix: &str) -> String {
    format!("Mar  5 10:00:00 web1 sshd[4242]: Failed password for invalid user {user} from {client} port {port} ssh2{suffix}")
}

fn accused(f: &Filter, line: &str) -> Option<IpAddr> {
    f.matcher().feed(line.as_bytes()).map(|x| x.host)
}

proptest! {
    #[test]
    fn any_user_name_the_client_is_accused(user in hostile_text(), ip in client(), port in 1u16.., key in prop::bool::ANY) {
        let suffix = if key { ": RSA SHA256:abcDEF" } else { "" };
        let f = any_user_filter();
        prop_assert_eq!(accused(&f, &sshd_line(&user, ip, port, suffix)), Some(ip));
        let invalid = format!("Mar  5 10:00:00 web1 sshd[1]: Invalid user {user} from {ip} port {port}");
        prop_assert_eq!(accused(&f, &invalid), Some(ip));
    }

    #[test]
    fn anything_after_ssh2_the_client_is_accused(user in "[a-z0-9_.-]{1,12}", ip in client(), port in 1u16.., tail in hostile_text()) {
        let f = any_suffix_filter();
        prop_assert_eq!(accused(&f, &sshd_line(&user, ip, port, &format!(": {tail}"))), Some(ip));
    }

    #[test]
    fn start_anchored_filter_accuses_the_client_or_no_one(user in hostile_text(), ip in client(), port in 1u16.., tail in prop::option::of(hostile_text())) {
        let suffix = tail.map(|t| format!(": {t}")).unwrap_or_default();
        let line = sshd_line(&user, ip, port, &suffix);
        let got = accused(&start_anchored_filter(), &line);
        prop_assert!(got.is_none() || got == Some(ip), "{line} accused {got:?}");
    }

    #[test]
    fn hostile_user_names_and_urls_never_move_the_web_client(user in hostile_text(), url in hostile_text(), ip in client(), port in 1u16..) {
        let f = web_filter();
        let url: String = url.chars().filter(|c| !c.is_whitespace()).collect();
        let client = match ip { IpAddr::V6(v6) => format!("{v6}"), v4 => v4.to_string() };
        let mismatch = format!("[Tue Mar 05 14:39:21.123456 2024] [auth_basic:error] [pid 7] [client {client}:{port}] AH01617: user {user}: authentication failure for \"{url}\": Password Mismatch");
        prop_assert_eq!(accused(&f, &mismatch), Some(ip));
        let unknown = format!("[Tue Mar 05 14:39:21 2024] [error] [client {client}:{port}] user {user} not found: {url}");
        prop_assert_eq!(accused(&f, &unknown), Some(ip));
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..160), 1..8)) {
        for f in [any_user_filter(), start_anchored_filter(), web_filter()] {
            let mut m = f.matcher();
            for line in &lines {
                let _ = m.feed(line);
            }
        }
    }
}

#[test]
fn well_formed_lines_are_found_by_the_start_anchored_filter() {
    let f = start_anchored_filter();
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    assert_eq!(accused(&f, &sshd_line("bob", ip, 22, "")), Some(ip));
    assert_eq!(
        accused(&f, &sshd_line("bob", ip, 22, ": RSA SHA256:abc")),
        Some(ip)
    );
}

/// Debian's `/etc/fail2ban/filter.d/sshd.conf`, in every mode, under the same hostile
/// lines: it must accuse the client or no one. Needs the `fail2ban` package.
#[test]
#[ignore = "needs Debian's fail2ban package (/etc/fail2ban/filter.d); run with --ignored"]
fn debian_sshd_filter_accuses_the_client_or_no_one() {
    let source = DirSource::new(DirSource::FAIL2BAN_FILTER_DIR);
    let modes = ["normal", "ddos", "extra", "aggressive"];
    let filters: Vec<Filter> = modes
        .iter()
        .map(|m| {
            load_filter(&FilterSpec::named("sshd").with_option("mode", m), &source)
                .unwrap_or_else(|e| panic!("Debian's sshd filter (apt-get install fail2ban): {e}"))
        })
        .collect();
    // The brief's example: the same text is a hostile suffix (client 1.2.3.4) or a
    // hostile user name (client 10.10.1.2); no reading can be trusted.
    let line = "Mar  5 10:00:00 web1 sshd[4242]: Failed password for invalid user x from 1.2.3.4 port 22 ssh2: from 10.10.1.2 port 5 ssh2";
    for f in &filters {
        assert_eq!(accused(f, line), None, "{line}");
        let plain = "Mar  5 10:00:00 web1 sshd[4242]: Failed password for invalid user x from 1.2.3.4 port 22 ssh2";
        assert_eq!(accused(f, plain), Some("1.2.3.4".parse().unwrap()));
    }
    let config = proptest::test_runner::Config::with_cases(512);
    proptest!(config, |(user in hostile_text(), ip in client(), port in 1u16.., tail in prop::option::of(hostile_text()))| {
        let suffix = tail.map(|t| format!(": {t}")).unwrap_or_default();
        let line = sshd_line(&user, ip, port, &suffix);
        for f in &filters {
            let got = accused(f, &line);
            prop_assert!(got.is_none() || got == Some(ip), "{line} accused {got:?}");
        }
    });
}
