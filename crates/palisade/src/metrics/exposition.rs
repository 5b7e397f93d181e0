//! The readings as Prometheus metric families, in the text exposition format (0.0.4).
//!
//! Pure: [`Readings`] in, text out, encoded by the `prometheus` crate's text encoder (which
//! escapes label values and writes histograms' buckets), so every series is unit-tested
//! without a kernel. The text format rather than OpenMetrics, because it is what
//! node_exporter's textfile collector and `promtool check metrics` read, and what every
//! Prometheus accepts. Names follow Prometheus' conventions: base units (seconds, bytes),
//! `_total` on counters, `_timestamp_seconds` on times; the list is in `docs/OPERATIONS.md`.

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};

use super::readings::Readings;
use crate::feeds::copies::FeedResult;
use crate::watch::stats::Histogram as Buckets;

/// Metric families being built, in the order first named.
#[derive(Default)]
struct Families(Vec<MetricFamily>);

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = LabelPair::default();
            l.set_name((*k).to_string());
            l.set_value((*v).to_string());
            l
        })
        .collect()
}

impl Families {
    fn push(&mut self, name: &str, help: &str, kind: MetricType, m: Metric) {
        if let Some(f) = self.0.iter_mut().find(|f| f.name() == name) {
            f.mut_metric().push(m);
            return;
        }
        let mut f = MetricFamily::default();
        f.set_name(name.to_string());
        f.set_help(help.to_string());
        f.set_field_type(kind);
        f.mut_metric().push(m);
        self.0.push(f);
    }

    fn gauge(&mut self, name: &str, help: &str, l: &[(&str, &str)], v: f64) {
        let mut g = Gauge::default();
        g.set_value(v);
        let mut m = Metric::from_label(labels(l));
        m.set_gauge(g);
        self.push(name, help, MetricType::GAUGE, m);
    }

    fn counter(&mut self, name: &str, help: &str, l: &[(&str, &str)], v: u64) {
        let mut c = Counter::default();
        c.set_value(v as f64);
        let mut m = Metric::from_label(labels(l));
        m.set_counter(c);
        self.push(name, help, MetricType::COUNTER, m);
    }

    fn histogram(&mut self, name: &str, help: &str, h: &Buckets) {
        let mut cumulative = 0;
        let buckets = h
            .bounds
            .iter()
            .zip(&h.counts)
            .map(|(bound, n)| {
                cumulative += n;
                let mut b = Bucket::default();
                b.set_upper_bound(*bound);
                b.set_cumulative_count(cumulative);
                b
            })
            .collect();
        let mut hist = Histogram::default();
        hist.set_bucket(buckets);
        hist.set_sample_count(h.count);
        hist.set_sample_sum(h.sum);
        let mut m = Metric::from_label(Vec::new());
        m.set_histogram(hist);
        self.push(name, help, MetricType::HISTOGRAM, m);
    }
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The exposition text of `r`.
pub fn render(r: &Readings) -> String {
    let mut f = Families::default();
    sets_and_rules(&mut f, r);
    bans_and_watch(&mut f, r);
    feeds(&mut f, r);
    fleet(&mut f, r);
    f.gauge(
        "palisade_metrics_collect_seconds",
        "How long reading these metrics took (the kernel's counters and element counts, and the daemons' files).",
        &[],
        r.collect_seconds,
    );
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&f.0, &mut out)
        .expect("families built here always have a name and a metric");
    String::from_utf8(out).expect("the text format is UTF-8")
}

fn sets_and_rules(f: &mut Families, r: &Readings) {
    for s in &r.sets {
        for (family, part, n) in &s.parts {
            if let Some(n) = n {
                f.gauge(
                    "palisade_set_elements",
                    "Elements the kernel holds in a palisade set, per family and part (bulk: networks loaded, singles: addresses loaded, recent: added since the last load).",
                    &[("set", &s.name), ("family", family), ("part", part), ("block", s.block)],
                    f64::from(*n),
                );
            }
        }
        let l = [("set", s.name.as_str()), ("block", s.block)];
        f.counter(
            "palisade_set_blocked_packets_total",
            "Packets dropped or rejected because a set holds their source or destination.",
            &l,
            s.blocked_packets,
        );
        f.counter(
            "palisade_set_blocked_bytes_total",
            "Bytes dropped or rejected because a set holds their source or destination.",
            &l,
            s.blocked_bytes,
        );
    }
    for rule in &r.rules {
        let index = rule.index.to_string();
        let l = [
            ("chain", rule.chain.as_str()),
            ("rule", index.as_str()),
            ("origin", rule.origin.as_str()),
        ];
        f.counter(
            "palisade_rule_packets_total",
            "Packets that matched a rule of the applied policy (the last rule of each chain counts what its policy decides).",
            &l,
            rule.packets,
        );
        f.counter(
            "palisade_rule_bytes_total",
            "Bytes that matched a rule of the applied policy.",
            &l,
            rule.bytes,
        );
        if rule.over_limit {
            f.counter(
                "palisade_flood_over_limit_packets_total",
                "Packets over a flood limit (rate or connections), dropped, rejected or banned.",
                &l,
                rule.packets,
            );
        }
    }
    let p = &r.policy;
    if let Some(at) = p.applied_at {
        f.gauge(
            "palisade_policy_applied_timestamp_seconds",
            "When the applied policy was applied (Unix time).",
            &[],
            at as f64,
        );
    }
    f.gauge(
        "palisade_panic",
        "1 while `palisade panic` drops everything but loopback and the admin's session.",
        &[],
        bool_value(p.panic),
    );
    f.gauge(
        "palisade_confirm_pending",
        "1 while an apply waits for `palisade confirm` (it rolls back by itself otherwise).",
        &[],
        bool_value(p.rollback_at.is_some()),
    );
}

fn bans_and_watch(f: &mut Families, r: &Readings) {
    for b in &r.ban_sets {
        f.gauge(
            "palisade_ban_set_elements",
            "Elements in a set that bans go to, by who bans: watch (log watcher), flood (the kernel, over a limit), fleet (peers).",
            &[("origin", b.origin), ("set", &b.set)],
            b.elements as f64,
        );
    }
    let Some(w) = &r.watch else { return };
    f.gauge(
        "palisade_watch_stats_age_seconds",
        "Seconds since the log watcher last wrote its statistics (every second while it runs).",
        &[],
        r.now.saturating_sub(w.written_at) as f64,
    );
    for j in &w.jails {
        let l = [("jail", j.name.as_str())];
        f.counter(
            "palisade_watch_lines_read_total",
            "Log lines a jail read, since the watcher started.",
            &l,
            j.lines_read,
        );
        f.counter(
            "palisade_watch_lines_matched_total",
            "Log lines in which a jail found a failure, since the watcher started.",
            &l,
            j.lines_matched,
        );
        f.counter(
            "palisade_watch_bans_total",
            "Bans a jail wrote to the kernel, since the watcher started.",
            &l,
            j.bans,
        );
        f.gauge(
            "palisade_watch_bans_active",
            "Bans of a jail in force (counted every 10 s).",
            &l,
            j.active_bans as f64,
        );
    }
    f.histogram(
        "palisade_watch_ban_latency_seconds",
        "From reading the log line that completes a ban to the kernel holding the ban.",
        &w.ban_latency,
    );
}

fn feeds(f: &mut Families, r: &Readings) {
    for feed in &r.feeds {
        let s = &feed.state;
        let set = [("set", feed.set.as_str())];
        if let Some(t) = s.last_attempt {
            f.gauge(
                "palisade_feed_last_attempt_timestamp_seconds",
                "When a feed set was last updated (Unix time).",
                &set,
                t as f64,
            );
        }
        if let Some(t) = s.last_success {
            f.gauge(
                "palisade_feed_last_success_timestamp_seconds",
                "When a feed set was last updated without a failed or refused download (Unix time).",
                &set,
                t as f64,
            );
        }
        if let Some(oldest) = s.urls.iter().map(|u| u.confirmed_at).min() {
            f.gauge(
                "palisade_feed_age_seconds",
                "Age of a feed set's oldest list copy: seconds since its publisher last confirmed it.",
                &set,
                r.now.saturating_sub(oldest) as f64,
            );
        }
        f.gauge(
            "palisade_feed_entries",
            "Entries in a feed set's last good copies (before merging).",
            &set,
            s.urls.iter().map(|u| u.entries).sum::<u64>() as f64,
        );
        for result in FeedResult::ALL {
            let l = [("set", feed.set.as_str()), ("result", result.name())];
            f.gauge(
                "palisade_feed_last_result",
                "1 for the result of a feed set's last update (updated, unchanged, refused, failed), 0 for the others.",
                &l,
                bool_value(s.last_result == Some(result)),
            );
            f.counter(
                "palisade_feed_updates_total",
                "Updates of a feed set, by result.",
                &l,
                s.results.get(&result).copied().unwrap_or(0),
            );
        }
    }
}

fn fleet(f: &mut Families, r: &Readings) {
    let Some(fl) = &r.fleet else { return };
    f.gauge(
        "palisade_fleet_status_age_seconds",
        "Seconds since the fleet daemon last wrote its status (every second while it runs).",
        &[],
        fl.age_seconds,
    );
    f.gauge(
        "palisade_fleet_connected",
        "1 while the fleet daemon is connected to a NATS server.",
        &[],
        bool_value(fl.connected),
    );
    if let Some(lag) = fl.lag_seconds {
        f.gauge(
            "palisade_fleet_lag_seconds",
            "From a peer sealing its newest event to this host reading it.",
            &[],
            lag,
        );
    }
    f.gauge(
        "palisade_fleet_queued",
        "Records waiting to be published to the fleet.",
        &[],
        fl.queued as f64,
    );
    for (name, help, v) in [
        (
            "palisade_fleet_bans_delivered_total",
            "Peers' bans written to this host's kernel.",
            fl.bans_delivered,
        ),
        (
            "palisade_fleet_records_received_total",
            "Records received from peers, before filtering.",
            fl.records_in,
        ),
        (
            "palisade_fleet_records_published_total",
            "Records this host published to the fleet.",
            fl.records_out,
        ),
        (
            "palisade_fleet_reader_reopens_total",
            "Times the fleet reader stalled (the stream ahead, nothing read) and was reopened.",
            fl.reader_reopens,
        ),
    ] {
        f.counter(name, help, &[], v);
    }
    for (reason, n) in &fl.dropped {
        f.counter(
            "palisade_fleet_records_dropped_total",
            "Records from peers not applied, by reason (untrusted, bad_signature, allowlisted...).",
            &[("reason", reason)],
            *n,
        );
    }
}

#[cfg(test)]
mod tests;
