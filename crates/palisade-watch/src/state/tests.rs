use super::*;
use crate::config::parse_watch_config;
use crate::tracker::OFFENDER_MEMORY;
use palisade_core::policy::Services;
use proptest::prelude::*;
use std::net::IpAddr;

fn tracker_with_bans(hosts: &[(u32, bool, u64)]) -> Tracker {
    let cfg = parse_watch_config(
        "t.toml",
        "[jails.sshd]\nmaxretry = 1\nbantime_factor = 3\nban_v6_prefix = 64\n[jails.nginx-http-auth]\nmaxretry = 1\n",
        &Services::new(""),
        &crate::config::tests_support::no_filter_files,
    )
    .unwrap();
    let mut t = Tracker::new();
    for &(n, v6, now) in hosts {
        let host: IpAddr = if v6 {
            IpAddr::V6(std::net::Ipv6Addr::from(
                0x2001_0db8_u128 << 96 | u128::from(n) << 64,
            ))
        } else {
            IpAddr::V4(std::net::Ipv4Addr::from(0xc633_6400 | (n & 0xff)))
        };
        t.observe(&cfg, (n % 2) as usize, host, now);
    }
    t
}

#[test]
fn save_and_load_keep_bans_and_offenders() {
    let t = tracker_with_bans(&[(1, false, 100), (2, true, 200), (3, false, 300)]);
    let text = t.save();
    assert!(text.contains("\"target\": \"2001:db8:0:2::/64\""), "{text}");
    let back = Tracker::load(&text, 400).unwrap();
    assert_eq!(back.active_bans(400), t.active_bans(400));
    assert_eq!(back.save(), text);
    // After the bans ended, only the offender records come back.
    let later = Tracker::load(&text, 100_000).unwrap();
    assert!(later.active_bans(100_000).is_empty());
    assert!(later.save().contains("\"last_until\""));
    let much_later = Tracker::load(&text, 100_000 + OFFENDER_MEMORY).unwrap();
    assert_eq!(much_later.jails.len(), 0);
}

#[test]
fn a_reloaded_offender_gets_the_longer_ban() {
    let cfg = parse_watch_config(
        "t.toml",
        "[jails.sshd]\nmaxretry = 1\nbantime = 100\nbantime_factor = 3\n",
        &Services::new(""),
        &crate::config::tests_support::no_filter_files,
    )
    .unwrap();
    let mut t = Tracker::new();
    let h: IpAddr = "203.0.113.5".parse().unwrap();
    t.observe(&cfg, 0, h, 0).unwrap();
    let mut back = Tracker::load(&t.save(), 500).unwrap();
    let ban = back.observe(&cfg, 0, h, 500).unwrap();
    assert_eq!((ban.count, ban.until - ban.since), (2, 300));
}

#[test]
fn malformed_state_is_an_error() {
    for text in [
        "",
        "{}",
        "[]",
        "{\"version\": 2, \"bans\": [], \"offenders\": []}",
        "{\"version\": 1, \"bans\": [{\"jail\": \"sshd\", \"target\": \"1.2.3.4/8\", \"since\": 1, \"until\": 2, \"count\": 1, \"reason\": \"\"}], \"offenders\": []}",
        "{\"version\": 1, \"bans\": [{\"jail\": \"\", \"target\": \"1.2.3.4\", \"since\": 1, \"until\": 2, \"count\": 1, \"reason\": \"\"}], \"offenders\": []}",
        "{\"version\": 1, \"bans\": [{\"jail\": \"sshd\", \"target\": \"1.2.3.4\", \"since\": 3, \"until\": 2, \"count\": 1, \"reason\": \"\"}], \"offenders\": []}",
        "{\"version\": 1, \"bans\": [{\"jail\": \"sshd\", \"target\": \"1.2.3.4\", \"since\": 1, \"until\": 2, \"count\": -1, \"reason\": \"\"}], \"offenders\": []}",
        "{\"version\": 1, \"bans\": [], \"offenders\": [], \"extra\": 1}",
    ] {
        assert!(Tracker::load(text, 0).is_err(), "{text}");
    }
    let e = Tracker::load("{\"version\": 2, \"bans\": [], \"offenders\": []}", 0).unwrap_err();
    assert!(e.contains("version 2"), "{e}");
}

proptest! {
    #[test]
    fn round_trip(hosts in proptest::collection::vec((0u32..40, any::<bool>(), 0u64..10_000), 0..30)) {
        let t = tracker_with_bans(&hosts);
        let text = t.save();
        let back = Tracker::load(&text, 0).unwrap();
        prop_assert_eq!(back.save(), text);
        prop_assert_eq!(back.active_bans(0), t.active_bans(0));
    }

    #[test]
    fn garbage_never_panics(text in "\\PC{0,200}") {
        let _ = Tracker::load(&text, 0);
    }

    #[test]
    fn mangled_state_never_panics(cut in 0usize..400, byte in any::<u8>()) {
        let text = tracker_with_bans(&[(1, false, 1), (2, true, 2)]).save();
        let mut bytes = text.into_bytes();
        let at = cut % bytes.len();
        bytes[at] = byte;
        if let Ok(s) = String::from_utf8(bytes) {
            let _ = Tracker::load(&s, 0);
        }
    }
}
