//! Country and AS sets against the real kernel, in namespaces, from MMDB files the test
//! writes (the same binary format as DB-IP Lite and GeoLite2): the networks of a country drop
//! its traffic, `explain` names the country, `serve` rebuilds the set when the file changes,
//! and a country the file does not have is an error that changes nothing.

mod common;

use common::*;
use palisade_lab::mmdb::{asn, country, Writer};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONFIG: &str = r#"
[geo]
database = "country.mmdb"
asn_database = "asn.mmdb"

[input]
policy = "accept"

[sets.nl]
countries = ["NL"]

[sets.as64500]
asns = [64500]
"#;

/// The lab's client addresses, placed: `nl` gets `in_nl`, the other one is in DE.
fn write_databases(dir: &Path, in_nl: &str, in_de: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join("country.mmdb.new");
    Writer::new("GeoLite2-Country")
        .insert(&format!("{in_nl}/32"), country("NL"))
        .insert(&format!("{in_de}/32"), country("DE"))
        .insert("2001:db8:1::3/128", country("NL"))
        .insert("192.0.2.0/24", country("NL"))
        .write(&tmp)
        .unwrap();
    // As an admin's update script does: a new file renamed over the old one.
    std::fs::rename(&tmp, dir.join("country.mmdb")).unwrap();
    Writer::new("GeoLite2-ASN")
        .insert("203.0.113.0/24", asn(64500, "Example Transit"))
        .insert("2001:db8:99::/48", asn(64500, "Example Transit"))
        .write(&dir.join("asn.mmdb"))
        .unwrap();
}

fn member(lab: &Lab, set: &str, addr: &str) -> bool {
    lab.palisade(&["set", "test", set, addr]).status.code() == Some(0)
}

#[test]
fn country_sets_block_their_networks_and_follow_the_database() {
    let Some(lab) = Lab::new() else { return };
    let cfg = lab.write_config("geo.toml", CONFIG);
    write_databases(&lab.state, BLOCKED4, ALLOWED4);
    lab.ok(&["apply", "-c", &cfg]);

    assert!(lab.connect(BLOCKED4, PORT).is_err(), "NL is dropped");
    assert!(
        lab.connect(BLOCKED6, PORT).is_err(),
        "NL's IPv6 network too"
    );
    assert!(lab.connect(ALLOWED4, PORT).is_ok(), "DE is not");
    assert!(member(&lab, "nl", "192.0.2.77"));
    assert!(member(&lab, "as64500", "203.0.113.1") && member(&lab, "as64500", "2001:db8:99::1"));
    assert!(!member(&lab, "as64500", "192.0.2.77"));

    let why = lab.palisade(&[
        "explain", "--from", BLOCKED4, "--to", SERVER4, "--dport", "8080",
    ]);
    let text = String::from_utf8_lossy(&why.stdout);
    assert!(text.contains("set `nl`"), "{text}");
    assert!(
        text.contains(&format!("note: {BLOCKED4} is in NL")),
        "{text}"
    );
    let why = lab.palisade(&[
        "explain",
        "--from",
        "203.0.113.9",
        "--to",
        SERVER4,
        "-c",
        &cfg,
    ]);
    assert_eq!(why.status.code(), Some(1), "dropped by set as64500");
    let why = String::from_utf8_lossy(&why.stdout);
    assert!(
        why.contains("note: 203.0.113.9 is AS64500 (Example Transit)"),
        "{why}"
    );

    // The database changes under a running `serve`: the set follows within its check.
    let mut serve = lab
        .inside()
        .args(["serve", "-c", &cfg, "--geo-check", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&log);
    let stderr = serve.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    let built = |n: usize| {
        log.lock()
            .unwrap()
            .matches("set nl: built from the geolocation database")
            .count()
            >= n
    };
    // Once at start (the file may have changed while nothing ran), then on each change.
    assert!(
        palisade_lab::eventually(Duration::from_secs(10), || built(1)),
        "{}",
        log.lock().unwrap()
    );
    write_databases(&lab.state, ALLOWED4, BLOCKED4);
    let followed = palisade_lab::eventually(Duration::from_secs(20), || {
        member(&lab, "nl", ALLOWED4) && !member(&lab, "nl", BLOCKED4)
    });
    // SAFETY: a signal to our own child (`ip netns exec` execs palisade in place).
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    assert!(serve.wait().unwrap().success(), "serve stops cleanly");
    assert!(
        followed && built(2),
        "serve did not rebuild the set: {}",
        log.lock().unwrap()
    );
    assert!(lab.connect(ALLOWED4, PORT).is_err() && lab.connect(BLOCKED4, PORT).is_ok());
}

#[test]
fn a_country_the_database_lacks_changes_nothing() {
    let Some(lab) = Lab::new() else { return };
    write_databases(&lab.state, BLOCKED4, ALLOWED4);
    let good = lab.write_config("geo.toml", CONFIG);
    lab.ok(&["apply", "-c", &good]);
    let typo = lab.write_config("typo.toml", &CONFIG.replace("[\"NL\"]", "[\"NL\", \"XQ\"]"));
    let out = lab.palisade(&["apply", "-c", &typo]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("set nl: country XQ has no network in"),
        "{err}"
    );
    assert!(member(&lab, "nl", BLOCKED4), "the applied set is untouched");
    let check = lab.palisade(&["check", "-c", &typo]);
    assert!(!check.status.success(), "check finds it first");
    let no_db = lab.write_config(
        "nodb.toml",
        &CONFIG.replace("database = \"country.mmdb\"\n", ""),
    );
    let err = String::from_utf8_lossy(&lab.palisade(&["check", "-c", &no_db]).stderr).into_owned();
    assert!(
        err.contains("set nl: countries needs a database: add [geo] database"),
        "{err}"
    );
}
