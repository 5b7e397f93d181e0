#!/usr/bin/env bash
# Builds palisade and runs its demo in throw-away network namespaces (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release --locked -p palisade
exec ./target/release/palisade demo "$@"
