//! A namespace's own addresses from the real kernel: the dump at start, the changes after it,
//! and a burst of changes larger than the notification queue, which must end in a new dump
//! and the exact list, not a list missing what the lost notifications said.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use palisade_lab::Netns;
use palisade_nft::HostAddrs;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A namespace with `lo` up (127.0.0.1, ::1) and a veth end holding one address of each family.
fn namespace() -> Option<Netns> {
    if !palisade_lab::require() {
        return None;
    }
    let ns = Netns::create("addr").unwrap();
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        .unwrap();
    ns.ip(&[
        "addr",
        "add",
        "10.9.8.7/32",
        "peer",
        "10.9.8.1/32",
        "dev",
        "v0",
    ])
    .unwrap();
    ns.ip(&["addr", "add", "2001:db8:5::7/64", "dev", "v0", "nodad"])
        .unwrap();
    Some(ns)
}

#[test]
fn the_namespaces_addresses_not_the_callers_and_their_changes() {
    let Some(ns) = namespace() else { return };
    let mut addrs = HostAddrs::open_in_netns(&ns.path()).unwrap();
    let start = addrs.addresses();
    for a in ["127.0.0.1", "::1", "10.9.8.7", "2001:db8:5::7"] {
        assert!(start.contains(&ip(a)), "{a} missing from {start:?}");
    }
    assert!(
        !start.contains(&ip("10.9.8.1")),
        "the peer's address is not ours"
    );
    assert!(!addrs.refresh().unwrap(), "nothing changed yet");

    ns.ip(&["addr", "add", "198.51.100.10/32", "dev", "lo"])
        .unwrap();
    // No waiting: for IPv4 the kernel queues the news before `ip` returns.
    assert!(addrs.refresh().unwrap());
    assert!(addrs.addresses().contains(&ip("198.51.100.10")));
    // An IPv6 address is announced from the kernel's address work queue, right after.
    ns.ip(&["addr", "add", "2001:db8:99::10/128", "dev", "lo", "nodad"])
        .unwrap();
    assert!(palisade_lab::eventually(Duration::from_secs(2), || {
        addrs.refresh().unwrap();
        addrs.addresses().contains(&ip("2001:db8:99::10"))
    }));

    ns.ip(&["addr", "del", "198.51.100.10/32", "dev", "lo"])
        .unwrap();
    assert!(addrs.refresh().unwrap());
    assert!(!addrs.addresses().contains(&ip("198.51.100.10")));
    ns.ip(&["link", "del", "v0"]).unwrap();
    assert!(addrs.refresh().unwrap());
    let gone = addrs.addresses();
    assert!(!gone.contains(&ip("10.9.8.7")) && !gone.contains(&ip("2001:db8:5::7")));
}

#[test]
fn lost_notifications_end_in_a_new_dump_with_the_exact_list() {
    let Some(ns) = namespace() else { return };
    let mut addrs = HostAddrs::open_in_netns(&ns.path()).unwrap();
    let mut want: BTreeSet<IpAddr> = addrs.addresses();
    // Far more changes than the 1 MiB queue holds (each notification takes about a kilobyte
    // of it), made while nobody reads: the kernel drops some and says so.
    let mut batch = String::new();
    for i in 0..6000u32 {
        let a = format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256);
        batch.push_str(&format!("address add {a}/32 dev lo\n"));
        if i % 3 == 0 {
            batch.push_str(&format!("address del {a}/32 dev lo\n"));
        } else {
            want.insert(ip(&a));
        }
    }
    let file = std::env::temp_dir().join(format!("palisade-addr-batch-{}", std::process::id()));
    std::fs::write(&file, batch).unwrap();
    let status = ns.command("ip").arg("-batch").arg(&file).status().unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(status.success());
    assert!(addrs.refresh().unwrap());
    assert_eq!(addrs.addresses(), want);
}
