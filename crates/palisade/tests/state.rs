//! Where palisade writes its state: per network namespace, and never the host's boot state
//! from inside another namespace.

mod common;

use common::Lab;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `saved.state` under the state directory.
fn saved_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().is_some_and(|n| n == "saved.state") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn an_apply_inside_a_namespace_leaves_the_hosts_boot_state_alone() {
    let Some(lab) = Lab::new() else { return };
    let config = lab.write_config(
        "h.toml",
        "[input]\npolicy = \"drop\"\nallow = [\"ssh\", \"8080/tcp\"]\n",
    );
    let host_boot_state = lab.state.join("saved.state");

    // `palisade --netns X apply`
    lab.ok(&["apply", "-c", &config]);
    assert!(
        !host_boot_state.exists(),
        "an apply in a namespace wrote the host's boot state"
    );
    let saved = saved_files(&lab.state);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(
        saved[0].starts_with(lab.state.join("netns")),
        "the namespace's own saved state: {saved:?}"
    );
    std::fs::remove_file(&saved[0]).unwrap();

    // `ip netns exec X palisade apply`: the same, seen from inside the namespace.
    let out = Command::new("ip")
        .args(["netns", "exec", lab.server.name()])
        .arg(env!("CARGO_BIN_EXE_palisade"))
        .args(["apply", "-c", &config])
        .env("PALISADE_STATE_DIR", &lab.state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !host_boot_state.exists(),
        "an apply under `ip netns exec` wrote the host's boot state"
    );
    let saved = saved_files(&lab.state);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(saved[0].starts_with(lab.state.join("netns")));

    // Both ways name the same namespace: `status` sees the apply made either way.
    assert!(lab.ok(&["status"]).contains("h.toml"));
}
