#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and property tests, and the real-kernel
# integration tests (which create and remove their own network namespaces; they need root),
# then the benchmarks in their quick form (each checks that every measurement runs and its
# outputs are written; no timing assertions).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo build --release --locked -p palisade -p palisade-bench
./target/release/palisade-bench load --quick --palisade ./target/release/palisade --out target/bench-quick
./target/release/palisade-bench blocking --quick --palisade ./target/release/palisade --out target/bench-quick
./target/release/palisade-bench flood --quick --palisade ./target/release/palisade --out target/bench-quick
./target/release/palisade-bench watch --quick --palisade ./target/release/palisade --out target/bench-quick
./target/release/palisade-bench xdp --quick --palisade ./target/release/palisade --out target/bench-quick
./target/release/palisade-bench raw --quick --palisade ./target/release/palisade --out target/bench-quick
cargo run --release --locked -p palisade-xdp --example xdp_bench -- --quick
cargo run --release --locked -p palisade-fleet --example fleet_engine_bench -- --quick
cargo run --release --locked -p palisade --example fleet_bench -- --quick
cargo run --release --locked -p palisade --example metrics_bench -- --quick

./scripts/test-package.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
