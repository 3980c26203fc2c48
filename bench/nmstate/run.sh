#!/usr/bin/env bash
# Builds and runs the nmstate apply benchmark (needs root: it creates network namespaces).
# Usage: bench/nmstate/run.sh [ROUTES] [RULES] [REPEAT]     (default 1000 1000 5)
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench-nmstate}
cargo run --release --quiet -- "$@"
