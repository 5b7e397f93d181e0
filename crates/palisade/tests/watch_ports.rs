//! Jails that ban only their service's ports, against the real kernel and real connections:
//! the banned client is refused on the jail's ports and still served on the others; a port
//! range is one kernel element, not one per port; two jails' overlapping ranges merge; a
//! repeat offender's recidive ban covers every port, and its permanent ban has no timeout.

mod common;
#[path = "watch_support/mod.rs"]
mod watch_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use watch_support::Watcher;

/// A log and a config with the jails of `jails` (TOML for `[jails.*]`, `LOG` standing for
/// the log's path) and `watch` for `[watch]`.
fn setup(lab: &Lab, watch: &str, jails: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(&lab.state).unwrap();
    let log = lab.state.join("app.log");
    std::fs::write(&log, "").unwrap();
    let config = lab.state.join("palisade.toml");
    let jails = jails.replace("LOG", &log.display().to_string());
    std::fs::write(&config, format!("[watch]\n{watch}\n{jails}")).unwrap();
    (log, config)
}

fn fail(log: &Path, jail: &str, host: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    writeln!(f, "{jail}: bad login from {host}").unwrap();
}

/// Does the server answer `source` on `port`?
fn served(lab: &Lab, source: &str, port: u16) -> bool {
    lab.connect(source, port).is_ok_and(|r| r == "ok")
}

fn until(what: &str, done: impl FnMut() -> bool) {
    assert!(
        palisade_lab::eventually(Duration::from_secs(15), done),
        "{what}"
    );
}

/// The elements of a kernel set of the ban sets, as `nft` lists them, one per line.
fn kernel_elements(lab: &Lab, set: &str) -> Vec<String> {
    let listing = lab
        .server
        .output("nft", &["-n", "list", "set", "inet", "palisade", set])
        .unwrap();
    let Some(start) = listing.find("elements = {") else {
        return Vec::new();
    };
    let body = &listing[start + "elements = {".len()..];
    let body = &body[..body.find('}').unwrap_or(body.len())];
    body.split(',')
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect()
}

const WEB: &str = "[jails.web]\nfile = \"LOG\"\npatterns = ['^web: bad login from <HOST>$']\nmaxretry = 1\nbantime = \"1h\"\n";

#[test]
fn a_ports_ban_refuses_the_service_and_serves_the_rest() {
    let Some(lab) = Lab::new() else { return };
    let (log, config) = setup(&lab, "", &format!("{WEB}ports = [\"{PORT}/tcp\"]\n"));
    let w = Watcher::start(&lab, &config);
    assert!(served(&lab, BLOCKED4, PORT));
    fail(&log, "web", BLOCKED4);
    fail(&log, "web", BLOCKED6);
    until("the banned client is refused on the jail's port", || {
        !served(&lab, BLOCKED4, PORT) && !served(&lab, BLOCKED6, PORT)
    });
    assert!(served(&lab, BLOCKED4, PORT2), "and served on another port");
    assert!(served(&lab, BLOCKED6, PORT2));
    assert!(served(&lab, ALLOWED4, PORT), "other clients are served");
    let bans = lab.ok(&["bans", "-c", config.to_str().unwrap()]);
    assert!(bans.contains(&format!("{BLOCKED4},tcp:{PORT}")), "{bans}");
    lab.ok(&["unban", BLOCKED4, BLOCKED6, "-c", config.to_str().unwrap()]);
    assert!(served(&lab, BLOCKED4, PORT) && served(&lab, BLOCKED6, PORT));
    drop(w);
}

#[test]
fn a_port_range_is_one_element_and_overlapping_ranges_merge() {
    let Some(lab) = Lab::new() else { return };
    let other = "[jails.admin]\nfile = \"LOG\"\npatterns = ['^admin: bad login from <HOST>$']\nmaxretry = 1\nbantime = \"2h\"\n";
    let (log, config) = setup(
        &lab,
        "",
        &format!("{WEB}ports = [\"1024-{PORT}/tcp\"]\n{other}ports = [\"8050-{PORT2}/tcp\"]\n"),
    );
    let w = Watcher::start(&lab, &config);
    fail(&log, "web", BLOCKED4);
    until("banned on the range", || !served(&lab, BLOCKED4, PORT));
    assert!(served(&lab, BLOCKED4, PORT2), "{PORT2} is past the range");
    let elements = kernel_elements(&lab, "bans-ports_v4_recent");
    assert_eq!(elements.len(), 1, "{elements:?}");
    assert!(
        elements[0].contains(&format!("{BLOCKED4} . 6 . 1024-{PORT}")),
        "{elements:?}"
    );
    let bans = lab.ok(&["bans", "-c", config.to_str().unwrap()]);
    assert!(
        bans.contains(&format!("{BLOCKED4},tcp:1024-{PORT}")),
        "{bans}"
    );

    // The second jail bans the same client on an overlapping range: one element, both
    // ranges, the longer time.
    fail(&log, "admin", BLOCKED4);
    until("banned on the second range too", || {
        !served(&lab, BLOCKED4, PORT2)
    });
    let elements = kernel_elements(&lab, "bans-ports_v4_recent");
    assert_eq!(elements.len(), 1, "{elements:?}");
    assert!(
        elements[0].contains(&format!("1024-{PORT2}")) && elements[0].contains("timeout 7200s"),
        "{elements:?}"
    );
    assert!(served(&lab, ALLOWED4, PORT2));

    lab.ok(&["unban", BLOCKED4, "-c", config.to_str().unwrap()]);
    assert!(kernel_elements(&lab, "bans-ports_v4_recent").is_empty());
    assert!(served(&lab, BLOCKED4, PORT) && served(&lab, BLOCKED4, PORT2));
    drop(w);
}

#[test]
fn a_repeat_offender_is_banned_on_every_port_then_for_good() {
    let Some(lab) = Lab::new() else { return };
    let (log, config) = setup(
        &lab,
        "recidive = { bans = 2, findtime = \"1h\", bantime = \"4s\", permanent_after = 3 }",
        // Longer than a refused connection attempt (1.5 s), or a SYN retried after the ban
        // ended would get through while the test is still asking.
        &format!("{WEB}bantime = \"3s\"\nports = [\"{PORT}/tcp\"]\n")
            .replace("bantime = \"1h\"\n", ""),
    );
    let w = Watcher::start(&lab, &config);
    // First ban: the jail's, on its port.
    fail(&log, "web", BLOCKED4);
    until("the first ban", || !served(&lab, BLOCKED4, PORT));
    assert!(served(&lab, BLOCKED4, PORT2));
    until("the first ban ends", || served(&lab, BLOCKED4, PORT));
    // Second ban within findtime: recidive's, on every port.
    fail(&log, "web", BLOCKED4);
    until("the recidive ban", || !served(&lab, BLOCKED4, PORT2));
    assert!(!served(&lab, BLOCKED4, PORT));
    until("the recidive ban ends", || served(&lab, BLOCKED4, PORT2));
    // Third: permanent, an element without a timeout.
    fail(&log, "web", BLOCKED4);
    until("the permanent ban", || !served(&lab, BLOCKED4, PORT2));
    let permanent = |elements: Vec<String>| {
        elements.len() == 1
            && elements[0].starts_with(&format!("{BLOCKED4} "))
            && !elements[0].contains("timeout")
            && !elements[0].contains("expires")
            && elements[0].contains("permanent (recidive)")
    };
    let elements = kernel_elements(&lab, "bans_v4_addrs");
    assert!(
        permanent(elements.clone()),
        "no timeout, no expiry: {elements:?}"
    );
    let bans = lab.ok(&["bans", "-c", config.to_str().unwrap()]);
    assert!(bans.contains("permanently"), "{bans}");
    // A restart keeps it.
    w.stop();
    lab.ok(&["set", "flush", "bans"]);
    let w = Watcher::start(&lab, &config);
    assert!(
        permanent(kernel_elements(&lab, "bans_v4_addrs")),
        "restored"
    );
    lab.ok(&["unban", BLOCKED4, "-c", config.to_str().unwrap()]);
    assert!(served(&lab, BLOCKED4, PORT2));
    drop(w);
}
