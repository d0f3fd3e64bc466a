#!/usr/bin/env bash
# The full test run: what CI runs (.ci/run) and what a person runs.
#   setup (apt packages), release build, rustfmt, clippy, every test of the
#   workspace against the release binary, then the cgroup v2 suite if present.
# Needs root (the spec-tests make real containers).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step setup
hack/setup.sh

step "release build"
cargo build --release --workspace --bins

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (release)"
# The spec-tests run target/release/berth (BERTH overrides it).
export BERTH="${BERTH:-$PWD/target/release/berth}"
cargo test --workspace --release --no-fail-fast -- --test-threads=2

if [[ -x hack/test-cgroup-v2.sh ]]; then
  step "cgroup v2 suite"
  hack/test-cgroup-v2.sh
fi

step "all tests passed"
