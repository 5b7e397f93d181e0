#!/usr/bin/env bash
# The blocking experiment from scratch, in one command: installs the Debian packages it needs,
# builds palisade and the benchmark, and runs it. Writes bench-out/blocking.csv,
# blocking-wrk.csv, blocking.md and blocking.png (`--out DIR` for elsewhere, `--quick` for a
# smoke run). Needs root; changes nothing outside its own network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release --locked -p palisade -p palisade-bench
exec ./target/release/palisade-bench blocking --palisade ./target/release/palisade "$@"
