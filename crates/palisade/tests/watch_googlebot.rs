//! The fake-Googlebot jail through the real binary, a real nginx and the real kernel: Google's
//! list of Googlebot's networks (in Google's own JSON format) is a feed, loaded into a set by
//! `palisade feeds update`; a client in that set whose user agent says Googlebot is served,
//! another one saying the same is banned in the kernel. `check` refuses the jail without its
//! genuine set, and warns when that set does not exist; `set load` takes Google's file too,
//! and names the file and line of a bad prefix.

mod common;
#[path = "watch_support/mod.rs"]
mod watch_support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::publisher::Nginx;
use common::*;
use watch_support::{banned, Watcher};

const WEB_PORT: u16 = 8090;
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// Google's `googlebot.json` as it is shaped, with the lab's client `.2` as the genuine
/// crawler (and networks of the documentation ranges around it).
fn googlebot_json() -> String {
    format!(
        r#"{{
  "creationTime": "2026-11-30T23:00:46.000000",
  "prefixes": [
    {{
      "ipv6Prefix": "2001:db8:4801:10::/64"
    }},
    {{
      "ipv4Prefix": "{ALLOWED4}/32"
    }},
    {{
      "ipv4Prefix": "192.0.2.0/27"
    }}
  ]
}}
"#
    )
}

/// `GET /` from `source` with user agent `agent`: the status line, or the connect error.
fn get(lab: &Lab, source: &str, agent: &str) -> std::io::Result<String> {
    let source: std::net::IpAddr = source.parse().unwrap();
    let server = SocketAddr::new(SERVER4.parse().unwrap(), WEB_PORT);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: {agent}\r\nConnection: close\r\n\r\n"
    );
    lab.client
        .run(move || {
            let mut s = palisade_lab::connect_from(source, server, Duration::from_millis(1500))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(request.as_bytes())?;
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            Ok(reply.lines().next().unwrap_or_default().to_string())
        })
        .unwrap()
}

/// nginx in the server namespace, serving the crawled site and Google's list, with its
/// access log in the `combined` format; up when this returns.
fn web_server(lab: &Lab) -> Nginx {
    let nginx = Nginx::start(&lab.server, &lab.state.join("nginx"), &WEB_PORT.to_string());
    nginx.publish("index.html", "<p>hello</p>\n");
    nginx.publish("googlebot.json", &googlebot_json());
    let up = palisade_lab::eventually(Duration::from_secs(10), || {
        get(lab, ALLOWED4, "probe").is_ok_and(|s| s.contains(" 200 "))
    });
    assert!(
        up,
        "nginx did not start: {}",
        std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default()
    );
    nginx
}

fn config(lab: &Lab, nginx: &Nginx) -> String {
    lab.write_config(
        "googlebot.toml",
        &format!(
            r#"[input]
policy = "accept"

# A set nothing blocks: the networks whose Googlebot claims are true.
[sets.googlebot]
action = "none"
urls = ["http://{SERVER4}:{WEB_PORT}/googlebot.json"]
every = "24h"

[jails.apache-fakegooglebot]
file = "{}"
genuine = "googlebot"
maxretry = 1
bantime = "1h"
"#,
            nginx.dir.join("access.log").display()
        ),
    )
}

#[test]
fn a_fake_googlebot_is_banned_and_the_real_one_is_not() {
    let Some(lab) = Lab::new() else { return };
    let nginx = web_server(&lab);
    let cfg = config(&lab, &nginx);
    let check = lab.ok(&["check", "-c", &cfg]);
    assert!(
        check.contains("1 jails") && check.contains("; 0 warnings"),
        "{check}"
    );
    lab.ok(&["apply", "-c", &cfg]);
    let update = lab
        .inside()
        .args([
            "feeds",
            "update",
            "googlebot",
            "-c",
            &cfg,
            "--fetch-timeout",
            "5",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&update.stderr);
    assert!(update.status.success(), "feeds update: {log}");
    assert!(log.contains("3 entries"), "{log}");
    let member = |addr: &str| {
        lab.palisade(&["set", "test", "googlebot", addr])
            .status
            .success()
    };
    assert!(member(ALLOWED4) && member("192.0.2.9") && member("2001:db8:4801:10::1"));
    assert!(!member(BLOCKED4));

    let w = Watcher::start(&lab, std::path::Path::new(&cfg));
    // The genuine crawler first: the daemon reads the log in order, so once the fake one
    // is banned, these lines were judged too.
    for i in 1..=3 {
        let reply = get(&lab, ALLOWED4, GOOGLEBOT);
        assert!(
            reply.as_ref().is_ok_and(|s| s.contains(" 200 ")),
            "the genuine Googlebot's request {i} was not served (banned?): {reply:?}"
        );
    }
    assert!(get(&lab, BLOCKED4, GOOGLEBOT).unwrap().contains(" 200 "));
    assert!(
        palisade_lab::eventually(Duration::from_secs(15), || banned(&lab, BLOCKED4)),
        "the fake Googlebot is not banned; nginx's log:\n{}",
        nginx.log()
    );
    assert!(!banned(&lab, ALLOWED4), "the genuine Googlebot was banned");
    let access = nginx.log();
    assert_eq!(
        access
            .lines()
            .filter(|l| l.starts_with(ALLOWED4) && l.contains("Googlebot/2.1"))
            .count(),
        3,
        "{access}"
    );
    // The kernel drops the fake one and serves the genuine one.
    assert!(
        get(&lab, BLOCKED4, GOOGLEBOT).is_err(),
        "the banned client is served"
    );
    assert!(get(&lab, ALLOWED4, GOOGLEBOT).unwrap().contains(" 200 "));
    // A browser from the genuine network is nobody's business, and still not banned.
    assert!(!banned(&lab, ALLOWED4));
    assert!(w.stop().success());
}

#[test]
fn check_refuses_the_jail_without_its_genuine_set_and_warns_of_a_missing_one() {
    let Some(lab) = Lab::new() else { return };
    let no_option = lab.write_config(
        "no-genuine.toml",
        "[input]\npolicy = \"accept\"\n\n[jails.apache-fakegooglebot]\nmaxretry = 1\n",
    );
    let out = lab.palisade(&["check", "-c", &no_option]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("{no_option}:4: jails.apache-fakegooglebot: "))
            && err.contains("genuine = \"googlebot\""),
        "{err}"
    );

    let missing = lab.write_config(
        "missing-set.toml",
        "[input]\npolicy = \"accept\"\n\n[jails.apache-fakegooglebot]\ngenuine = \"googlebot\"\n",
    );
    let out = lab.palisade(&["check", "-c", &missing]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning, not an error: {err}");
    assert!(
        err.contains(
            "warning: jail apache-fakegooglebot: its genuine set \"googlebot\" does not exist"
        ),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 warnings"));

    // Created by hand, the set exists: no warning.
    lab.ok(&["set", "create", "googlebot"]);
    let out = lab.palisade(&["check", "-c", &missing]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("genuine set"), "{err}");
}

#[test]
fn set_load_takes_googles_json_and_names_a_bad_prefix() {
    let Some(lab) = Lab::new() else { return };
    lab.ok(&["set", "create", "googlebot"]);
    let good = lab.write_config("googlebot.json", &googlebot_json());
    lab.ok(&["set", "load", "googlebot", &good]);
    let member = |addr: &str| {
        lab.palisade(&["set", "test", "googlebot", addr])
            .status
            .success()
    };
    assert!(member(ALLOWED4) && member("192.0.2.31") && member("2001:db8:4801:10::7"));
    assert!(!member(BLOCKED4) && !member("192.0.2.32"));

    // A prefix that is no network: the load is refused, naming file, line and prefix, and
    // the set keeps what it held.
    let bad = lab.write_config(
        "bad.json",
        "{\"prefixes\": [\n  {\"ipv4Prefix\": \"192.0.2.0/27\"},\n  {\"ipv4Prefix\": \"66.249.64.0/33\"}\n]}\n",
    );
    let out = lab.palisade(&["set", "load", "googlebot", &bad]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("{bad}:3: `66.249.64.0/33`")), "{err}");
    assert!(member(ALLOWED4), "the set kept its list");

    // Not JSON of that shape at all: one error naming the file.
    let other = lab.write_config("other.json", "{\"error\": \"quota exceeded\"}\n");
    let out = lab.palisade(&["set", "load", "googlebot", &other]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("{other}:1: ")) && err.contains("no `prefixes`"),
        "{err}"
    );
}
