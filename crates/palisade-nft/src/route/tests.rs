//! Decoding checked on bytes captured from a 6.18 kernel (x86-64, so in little-endian host
//! order, as netlink headers are): a namespace with `lo` up, a veth `d0` (index 3) holding
//! `10.9.8.7 peer 10.9.8.1` and `10.1.2.3/24`, then `ip addr add`/`del` of
//! `198.51.100.10/32` and `ip addr add 2001:db8:99::10/128 dev lo nodad` while subscribed.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The dump reply: four addresses in one datagram.
const DUMP: &str = concat!(
    "4c0000001400020007000000dfa49797020880fe01000000080001007f000001080002007f0000010700",
    "03006c6f0000080008008000000014000600ffffffffffffffff0e5d03000e5d03004c00000014000200",
    "07000000dfa497970220800003000000080001000a090801080002000a09080707000300643000000800",
    "08008000000014000600ffffffffffffffff125d0300125d03004c0000001400020007000000dfa49797",
    "0218800003000000080001000a010203080002000a010203070003006430000008000800800000001400",
    "0600ffffffffffffffff125d0300125d0300500000001400020007000000dfa497970a8080fe01000000",
    "140001000000000000000000000000000000000114000600ffffffffffffffff0e5d03000e5d03000800",
    "08008000000005000b0001000000",
);
const DUMP_DONE: &str = "140000000300020007000000dfa4979700000000";
const ADDED_V4: &str = concat!(
    "4c00000014000000eb4c0f6bbd5c0000022080000100000008000100c633640a08000200c633640a0700",
    "03006c6f0000080008008000000014000600ffffffffffffffff305d0300305d0300",
);
const REMOVED_V4: &str = concat!(
    "4c00000015000000eb4c0f6bbe5c0000022080000100000008000100c633640a08000200c633640a0700",
    "03006c6f0000080008008000000014000600ffffffffffffffff305d0300305d0300",
);
const ADDED_V6: &str = concat!(
    "480000001400000000000000000000000a808200010000001400010020010db800990000000000000000",
    "001014000600ffffffffffffffff315d0300315d03000800080082000000",
);

fn msgs(s: &str) -> Vec<RouteMsg> {
    let bytes = hex(s);
    parse_datagram(&bytes).map(|(_, m)| m).collect()
}

fn if_addr(index: u32, addr: &str, prefix_len: u8) -> IfAddr {
    IfAddr {
        index,
        addr: addr.parse().unwrap(),
        prefix_len,
    }
}

#[test]
fn the_request_is_what_ip_sends_for_a_dump() {
    // Header: length 24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq 7; AF_UNSPEC.
    assert_eq!(
        addr_dump_request(7),
        hex("180000001600010307000000000000000000000000000000")
    );
}

#[test]
fn a_dump_lists_every_address_and_the_local_one_of_a_peer_link() {
    assert_eq!(
        msgs(DUMP),
        [
            RouteMsg::Added(if_addr(1, "127.0.0.1", 8)),
            // IFA_ADDRESS is the peer 10.9.8.1; the host's own is IFA_LOCAL.
            RouteMsg::Added(if_addr(3, "10.9.8.7", 32)),
            RouteMsg::Added(if_addr(3, "10.1.2.3", 24)),
            RouteMsg::Added(if_addr(1, "::1", 128)),
        ]
    );
    assert_eq!(msgs(DUMP_DONE), [RouteMsg::Done]);
}

#[test]
fn notifications_add_and_remove() {
    let mut table = AddrTable::default();
    for m in msgs(DUMP) {
        table.apply(&m);
    }
    let before = table.addresses();
    assert_eq!(
        msgs(ADDED_V4),
        [RouteMsg::Added(if_addr(1, "198.51.100.10", 32))]
    );
    assert!(table.apply(&msgs(ADDED_V4)[0]));
    assert!(table
        .addresses()
        .contains(&"198.51.100.10".parse().unwrap()));
    assert!(
        !table.apply(&msgs(ADDED_V4)[0]),
        "the same news twice changes nothing"
    );
    assert!(table.apply(&msgs(REMOVED_V4)[0]));
    assert_eq!(table.addresses(), before);
    assert_eq!(
        msgs(ADDED_V6),
        [RouteMsg::Added(if_addr(1, "2001:db8:99::10", 128))]
    );
}

#[test]
fn an_address_on_two_interfaces_stays_until_removed_from_both() {
    let mut table = AddrTable::default();
    let (a, b) = (if_addr(2, "192.0.2.9", 24), if_addr(3, "192.0.2.9", 32));
    table.apply(&RouteMsg::Added(a));
    table.apply(&RouteMsg::Added(b));
    table.apply(&RouteMsg::Removed(a));
    assert!(table.addresses().contains(&a.addr));
    table.apply(&RouteMsg::Removed(b));
    assert!(table.addresses().is_empty());
}

#[test]
fn a_failed_duplicate_detection_means_not_ours() {
    let mut bytes = hex(ADDED_V6);
    bytes[16 + 2] |= IFA_F_DADFAILED;
    let got: Vec<RouteMsg> = parse_datagram(&bytes).map(|(_, m)| m).collect();
    assert_eq!(got, [RouteMsg::Removed(if_addr(1, "2001:db8:99::10", 128))]);
}

#[test]
fn errors_and_truncated_messages() {
    // An NLMSG_ERROR with errno -EPERM.
    let mut err = hex("24000000020000000700000000000000");
    err.extend_from_slice(&(-1i32).to_ne_bytes());
    err.extend_from_slice(&hex("180000001600010307000000000000000000000000000000")[..16]);
    assert_eq!(
        msgs(&err.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        [RouteMsg::Error(-1)]
    );
    // An address message cut inside its attributes: no address, not a panic.
    let mut cut = hex(ADDED_V4);
    cut.truncate(24);
    cut[0] = 24;
    assert_eq!(
        parse_datagram(&cut).map(|(_, m)| m).collect::<Vec<_>>(),
        [RouteMsg::Other]
    );
}

proptest::proptest! {
    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let mut table = AddrTable::default();
        for (_, m) in parse_datagram(&bytes) {
            table.apply(&m);
        }
    }
}
