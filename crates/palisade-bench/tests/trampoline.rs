//! The `__measure` trampoline must report the measured program's memory, not its spawner's:
//! that is the whole reason it exists (see src/measure.rs).

use std::process::Command;

fn measure(args: &[&str]) -> (String, Vec<u64>) {
    let result = std::env::temp_dir().join(format!(
        "trampoline-test-{}-{}",
        std::process::id(),
        args[0]
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_palisade-bench"))
        .arg("__measure")
        .arg(&result)
        .arg("30000")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = std::fs::read_to_string(&result).unwrap();
    let _ = std::fs::remove_file(&result);
    let fields = line
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), fields)
}

#[test]
fn a_big_spawner_does_not_inflate_the_childs_peak_rss() {
    // Make this (spawning) process big: 256 MiB, every page touched.
    let ballast = vec![1u8; 256 << 20];
    let (stdout, f) = measure(&["sh", "-c", "echo hello"]);
    assert_eq!(
        stdout.trim(),
        "hello",
        "the program's stdout passes through"
    );
    let (rss_kib, status, timed_out) = (f[1], f[2], f[3]);
    assert_eq!((status, timed_out), (0, 0));
    assert!(rss_kib < 32 * 1024, "sh reported {rss_kib} KiB");
    assert!(f[0] > 0, "wall time recorded");
    assert_eq!(f.len(), 5, "wall, rss, status, timed out, cpu");
    std::hint::black_box(&ballast);
}

#[test]
fn a_big_child_is_seen() {
    let (_, f) = measure(&["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    assert!(f[1] > 60 * 1024, "dd reported {} KiB", f[1]);
    assert!(f[4] > 0, "dd used some CPU time");
}

#[test]
fn failure_and_timeout_are_reported() {
    let (_, f) = measure(&["sh", "-c", "exit 7"]);
    assert_eq!((f[2] >> 8) & 0xff, 7, "raw wait status carries exit code 7");
    let result = std::env::temp_dir().join(format!("trampoline-test-{}-sleep", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_palisade-bench"))
        .args(["__measure", result.to_str().unwrap(), "200", "sleep", "30"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = std::fs::read_to_string(&result).unwrap();
    let _ = std::fs::remove_file(&result);
    let flag = line.split_whitespace().nth(3);
    assert_eq!(flag, Some("1"), "timed out flag set: {line}");
}
