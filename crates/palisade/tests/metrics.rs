//! Metrics against the real kernel, in namespaces: a policy with a block set, a flood limit
//! that bans, and a log-watching jail, real traffic through them; then the exposition scraped
//! over HTTP from `palisade serve` with curl, and printed by `palisade metrics`, each checked
//! by Prometheus' own parser and linter (`promtool check metrics`) and for the numbers the
//! traffic must have left.

mod common;

use common::*;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LISTEN: &str = "127.0.0.1:9469";

fn config(log: &std::path::Path) -> String {
    format!(
        r#"
[input]
policy = "drop"
allow = ["8080/tcp", {{ port = 8081, limit = "1/second burst 3", per_source = true, over = "ban", ban_for = "1h" }}]

[sets.blocked]
elements = ["198.18.0.3", "2001:db8:1::3"]

[metrics]
listen = "{LISTEN}"

[jails.sshd]
file = "{}"
maxretry = 2
bantime = "1h"
"#,
        log.display()
    )
}

/// A daemon of ours, stopped with SIGTERM (so it saves) on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// `promtool check metrics` on `text`: its findings (empty when the exposition is clean).
fn promtool(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/deps.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let findings =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "promtool refused the exposition: {findings}\n{text}"
    );
    findings
}

/// The value of the series written exactly `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `curl` from inside the server namespace: (HTTP status, body).
fn curl(lab: &Lab, args: &[&str]) -> (String, String) {
    let mut all = vec!["-s", "-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = lab.server.output("curl", &all).unwrap_or_default();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", ""));
    (code.to_string(), body.to_string())
}

fn burst(lab: &Lab, source: &str, port: u16, n: usize) -> usize {
    let source = source.parse().unwrap();
    let server = SocketAddr::new(SERVER6.parse().unwrap(), port);
    lab.client
        .run(move || {
            (0..n)
                .filter(|_| {
                    palisade_lab::connect_from(source, server, Duration::from_millis(50)).is_ok()
                })
                .count()
        })
        .unwrap()
}

#[test]
fn the_exposition_is_valid_and_counts_what_happened() {
    let Some(lab) = Lab::new() else { return };
    std::fs::create_dir_all(&lab.state).unwrap();
    let log = lab.state.join("auth.log");
    std::fs::write(&log, "").unwrap();
    let cfg = lab.write_config("metrics.toml", &config(&log));
    lab.ok(&["apply", "-c", &cfg]);

    // The log watcher, for a password guesser; its statistics file appears once it runs.
    let _watch = Daemon(
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .env("PALISADE_STATE_DIR", &lab.state)
            .args(["--netns", lab.server.name(), "watch", "-c", &cfg])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = palisade_lab::eventually(Duration::from_secs(10), || {
        lab.ok(&["metrics"])
            .contains("palisade_watch_stats_age_seconds")
    });
    assert!(started, "the watcher wrote no statistics");
    // Traffic (once the watcher made its ban set: a new set rebuilds the block chains,
    // and their counters start again): a blocked source, an allowed one, and a flooder the kernel bans.
    assert!(lab.connect(BLOCKED4, PORT).is_err());
    assert!(lab.connect(ALLOWED4, PORT).is_ok());
    assert_eq!(burst(&lab, ALLOWED6, 8081, 6), 3, "the burst, then the ban");

    let line = "sshd[1]: Failed password for root from 203.0.113.9 port 4242 ssh2\n";
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(line.repeat(2).as_bytes())
        .unwrap();

    let _serve = Daemon(
        lab.inside()
            .args(["serve", "-c", &cfg])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{LISTEN}/metrics");
    let mut scraped = String::new();
    let banned = palisade_lab::eventually(Duration::from_secs(15), || {
        let (code, body) = curl(&lab, &[&url]);
        scraped = body;
        code == "200" && scraped.contains("palisade_watch_bans_total{jail=\"sshd\"} 1")
    });
    assert!(banned, "no ban in the scraped metrics:\n{scraped}");
    assert_eq!(promtool(&scraped), "", "promtool's lint findings");

    let t = &scraped;
    let set = |part: &str| {
        value(t, &format!("palisade_set_elements{{set=\"blocked\",family=\"ipv4\",part=\"{part}\",block=\"drop\"}}"))
    };
    assert_eq!(set("singles"), Some(1.0), "{t}");
    assert_eq!(set("bulk"), Some(0.0));
    assert!(
        value(
            t,
            r#"palisade_set_blocked_packets_total{set="blocked",block="drop"}"#
        ) >= Some(1.0),
        "{t}"
    );
    let accepted = t
        .lines()
        .find(|l| {
            l.starts_with("palisade_rule_packets_total{chain=\"filter_input\"")
                && l.contains("8080/tcp")
        })
        .unwrap_or_else(|| panic!("no rule counter of 8080/tcp:\n{t}"));
    assert!(!accepted.ends_with(" 0"), "{accepted}");
    let over: f64 = t
        .lines()
        .filter(|l| l.starts_with("palisade_flood_over_limit_packets_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(over >= 1.0, "the flooder went over the limit:\n{t}");
    assert_eq!(
        value(
            t,
            r#"palisade_ban_set_elements{origin="flood",set="flood"}"#
        ),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        value(t, r#"palisade_ban_set_elements{origin="watch",set="bans"}"#),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        value(t, r#"palisade_watch_lines_read_total{jail="sshd"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(t, r#"palisade_watch_lines_matched_total{jail="sshd"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(t, "palisade_watch_ban_latency_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        value(t, r#"palisade_watch_ban_latency_seconds_bucket{le="+Inf"}"#),
        Some(1.0)
    );
    assert_eq!(value(t, "palisade_panic"), Some(0.0));

    // The same from `palisade metrics`, once, and into a file for node_exporter.
    let once = lab.ok(&["metrics"]);
    assert_eq!(promtool(&once), "");
    assert!(once.contains("palisade_watch_bans_total{jail=\"sshd\"} 1"));
    let prom = lab.state.join("textfile/palisade.prom");
    lab.ok(&["metrics", "-o", prom.to_str().unwrap()]);
    assert_eq!(promtool(&std::fs::read_to_string(&prom).unwrap()), "");

    // Anything but GET /metrics gets a short answer, and the listener keeps serving.
    assert_eq!(curl(&lab, &[&format!("http://{LISTEN}/nothing")]).0, "404");
    assert_eq!(curl(&lab, &["-X", "POST", &url]).0, "405");
    assert_eq!(curl(&lab, &["-I", &url]).0, "200");
    assert_eq!(curl(&lab, &[&url]).0, "200");
}
