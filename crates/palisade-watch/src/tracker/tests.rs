use super::*;
use crate::allowlist::Allowlist;
use crate::config::parse_watch_config;
use palisade_core::parse_addr_range;
use palisade_core::policy::Services;

fn cfg(text: &str) -> WatchConfig {
    parse_watch_config(
        "t.toml",
        text,
        &Services::new(""),
        &crate::config::tests_support::no_filter_files,
    )
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> AddrRange {
    parse_addr_range(s, false).unwrap()
}

const SSHD: &str = "[jails.sshd]\nmaxretry = 3\nfindtime = \"10m\"\nbantime = \"1h\"\n";

#[test]
fn maxretry_within_findtime_bans() {
    let c = cfg(SSHD);
    let mut t = Tracker::new();
    let h = ip("198.51.100.1");
    assert_eq!(t.observe(&c, 0, h, 1000), None);
    assert_eq!(t.observe(&c, 0, h, 1100), None);
    let ban = t.observe(&c, 0, h, 1200).unwrap();
    assert_eq!(ban.jail, "sshd");
    assert_eq!(ban.target, net("198.51.100.1"));
    assert_eq!((ban.since, ban.until, ban.count), (1200, 1200 + 3600, 1));
    assert_eq!(ban.reason, "3 failures in 10m (sshd)");
    // Banned: more failures change nothing and make no second ban.
    assert_eq!(t.observe(&c, 0, h, 1300), None);
    assert_eq!(t.active_bans(1300), vec![ban.clone()]);
    assert_eq!(t.active_bans(1200 + 3600), vec![]);
}

#[test]
fn failures_outside_findtime_do_not_add_up() {
    let c = cfg(SSHD);
    let mut t = Tracker::new();
    let h = ip("198.51.100.2");
    // Three failures, but never three within 600 s.
    assert_eq!(t.observe(&c, 0, h, 0), None);
    assert_eq!(t.observe(&c, 0, h, 400), None);
    assert_eq!(
        t.observe(&c, 0, h, 600),
        None,
        "the first is exactly findtime old"
    );
    assert_eq!(t.observe(&c, 0, h, 1100), None);
    assert!(t.observe(&c, 0, h, 1150).is_some());
}

#[test]
fn other_hosts_and_jails_count_separately() {
    let c = cfg(&format!("{SSHD}[jails.postfix-sasl]\nmaxretry = 3\n"));
    let mut t = Tracker::new();
    let (a, b) = (ip("198.51.100.3"), ip("198.51.100.4"));
    assert_eq!(t.observe(&c, 0, a, 1), None);
    assert_eq!(t.observe(&c, 0, b, 2), None);
    assert_eq!(t.observe(&c, 1, a, 3), None);
    assert_eq!(t.observe(&c, 0, a, 4), None);
    assert!(t.observe(&c, 0, a, 5).is_some());
    assert_eq!(t.observe(&c, 1, a, 6), None);
    let ban = t.observe(&c, 1, a, 7).unwrap();
    assert_eq!(ban.jail, "postfix-sasl");
    assert_eq!(t.active_bans(8).len(), 2);
    assert_eq!(t.observe(&c, 7, a, 8), None, "no such jail");
}

#[test]
fn allowlist_always_wins() {
    let c =
        cfg("[watch]\nallow = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n[jails.sshd]\nmaxretry = 1\n");
    let mut t = Tracker::new();
    for h in [
        "127.0.0.1",
        "127.9.9.9",
        "::1",
        "::ffff:127.0.0.1",
        "192.0.2.77",
        "::ffff:192.0.2.77",
        "2001:db8:ffff::1",
    ] {
        for now in 0..10 {
            assert_eq!(t.observe(&c, 0, ip(h), now), None, "{h}");
        }
    }
    assert!(t.observe(&c, 0, ip("198.51.100.9"), 0).is_some());
    let mut list = Allowlist::new(vec![]);
    assert!(list.contains(ip("127.0.0.1")) && list.contains(ip("::1")));
    assert!(!list.contains(ip("::2")));
    list.add(net("203.0.113.0/24"));
    assert!(list.contains(ip("203.0.113.200")));
    assert!(list.overlaps(net("203.0.0.0/16")));
    assert!(!list.overlaps(net("2001:db8::/32")));
}

#[test]
fn repeat_offenders_get_longer_bans_up_to_the_cap() {
    let c = cfg(
        "[jails.sshd]\nmaxretry = 1\nbantime = \"1h\"\nbantime_factor = 2\nbantime_max = \"5h\"\n",
    );
    let mut t = Tracker::new();
    let h = ip("198.51.100.10");
    let mut now = 0;
    let mut lengths = Vec::new();
    for _ in 0..5 {
        let ban = t.observe(&c, 0, h, now).unwrap();
        lengths.push((ban.count, ban.until - ban.since));
        now = ban.until;
    }
    assert_eq!(
        lengths,
        vec![(1, 3600), (2, 7200), (3, 14400), (4, 18000), (5, 18000)]
    );
    // A week after the last ban ended, the slate is clean.
    let ban = t.observe(&c, 0, h, now + OFFENDER_MEMORY).unwrap();
    assert_eq!((ban.count, ban.until - ban.since), (1, 3600));
}

#[test]
fn ban_duration_never_overflows() {
    assert_eq!(ban_duration(3600, 2.0, 86400, 0), 3600);
    assert_eq!(ban_duration(3600, 2.0, 86400, 3), 28800);
    assert_eq!(ban_duration(3600, 1000.0, u64::MAX, u32::MAX), u64::MAX);
    assert_eq!(ban_duration(u64::MAX, 2.0, u64::MAX, 5), u64::MAX);
    assert_eq!(ban_duration(10, 1.5, 100, 1), 15);
}

#[test]
fn v6_prefix_bans_the_network_and_counts_it_as_one() {
    let c = cfg(
        "[watch]\nallow = [\"2001:db8:1:2::7\"]\n[jails.sshd]\nmaxretry = 3\nban_v6_prefix = 64\n",
    );
    let mut t = Tracker::new();
    assert_eq!(t.observe(&c, 0, ip("2001:db8:9:9::1"), 0), None);
    assert_eq!(t.observe(&c, 0, ip("2001:db8:9:9::2"), 1), None);
    let ban = t.observe(&c, 0, ip("2001:db8:9:9:ffff::3"), 2).unwrap();
    assert_eq!(ban.target, net("2001:db8:9:9::/64"));
    // IPv4 is always one address.
    for now in 0..3 {
        t.observe(&c, 0, ip("198.51.100.11"), now);
    }
    assert!(t
        .active_bans(3)
        .iter()
        .any(|b| b.target == net("198.51.100.11")));
    // A /64 holding an allowlisted address: only the offender itself is banned.
    for now in 0..2 {
        assert_eq!(t.observe(&c, 0, ip("2001:db8:1:2::8"), now), None);
    }
    let ban = t.observe(&c, 0, ip("2001:db8:1:2::8"), 2).unwrap();
    assert_eq!(ban.target, net("2001:db8:1:2::8"));
}

#[test]
fn unban_removes_covering_and_covered_bans() {
    let c = cfg("[jails.sshd]\nmaxretry = 1\nban_v6_prefix = 64\n");
    let mut t = Tracker::new();
    t.observe(&c, 0, ip("2001:db8:9:9::1"), 0).unwrap();
    t.observe(&c, 0, ip("198.51.100.12"), 0).unwrap();
    t.observe(&c, 0, ip("198.51.100.13"), 0).unwrap();
    let gone = t.unban(net("2001:db8:9:9::5"));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].target, net("2001:db8:9:9::/64"));
    assert_eq!(t.unban(net("198.51.100.0/24")).len(), 2);
    assert!(t.active_bans(1).is_empty());
    assert!(t.unban(net("198.51.100.12")).is_empty());
    // Unbanned means forgiven: the next ban is a first one again.
    assert_eq!(t.observe(&c, 0, ip("198.51.100.12"), 5).unwrap().count, 1);
}

#[test]
fn expire_keeps_memory_bounded() {
    let c = cfg("[jails.sshd]\nmaxretry = 3\nfindtime = 60\nbantime = 100\n");
    let mut t = Tracker::new();
    // 150,000 one-off sources (a distributed scan) and a few that get banned.
    for i in 0..150_000u32 {
        let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        assert_eq!(t.observe(&c, 0, a, u64::from(i % 50)), None);
    }
    for now in 0..3 {
        t.observe(&c, 0, ip("198.51.100.14"), now);
    }
    assert_eq!(t.tracked(), 150_000);
    t.expire(&c, 64);
    assert_eq!(
        t.tracked(),
        150_000 - 5 * 3000,
        "failures at 0..=4 are out of the window"
    );
    t.expire(&c, 200);
    assert_eq!(t.tracked(), 0);
    assert!(t.active_bans(200).is_empty());
    // The offender record stays for repeat-offender growth, then goes too.
    assert_eq!(t.jails["sshd"].offenders.len(), 1);
    t.expire(&c, 102 + OFFENDER_MEMORY);
    assert!(t.jails.is_empty());
}

#[test]
fn a_clock_going_back_does_not_pin_failures() {
    let c = cfg(SSHD);
    let mut t = Tracker::new();
    let h = ip("198.51.100.15");
    t.observe(&c, 0, h, 10_000);
    t.observe(&c, 0, h, 10_001);
    // The clock jumps back an hour: the "future" failures are dropped, not counted forever.
    assert_eq!(t.observe(&c, 0, h, 6_400), None);
    t.expire(&c, 6_401 + 600);
    assert_eq!(t.tracked(), 0);
}

const RECIDIVE_CFG: &str = "[watch]\nrecidive = { bans = 3, findtime = \"1d\", bantime = \"1w\", permanent_after = 5, history = \"30d\" }\n\
[jails.sshd]\nmaxretry = 1\nbantime = 100\n[jails.postfix-sasl]\nmaxretry = 1\nbantime = 100\nports = [25]\n";

#[test]
fn bans_by_any_jail_add_up_to_a_recidive_ban_on_every_port() {
    let c = cfg(RECIDIVE_CFG);
    let mut t = Tracker::new();
    let h = ip("198.51.100.40");
    let first = t.observe(&c, 0, h, 1_000).unwrap();
    assert_eq!(first.jail, "sshd");
    let second = t.observe(&c, 1, h, 2_000).unwrap();
    assert_eq!(second.jail, "postfix-sasl");
    // The third ban in a day, by sshd again once its first ban ended.
    let third = t.observe(&c, 0, h, 3_000).unwrap();
    assert_eq!(third.jail, crate::RECIDIVE);
    assert_eq!((third.since, third.until), (3_000, 3_000 + 7 * 86400));
    assert_eq!(third.reason, "3 bans in 1d (recidive)");
    // While the recidive ban lasts, no jail bans again.
    assert_eq!(t.observe(&c, 1, h, 4_000), None);
    let active: Vec<String> = t.active_bans(4_000).into_iter().map(|b| b.jail).collect();
    assert!(active.contains(&crate::RECIDIVE.to_string()), "{active:?}");
    // Bans spread over more than findtime do not add up.
    let g = ip("198.51.100.41");
    for (i, now) in [0u64, 100_000, 200_000].into_iter().enumerate() {
        let ban = t.observe(&c, i % 2, g, now).unwrap();
        assert_ne!(ban.jail, crate::RECIDIVE, "ban at {now}");
    }
}

#[test]
fn enough_bans_in_the_history_make_a_permanent_one_that_survives_a_restart() {
    let c = cfg(RECIDIVE_CFG);
    let mut t = Tracker::new();
    let h = ip("198.51.100.42");
    // Bans at day 0, 2, 4, 6: never three in a day; the fifth, at day 8, is the fifth in
    // 30 days.
    for day in 0..4u64 {
        let ban = t.observe(&c, 0, h, day * 2 * 86400).unwrap();
        assert_eq!(ban.jail, "sshd");
    }
    let fifth = t.observe(&c, 0, h, 8 * 86400).unwrap();
    assert_eq!(fifth.jail, crate::RECIDIVE);
    assert_eq!(fifth.until, crate::PERMANENT);
    assert_eq!(fifth.reason, "5 bans in 30d: permanent (recidive)");
    let back = Tracker::load(&t.save(), 400 * 86400).unwrap();
    let bans = back.active_bans(400 * 86400);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].until, crate::PERMANENT);
    // An unban forgives the history too.
    let mut back = back;
    back.unban(net("198.51.100.42"));
    assert!(back.history.is_empty());
    assert_eq!(back.observe(&c, 0, h, 401 * 86400).unwrap().jail, "sshd");
}

#[test]
fn the_history_is_forgotten_after_its_memory_and_without_recidive() {
    let c = cfg(RECIDIVE_CFG);
    let mut t = Tracker::new();
    t.observe(&c, 0, ip("198.51.100.43"), 0).unwrap();
    t.expire(&c, 29 * 86400);
    assert_eq!(t.history.len(), 1);
    t.expire(&c, 30 * 86400);
    assert!(t.history.is_empty());
    t.observe(&c, 0, ip("198.51.100.44"), 0).unwrap();
    let without = cfg("[jails.sshd]\nmaxretry = 1\n");
    t.expire(&without, 1);
    assert!(
        t.history.is_empty(),
        "no recidive configured: nothing to remember"
    );
}
