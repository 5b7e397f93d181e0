//! `palisade fleet` end to end: real nats-server with JetStream, three hosts running
//! `palisade fleet run` in their own namespaces, bans made the ways palisade makes them
//! (`block`, the log watcher, a flood limit), and the real kernel of every host checked.

mod fleet_lab;

use fleet_lab::*;
use palisade_lab::eventually;
use std::time::Duration;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const PORT: u16 = 8080;

/// The lab with no extra config, every daemon connected and caught up.
fn running() -> Option<FleetLab> {
    let mut lab = FleetLab::new(|_| String::new())?;
    lab.start_all();
    Some(lab)
}

/// Host a shares the list `drop-list`, the others take it.
fn shared_drop_list(name: &str) -> String {
    match name {
        "a" => "[fleet.share]\nlists = [\"drop-list\"]\n".into(),
        _ => "[fleet.accept]\nlists = [\"drop-list\"]\n".into(),
    }
}

/// A list file, loaded into host a's set `drop-list` (created the first time).
fn load_drop_list(lab: &FleetLab, text: &str, create: bool) {
    let list = lab.write("drop.netset", text);
    if create {
        lab.ok(A, &["set", "create", "drop-list"]);
    }
    lab.ok(A, &["set", "load", "drop-list", list.to_str().unwrap()]);
}

/// Config `text` for host a only.
fn on_a(text: &'static str) -> impl Fn(&str) -> String {
    move |name| {
        if name == "a" {
            text.into()
        } else {
            String::new()
        }
    }
}

#[test]
fn a_block_on_one_host_drops_the_address_on_every_peer_until_it_expires_on_the_first() {
    let Some(lab) = running() else {
        return;
    };
    lab.listen(B, PORT);
    let [banned, other, _] = ATTACKER;
    assert!(lab.connects(banned, B, PORT), "reachable before the ban");

    lab.ok(A, &["block", &banned.to_string(), "--timeout", "8s"]);
    assert!(lab.holds(A, "blocklist", banned));
    for peer in [B, C] {
        assert!(
            eventually(WAIT, || lab.holds(peer, "fleet", banned)),
            "{} never got the ban",
            lab.hosts[peer].name
        );
    }
    assert!(
        !lab.connects(banned, B, PORT),
        "B's kernel drops the banned address"
    );
    assert!(lab.connects(other, B, PORT), "and only that address");
    // A kernel timeout, not a permanent element, named after its origin.
    let listing = lab.nft_set(B, "fleet_v4_addrs");
    assert!(
        listing.contains("expires") && listing.contains("fleet a: palisade block"),
        "{listing}"
    );

    assert!(
        eventually(WAIT, || !lab.holds(A, "blocklist", banned)),
        "A's own ban never expired"
    );
    for peer in [B, C] {
        assert!(
            eventually(Duration::from_secs(5), || !lab.holds(peer, "fleet", banned)),
            "{} still bans the address after it expired on A",
            lab.hosts[peer].name
        );
    }
    assert!(lab.connects(banned, B, PORT), "reachable again");
}

#[test]
fn a_log_watcher_ban_reaches_the_peers() {
    let Some(mut lab) = FleetLab::new(on_a(
        "[jails.sshd]\nfile = \"LOG\"\nmaxretry = 2\nbantime = \"1h\"\n",
    )) else {
        return;
    };
    let log = lab.dir.join("auth.log");
    let config = std::fs::read_to_string(&lab.hosts[A].config).unwrap();
    std::fs::write(
        &lab.hosts[A].config,
        config.replace("LOG", log.to_str().unwrap()),
    )
    .unwrap();
    append(&log, "");
    lab.start_all();
    lab.start_watcher(A);
    let line = "Failed password for root from 203.0.113.7 port 4242 ssh2\n";
    append(&log, &line.repeat(2));
    assert!(
        eventually(WAIT, || lab.holds(A, "bans", "203.0.113.7")),
        "the watcher did not ban"
    );
    assert!(
        eventually(WAIT, || lab.holds(B, "fleet", "203.0.113.7")),
        "B never got the watcher's ban"
    );
    let listing = lab.nft_set(B, "fleet_v4_addrs");
    assert!(listing.contains("fleet a: sshd"), "{listing}");
}

#[test]
fn bans_made_while_cut_off_arrive_later_and_a_wiped_host_gets_every_active_ban_back() {
    let Some(mut lab) = running() else {
        return;
    };
    let targets = ["10.99.0.1", "10.99.0.2", "10.99.0.3"];
    lab.link_down(A);
    for t in targets {
        // The bus is out of reach: the local ban happens all the same.
        lab.ok(A, &["block", t, "--timeout", "1h"]);
        assert!(lab.holds(A, "blocklist", t));
    }
    assert!(
        !lab.holds(B, "fleet", targets[0]),
        "nothing can cross a cut link"
    );
    lab.link_up(A);
    for peer in [B, C] {
        for t in targets {
            assert!(
                eventually(Duration::from_secs(60), || lab.holds(peer, "fleet", t)),
                "{} never got {t} after the link came back",
                lab.hosts[peer].name
            );
        }
    }

    // C restarts as after a reboot with its disk wiped: no fleet set, no state.
    lab.stop(C);
    lab.ok(C, &["set", "destroy", "fleet"]);
    std::fs::remove_dir_all(&lab.hosts[C].state).unwrap();
    assert!(!lab.holds(C, "fleet", targets[0]));
    lab.start(C);
    for t in targets {
        assert!(lab.holds(C, "fleet", t), "{t} not back after the catch-up");
    }
    let listing = lab.nft_set(C, "fleet_v4_addrs");
    assert!(
        listing.contains("expires 59m") || listing.contains("expires 58m"),
        "{listing}"
    );
}

#[test]
fn a_peer_never_bans_an_allowlisted_address_or_the_host_itself() {
    let Some(mut lab) = FleetLab::new(|_| String::new()) else {
        return;
    };
    // `allow` belongs in [fleet] itself, before [fleet.peers].
    let config = std::fs::read_to_string(&lab.hosts[B].config).unwrap();
    let config = config.replacen("key_file", "allow = [\"198.51.100.0/24\"]\nkey_file", 1);
    std::fs::write(&lab.hosts[B].config, config).unwrap();
    lab.start_all();
    let b_addr = lab.hosts[B].addr.to_string();
    for t in ["198.51.100.7", b_addr.as_str(), "10.99.0.9"] {
        lab.ok(A, &["block", t, "--timeout", "1h"]);
    }
    assert!(eventually(WAIT, || lab.holds(B, "fleet", "10.99.0.9")));
    assert!(
        eventually(WAIT, || lab.holds(C, "fleet", "198.51.100.7")),
        "C takes it"
    );
    assert!(!lab.holds(B, "fleet", "198.51.100.7"), "B's allowlist wins");
    assert!(!lab.holds(B, "fleet", &b_addr), "B never drops itself");
    assert!(
        eventually(WAIT, || lab.status(B).unwrap()["engine"]["dropped"]
            ["allowlisted"]
            == 2),
        "B counts both refusals: {:?}",
        lab.status(B)
    );
}

#[test]
fn an_address_that_becomes_the_hosts_own_after_start_is_released_and_never_banned_again() {
    let Some(lab) = running() else {
        return;
    };
    lab.ok(A, &["block", "10.99.3.1", "--timeout", "1h"]);
    assert!(eventually(WAIT, || lab.holds(B, "fleet", "10.99.3.1")));
    // B's admin gives B that address (a new service IP, a DHCP lease).
    lab.hosts[B]
        .ns
        .ip(&["addr", "add", "10.99.3.1/32", "dev", "lo"])
        .unwrap();
    // The next peer ban B takes in brings the address change with it.
    lab.ok(A, &["block", "10.99.3.2", "--timeout", "1h"]);
    assert!(eventually(WAIT, || lab.holds(B, "fleet", "10.99.3.2")));
    assert!(
        eventually(WAIT, || !lab.holds(B, "fleet", "10.99.3.1")),
        "B still drops its own new address"
    );
    // A ban on it made again is not applied on B, and still is on C.
    lab.ok(A, &["block", "10.99.3.1", "--timeout", "2h"]);
    lab.ok(A, &["block", "10.99.3.3", "--timeout", "1h"]);
    assert!(eventually(WAIT, || lab.holds(B, "fleet", "10.99.3.3")));
    assert!(!lab.holds(B, "fleet", "10.99.3.1"));
    assert!(lab.holds(C, "fleet", "10.99.3.1"));
}

#[test]
fn forgetting_a_host_removes_its_bans_and_keeps_those_another_peer_also_made() {
    let Some(mut lab) = running() else {
        return;
    };
    lab.ok(A, &["block", "10.99.1.1", "--timeout", "1h"]);
    lab.ok(A, &["block", "10.99.1.2", "--timeout", "2h"]);
    lab.ok(C, &["block", "10.99.1.2", "--timeout", "1h"]);
    lab.ok(C, &["block", "10.99.1.3", "--timeout", "1h"]);
    for t in ["10.99.1.1", "10.99.1.2", "10.99.1.3"] {
        assert!(eventually(WAIT, || lab.holds(B, "fleet", t)), "{t}");
    }
    // Both bans of .2 are in: a's, the longer, names the element.
    assert!(eventually(WAIT, || lab.status(B).unwrap()["engine"]
        ["bans_delivered"]
        == 4));
    let out = lab.ok(B, &["fleet", "forget", "a"]);
    assert!(out.contains("removed 2 bans from a"), "{out}");
    assert!(!lab.holds(B, "fleet", "10.99.1.1"), "gone at once");
    assert!(
        eventually(WAIT, || lab.holds(B, "fleet", "10.99.1.2")
            && lab.nft_set(B, "fleet_v4_addrs").contains("fleet c:")),
        "c's ban on .2 is put back: {}",
        lab.nft_set(B, "fleet_v4_addrs")
    );
    assert!(lab.holds(B, "fleet", "10.99.1.3"));
    assert!(!lab.holds(B, "fleet", "10.99.1.1"), "and a's stays gone");
    assert!(eventually(WAIT, || lab.status(B).unwrap()["daemon"]
        ["forgets"]
        == 1));

    // A restart's catch-up reads the whole stream again, a's bans in it: they stay out.
    let forgot_at = unix_now();
    lab.stop(B);
    lab.start(B);
    assert!(
        lab.holds(B, "fleet", "10.99.1.3"),
        "the catch-up is applied"
    );
    assert!(lab.holds(B, "fleet", "10.99.1.2"), "c's ban");
    assert!(
        !lab.holds(B, "fleet", "10.99.1.1"),
        "a's old ban came back with the catch-up"
    );
    // a is still trusted: a ban it makes after the forget counts. (Issue times are whole
    // seconds, and one from the second of the forget is kept out.)
    assert!(eventually(WAIT, || unix_now() > forgot_at));
    lab.ok(A, &["block", "10.99.1.4", "--timeout", "1h"]);
    assert!(eventually(WAIT, || lab.holds(B, "fleet", "10.99.1.4")));
    assert!(!lab.holds(B, "fleet", "10.99.1.1"));
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn fleet_status_shows_the_connection_and_the_counters_and_a_stopped_daemon() {
    let Some(mut lab) = running() else {
        return;
    };
    lab.ok(A, &["block", "10.99.2.1", "--timeout", "1h"]);
    assert!(eventually(WAIT, || lab.holds(B, "fleet", "10.99.2.1")));
    assert!(eventually(WAIT, || lab.status(B).unwrap()["daemon"]
        ["fleet_set_addresses"]
        == 1));
    let b = lab.status(B).unwrap();
    assert_eq!(b["running"], true);
    assert_eq!(b["engine"]["connection"], "connected", "{b}");
    assert!(
        b["engine"]["server"].as_str().unwrap().contains("lab"),
        "{b}"
    );
    assert_eq!(b["engine"]["peers"]["a"]["records"], 1, "{b}");
    assert_eq!(b["engine"]["bans_delivered"], 1, "{b}");
    assert!(b["engine"]["lag_ms"].is_u64(), "{b}");
    let a = lab.status(A).unwrap();
    assert_eq!(a["engine"]["records_out"], 1, "{a}");
    assert_eq!(a["daemon"]["spooled"], 1, "{a}");
    let text = lab.ok(B, &["fleet", "status"]);
    assert!(text.contains("host b: connected to lab"), "{text}");
    assert!(text.contains("set fleet holds 1 addresses"), "{text}");

    lab.stop(B);
    let out = lab.palisade(B, &["fleet", "status"]);
    assert_eq!(out.status.code(), Some(1), "a stopped daemon is an error");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT RUNNING"));
}

#[test]
fn a_flood_ban_by_the_kernel_reaches_the_peers() {
    let Some(mut lab) = FleetLab::new(on_a(
        "[input]\npolicy = \"drop\"\nallow = [{ port = 8080, limit = \"1/second burst 3\", per_source = true, over = \"ban\", ban_for = \"1h\" }]\n",
    )) else {
        return;
    };
    lab.start_all();
    let config = lab.hosts[A].config.to_str().unwrap().to_string();
    lab.ok(A, &["apply", "-c", &config]);
    lab.listen(A, PORT);
    let flooder = ATTACKER[2];
    let passed = (0..8).filter(|_| lab.connects(flooder, A, PORT)).count();
    assert!(passed < 8, "the limit held");
    assert!(
        lab.holds(A, "flood", flooder),
        "the kernel banned the flooder"
    );
    assert!(
        eventually(WAIT, || lab.holds(B, "fleet", flooder)
            && lab.holds(C, "fleet", flooder)),
        "the flood ban never reached the peers"
    );
    let st = lab.status(A).unwrap();
    assert_eq!(st["daemon"]["flood_sets"][0], "flood", "{st}");
    assert!(st["daemon"]["flood_bans"].as_u64().unwrap() >= 1, "{st}");

    // Unblocked by hand on A before its time: lifted on the peers.
    lab.ok(A, &["unblock", "--set", "flood", &flooder.to_string()]);
    assert!(
        eventually(WAIT, || !lab.holds(B, "fleet", flooder)),
        "the lift never reached B"
    );
}

#[test]
fn a_shared_list_is_loaded_into_the_same_set_on_the_peers_and_follows_its_changes() {
    let Some(mut lab) = FleetLab::new(shared_drop_list) else {
        return;
    };
    lab.start_all();
    load_drop_list(&lab, "192.0.2.0/24\n198.18.5.0/24\n10.99.3.3\n", true);
    for peer in [B, C] {
        assert!(
            eventually(WAIT, || lab.holds(peer, "drop-list", "192.0.2.77")),
            "{} never loaded the list",
            lab.hosts[peer].name
        );
        assert!(lab.holds(peer, "drop-list", "10.99.3.3"));
    }
    load_drop_list(&lab, "192.0.2.0/24\n", false);
    assert!(
        eventually(WAIT, || !lab.holds(B, "drop-list", "198.18.5.1")),
        "B never followed the change"
    );
    assert!(lab.holds(B, "drop-list", "192.0.2.77"));
}

#[test]
fn with_the_documented_permissions_a_host_may_publish_only_on_its_own_subject() {
    let Some(mut lab) = FleetLab::with_permissions(shared_drop_list) else {
        return;
    };
    lab.start_all();
    // Everything the fleet does works under them: bans, catch-up, lists.
    lab.ok(A, &["block", "10.99.4.1", "--timeout", "1h"]);
    load_drop_list(&lab, "192.0.2.0/24\n", true);
    for peer in [B, C] {
        assert!(eventually(WAIT, || lab.holds(peer, "fleet", "10.99.4.1")));
        assert!(eventually(WAIT, || lab.holds(
            peer,
            "drop-list",
            "192.0.2.9"
        )));
    }
    load_drop_list(&lab, "192.0.2.0/25\n", false);
    assert!(eventually(WAIT, || !lab.holds(
        B,
        "drop-list",
        "192.0.2.200"
    )));
    lab.stop(B);
    lab.start(B);
    lab.link_down(C);
    lab.ok(A, &["block", "10.99.4.9", "--timeout", "1h"]);
    assert!(eventually(WAIT, || lab.status(C).unwrap()["engine"]
        ["connection"]
        == "disconnected"));
    lab.link_up(C);
    assert!(eventually(WAIT, || lab.holds(C, "fleet", "10.99.4.9")));
    let nats = lab.nats.as_ref().unwrap();
    assert!(!nats.said(&["Violation"]), "palisade needs nothing more");

    // B's NKey with A's name and A's signing key (B's NATS identity was stolen, or B's config
    // copied from A's): the server refuses its bans on A's subject.
    let config = std::fs::read_to_string(&lab.hosts[A].config)
        .unwrap()
        .replace(
            lab.nkey_path(A).to_str().unwrap(),
            lab.nkey_path(B).to_str().unwrap(),
        );
    let config = lab.write("imposter.toml", &config);
    let _imposter = lab.attacker_daemon(&config);
    let out = lab
        .attacker_palisade(&["block", "10.99.4.2", "--timeout", "1h"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        eventually(WAIT, || lab
            .nats
            .as_ref()
            .unwrap()
            .said(&["Violation", "palisade.bans.a"])),
        "the server never refused the imposter"
    );
    lab.ok(A, &["block", "10.99.4.3", "--timeout", "1h"]);
    assert!(eventually(WAIT, || lab.holds(B, "fleet", "10.99.4.3")));
    assert!(
        !lab.holds(B, "fleet", "10.99.4.2"),
        "the imposter's ban never arrived"
    );
    assert!(!lab.holds(C, "fleet", "10.99.4.2"));
}
