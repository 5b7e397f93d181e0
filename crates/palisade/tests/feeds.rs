//! Feeds against real HTTP servers in namespaces: nginx publishing lists (conditional GET,
//! `304`), and a scripted server that fails in every way a publisher does. A good download
//! is loaded by difference; a failed, cut, empty, HTML, shrunk or slow one keeps the set as
//! it was, is reported, and the set comes back with its last good copy at the next apply.

mod common;

use common::publisher::{Mode, Nginx, Scripted};
use common::*;
use std::process::Output;

const PUBLISHER: &str = "198.18.0.2";

fn config() -> String {
    format!(
        r#"
[input]
policy = "accept"

[sets.good]
urls = ["http://{PUBLISHER}:8090/good.netset"]
max_shrink = 50

[sets.mixed]
urls = ["http://{PUBLISHER}:8090/part.txt", "http://{PUBLISHER}:8091/flaky.txt"]

[sets.flaky]
urls = ["http://{PUBLISHER}:8091/flaky.txt"]
"#
    )
}

/// `n` addresses of `prefix` (`192.0.2`), one per line, with a comment on top.
fn list(prefix: &str, n: u8) -> String {
    let mut s = String::from("# a test feed\n");
    for i in 1..=n {
        s.push_str(&format!("{prefix}.{i}\n"));
    }
    s
}

fn feeds(lab: &Lab, args: &[&str]) -> Output {
    lab.inside().arg("feeds").args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn member(lab: &Lab, set: &str, addr: &str) -> bool {
    lab.palisade(&["set", "test", set, addr]).status.code() == Some(0)
}

/// `feeds update SET` with a short deadline; asserts its exit code, returns its log.
fn update(lab: &Lab, cfg: &str, set: &str, ok: bool) -> String {
    let out = feeds(lab, &["update", set, "-c", cfg, "--fetch-timeout", "3"]);
    let log = stderr(&out);
    assert_eq!(out.status.success(), ok, "feeds update {set}: {log}");
    log
}

struct Publishers {
    nginx: Nginx,
    scripted: Scripted,
}

fn publishers(lab: &Lab) -> Publishers {
    let dir = lab.state.join("nginx");
    let nginx = Nginx::start(&lab.client, &dir, &format!("{PUBLISHER}:8090"));
    let scripted = Scripted::start(&lab.client, &format!("{PUBLISHER}:8091"));
    nginx.publish("probe.txt", "ok\n");
    let up = palisade_lab::eventually(std::time::Duration::from_secs(10), || {
        lab.server
            .output(
                "curl",
                &["-sf", &format!("http://{PUBLISHER}:8090/probe.txt")],
            )
            .is_ok()
    });
    assert!(
        up,
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
    Publishers { nginx, scripted }
}

/// A lab with its publishers and the feeds' config applied (no copies yet).
fn applied() -> Option<(Lab, Publishers, String)> {
    let lab = Lab::new()?;
    let p = publishers(&lab);
    let cfg = lab.write_config("feeds.toml", &config());
    lab.ok(&["apply", "-c", &cfg]);
    Some((lab, p, cfg))
}

#[test]
fn good_lists_load_by_difference_and_unchanged_ones_cost_a_304() {
    let Some((lab, p, cfg)) = applied() else {
        return;
    };
    assert!(!member(&lab, "good", "192.0.2.1"), "no copy yet: empty");

    p.nginx
        .publish("good.netset", &(list("192.0.2", 20) + "2001:db8:7::/48\n"));
    let log = update(&lab, &cfg, "good", true);
    assert!(log.contains("updated: a new list, 21 entries"), "{log}");
    assert!(member(&lab, "good", "192.0.2.20") && member(&lab, "good", "2001:db8:7::1"));

    let log = update(&lab, &cfg, "good", true);
    assert!(log.contains("unchanged: not modified (304)"), "{log}");
    assert!(
        p.nginx.log().contains("\" 304 "),
        "nginx answered 304: {}",
        p.nginx.log()
    );

    // A new version: the kernel follows it, by difference (the 20 addresses merge into one
    // range; the old range and the IPv6 network go).
    p.nginx.publish("good.netset", &list("198.51.100", 20));
    let log = update(&lab, &cfg, "good", true);
    assert!(
        log.contains("updated: a new list, 20 entries")
            && log.contains("loaded: 1 added, 2 removed"),
        "{log}"
    );
    assert!(member(&lab, "good", "198.51.100.7"));
    assert!(!member(&lab, "good", "192.0.2.7"));

    // Shrunk by more than max_shrink: refused, the set stays.
    p.nginx.publish("good.netset", &list("203.0.113", 3));
    let log = update(&lab, &cfg, "good", false);
    assert!(
        log.contains("REFUSED") && log.contains("max_shrink = 50%"),
        "{log}"
    );
    assert!(member(&lab, "good", "198.51.100.7") && !member(&lab, "good", "203.0.113.1"));

    // The status says so, and the metrics too.
    let status = feeds(&lab, &["status", "-c", &cfg]);
    assert_eq!(status.status.code(), Some(1), "a problem is an exit code");
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        text.contains("set good: last update") && text.contains("refused"),
        "{text}"
    );
    let metrics = lab.ok(&["metrics"]);
    assert!(
        metrics.contains("palisade_feed_last_result{set=\"good\",result=\"refused\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("palisade_feed_updates_total{set=\"good\",result=\"updated\"} 2"),
        "{metrics}"
    );
}

#[test]
fn broken_downloads_keep_the_set_as_it_was() {
    let Some((lab, p, cfg)) = applied() else {
        return;
    };
    p.scripted.set(Mode::List(list("192.0.2", 10)));
    update(&lab, &cfg, "flaky", true);
    assert!(member(&lab, "flaky", "192.0.2.10"));

    let cut = list("198.51.100", 10);
    let cases = [
        (Mode::Html, "looks like an HTML page (text/html"),
        (Mode::Empty, "holds no address"),
        (Mode::Status500, "HTTP 500"),
        (
            Mode::Truncated(cut),
            "cut short: the connection closed before the whole list",
        ),
        (Mode::Trickle, "no complete answer within 3 s"),
    ];
    for (mode, expected) in cases {
        p.scripted.set(mode.clone());
        let log = update(&lab, &cfg, "flaky", false);
        assert!(log.contains(expected), "{mode:?}: {log}");
        assert!(
            log.contains("the set keeps the last good copy (10 entries"),
            "{mode:?}: {log}"
        );
        assert!(
            member(&lab, "flaky", "192.0.2.10"),
            "{mode:?}: the set is as it was"
        );
        assert!(
            !member(&lab, "flaky", "198.51.100.1"),
            "{mode:?}: nothing of it was loaded"
        );
    }

    // Larger than --max-download: refused, whatever it holds.
    let big: String = (0..100_000u32)
        .map(|i| format!("10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    assert!(big.len() > 1 << 20);
    p.scripted.set(Mode::List(big));
    let out = feeds(
        &lab,
        &["update", "flaky", "-c", &cfg, "--max-download", "1"],
    );
    assert!(
        !out.status.success() && stderr(&out).contains("larger than 1 MiB"),
        "{}",
        stderr(&out)
    );
    assert!(member(&lab, "flaky", "192.0.2.10") && !member(&lab, "flaky", "10.0.0.1"));

    // Two URLs: one publisher failing does not hold back the other's new list.
    p.nginx.publish("part.txt", &list("203.0.113", 5));
    p.scripted.set(Mode::Html);
    let log = update(&lab, &cfg, "mixed", false);
    assert!(log.contains("part.txt: updated"), "{log}");
    assert!(member(&lab, "mixed", "203.0.113.5"));

    // Gone from the kernel (a restore of an old state, say): the next apply puts the last
    // good copies back, with no download at all.
    lab.ok(&["set", "flush", "flaky"]);
    assert!(!member(&lab, "flaky", "192.0.2.10"));
    lab.ok(&["apply", "-c", &cfg]);
    assert!(
        member(&lab, "flaky", "192.0.2.10"),
        "apply uses the last good copy"
    );
}

#[test]
fn serve_keeps_feeds_current() {
    let Some((lab, p, cfg)) = applied() else {
        return;
    };
    p.nginx.publish("good.netset", &list("192.0.2", 20));
    p.nginx.publish("part.txt", &list("203.0.113", 5));
    p.scripted.set(Mode::List(list("198.51.100", 4)));
    let serve = lab
        .inside()
        .args(["serve", "-c", &cfg])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let loaded = palisade_lab::eventually(std::time::Duration::from_secs(30), || {
        member(&lab, "good", "192.0.2.20")
            && member(&lab, "mixed", "203.0.113.5")
            && member(&lab, "mixed", "198.51.100.4")
            && member(&lab, "flaky", "198.51.100.1")
    });
    // SAFETY: a signal to the child we started (`ip netns exec` execs palisade in place).
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let out = serve.wait_with_output().unwrap();
    assert!(loaded, "serve did not load the feeds: {}", stderr(&out));
    assert!(
        out.status.success(),
        "serve stops cleanly on SIGTERM: {}",
        stderr(&out)
    );
}
