//! The attachment outlives the process that made it: `attach`, `add` and `detach` each run in a
//! process of their own (this test binary, re-run as a child inside the host namespace, as
//! `palisade xdp attach` and `palisade set add` would be), and each finds what the one before
//! left pinned.

mod lab;

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use lab::*;
use palisade_core::AddrRange;
use palisade_xdp::{Capacity, Mode, SetId, Xdp};

/// The child's step and its arguments, passed through the environment.
const STEP: &str = "PALISADE_XDP_TEST_STEP";
const ROOT: &str = "PALISADE_XDP_TEST_ROOT";
const IFNAME: &str = "PALISADE_XDP_TEST_IFNAME";

/// Run one step as a separate process in the lab's host namespace; its output on failure.
fn child(lab: &Lab, step: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", lab.host.name()])
        .arg(exe)
        .args(["--ignored", "--exact", "child_step", "--nocapture"])
        .env(STEP, step)
        .env(ROOT, lab.bpf.root())
        .env(IFNAME, &lab.host_if)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child step `{step}` failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child side: one step, then the process exits. Ignored in ordinary runs; the parent
/// test runs it with `--ignored --exact child_step`.
#[test]
#[ignore = "run as a child process by attach_add_and_detach_in_separate_processes"]
fn child_step() {
    let step = std::env::var(STEP).expect("child_step runs only as a child process");
    let root = std::path::PathBuf::from(std::env::var(ROOT).unwrap());
    let ifname = std::env::var(IFNAME).unwrap();
    match step.as_str() {
        "attach" => {
            let info = Xdp::attach(&root, &ifname, Mode::Auto, Capacity::default()).unwrap();
            println!("attached in {} mode", info.mode);
        }
        "add" => {
            let mut x = Xdp::open(&root).unwrap().expect("state pinned by attach");
            let listed = AddrRange::from(LISTED.parse::<IpAddr>().unwrap());
            assert_eq!(x.add(SetId(3), "blocklist", &[listed], None).unwrap(), 1);
        }
        "detach" => {
            let x = Xdp::open(&root).unwrap().expect("state pinned by attach");
            assert!(
                x.detach(&ifname).unwrap(),
                "the last detach removes the state"
            );
        }
        other => panic!("unknown step {other}"),
    }
}

#[test]
fn attach_add_and_detach_in_separate_processes() {
    let Some(lab) = Lab::start() else { return };
    child(&lab, "attach");
    // The attaching process is gone; the program still runs, found through the pins.
    let status = lab
        .in_host(|root, _| Xdp::open(root).unwrap().expect("pinned").status())
        .unwrap();
    assert_eq!(status.len(), 1);
    assert!(status[0].mode.is_some(), "{status:?}");

    child(&lab, "add");
    let x = lab.in_host(|root, _| Xdp::open(root)).unwrap().unwrap();
    lab.send_udp(LISTED, 5);
    assert!(wait_until(Duration::from_secs(5), || {
        x.counters().unwrap().dropped_by(SetId(3)).packets >= 5
    }));
    assert_eq!(lab.nft_packets(LISTED), 0);

    child(&lab, "detach");
    assert!(lab.in_host(|root, _| Xdp::open(root)).unwrap().is_none());
    lab.send_udp(LISTED, 5);
    assert!(wait_until(Duration::from_secs(5), || lab
        .nft_packets(LISTED)
        >= 5));
}
