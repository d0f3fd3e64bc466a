#!/usr/bin/env bash
# hack/test-exe.sh CARGO-TEST-ARGS...
#
# Builds one test target without running it and prints its executable's
# path: the artifact cargo built as a test (profile.test), never a binary
# that the tests use beside it (spec-tests' sd_notify, say). Used to run
# tests where cargo is not (the cgroup v2 VM).
set -euo pipefail
cargo test --no-run --message-format=json "$@" 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null) | .executable' |
  tail -n1
