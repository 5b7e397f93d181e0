//! Compiles the XDP program (`bpf/palisade_xdp.c`) into a BPF object with clang.
//!
//! Why C and clang rather than an aya-ebpf Rust program: Rust's BPF target needs a nightly
//! toolchain, and palisade builds with stable Rust only. The C file needs no headers (see its
//! top comment), so Debian's `clang` package is the whole build dependency
//! (`scripts/deps.sh` installs it). `CLANG` names another compiler binary.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "bpf/palisade_xdp.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("palisade_xdp.o");
    // -g: BTF, which describes the maps' key and value types to the loader and the kernel.
    // -mcpu=v3: 32-bit jumps and ALU ops, supported by every kernel since 5.1.
    let status = Command::new(&clang)
        .args([
            "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
        ])
        .args(["-c", source, "-o"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`{clang}` failed to compile {source} ({s}); see its messages above"),
        Err(e) => panic!(
            "palisade-xdp compiles its XDP program with clang, and running `{clang}` failed: {e}. \
             Install it (`apt-get install clang`, or run scripts/deps.sh), or set CLANG to a \
             clang binary."
        ),
    }
}
