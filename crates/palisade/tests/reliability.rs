//! Defects found by trying to break palisade (issue 12), each reproduced against the real
//! kernel in namespaces: a cache that lied, a crash window in apply, concurrent applies, lost
//! permanent additions, IPv4-mapped addresses, loads that emptied a blocklist, endless input,
//! configs apply took and watch refused, drift nobody saw, and a few small ones.

mod common;

use common::*;
use palisade_lab::eventually;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `nft` in the server namespace, as an admin working around palisade would run it.
fn nft(lab: &Lab, args: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", lab.server.name(), "nft"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "nft {args:?}: {}", err(&out));
}

fn member(lab: &Lab, set: &str, addr: &str) -> bool {
    lab.palisade(&["set", "test", set, addr]).status.success()
}

/// Every file under `dir` whose name ends with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_load_leaves_exactly_the_file_whatever_happened_out_of_band() {
    let Some(lab) = Lab::new() else { return };
    let list = lab.write_config("three.txt", "192.0.2.1\n192.0.2.5\n192.0.2.9\n");
    lab.ok(&["set", "create", "s"]);
    lab.ok(&["set", "load", "s", &list]);

    // Out of band, keeping the element count: one address swapped for another.
    nft(
        &lab,
        &[
            "delete",
            "element",
            "inet",
            "palisade",
            "s_v4_addrs",
            "{ 192.0.2.1 }",
        ],
    );
    nft(
        &lab,
        &[
            "add",
            "element",
            "inet",
            "palisade",
            "s_v4_addrs",
            "{ 192.0.2.99 }",
        ],
    );
    lab.ok(&["set", "load", "s", &list]);
    assert!(member(&lab, "s", "192.0.2.1"), "the file's address is back");
    assert!(!member(&lab, "s", "192.0.2.99"), "the stranger is gone");
    assert_eq!(
        lab.ok(&["set", "export", "s"]),
        "192.0.2.1\n192.0.2.5\n192.0.2.9\n",
        "export shows what the kernel holds"
    );

    // Out of band, an addition: `set del` really removes it.
    nft(
        &lab,
        &[
            "add",
            "element",
            "inet",
            "palisade",
            "s_v4_addrs",
            "{ 198.51.100.5 }",
        ],
    );
    lab.ok(&["set", "del", "s", "198.51.100.5"]);
    assert!(!member(&lab, "s", "198.51.100.5"));

    // A delete of what is not there says so.
    let out = lab.palisade(&["set", "del", "s", "203.0.113.77"]);
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    assert!(err(&out).contains("not in set s"), "{}", err(&out));
    let out = lab.palisade(&["unblock", "--set", "s", "203.0.113.77"]);
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));

    // A damaged cache is ignored, never trusted, and never in the way.
    let caches = files_ending(&lab.state, "s.cache");
    assert_eq!(caches.len(), 1, "{caches:?}");
    let mut bytes = std::fs::read(&caches[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&caches[0], bytes).unwrap();
    let other = lab.write_config("other.txt", "198.51.100.0/24\n192.0.2.5\n");
    lab.ok(&["set", "load", "s", &other]);
    assert_eq!(
        lab.ok(&["set", "export", "s"]),
        "192.0.2.5\n198.51.100.0/24\n"
    );
}

/// A config applied first (`old`) and one whose apply is interrupted (`new`).
fn two_configs(lab: &Lab) -> (String, String) {
    let old = lab.write_config(
        "old.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\"]\n[sets.olds]\nelements = [\"192.0.2.1\"]\n",
    );
    let new = lab.write_config(
        "new.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8081/tcp\"]\n[sets.news]\nelements = [\"192.0.2.9\"]\n",
    );
    (old, new)
}

fn set_exists(lab: &Lab, name: &str) -> bool {
    lab.palisade(&["set", "list", name]).status.success()
}

/// The old policy is in force: 8080 open, 8081 closed, only the old config's set.
fn old_in_force(lab: &Lab) -> bool {
    lab.connect(ALLOWED4, PORT).is_ok()
        && lab.connect(ALLOWED4, PORT2).is_err()
        && !set_exists(lab, "news")
}

#[test]
fn an_apply_killed_at_any_step_ends_in_the_old_state_or_the_new_one_with_its_timer() {
    let Some(lab) = Lab::new() else { return };
    let (old, new) = two_configs(&lab);
    for point in [
        "after-intent",
        "after-timer",
        "after-commit",
        "after-records",
    ] {
        lab.ok(&["apply", "-c", &old]);
        assert!(old_in_force(&lab), "{point}: the old policy is applied");
        let killed = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .env("PALISADE_STATE_DIR", &lab.state)
            .env("PALISADE_FAULT_AT", point)
            .args([
                "--netns",
                lab.server.name(),
                "apply",
                "-c",
                &new,
                "--confirm",
                "3",
            ])
            .output()
            .unwrap();
        assert_eq!(killed.status.code(), None, "{point}: killed by a signal");
        // Whatever state it left, `status` agrees with the kernel.
        let status = lab.ok(&["status"]);
        let new_in_kernel = lab.connect(ALLOWED4, PORT2).is_ok();
        if new_in_kernel {
            assert!(
                status.contains("new.toml") && status.contains("PENDING"),
                "{point}: the kernel has the new policy, status must say so and that it is pending: {status}"
            );
        } else {
            assert!(status.contains("old.toml"), "{point}: {status}");
        }
        // Not confirmed: the old state comes back, also after a kill, with no set of the new
        // config left behind.
        assert!(
            eventually(Duration::from_secs(20), || old_in_force(&lab)),
            "{point}: the old policy came back"
        );
        assert!(
            eventually(Duration::from_secs(10), || !lab
                .ok(&["status"])
                .contains("PENDING")),
            "{point}: nothing pending after the rollback"
        );
    }

    // Without --confirm, a kill right after the commit still records the new policy: status
    // names it, and the next apply removes the set only it declared.
    let killed = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .env("PALISADE_STATE_DIR", &lab.state)
        .env("PALISADE_FAULT_AT", "after-commit")
        .args(["--netns", lab.server.name(), "apply", "-c", &new])
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), None);
    assert!(lab.ok(&["status"]).contains("new.toml"));
    assert!(set_exists(&lab, "news"));
    lab.ok(&["apply", "-c", &old]);
    assert!(old_in_force(&lab), "the new config's set does not linger");
}

#[test]
fn two_applies_at_once_end_in_exactly_one_config() {
    let Some(lab) = Lab::new() else { return };
    let (a, b) = two_configs(&lab);
    for round in 0..8 {
        let spawn = |config: &str| {
            Command::new(env!("CARGO_BIN_EXE_palisade"))
                .env("PALISADE_STATE_DIR", &lab.state)
                .args(["--netns", lab.server.name(), "apply", "-c", config])
                .output()
        };
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| spawn(&a));
            let tb = s.spawn(|| spawn(&b));
            (ta.join().unwrap().unwrap(), tb.join().unwrap().unwrap())
        });
        assert!(ra.status.success(), "{round}: {}", err(&ra));
        assert!(rb.status.success(), "{round}: {}", err(&rb));
        let (olds, news) = (set_exists(&lab, "olds"), set_exists(&lab, "news"));
        assert!(
            olds != news,
            "round {round}: sets of both configs (or neither) remain"
        );
        let status = lab.ok(&["status"]);
        let named = if olds { "old.toml" } else { "new.toml" };
        assert!(status.contains(named), "round {round}: {status}");
    }
}

#[test]
fn a_permanent_addition_under_a_timed_network_stays() {
    let Some(lab) = Lab::new() else { return };
    lab.ok(&["set", "create", "s", "--block", "drop"]);
    lab.ok(&["set", "add", "s", "198.18.0.0/24", "--timeout", "3s"]);
    lab.ok(&["set", "add", "s", BLOCKED4]);
    assert!(
        eventually(Duration::from_secs(20), || !member(&lab, "s", ALLOWED4)),
        "the timed network expires"
    );
    assert!(member(&lab, "s", BLOCKED4), "the permanent address stays");
    assert!(lab.connect(BLOCKED4, PORT).is_err());
    assert!(lab.connect(ALLOWED4, PORT).is_ok());
}

#[test]
fn ipv4_mapped_ipv6_blocks_the_ipv4_host() {
    let Some(lab) = Lab::new() else { return };
    let mapped = format!("::ffff:{BLOCKED4}");
    lab.ok(&["block", &mapped]);
    assert!(lab.connect(BLOCKED4, PORT).is_err(), "blocked, as it says");
    assert!(member(&lab, "blocklist", BLOCKED4));
    lab.ok(&["unblock", &mapped]);
    assert!(lab.connect(BLOCKED4, PORT).is_ok());
    lab.ok(&["set", "create", "m", "--block", "drop"]);
    let list = lab.write_config("mapped.txt", &format!("{mapped}\n"));
    lab.ok(&["set", "load", "m", &list]);
    assert!(member(&lab, "m", BLOCKED4));
    assert!(lab.connect(BLOCKED4, PORT).is_err());
}

#[test]
fn a_load_that_looks_like_a_failed_download_changes_nothing() {
    let Some(lab) = Lab::new() else { return };
    lab.ok(&["set", "create", "s"]);
    let good = lab.write_config("good.txt", "192.0.2.1\n192.0.2.7\n");
    lab.ok(&["set", "load", "s", &good]);
    let before = lab.ok(&["set", "export", "s"]);

    let empty = lab.write_config("empty.txt", "# nothing today\n");
    let out = lab.palisade(&["set", "load", "s", &empty]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("--allow-empty"), "{}", err(&out));
    assert_eq!(lab.ok(&["set", "export", "s"]), before);

    let html = lab.write_config(
        "page.html",
        "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<h1>502</h1>\n</body>\n</html>\n",
    );
    let out = lab.palisade(&["set", "load", "s", &html, "--skip-invalid"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("not addresses"), "{}", err(&out));
    assert_eq!(lab.ok(&["set", "export", "s"]), before);

    lab.ok(&["set", "load", "s", &empty, "--allow-empty"]);
    assert_eq!(lab.ok(&["set", "export", "s"]), "");
}

#[test]
fn endless_input_ends_with_an_error() {
    let Some(lab) = Lab::new() else { return };
    lab.ok(&["set", "create", "s"]);
    for skip in [false, true] {
        let mut args = vec!["set", "load", "s", "/dev/zero"];
        if skip {
            args.push("--skip-invalid");
        }
        let out = lab.palisade(&args);
        assert_eq!(out.status.code(), Some(2), "{}", err(&out));
        assert!(err(&out).contains("no line end"), "{}", err(&out));
    }
}

#[test]
fn apply_refuses_what_check_refuses() {
    let Some(lab) = Lab::new() else { return };
    for (name, jail) in [
        (
            "regex",
            "[jails.x]\nfile = \"/var/log/x\"\npatterns = [\"(<HOST>\"]\n",
        ),
        (
            "no-host",
            "[jails.x]\nfile = \"/var/log/x\"\npatterns = [\"failed\"]\n",
        ),
        ("maxretry", "[jails.sshd]\nmaxretry = 0\n"),
        ("allow", "[watch]\nallow = [\"not-an-address\"]\n"),
    ] {
        let config = lab.write_config(
            &format!("{name}.toml"),
            &format!("[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\"]\n{jail}"),
        );
        assert_eq!(
            lab.palisade(&["check", "-c", &config]).status.code(),
            Some(2)
        );
        let out = lab.palisade(&["apply", "-c", &config]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", err(&out));
        assert!(lab.ok(&["status"]).contains("none applied"), "{name}");
    }
}

#[test]
fn drift_is_named_by_status_plan_and_explain() {
    let Some(lab) = Lab::new() else { return };
    let config = lab.write_config(
        "p.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\"]\n",
    );
    lab.ok(&["apply", "-c", &config]);
    assert!(!lab.ok(&["status"]).contains("DRIFT"));
    nft(
        &lab,
        &[
            "insert",
            "rule",
            "inet",
            "palisade",
            "filter_input",
            "tcp",
            "dport",
            "8081",
            "accept",
        ],
    );
    let status = lab.ok(&["status"]);
    assert!(
        status.contains("DRIFT") && status.contains("added outside palisade"),
        "{status}"
    );
    let plan = lab.ok(&["plan", "-c", &config]);
    assert!(
        plan.contains("- rule handle") && plan.contains("added outside palisade"),
        "{plan}"
    );
    let out = lab.palisade(&[
        "explain", "--from", ALLOWED4, "--to", SERVER4, "--dport", "8081",
    ]);
    assert!(
        err(&out).contains("the kernel may decide otherwise"),
        "{}",
        err(&out)
    );
    lab.ok(&["apply", "-c", &config]);
    assert!(
        !lab.ok(&["status"]).contains("DRIFT"),
        "apply puts it right"
    );

    // A set edited behind palisade's back.
    lab.ok(&["set", "create", "s"]);
    let list = lab.write_config("l.txt", "192.0.2.1\n");
    lab.ok(&["set", "load", "s", &list]);
    nft(
        &lab,
        &[
            "add",
            "element",
            "inet",
            "palisade",
            "s_v4_addrs",
            "{ 192.0.2.50 }",
        ],
    );
    let status = lab.ok(&["status"]);
    assert!(
        status.contains("set s: changed outside palisade"),
        "{status}"
    );
}

#[test]
fn small_ones() {
    let Some(lab) = Lab::new() else { return };
    let out = lab.palisade(&["block", BLOCKED4, "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("permanent"), "{}", err(&out));
    assert!(lab.connect(BLOCKED4, PORT).is_ok(), "nothing was blocked");

    let config = lab.write_config(
        "p.toml",
        "[input]\npolicy = \"drop\"\nallow = [{ port = 8080, from_set = \"admins\" }]\n[sets.admins]\naction = \"none\"\nelements = [\"198.18.0.2\"]\n",
    );
    assert_eq!(
        lab.palisade(&["apply", "-c", &config, "--confirm", "0"])
            .status
            .code(),
        Some(2)
    );
    lab.ok(&["apply", "-c", &config]);
    let out = lab.palisade(&["set", "destroy", "admins"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err(&out).contains("in use by the policy") && err(&out).contains("filter_input"),
        "{}",
        err(&out)
    );
    let out = lab.palisade(&[
        "explain", "--from", ALLOWED4, "--to", SERVER4, "--proto", "icmpv6",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("icmpv6 is for IPv6"), "{}", err(&out));
}
