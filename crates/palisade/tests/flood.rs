//! Flood protection against the real kernel, in namespaces, with bounded bursts of real TCP
//! connections (a fixed count, only between the lab's own namespaces).

mod common;

use common::*;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn apply(lab: &Lab, config: &str) {
    lab.ok(&["apply", "-c", &lab.write_config("flood.toml", config)]);
}

/// Try `n` new connections from `source` to `port` as fast as they go; how many got through.
/// A dropped attempt is given up after 50 ms, long before TCP would retransmit its SYN, so
/// each attempt is exactly one new connection for the limit to count.
fn burst(lab: &Lab, source: &str, port: u16, n: usize) -> usize {
    let source: IpAddr = source.parse().unwrap();
    let server: IpAddr = if source.is_ipv4() { SERVER4 } else { SERVER6 }
        .parse()
        .unwrap();
    lab.client
        .run(move || {
            (0..n)
                .filter(|_| {
                    palisade_lab::connect_from(
                        source,
                        SocketAddr::new(server, port),
                        Duration::from_millis(50),
                    )
                    .is_ok()
                })
                .count()
        })
        .unwrap()
}

#[test]
fn rate_with_burst_admits_the_burst_then_the_rate() {
    let Some(lab) = Lab::new() else { return };
    apply(
        &lab,
        "[input]\npolicy = \"drop\"\nallow = [{ port = 8080, limit = \"50/minute burst 200\" }]\n",
    );
    let t = Instant::now();
    let passed = burst(&lab, ALLOWED4, PORT, 300);
    let secs = t.elapsed().as_secs_f64();
    // The bucket starts full with 200 tokens and refills at 50 a minute while the burst runs:
    // at most one more token per 1.2 s elapsed, plus one for a refill landing mid-attempt.
    let refill = (secs * 50.0 / 60.0).ceil() as usize;
    eprintln!("50/minute burst 200: {passed} of 300 new connections passed in {secs:.2} s");
    assert!(
        (200..=200 + refill + 1).contains(&passed),
        "{passed} of 300 passed in {secs:.1} s; expected 200 + at most {refill} refilled"
    );
    // The rule's counter saw the rest over the limit.
    let status: serde_json::Value = serde_json::from_str(&lab.ok(&["status", "--json"])).unwrap();
    let over: u64 = status["chains"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"].as_str().unwrap().contains("limit rate over"))
        .map(|r| r["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(over as usize, 300 - passed, "{status}");
}

#[test]
fn each_source_gets_its_own_bucket() {
    let Some(lab) = Lab::new() else { return };
    apply(
        &lab,
        "[input]\npolicy = \"drop\"\nallow = [{ port = 8080, limit = \"10/minute burst 20\", per_source = true }]\n",
    );
    let a = burst(&lab, ALLOWED4, PORT, 30);
    let b = burst(&lab, BLOCKED4, PORT, 30);
    let c = burst(&lab, ALLOWED6, PORT, 30);
    for (who, n) in [
        ("first source", a),
        ("second source", b),
        ("an IPv6 source", c),
    ] {
        // 20 in the bucket, and at 10 a minute at most one refill during a burst of seconds.
        assert!((20..=21).contains(&n), "{who}: {n} of 30 passed");
    }
}

/// A service that keeps every connection open (the lab's own answers and closes).
fn holding_service(lab: &Lab, port: u16) {
    let l = lab
        .server
        .run(move || TcpListener::bind(("::", port)).unwrap())
        .unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
}

#[test]
fn the_21st_connection_from_one_source_is_refused() {
    let Some(lab) = Lab::new() else { return };
    holding_service(&lab, 7000);
    apply(
        &lab,
        "[input]\npolicy = \"drop\"\nallow = [{ port = 7000, max_connections = 20, over = \"reject\" }]\n",
    );
    let source: IpAddr = ALLOWED4.parse().unwrap();
    let dest = SocketAddr::new(SERVER4.parse().unwrap(), 7000);
    let held: Vec<TcpStream> = lab
        .client
        .run(move || {
            (0..20)
                .map(|i| {
                    palisade_lab::connect_from(source, dest, Duration::from_secs(1))
                        .unwrap_or_else(|e| panic!("connection {i}: {e}"))
                })
                .collect()
        })
        .unwrap();
    let t = Instant::now();
    let e = lab
        .client
        .run(move || palisade_lab::connect_from(source, dest, Duration::from_secs(1)))
        .unwrap()
        .expect_err("the 21st connection must be refused");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "refused at once, not timed out"
    );
    let other: IpAddr = BLOCKED4.parse().unwrap();
    let ok = lab
        .client
        .run(move || palisade_lab::connect_from(other, dest, Duration::from_secs(1)).is_ok())
        .unwrap();
    assert!(ok, "another source still connects");
    drop(held);
}

#[test]
fn over_the_limit_the_kernel_bans_the_source_for_a_while() {
    let Some(lab) = Lab::new() else { return };
    apply(
        &lab,
        "[input]\npolicy = \"drop\"\nallow = [{ port = 8080, limit = \"1/second burst 5\", per_source = true, over = \"ban\", ban_for = \"3s\" }]\n",
    );
    assert_eq!(
        burst(&lab, ALLOWED4, PORT, 8),
        5,
        "the burst passes, then the ban"
    );
    // In the ban set, by the kernel's own doing: visible and testable like any set.
    let list = lab.ok(&["set", "list", "flood"]);
    assert!(list.contains("flood"), "{list}");
    assert!(lab
        .palisade(&["set", "test", "flood", ALLOWED4])
        .status
        .success());
    assert!(
        lab.connect(ALLOWED4, PORT2).is_err(),
        "banned on every port"
    );
    assert!(lab.connect(BLOCKED4, PORT).is_ok(), "other sources are not");
    assert!(
        palisade_lab::eventually(Duration::from_secs(15), || !lab
            .palisade(&["set", "test", "flood", ALLOWED4])
            .status
            .success()),
        "the ban expired"
    );
    assert!(
        lab.connect(ALLOWED4, PORT).is_ok(),
        "and the source connects again"
    );

    // A ban can be lifted by hand before it expires.
    assert_eq!(burst(&lab, BLOCKED4, PORT, 10), 5);
    assert!(lab
        .palisade(&["set", "test", "flood", BLOCKED4])
        .status
        .success());
    lab.ok(&["unblock", "--set", "flood", BLOCKED4]);
    assert!(!lab
        .palisade(&["set", "test", "flood", BLOCKED4])
        .status
        .success());
}

#[test]
fn established_traffic_has_its_own_limit() {
    let Some(lab) = Lab::new() else { return };
    apply(
        &lab,
        "[input]\npolicy = \"drop\"\nallow = [\"8080/tcp\"]\n[connections]\nestablished_limit = \"50/second burst 50\"\n",
    );
    let nft = lab.nft_chain("filter_input");
    assert!(
        nft.contains("ct state established,related limit rate over 50/second burst 50 packets"),
        "{nft}"
    );
    assert!(lab.connect(ALLOWED4, PORT).is_ok());
}
