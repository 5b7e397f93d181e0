//! The exposition of a full set of readings, line by line.

use std::collections::BTreeMap;

use super::*;
use crate::feeds::copies::{FeedState, UrlState};
use crate::metrics::readings::{
    BanSetReading, FeedReading, FleetReading, PolicyReading, RuleReading, SetReading,
};
use crate::watch::stats::{JailStats, WatchStats, LATENCY_BOUNDS};

fn readings() -> Readings {
    let mut latency = Buckets::new(&LATENCY_BOUNDS);
    for v in [0.0004, 0.0008, 0.003, 0.02] {
        latency.observe(v);
    }
    Readings {
        now: 10_000,
        sets: vec![SetReading {
            name: "drop-list".into(),
            block: "drop",
            parts: vec![
                ("ipv4", "bulk".into(), Some(1_000_000)),
                ("ipv4", "singles".into(), Some(3)),
                ("ipv4", "p24".into(), Some(5_000)),
                ("ipv6", "recent".into(), None),
            ],
            blocked_packets: 42,
            blocked_bytes: 4200,
        }],
        rules: vec![
            RuleReading {
                chain: "filter_input".into(),
                index: 0,
                origin: "input.allow[0] \"ssh\" (line 7)".into(),
                packets: 5,
                bytes: 300,
                over_limit: false,
            },
            RuleReading {
                chain: "filter_input".into(),
                index: 1,
                origin: "input.allow[1] \"http\" (line 9): over the rate".into(),
                packets: 17,
                bytes: 1020,
                over_limit: true,
            },
        ],
        policy: PolicyReading {
            applied_at: Some(9_000),
            panic: false,
            rollback_at: Some(10_060),
        },
        ban_sets: vec![BanSetReading {
            origin: "flood",
            set: "flooders".into(),
            elements: 12,
        }],
        watch: Some(WatchStats {
            written_at: 9_998,
            started_at: 5_000,
            pid: 1,
            set: "bans".into(),
            jails: vec![JailStats {
                name: "sshd".into(),
                lines_read: 1000,
                lines_matched: 40,
                bans: 8,
                active_bans: 6,
            }],
            ban_latency: latency,
        }),
        feeds: vec![FeedReading {
            set: "firehol".into(),
            state: FeedState {
                urls: vec![UrlState {
                    url: "https://example.net/l.netset".into(),
                    file: "x".into(),
                    entries: 2500,
                    confirmed_at: 6_400,
                    ..Default::default()
                }],
                last_attempt: Some(9_900),
                last_success: Some(6_400),
                last_result: Some(FeedResult::Refused),
                last_problem: Some("html".into()),
                results: BTreeMap::from([(FeedResult::Updated, 3), (FeedResult::Refused, 1)]),
            },
        }],
        fleet: Some(FleetReading {
            age_seconds: 0.5,
            connected: true,
            lag_seconds: Some(0.012),
            bans_delivered: 77,
            records_in: 80,
            records_out: 5,
            queued: 0,
            reader_reopens: 2,
            dropped: BTreeMap::from([("untrusted".to_string(), 3)]),
        }),
        collect_seconds: 0.004,
    }
}

fn has(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing `{line}` in:\n{text}"
    );
}

#[test]
fn every_series_is_exposed_with_its_labels() {
    let t = render(&readings());
    for line in [
        "# TYPE palisade_set_elements gauge",
        r#"palisade_set_elements{set="drop-list",family="ipv4",part="p24",block="drop"} 5000"#,
        r#"palisade_set_elements{set="drop-list",family="ipv4",part="bulk",block="drop"} 1000000"#,
        r#"palisade_set_blocked_packets_total{set="drop-list",block="drop"} 42"#,
        r#"palisade_rule_packets_total{chain="filter_input",rule="0",origin="input.allow[0] \"ssh\" (line 7)"} 5"#,
        r#"palisade_flood_over_limit_packets_total{chain="filter_input",rule="1",origin="input.allow[1] \"http\" (line 9): over the rate"} 17"#,
        "palisade_policy_applied_timestamp_seconds 9000",
        "palisade_panic 0",
        "palisade_confirm_pending 1",
        r#"palisade_ban_set_elements{origin="flood",set="flooders"} 12"#,
        "palisade_watch_stats_age_seconds 2",
        r#"palisade_watch_lines_read_total{jail="sshd"} 1000"#,
        r#"palisade_watch_lines_matched_total{jail="sshd"} 40"#,
        r#"palisade_watch_bans_total{jail="sshd"} 8"#,
        r#"palisade_watch_bans_active{jail="sshd"} 6"#,
        "# TYPE palisade_feed_updates_total counter",
        r#"palisade_feed_age_seconds{set="firehol"} 3600"#,
        r#"palisade_feed_last_result{set="firehol",result="refused"} 1"#,
        r#"palisade_feed_last_result{set="firehol",result="updated"} 0"#,
        r#"palisade_feed_updates_total{set="firehol",result="updated"} 3"#,
        r#"palisade_feed_updates_total{set="firehol",result="failed"} 0"#,
        "palisade_fleet_lag_seconds 0.012",
        "palisade_fleet_connected 1",
        "palisade_fleet_reader_reopens_total 2",
        r#"palisade_fleet_records_dropped_total{reason="untrusted"} 3"#,
        "palisade_metrics_collect_seconds 0.004",
    ] {
        has(&t, line);
    }
    assert!(
        !t.contains(r#"part="recent""#),
        "unknown counts are left out"
    );
    assert_eq!(
        t.matches("palisade_flood_over_limit_packets_total{")
            .count(),
        1,
        "only the over-the-limit rule"
    );
}

#[test]
fn the_latency_histogram_is_cumulative() {
    let t = render(&readings());
    has(&t, "# TYPE palisade_watch_ban_latency_seconds histogram");
    has(
        &t,
        r#"palisade_watch_ban_latency_seconds_bucket{le="0.0005"} 1"#,
    );
    has(
        &t,
        r#"palisade_watch_ban_latency_seconds_bucket{le="0.001"} 2"#,
    );
    has(
        &t,
        r#"palisade_watch_ban_latency_seconds_bucket{le="0.005"} 3"#,
    );
    has(
        &t,
        r#"palisade_watch_ban_latency_seconds_bucket{le="0.025"} 4"#,
    );
    has(
        &t,
        r#"palisade_watch_ban_latency_seconds_bucket{le="+Inf"} 4"#,
    );
    has(&t, "palisade_watch_ban_latency_seconds_count 4");
}

#[test]
fn absent_daemons_leave_their_series_out() {
    let r = Readings {
        watch: None,
        fleet: None,
        feeds: Vec::new(),
        ..readings()
    };
    let t = render(&r);
    for gone in ["palisade_watch_", "palisade_fleet_", "palisade_feed_"] {
        assert!(!t.contains(gone), "{gone} with no daemon:\n{t}");
    }
    // An empty host still says something: a scrape is never an empty page.
    let t = render(&Readings::default());
    has(&t, "palisade_panic 0");
}
