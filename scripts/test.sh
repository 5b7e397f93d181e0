#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and property tests, and the real-kernel
# integration tests (which create and remove their own network namespaces; they need root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The bulk-load benchmark in its quick form: checks every measurement runs and writes its
# outputs (no timing assertions).
if [ -d crates/palisade-bench ]; then
  cargo build --release --locked -p palisade -p palisade-bench
  ./target/release/palisade-bench load --quick --palisade ./target/release/palisade --out target/bench-quick
fi
