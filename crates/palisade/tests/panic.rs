//! `palisade panic` against the real kernel, in namespaces: every packet dropped, established
//! connections included, except the admin's pinned SSH session; `panic off` puts back exactly
//! the policy and sets there were, and `rollback` is not affected.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const CONFIG: &str = r#"
[input]
policy = "drop"
allow = [8080, 2222]

[sets.blocked]
elements = ["198.18.0.3", "2001:db8:1::3", "203.0.113.0/24"]
"#;

/// palisade's table as `nft` lists it, without counters, blank lines and the stamp sets,
/// whose tokens change with every transaction by design.
fn table(lab: &Lab) -> String {
    let text = lab
        .server
        .output("nft", &["-s", "list", "table", "inet", "palisade"])
        .unwrap();
    let mut out = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("set ")
            && t.split_whitespace()
                .nth(1)
                .is_some_and(|n| n.contains("stamp"))
        {
            skipping = true;
        }
        if !skipping && !t.is_empty() {
            out.push(line);
        }
        if skipping && t == "}" {
            skipping = false;
        }
    }
    out.join("\n")
}

/// The namespace's policy records directory (its state is kept under its inode).
fn records(lab: &Lab) -> std::path::PathBuf {
    let ino = std::fs::metadata(lab.server.path()).unwrap().ino();
    lab.state.join(format!("netns/{ino}/policy"))
}

#[test]
fn panic_drops_all_but_the_session_and_panic_off_restores_exactly() {
    let Some(lab) = Lab::new() else { return };
    lab.echo(2222);
    let config = lab.write_config("p.toml", CONFIG);
    // The admin works from an SSH session, pinned by every transaction they run.
    let session = lab.open(ALLOWED4, 2222);
    let admin = |args: &[&str]| {
        let out = palisade_from_session(&lab, &session, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    admin(&["apply", "-c", &config]);
    // A second apply, so that rollback has somewhere to go that a panic must not change.
    admin(&["apply", "-c", &config]);
    let before = table(&lab);
    assert!(before.contains("198.18.0.3"), "{before}");
    let previous = std::fs::read(records(&lab).join("previous.state")).unwrap();
    assert!(lab.connect(ALLOWED4, PORT).is_ok());
    let other = lab.open(ALLOWED4, 2222);
    assert!(echoes(&session, b"hello") && echoes(&other, b"hello"));

    assert!(admin(&["panic"]).contains("PANIC"));

    assert!(
        echoes(&session, b"still here"),
        "the pinned session keeps working"
    );
    assert!(
        !echoes(&other, b"dropped"),
        "another established connection is cut"
    );
    assert!(
        lab.connect(ALLOWED4, PORT).is_err(),
        "new connections are dropped"
    );
    assert!(lab.connect(ALLOWED6, PORT).is_err(), "IPv6 too");
    assert!(lab.connect(ALLOWED4, 2222).is_err(), "even to the SSH port");
    assert!(lab.ok(&["status"]).contains("from panic"));
    let again = palisade_from_session(&lab, &session, &["panic"]);
    assert_eq!(again.status.code(), Some(1), "already in panic mode");
    assert_eq!(
        std::fs::read(records(&lab).join("previous.state")).unwrap(),
        previous,
        "rollback's state is not touched by a panic"
    );

    admin(&["panic", "off"]);
    assert_eq!(table(&lab), before, "policy and sets are back exactly");
    // Neighbour discovery was dropped too during the panic: the first packets after it may
    // wait for the neighbour tables to be filled again.
    let back = |source: &str| {
        palisade_lab::eventually(Duration::from_secs(10), || {
            lab.connect(source, PORT).is_ok()
        })
    };
    assert!(back(ALLOWED4) && back(ALLOWED6), "traffic passes again");
    assert!(
        lab.connect(BLOCKED4, PORT).is_err(),
        "the block set still blocks"
    );
    assert!(echoes(&session, b"after"));
    let off = palisade_from_session(&lab, &session, &["panic", "off"]);
    assert_eq!(off.status.code(), Some(1), "not in panic mode any more");
    assert!(!records(&lab).join("panic.state").exists());
    // And rollback still goes where it went before the panic.
    admin(&["rollback"]);
    assert_eq!(
        table(&lab),
        before,
        "the state before the second apply was the same"
    );
}

#[test]
fn panic_without_a_policy_comes_back_to_none() {
    let Some(lab) = Lab::new() else { return };
    lab.ok(&["set", "create", "kept", "--block", "drop"]);
    lab.ok(&["set", "add", "kept", "198.18.0.3"]);
    let before = table(&lab);
    lab.ok(&["panic"]);
    assert!(
        lab.connect(ALLOWED4, PORT).is_err(),
        "no session: all dropped"
    );
    lab.ok(&["panic", "off"]);
    assert_eq!(table(&lab), before, "no policy chains, the set as it was");
    assert!(palisade_lab::eventually(Duration::from_secs(10), || lab
        .connect(ALLOWED4, PORT)
        .is_ok()));
    assert!(lab.connect(BLOCKED4, PORT).is_err());
}
