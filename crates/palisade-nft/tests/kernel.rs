//! The netlink layer against the real kernel, each test in a namespace of its own.

use palisade_lab::Netns;
use palisade_nft::consts::*;
use palisade_nft::{Element, Key, KeyKind, Netlink, NftError, SetSpec};

const T: &str = "paltest";

fn setup(key: KeyKind) -> Option<(Netns, Netlink)> {
    if !palisade_lab::require() {
        return None;
    }
    let ns = Netns::create("nft").unwrap();
    let mut nl = Netlink::open_in_netns(&ns.path()).unwrap();
    let mut b = nl.batch(None);
    b.add_table(NFPROTO_INET, T);
    b.add_set(
        NFPROTO_INET,
        &SetSpec {
            table: T.into(),
            name: "s".into(),
            key,
            interval: true,
            timeout: true,
            default_timeout_ms: None,
            dynamic: false,
            size: None,
            comment: Some("palisade test".into()),
        },
        true,
    );
    nl.commit(b).unwrap();
    Some((ns, nl))
}

fn v4(s: &str) -> u32 {
    u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
}

/// [first, last] as the two elements of an rbtree interval set.
fn range(first: u32, last: u32) -> Vec<Element<'static>> {
    let mut v = vec![Element::key(Key::ipv4(first))];
    if let Some(end) = last.checked_add(1) {
        v.push(Element::interval_end(Key::ipv4(end)));
    }
    v
}

fn dump(nl: &mut Netlink) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    nl.elements(NFPROTO_INET, T, "s", |e| {
        out.push((e.key.to_string(), e.is_interval_end()))
    })
    .unwrap();
    out.sort();
    out
}

fn nft_list(ns: &Netns) -> String {
    ns.output("nft", &["list", "set", "inet", T, "s"]).unwrap()
}

#[test]
fn intervals_round_trip_and_nft_agrees() {
    let Some((ns, mut nl)) = setup(KeyKind::Ipv4) else {
        return;
    };
    let mut b = nl.batch(None);
    let mut elems = range(v4("10.0.0.0"), v4("10.255.255.255"));
    elems.extend(range(v4("192.0.2.7"), v4("192.0.2.7")));
    elems.extend(range(v4("255.255.255.0"), v4("255.255.255.255")));
    b.add_elements(NFPROTO_INET, T, "s", false, elems);
    nl.commit(b).unwrap();

    let got = dump(&mut nl);
    assert!(got.contains(&("10.0.0.0".into(), false)));
    assert!(got.contains(&("11.0.0.0".into(), true)));
    assert!(got.contains(&("192.0.2.7".into(), false)));
    let listed = nft_list(&ns);
    for want in ["10.0.0.0/8", "192.0.2.7", "255.255.255.0/24"] {
        assert!(listed.contains(want), "nft list lacks {want}:\n{listed}");
    }

    // membership through a single kernel lookup
    let hit = nl
        .get_element(NFPROTO_INET, T, "s", Key::ipv4(v4("10.1.2.3")))
        .unwrap();
    assert_eq!(hit.map(|e| e.key.to_string()), Some("10.0.0.0".into()));
    let miss = nl
        .get_element(NFPROTO_INET, T, "s", Key::ipv4(v4("11.1.2.3")))
        .unwrap();
    assert!(miss.is_none());
}

#[test]
fn failed_batch_changes_nothing_and_names_the_element() {
    let Some((_ns, mut nl)) = setup(KeyKind::Ipv4) else {
        return;
    };
    let mut b = nl.batch(None);
    b.add_elements(
        NFPROTO_INET,
        T,
        "s",
        false,
        range(v4("10.0.0.0"), v4("10.0.0.255")),
    );
    nl.commit(b).unwrap();
    let before = dump(&mut nl);

    // Many good elements, then one that overlaps an existing range: the whole batch must fail.
    let mut b = nl.batch(None);
    let mut elems: Vec<_> = (0..5000u32)
        .flat_map(|i| range(v4("20.0.0.0") + 2 * i, v4("20.0.0.0") + 2 * i))
        .collect();
    elems.extend(range(v4("10.0.0.128"), v4("10.0.1.10")));
    b.add_elements(NFPROTO_INET, T, "s", true, elems);
    let err = nl.commit(b).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, NftError::Kernel { .. }), "{msg}");
    assert!(msg.contains("set s"), "{msg}");
    assert!(
        msg.contains("10.0."),
        "error should name the element: {msg}"
    );
    assert_eq!(dump(&mut nl), before);
}

#[test]
fn stale_generation_is_refused() {
    let Some((_ns, mut nl)) = setup(KeyKind::Ipv4) else {
        return;
    };
    let gen = nl.generation().unwrap();
    let mut b = nl.batch(None);
    b.add_elements(NFPROTO_INET, T, "s", false, range(1, 1));
    nl.commit(b).unwrap();
    let mut b = nl.batch(Some(gen));
    b.add_elements(NFPROTO_INET, T, "s", false, range(5, 5));
    assert!(matches!(nl.commit(b), Err(NftError::GenerationChanged)));
    assert_eq!(dump(&mut nl).len(), 2);
}

#[test]
fn timeouts_expire() {
    let Some((_ns, mut nl)) = setup(KeyKind::Ipv4) else {
        return;
    };
    let mut b = nl.batch(None);
    let mut e = range(v4("198.51.100.1"), v4("198.51.100.1"));
    e[0].timeout_ms = Some(1000);
    e[0].comment = Some("short");
    b.add_elements(NFPROTO_INET, T, "s", false, e);
    nl.commit(b).unwrap();
    let mut seen = Vec::new();
    nl.elements(NFPROTO_INET, T, "s", |e| seen.push(e)).unwrap();
    let start = seen.iter().find(|e| !e.is_interval_end()).unwrap();
    assert_eq!(start.timeout_ms, Some(1000));
    assert_eq!(start.comment.as_deref(), Some("short"));
    let expired = palisade_lab::eventually(std::time::Duration::from_secs(10), || {
        nl.get_element(NFPROTO_INET, T, "s", Key::ipv4(v4("198.51.100.1")))
            .unwrap()
            .is_none()
    });
    assert!(expired, "element should have expired");
}

#[test]
fn concatenated_address_port_sets() {
    let Some((ns, mut nl)) = setup(KeyKind::Ipv4ProtoPort) else {
        return;
    };
    let mut b = nl.batch(None);
    let e = Element {
        key: Key::with_proto_port(&[10, 0, 0, 0], 6, 22),
        key_end: Some(Key::with_proto_port(&[10, 0, 0, 255], 6, 22)),
        ..Element::key(Key::ipv4(0))
    };
    b.add_elements(NFPROTO_INET, T, "s", false, [e]);
    nl.commit(b).unwrap();
    let listed = nft_list(&ns);
    assert!(listed.contains("10.0.0.0/24 . tcp . 22"), "{listed}");
}

/// Kernels that report a set's element count (6.18 does) count, for a plain interval set, its
/// interval-end elements: one per range, none for a range that runs to the top. palisade's
/// set cache relies on this to notice changes made behind its back.
#[test]
fn set_count_counts_interval_ends_where_reported() {
    let Some((_ns, mut nl)) = setup(KeyKind::Ipv4) else {
        return;
    };
    let count = |nl: &mut Netlink| {
        nl.sets(NFPROTO_INET, T)
            .unwrap()
            .into_iter()
            .find(|s| s.name == "s")
            .unwrap()
            .count
    };
    let mut b = nl.batch(None);
    b.add_elements(
        NFPROTO_INET,
        T,
        "s",
        false,
        range(v4("255.255.255.255"), v4("255.255.255.255")),
    );
    nl.commit(b).unwrap();
    let Some(top_only) = count(&mut nl) else {
        eprintln!("this kernel does not report set element counts");
        return;
    };
    assert_eq!(top_only, 0);
    let mut b = nl.batch(None);
    b.add_elements(
        NFPROTO_INET,
        T,
        "s",
        false,
        (0..1000u32).flat_map(|i| range(v4("20.0.0.0") + 4 * i, v4("20.0.0.0") + 4 * i + 1)),
    );
    nl.commit(b).unwrap();
    assert_eq!(count(&mut nl), Some(1000));
}

/// Lookups prove what a set holds without a dump: each expected element exactly (a key that
/// only lands inside a range, or an end where a start is, does not count), none missing.
#[test]
fn lookups_prove_exact_contents() {
    let Some((_ns, mut nl)) = setup(KeyKind::Ipv4) else {
        return;
    };
    let mut b = nl.batch(None);
    let mut held = range(v4("10.0.0.0"), v4("10.0.0.9"));
    // (Not touching: palisade merges touching ranges, and the kernel's lookup of an end key
    // that is also the next range's start finds the start, so such a pair is never proven:
    // a false "no", which only costs a read.)
    held.extend(range(v4("10.0.0.20"), v4("10.0.0.29")));
    held.extend(range(v4("192.0.2.7"), v4("192.0.2.7")));
    held.extend(range(v4("240.0.0.0"), u32::MAX));
    b.add_elements(NFPROTO_INET, T, "s", false, held.clone());
    nl.commit(b).unwrap();
    assert!(nl.holds_all(NFPROTO_INET, T, "s", &held).unwrap());
    let inside = range(v4("10.0.0.5"), v4("10.0.0.9"));
    assert!(
        !nl.holds_all(NFPROTO_INET, T, "s", &inside).unwrap(),
        "inside a range"
    );
    let missing = range(v4("198.51.100.1"), v4("198.51.100.1"));
    assert!(!nl.holds_all(NFPROTO_INET, T, "s", &missing).unwrap());
    let wrong_end = vec![Element::key(Key::ipv4(v4("192.0.2.8")))];
    assert!(
        !nl.holds_all(NFPROTO_INET, T, "s", &wrong_end).unwrap(),
        "an end element is not a start"
    );
    // Many at once, across several requests.
    let mut b = nl.batch(None);
    let many: Vec<Element> = (0..5000u32)
        .flat_map(|i| range(v4("100.64.0.0") + i * 4, v4("100.64.0.0") + i * 4 + 1))
        .collect();
    b.add_elements(NFPROTO_INET, T, "s", false, many.clone());
    nl.commit(b).unwrap();
    assert!(nl.holds_all(NFPROTO_INET, T, "s", &many).unwrap());
}
