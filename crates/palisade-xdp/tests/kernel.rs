//! The XDP program against the real kernel: a client namespace sends to a host namespace over
//! veth, palisade's program runs on the host's end, and an nftables counter at prerouting (raw
//! priority) in the host namespace shows what still reached netfilter.

mod lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::*;
use palisade_core::{AddrRange, Interval};
use palisade_xdp::{kernel_now, ActiveMode, Capacity, DropSet, Entry, Mode, SetId, Xdp, XdpError};

const BLOCKLIST: SetId = SetId(0);
const BANS: SetId = SetId(1);

fn addr(a: &str) -> AddrRange {
    AddrRange::from(a.parse::<IpAddr>().unwrap())
}

fn v4(a: &str) -> u32 {
    u32::from(a.parse::<std::net::Ipv4Addr>().unwrap())
}

fn entry(range: AddrRange) -> Entry {
    Entry {
        range,
        expires: None,
    }
}

/// The blocklist: one address, one network, one IPv6 address; the allowlist holds one
/// address inside the network.
fn blocklist() -> (Vec<DropSet>, Vec<AddrRange>) {
    let net = AddrRange::V4(Interval::new(v4(LISTED_NET), v4(LISTED_NET_LAST)).unwrap());
    let set = DropSet {
        id: BLOCKLIST,
        name: "blocklist".into(),
        entries: vec![entry(addr(LISTED)), entry(net), entry(addr(LISTED6))],
    };
    (vec![set], vec![addr(ALLOWED_IN_NET)])
}

/// Attach palisade's program to the lab host's end of the veth pair, default capacity.
fn attach(lab: &Lab, mode: Mode) -> palisade_xdp::Result<palisade_xdp::AttachInfo> {
    lab.in_host(|root, ifname| Xdp::attach(root, ifname, mode, Capacity::default()))
}

fn open(lab: &Lab) -> Xdp {
    lab.in_host(|root, _| Xdp::open(root))
        .unwrap()
        .expect("pinned XDP state after attach")
}

fn dropped(x: &Xdp, set: SetId) -> u64 {
    x.counters().unwrap().dropped_by(set).packets
}

/// Attach in `mode`, sync the blocklist, and check packet by packet what XDP drops and what
/// reaches netfilter.
fn listed_dropped_before_netfilter(mode: Mode, expect: ActiveMode) {
    let Some(lab) = Lab::start() else { return };
    let _listeners = lab.listen();
    let info = attach(&lab, mode).unwrap();
    assert_eq!(info.mode, expect, "{info:?}");
    assert!(!info.already_attached);
    // `attach` kept no handle: what follows finds the pinned state, as another process would.
    let mut x = open(&lab);
    let (sets, allow) = blocklist();
    let report = x.sync(&sets, &allow).unwrap();
    assert_eq!(report.entries, (2, 1), "{report:?}"); // 192.0.2.16-31 is one prefix, a /28

    // A listed address, an address inside a listed network, an IPv6 address: every datagram
    // is counted at XDP and none reaches netfilter; a TCP connection fails.
    for (source, n) in [(LISTED, 20), (NET_MEMBER, 5), (LISTED6, 5)] {
        let before = dropped(&x, BLOCKLIST);
        lab.send_udp(source, n);
        assert!(
            wait_until(Duration::from_secs(5), || dropped(&x, BLOCKLIST)
                >= before + n as u64),
            "{source}: {} of {n} dropped",
            dropped(&x, BLOCKLIST) - before
        );
        assert_eq!(lab.nft_packets(source), 0, "{source} reached netfilter");
    }
    assert!(!lab.connects(LISTED, Duration::from_millis(600)));
    assert_eq!(lab.nft_packets(LISTED), 0);

    // An unlisted source connects, and netfilter sees it (the baseline counter works).
    assert!(lab.connects(UNLISTED, Duration::from_secs(3)));
    assert!(lab.nft_packets(UNLISTED) > 0);
    assert!(lab.connects(UNLISTED6, Duration::from_secs(3)));
    assert!(lab.nft_packets(UNLISTED6) > 0);

    // An allowlisted address inside the listed network passes, and is counted as such.
    let dropped_before = dropped(&x, BLOCKLIST);
    assert!(lab.connects(ALLOWED_IN_NET, Duration::from_secs(3)));
    assert!(lab.nft_packets(ALLOWED_IN_NET) > 0);
    let counters = x.counters().unwrap();
    assert!(counters.allowed.packets > 0);
    assert_eq!(counters.dropped_by(BLOCKLIST).packets, dropped_before);

    let status = lab.in_host(|_, _| x.status()).unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].name.as_deref(), Some(lab.host_if.as_str()));
    assert_eq!(status[0].mode, Some(expect));
}

#[test]
fn native_xdp_drops_listed_sources_before_netfilter_and_passes_the_rest() {
    listed_dropped_before_netfilter(Mode::Native, ActiveMode::Native);
}

#[test]
fn generic_xdp_drops_listed_sources_before_netfilter_and_passes_the_rest() {
    listed_dropped_before_netfilter(Mode::Generic, ActiveMode::Generic);
}

#[test]
fn timed_ban_drops_until_its_deadline_then_never_again() {
    let Some(lab) = Lab::start() else { return };
    attach(&lab, Mode::Auto).unwrap();
    let mut x = open(&lab);
    let ban_for = Duration::from_secs(3);
    let deadline = kernel_now().unwrap().after(ban_for);
    let banned_at = Instant::now();
    assert_eq!(
        x.add(BANS, "bans", &[addr(TIMED)], Some(deadline)).unwrap(),
        1
    );

    // In the map, with its deadline and owner.
    let entries = x.drop_entries().unwrap();
    assert_eq!(entries.v4.len(), 1);
    let (prefix, value) = entries.v4[0];
    assert_eq!(prefix.to_string(), format!("{TIMED}/32"));
    assert_eq!((value.set, value.expires), (BANS, Some(deadline)));

    // Drops while the ban runs.
    lab.send_udp(TIMED, 3);
    assert!(wait_until(Duration::from_secs(2), || dropped(&x, BANS) >= 3));
    assert_eq!(lab.nft_packets(TIMED), 0);
    assert!(
        banned_at.elapsed() < ban_for,
        "the machine was too slow to test the ban window"
    );

    // Once the deadline passes, packets reach netfilter, with no sync in between.
    assert!(wait_until(ban_for + Duration::from_secs(5), || {
        lab.send_udp(TIMED, 1);
        lab.nft_packets(TIMED) > 0
    }));
    let dropped_at_end = dropped(&x, BANS);
    let seen = lab.nft_packets(TIMED);
    lab.send_udp(TIMED, 10);
    assert!(wait_until(Duration::from_secs(5), || lab
        .nft_packets(TIMED)
        >= seen + 10));
    assert_eq!(
        dropped(&x, BANS),
        dropped_at_end,
        "dropped after the ban ended"
    );
    assert!(x.counters().unwrap().expired.packets >= 10);

    // The next sync deletes the expired entry.
    let report = x.sync(&[], &[]).unwrap();
    assert_eq!((report.deleted, report.expired), (1, 1));
    assert!(x.drop_entries().unwrap().v4.is_empty());
}

#[test]
fn incremental_changes_keep_the_better_owner() {
    let Some(lab) = Lab::start() else { return };
    attach(&lab, Mode::Generic).unwrap();
    let mut x = open(&lab);
    let soon = kernel_now().unwrap().after(Duration::from_secs(600));
    assert_eq!(
        x.add(BLOCKLIST, "blocklist", &[addr(LISTED)], None)
            .unwrap(),
        1
    );
    // A timed ban on an address the blocklist holds for good changes nothing...
    assert_eq!(x.add(BANS, "bans", &[addr(LISTED)], Some(soon)).unwrap(), 0);
    // ...and removing it from the bans leaves the blocklist's entry dropping.
    assert_eq!(x.remove(BANS, &[addr(LISTED)]).unwrap(), 0);
    lab.send_udp(LISTED, 3);
    assert!(wait_until(Duration::from_secs(5), || dropped(
        &x, BLOCKLIST
    ) >= 3));
    assert_eq!(lab.nft_packets(LISTED), 0);
    // The owner's removal stops the drop at once.
    assert_eq!(x.remove(BLOCKLIST, &[addr(LISTED)]).unwrap(), 1);
    lab.send_udp(LISTED, 3);
    assert!(wait_until(Duration::from_secs(5), || lab
        .nft_packets(LISTED)
        >= 3));
    // A range becomes its prefixes: .16-.31 is one /28, .10-.12 is a /31 and a /32.
    let range = AddrRange::V4(Interval::new(v4(LISTED), v4(TIMED)).unwrap());
    assert_eq!(x.add(BANS, "bans", &[range], Some(soon)).unwrap(), 2);
    assert_eq!(x.drop_entry_counts().unwrap(), (2, 0));
}

#[test]
fn a_million_addresses_load_into_the_trie() {
    let Some(lab) = Lab::start() else { return };
    attach(&lab, Mode::Generic).unwrap();
    let mut x = open(&lab);
    // Distinct pseudo-random addresses: multiplying by an odd constant is a bijection mod 2^32.
    let entries: Vec<Entry> = (0u32..1_000_000)
        .map(|i| {
            entry(AddrRange::V4(Interval::single(
                i.wrapping_mul(2_654_435_761),
            )))
        })
        .collect();
    let sets = [DropSet {
        id: BLOCKLIST,
        name: "big".into(),
        entries,
    }];
    let t = Instant::now();
    let report = x.sync(&sets, &[]).unwrap();
    let load = t.elapsed();
    assert_eq!(report.written, 1_000_000);
    assert_eq!(x.drop_entry_counts().unwrap(), (1_000_000, 0));
    let t = Instant::now();
    let again = x.sync(&sets, &[]).unwrap();
    let resync = t.elapsed();
    assert_eq!((again.written, again.deleted), (0, 0));
    eprintln!(
        "1,000,000 IPv4 /32s: first sync {load:.2?}, unchanged resync (reads all back) {resync:.2?}"
    );
}

#[test]
fn detach_removes_the_program_and_the_pinned_state() {
    let Some(lab) = Lab::start() else { return };
    let _listeners = lab.listen();
    attach(&lab, Mode::Native).unwrap();
    let mut x = open(&lab);
    let (sets, allow) = blocklist();
    x.sync(&sets, &allow).unwrap();
    assert!(!lab.connects(LISTED, Duration::from_millis(600)));
    let dir = x.dir().to_path_buf();
    assert!(dir.exists());
    let ip_link = |lab: &Lab| {
        lab.host
            .output("ip", &["link", "show", &lab.host_if])
            .unwrap()
    };
    assert!(ip_link(&lab).contains("prog/xdp"), "{}", ip_link(&lab));

    assert!(lab.in_host(|_, ifname| x.detach(ifname)).unwrap());
    assert!(!dir.exists(), "pinned state left in {}", dir.display());
    assert!(lab.in_host(|root, _| Xdp::open(root)).unwrap().is_none());
    assert!(!ip_link(&lab).contains("prog/xdp"), "{}", ip_link(&lab));
    assert!(lab.connects(LISTED, Duration::from_secs(3)));
    assert!(lab.nft_packets(LISTED) > 0);
    // The root itself stays (it may hold other namespaces' state).
    assert!(lab.bpf.root().exists());
}

#[test]
fn missing_interface_and_bad_names_are_typed_errors() {
    let Some(lab) = Lab::start() else { return };
    let err = lab
        .in_host(|root, _| Xdp::attach(root, "nosuch0", Mode::Auto, Capacity::default()))
        .unwrap_err();
    assert!(
        matches!(err, XdpError::NoSuchInterface { ref name } if name == "nosuch0"),
        "{err}"
    );
    let err = lab
        .in_host(|root, _| Xdp::attach(root, "a/b", Mode::Auto, Capacity::default()))
        .unwrap_err();
    assert!(matches!(err, XdpError::BadInterfaceName { .. }), "{err}");
    // Nothing was pinned.
    assert!(!lab.bpf.root().exists());
}

#[test]
fn a_pin_dir_off_bpffs_is_refused() {
    let Some(lab) = Lab::start() else { return };
    let plain = std::env::temp_dir().join(format!("palisade-xdp-plain-{}", std::process::id()));
    std::fs::create_dir_all(&plain).unwrap();
    let err = lab
        .in_host(|_, ifname| Xdp::attach(&plain, ifname, Mode::Auto, Capacity::default()))
        .unwrap_err();
    let _ = std::fs::remove_dir_all(&plain);
    assert!(matches!(err, XdpError::PinDir { .. }), "{err}");
    assert!(err.to_string().contains("not on a BPF filesystem"), "{err}");
    let err = lab
        .in_host(|_, ifname| {
            Xdp::attach(
                "relative/dir".as_ref(),
                ifname,
                Mode::Auto,
                Capacity::default(),
            )
        })
        .unwrap_err();
    assert!(matches!(err, XdpError::PinDir { .. }), "{err}");
}

#[test]
fn a_driver_without_native_xdp_is_refused_or_falls_back_to_generic() {
    let Some(lab) = Lab::start() else { return };
    // Loopback has no native XDP support.
    let err = lab
        .in_host(|root, _| Xdp::attach(root, "lo", Mode::Native, Capacity::default()))
        .unwrap_err();
    assert!(matches!(err, XdpError::NativeUnsupported { .. }), "{err}");
    let info = lab
        .in_host(|root, _| Xdp::attach(root, "lo", Mode::Auto, Capacity::default()))
        .unwrap();
    assert_eq!(info.mode, ActiveMode::Generic);
    let why = info
        .native_refused
        .expect("auto mode says why it fell back");
    assert!(why.contains("native mode failed on `lo`"), "{why}");
    eprintln!("auto mode on lo: {why}");
}

#[test]
fn a_full_map_names_the_set() {
    let Some(lab) = Lab::start() else { return };
    let small = Capacity {
        drop_per_family: 8,
        allow_per_family: 4,
    };
    let info = lab
        .in_host(|root, ifname| Xdp::attach(root, ifname, Mode::Generic, small))
        .unwrap();
    assert_eq!(info.capacity, small);
    let mut x = open(&lab);
    let entries = (0..9u32)
        .map(|i| entry(AddrRange::V4(Interval::single(v4("198.51.100.0") + 2 * i))))
        .collect();
    let sets = [DropSet {
        id: BANS,
        name: "sshd-bans".into(),
        entries,
    }];
    let err = x.sync(&sets, &[]).unwrap_err();
    assert!(
        matches!(err, XdpError::MapFull { ref set, capacity: 8, .. } if set == "sshd-bans"),
        "{err}"
    );
}

#[test]
fn another_program_and_a_mode_change_are_refused() {
    let Some(lab) = Lab::start() else { return };
    let first = attach(&lab, Mode::Generic).unwrap();
    // Attaching again in a fitting mode changes nothing.
    let again = attach(&lab, Mode::Auto).unwrap();
    assert!(again.already_attached);
    assert_eq!(again.program_id, first.program_id);
    let err = attach(&lab, Mode::Native).unwrap_err();
    assert!(matches!(err, XdpError::ModeConflict { .. }), "{err}");
    // Under another pin root the program on the interface is not ours: refused, not replaced.
    let other = BpfMount::new().unwrap();
    let err = lab
        .in_host(|_, ifname| Xdp::attach(&other.root(), ifname, Mode::Generic, Capacity::default()))
        .unwrap_err();
    assert!(
        matches!(err, XdpError::ForeignProgram { prog_id, .. } if prog_id == first.program_id),
        "{err}"
    );
}

#[test]
fn a_removed_interface_shows_in_status_and_detach_all_clears_it() {
    let Some(lab) = Lab::start() else { return };
    attach(&lab, Mode::Native).unwrap();
    let x = open(&lab);
    lab.host.ip(&["link", "del", &lab.host_if]).unwrap();
    let status = lab.in_host(|_, _| x.status()).unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!((status[0].name.as_deref(), status[0].mode), (None, None));
    // Detaching by name cannot find it any more...
    let err = lab.in_host(|_, ifname| x.detach(ifname)).unwrap_err();
    assert!(matches!(err, XdpError::NoSuchInterface { .. }), "{err}");
    // ...detaching everything can.
    assert_eq!(lab.in_host(|root, _| Xdp::detach_all(root)).unwrap(), 1);
    assert!(!x.dir().exists());
    assert_eq!(lab.in_host(|root, _| Xdp::detach_all(root)).unwrap(), 0);
}
