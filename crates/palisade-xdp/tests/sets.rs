//! One set at a time against the real kernel: counter ids named beside the maps, a set's
//! entries replaced, addresses withdrawn from a network, the allowlist on its own.

mod lab;

use std::net::IpAddr;
use std::time::Duration;

use lab::*;
use palisade_core::{AddrRange, Interval};
use palisade_xdp::{Capacity, Entry, Mode, SetId, Xdp};

fn addr(a: &str) -> AddrRange {
    AddrRange::from(a.parse::<IpAddr>().unwrap())
}

fn net() -> AddrRange {
    let v4 = |a: &str| u32::from(a.parse::<std::net::Ipv4Addr>().unwrap());
    AddrRange::V4(Interval::new(v4(LISTED_NET), v4(LISTED_NET_LAST)).unwrap())
}

fn permanent(ranges: &[AddrRange]) -> Vec<Entry> {
    ranges
        .iter()
        .map(|&range| Entry {
            range,
            expires: None,
        })
        .collect()
}

fn attached(lab: &Lab) -> Xdp {
    lab.in_host(|root, ifname| Xdp::attach(root, ifname, Mode::Generic, Capacity::default()))
        .unwrap();
    lab.in_host(|root, _| Xdp::open(root)).unwrap().unwrap()
}

#[test]
fn counter_ids_are_named_once_and_go_with_the_state() {
    let Some(lab) = Lab::start() else { return };
    let mut x = attached(&lab);
    let a = x.set_id("blocklist").unwrap();
    let b = x.set_id("bans").unwrap();
    assert_ne!(a, b);
    // Another process (another handle) sees the same ids.
    let mut again = Xdp::open_at(x.dir()).unwrap().unwrap();
    assert_eq!(again.set_id("blocklist").unwrap(), a);
    assert_eq!(again.find_set("bans").unwrap(), Some(b));
    assert_eq!(again.find_set("nosuch").unwrap(), None);
    assert_eq!(
        again.set_names().unwrap(),
        vec![(a, "blocklist".to_string()), (b, "bans".to_string())]
    );
    // A released id is given out again, with its counter at zero.
    x.add(a, "blocklist", &[addr(LISTED)], None).unwrap();
    lab.send_udp(LISTED, 3);
    assert!(wait_until(Duration::from_secs(5), || x
        .counters()
        .unwrap()
        .dropped_by(a)
        .packets
        >= 3));
    x.clear_set(a).unwrap();
    x.release_set(a).unwrap();
    assert_eq!(x.set_id("feed").unwrap(), a);
    assert_eq!(x.counters().unwrap().dropped_by(a).packets, 0);
    // Detaching removes the names with the maps.
    let dir = x.dir().to_path_buf();
    assert!(lab.in_host(|_, ifname| x.detach(ifname)).unwrap());
    assert!(!dir.exists(), "state left in {}", dir.display());
}

#[test]
fn replacing_one_set_leaves_the_others() {
    let Some(lab) = Lab::start() else { return };
    let mut x = attached(&lab);
    let (list, bans) = (SetId(0), SetId(1));
    x.add(bans, "bans", &[addr(TIMED)], None).unwrap();
    let r = x
        .replace_set(list, "list", &permanent(&[addr(LISTED), net()]))
        .unwrap();
    assert_eq!((r.written, r.deleted), (2, 0));
    let r = x
        .replace_set(list, "list", &permanent(&[addr(LISTED6)]))
        .unwrap();
    assert_eq!((r.written, r.deleted), (1, 2));
    let counts = x.entries_by_set().unwrap();
    assert_eq!(counts.get(&list), Some(&(0, 1)));
    assert_eq!(counts.get(&bans), Some(&(1, 0)));
    lab.send_udp(LISTED, 3);
    assert!(wait_until(Duration::from_secs(5), || lab
        .nft_packets(LISTED)
        >= 3));
    assert_eq!(x.clear_set(list).unwrap(), 1);
    assert_eq!(x.drop_entry_counts().unwrap(), (1, 0));
}

#[test]
fn an_address_withdrawn_from_a_network_passes_and_the_rest_still_drops() {
    let Some(lab) = Lab::start() else { return };
    let mut x = attached(&lab);
    let list = SetId(2);
    x.replace_set(list, "list", &permanent(&[net()])).unwrap();
    let r = x.withdraw(list, "list", &[addr(NET_MEMBER)]).unwrap();
    // The /28 goes; .16/31 is cut around .18 into .16/31, .19/32, .20/30 and .24/29.
    assert_eq!((r.deleted, r.written), (1, 4));
    lab.send_udp(NET_MEMBER, 3);
    assert!(wait_until(Duration::from_secs(5), || lab
        .nft_packets(NET_MEMBER)
        >= 3));
    lab.send_udp(ALLOWED_IN_NET, 3);
    assert!(wait_until(Duration::from_secs(5), || x
        .counters()
        .unwrap()
        .dropped_by(list)
        .packets
        >= 3));
    assert_eq!(lab.nft_packets(ALLOWED_IN_NET), 0);
    // Withdrawing the whole network walks the trie and takes every piece.
    let r = x.withdraw(list, "list", &[net()]).unwrap();
    assert_eq!((r.deleted, r.written), (4, 0));
    assert_eq!(x.drop_entry_counts().unwrap(), (0, 0));

    // Told what the set held, a withdrawal finds the entries by lookups: the /28 is cut to
    // its upper half by withdrawing .16-.23, and a /32 of another set inside stays.
    x.replace_set(list, "list", &permanent(&[net()])).unwrap();
    x.add(SetId(9), "other", &[addr(NET_MEMBER)], None).unwrap();
    let v4 = |a: &str| u32::from(a.parse::<std::net::Ipv4Addr>().unwrap());
    let lower = AddrRange::V4(Interval::new(v4(LISTED_NET), v4("192.0.2.23")).unwrap());
    let r = x.withdraw_held(list, "list", &[lower], &[net()]).unwrap();
    assert_eq!((r.deleted, r.written), (1, 1));
    let counts = x.entries_by_set().unwrap();
    assert_eq!(counts.get(&list), Some(&(1, 0)));
    assert_eq!(counts.get(&SetId(9)), Some(&(1, 0)));
}

#[test]
fn the_allowlist_is_synced_on_its_own() {
    let Some(lab) = Lab::start() else { return };
    let mut x = attached(&lab);
    x.replace_set(SetId(0), "list", &permanent(&[net()]))
        .unwrap();
    assert_eq!(x.add_allow(&[addr(ALLOWED_IN_NET)]).unwrap(), 1);
    lab.send_udp(ALLOWED_IN_NET, 3);
    assert!(wait_until(Duration::from_secs(5), || lab
        .nft_packets(ALLOWED_IN_NET)
        >= 3));
    let r = x.sync_allow(&[addr(NET_MEMBER)]).unwrap();
    assert_eq!((r.written, r.deleted), (1, 1));
    let seen = lab.nft_packets(ALLOWED_IN_NET);
    lab.send_udp(ALLOWED_IN_NET, 3);
    lab.send_udp(NET_MEMBER, 3);
    assert!(wait_until(Duration::from_secs(5), || lab
        .nft_packets(NET_MEMBER)
        >= 3));
    assert_eq!(lab.nft_packets(ALLOWED_IN_NET), seen);
}
