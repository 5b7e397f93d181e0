#!/usr/bin/env bash
# Builds palisade, its demo and the PAM module, and runs the demo in throw-away network
# namespaces (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release --locked -p palisade -p palisade-demo -p pam-palisade
exec ./target/release/palisade-demo "$@"
