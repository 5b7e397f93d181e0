//! The XDP early drop through the `palisade` binary, against the real kernel: a server
//! namespace with palisade's program on its end of a veth pair, a private bpffs for the pins
//! (`PALISADE_BPF_DIR`), and traffic from the client namespace. What XDP drops never reaches
//! nftables, so palisade's own block counter (`set list --json`) tells the two apart.

mod common;
mod fleet_lab;
mod xdp_lab;

use std::process::Command;
use std::time::Duration;

use common::*;
use palisade_lab::eventually;
use xdp_lab::XdpLab;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_flood_from_a_listed_source_is_dropped_in_xdp_before_nftables_sees_it() {
    let Some(x) = XdpLab::new() else { return };
    x.ok(&["block", BLOCKED4, BLOCKED6]);
    // Attached after the set exists: the attach fills the maps from the kernel sets.
    let said = x.attach("native");
    assert!(said.contains("native mode"), "{said}");
    assert_eq!(x.xdp_set("blocklist"), (0, 1, 1));
    let s = x.status();
    assert_eq!(s["interfaces"][0]["name"], x.server_if.as_str());
    assert_eq!(s["interfaces"][0]["mode"], "native");

    x.send_udp(BLOCKED4, 2000);
    x.send_udp(BLOCKED6, 500);
    assert!(
        eventually(WAIT, || x.xdp_dropped("blocklist") >= 2500),
        "XDP dropped {} of 2500",
        x.xdp_dropped("blocklist")
    );
    assert!(!x.connects(BLOCKED4));
    assert_eq!(x.nft_blocked("blocklist"), 0, "nftables saw the flood");
    // Unlisted sources pass, and are not counted.
    let dropped = x.xdp_dropped("blocklist");
    assert!(x.connects(ALLOWED4));
    assert!(x.connects(ALLOWED6));
    assert_eq!(x.xdp_dropped("blocklist"), dropped);
}

#[test]
fn an_allowlisted_address_inside_a_listed_network_passes() {
    let Some(x) = XdpLab::new() else { return };
    x.attach("native");
    x.ok(&["set", "create", "trusted", "--allowlist"]);
    x.ok(&["set", "add", "trusted", ALLOWED4]);
    x.ok(&["block", "198.18.0.0/24"]);
    assert_eq!(x.xdp_set("blocklist").1, 1);
    assert!(x.connects(ALLOWED4));
    assert!(x.status()["allowed_packets"].as_u64().unwrap() > 0);
    x.send_udp(BLOCKED4, 20);
    assert!(eventually(WAIT, || x.xdp_dropped("blocklist") >= 20));
    // Out of the allowlist: now dropped in XDP too.
    x.ok(&["set", "del", "trusted", ALLOWED4]);
    let before = x.xdp_dropped("blocklist");
    x.send_udp(ALLOWED4, 20);
    assert!(eventually(WAIT, || x.xdp_dropped("blocklist") >= before + 20));
    assert_eq!(x.nft_blocked("blocklist"), 0);
}

#[test]
fn a_timed_block_drops_in_xdp_until_it_ends() {
    let Some(x) = XdpLab::new() else { return };
    x.attach("auto");
    x.ok(&["block", BLOCKED4, "--timeout", "3s"]);
    assert_eq!(x.xdp_set("blocklist").1, 1, "{}", x.status());
    x.send_udp(BLOCKED4, 5);
    assert!(eventually(WAIT, || x.xdp_dropped("blocklist") >= 5));
    // Once the block ends, in nftables and in XDP alike, the source connects.
    assert!(eventually(Duration::from_secs(15), || x.connects(BLOCKED4)));
    let dropped = x.xdp_dropped("blocklist");
    x.send_udp(BLOCKED4, 10);
    assert!(eventually(WAIT, || x.status()["expired_packets"]
        .as_u64()
        .unwrap()
        >= 10));
    assert_eq!(x.xdp_dropped("blocklist"), dropped);
    // The next sync deletes the expired entry.
    x.ok(&["xdp", "sync"]);
    assert_eq!(x.xdp_set("blocklist").1, 0);
}

#[test]
fn an_unblocked_address_passes_while_the_rest_of_its_network_is_dropped() {
    let Some(x) = XdpLab::new() else { return };
    x.attach("native");
    x.ok(&["block", "198.18.0.0/28"]);
    x.ok(&["unblock", BLOCKED4]);
    // The /28 is cut around .3 in XDP as in nftables.
    assert!(x.connects(BLOCKED4));
    x.send_udp(ALLOWED4, 10);
    assert!(eventually(WAIT, || x.xdp_dropped("blocklist") >= 10));
    assert_eq!(x.nft_blocked("blocklist"), 0);
    x.ok(&["set", "flush", "blocklist"]);
    assert_eq!(x.xdp_set("blocklist").1, 0);
    assert!(x.connects(ALLOWED4));
}

#[test]
fn a_million_entry_set_loads_into_the_maps() {
    let Some(x) = XdpLab::new() else { return };
    x.attach("generic");
    // A million addresses, none adjacent to another, so each is one entry.
    let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0));
    let list: String = (0..1_000_000u32)
        .map(|i| format!("{}\n", std::net::Ipv4Addr::from(base + 4 * i)))
        .collect();
    let file = x.lab.write_config("million.txt", &list);
    x.ok(&["set", "create", "big", "--block", "drop"]);
    x.ok(&["set", "load", "big", &file]);
    assert_eq!(x.xdp_set("big"), (0, 1_000_000, 0));
    // Loading the same list again changes nothing in the maps.
    x.ok(&["set", "load", "big", &file]);
    assert_eq!(x.xdp_set("big").1, 1_000_000);
}

#[test]
fn detach_leaves_nftables_blocking() {
    let Some(x) = XdpLab::new() else { return };
    x.ok(&["block", BLOCKED4]);
    x.attach("native");
    x.send_udp(BLOCKED4, 10);
    assert!(eventually(WAIT, || x.xdp_dropped("blocklist") >= 10));
    let said = x.ok(&["xdp", "detach", &x.server_if]);
    assert!(said.contains("nftables keeps blocking"), "{said}");
    assert_eq!(x.status()["attached"], false);
    assert!(!x.connects(BLOCKED4));
    assert!(x.nft_blocked("blocklist") > 0);
    // Changes to the sets go on without XDP.
    x.ok(&["block", ALLOWED4]);
    assert!(!x.connects(ALLOWED4));
}

#[test]
fn apply_attaches_per_the_config_and_warns_about_what_it_cannot() {
    let Some(x) = XdpLab::new() else { return };
    let config = |xdp: &str| {
        format!(
            "[input]\npolicy = \"accept\"\n\n[sets.bad]\naction = \"drop\"\nelements = \
             [\"{BLOCKED4}\"]\n{xdp}"
        )
    };
    let with = config(&format!(
        "\n[xdp]\ninterfaces = [\"{}\", \"nosuch9\"]\n",
        x.server_if
    ));
    let said = x.ok(&["apply", "-c", &x.lab.write_config("xdp.toml", &with)]);
    assert!(
        said.contains("nosuch9") && said.contains("warning"),
        "{said}"
    );
    assert_eq!(x.status()["interfaces"][0]["name"], x.server_if.as_str());
    x.send_udp(BLOCKED4, 10);
    assert!(eventually(WAIT, || x.xdp_dropped("bad") >= 10));
    assert!(x.connects(ALLOWED4));
    // Without [xdp], the next apply detaches what the last one attached; nftables blocks on.
    let said = x.ok(&[
        "apply",
        "-c",
        &x.lab.write_config("plain.toml", &config("")),
    ]);
    assert!(said.contains("XDP detached"), "{said}");
    assert_eq!(x.status()["attached"], false);
    assert!(!x.connects(BLOCKED4));
    assert!(x.nft_blocked("bad") > 0);
}

#[test]
fn the_admins_ssh_session_is_never_dropped_in_xdp() {
    let Some(x) = XdpLab::new() else { return };
    x.attach("native");
    // `palisade block` run over SSH from the address it blocks: nftables pins the session,
    // and XDP passes the address, so nftables decides (and drops all but the session).
    let out = x
        .command(&["block", BLOCKED4])
        .env("SSH_CONNECTION", format!("{BLOCKED4} 50000 {SERVER4} 22"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(x.xdp_set("blocklist").1, 1);
    x.send_udp(BLOCKED4, 10);
    assert!(eventually(WAIT, || x.nft_blocked("blocklist") >= 10));
    assert_eq!(x.xdp_dropped("blocklist"), 0);
    assert!(x.status()["allowed_packets"].as_u64().unwrap() >= 10);
}

#[test]
fn a_full_map_names_the_set_and_nftables_still_blocks() {
    let Some(x) = XdpLab::new() else { return };
    x.ok(&["xdp", "attach", &x.server_if, "--max-entries", "4"]);
    let list = format!("10.0.0.1\n10.0.0.3\n10.0.0.5\n10.0.0.7\n10.0.0.9\n{BLOCKED4}\n");
    let file = x.lab.write_config("six.txt", &list);
    x.ok(&["set", "create", "many", "--block", "drop"]);
    let said = x.ok(&["set", "load", "many", &file]);
    assert!(
        said.contains("drop_v4 map is full") && said.contains("`many`"),
        "{said}"
    );
    assert!(said.contains("nftables still"), "{said}");
    assert!(!x.connects(BLOCKED4));
    assert!(x.nft_blocked("many") > 0);
}

#[test]
fn bad_interfaces_drivers_and_places_get_clear_errors() {
    let Some(x) = XdpLab::new() else { return };
    let e = x.fails(&["xdp", "attach", "nosuch0"]);
    assert!(e.contains("`nosuch0` does not exist"), "{e}");
    let e = x.fails(&["xdp", "attach", "lo"]);
    assert!(e.contains("loopback"), "{e}");
    // A bridge has no native XDP: refused in native mode, generic in auto mode.
    x.lab
        .server
        .ip(&["link", "add", "brx", "type", "bridge"])
        .unwrap();
    let e = x.fails(&["xdp", "attach", "brx", "--mode", "native"]);
    assert!(e.contains("refuses native XDP"), "{e}");
    let said = x.ok(&["xdp", "attach", "brx"]);
    assert!(said.contains("generic mode"), "{said}");
    assert!(said.contains("native mode failed on `brx`"), "{said}");
    let e = x.fails(&["xdp", "detach", "nosuch0"]);
    assert!(e.contains("nosuch0"), "{e}");
    x.ok(&["xdp", "detach", "--all"]);

    // A pin directory that is not on bpffs.
    let plain = x.lab.state.join("not-bpffs");
    let out = x
        .command(&["xdp", "attach", &x.server_if])
        .env("PALISADE_BPF_DIR", &plain)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("not on a BPF filesystem"),
        "{e}"
    );

    // No BPF for this process (as in a container without CAP_BPF).
    let out = Command::new("ip")
        .args(["netns", "exec", x.lab.server.name()])
        .args(["setpriv", "--bounding-set=-bpf,-sys_admin,-perfmon"])
        .arg(env!("CARGO_BIN_EXE_palisade"))
        .args(["xdp", "attach", &x.server_if])
        .env("PALISADE_STATE_DIR", &x.lab.state)
        .env("PALISADE_BPF_DIR", x.bpf.root())
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("BPF is not available"),
        "{e}"
    );
}

#[test]
fn a_log_watcher_ban_reaches_xdp_at_once() {
    let Some(x) = XdpLab::new() else { return };
    x.attach("native");
    let failure = format!("Failed password for root from {BLOCKED4} port 4242 ssh2\n");
    let log = x.lab.write_config("auth.log", &failure.repeat(2));
    let config = x.lab.write_config(
        "watch.toml",
        &format!("[jails.sshd]\nfile = \"{log}\"\nmaxretry = 2\nbantime = \"1h\"\n"),
    );
    let mut watcher = x
        .command(&["watch", "--from-start", "-c", &config])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let banned = eventually(WAIT, || x.xdp_set("bans").1 == 1);
    x.send_udp(BLOCKED4, 10);
    let dropped = eventually(WAIT, || x.xdp_dropped("bans") >= 10);
    // SAFETY: signalling our own child (SIGTERM: it saves and exits).
    unsafe { libc::kill(watcher.id() as i32, libc::SIGTERM) };
    watcher.wait().unwrap();
    assert!(banned, "the ban never reached XDP: {}", x.status());
    assert!(dropped);
    assert_eq!(x.nft_blocked("bans"), 0);
}

#[test]
fn a_ban_the_kernel_made_by_itself_reaches_xdp_with_the_next_sync() {
    let Some(x) = XdpLab::new() else { return };
    let config = format!(
        "[input]\npolicy = \"accept\"\nallow = [{{ port = {PORT}, limit = \"1/second burst 2\", \
         per_source = true, over = \"ban\", ban_for = \"10m\" }}]\n"
    );
    x.ok(&["apply", "-c", &x.lab.write_config("flood.toml", &config)]);
    x.attach("native");
    // Over the limit: the kernel puts the source into the `flood` set from the packet path.
    let is_banned = || x.run(&["set", "test", "flood", BLOCKED4]).status.success();
    assert!(eventually(WAIT, || {
        x.connects(BLOCKED4);
        is_banned()
    }));
    // No palisade command saw it: XDP does not hold it until a sync.
    assert_eq!(x.xdp_set("flood").1, 0);
    // What the timer runs every minute: the kernel's bans added, nothing read back.
    let said = x.ok(&["xdp", "sync", "--kernel-bans"]);
    assert!(said.contains("1 entries written"), "{said}");
    assert_eq!(x.xdp_set("flood").1, 1);
    let said = x.ok(&["xdp", "sync"]);
    assert!(
        said.contains("in step") && said.contains("0 written"),
        "{said}"
    );
    let blocked = x.nft_blocked("flood");
    x.send_udp(BLOCKED4, 10);
    assert!(eventually(WAIT, || x.xdp_dropped("flood") >= 10));
    assert_eq!(x.nft_blocked("flood"), blocked);
}

#[test]
fn a_reloaded_list_changes_xdp_by_its_difference() {
    let Some(x) = XdpLab::new() else { return };
    x.attach("native");
    x.ok(&["set", "create", "list", "--block", "drop"]);
    let first = x
        .lab
        .write_config("first.txt", "198.18.0.0/30\n203.0.113.0/24\n");
    x.ok(&["set", "load", "list", &first]);
    x.ok(&["set", "add", "list", "198.18.0.8", "--timeout", "1h"]);
    assert_eq!(x.xdp_set("list").1, 3);
    assert!(!x.connects(ALLOWED4));
    // The network shrinks to one address, the other network and the recent addition go (the
    // load folds the recent part in), a new network comes.
    let second = x
        .lab
        .write_config("second.txt", &format!("{BLOCKED4}\n198.51.100.0/24\n"));
    x.ok(&["set", "load", "list", &second]);
    assert_eq!(x.xdp_set("list").1, 2, "{}", x.status());
    assert!(x.connects(ALLOWED4));
    x.send_udp(BLOCKED4, 10);
    assert!(eventually(WAIT, || x.xdp_dropped("list") >= 10));
    assert_eq!(x.nft_blocked("list"), 0);
}

#[test]
fn a_peers_ban_reaches_xdp_on_the_receiving_host() {
    let Some(mut lab) = fleet_lab::FleetLab::new(|_| String::new()) else {
        return;
    };
    let bpf = palisade_lab::BpfMount::new().unwrap();
    lab.env.push(("PALISADE_BPF_DIR", bpf.root()));
    lab.start_all();
    let (a, b) = (0, 1);
    let link = lab.hosts[b].link.clone();
    lab.ok(b, &["xdp", "attach", &link]);
    lab.listen(b, 8080);
    let banned = fleet_lab::ATTACKER[0];
    lab.ok(a, &["block", &banned.to_string(), "--timeout", "1h"]);
    // Host b's fleet daemon puts the peer's ban into its set `fleet`, and into XDP with it.
    let entries = || {
        let out = lab.ok(b, &["xdp", "status", "--json"]);
        let s: serde_json::Value = serde_json::from_str(&out).unwrap();
        s["sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "fleet")
            .map_or(0, |x| x["entries_v4"].as_u64().unwrap())
    };
    assert!(
        eventually(fleet_lab::WAIT, || entries() == 1),
        "the peer's ban never reached XDP on b"
    );
    assert!(!lab.connects(banned, b, 8080));
    let status = lab.ok(b, &["xdp", "status", "--json"]);
    let s: serde_json::Value = serde_json::from_str(&status).unwrap();
    let fleet = s["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "fleet")
        .unwrap();
    assert!(fleet["dropped_packets"].as_u64().unwrap() > 0, "{s}");
}
