#!/usr/bin/env bash
# The cgroup tests on a pure cgroup v2 host: builds on this machine, then
# runs, in the throwaway VM of shared/vm (cgroup_no_v1=all), the libcontainer
# unit tests of the cgroups module (eBPF device programs, cgroup.freeze,
# cgroup.kill against the VM's /sys/fs/cgroup), spec-tests/tests/cgroups.rs
# and spec-tests/tests/exec.rs (exec is cloned into the v2 cgroup there)
# against the berth binary.
#   PROFILE=release (default, as hack/test.sh) or PROFILE=debug
#   VM_RUN=path of run-in-vm.sh (default ../shared/vm/run-in-vm.sh beside the checkout)
# Exits with the tests' status (124/125: the VM timed out / did not boot).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
PROFILE=${PROFILE:-release}
VM_RUN=${VM_RUN:-$(cd .. && pwd)/shared/vm/run-in-vm.sh}
[[ -x $VM_RUN ]] || VM_RUN=/work/shared/vm/run-in-vm.sh
[[ -x $VM_RUN ]] || { echo "test-cgroup-v2: no VM runner at $VM_RUN (set VM_RUN)" >&2; exit 1; }
flags=() test_flags=()
[[ $PROFILE == release ]] && flags=(--release) test_flags=(--profile spec)

cargo build "${flags[@]}" -p berth

# The test executables, built here (the VM only runs them).
test_exe() { hack/test-exe.sh "${test_flags[@]}" "$@"; }
lib_tests=$(test_exe -p libcontainer --lib)
spec_tests=$(test_exe -p spec-tests --test cgroups)
exec_tests=$(test_exe -p spec-tests --test exec)
[[ -x $lib_tests && -x $spec_tests && -x $exec_tests ]] || { echo "test-cgroup-v2: could not build the tests" >&2; exit 1; }

"$VM_RUN" --setup >/dev/null
ws=$PWD
# Inside: state and temporary files on the VM's own /tmp (no FIFOs or
# sockets on the shared 9p directory).
VM_ENV="BERTH_TEST_TIMEOUT" VM_TIMEOUT=${VM_TIMEOUT:-1800} "$VM_RUN" "$ws" "
  set -e
  grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || { echo 'not a pure cgroup v2 VM' >&2; exit 1; }
  echo '--- cgroup.controllers:' \$(cat /sys/fs/cgroup/cgroup.controllers)
  export TMPDIR=/tmp BERTH='$ws/target/x86_64-unknown-linux-gnu/$PROFILE/berth'
  echo '--- libcontainer cgroups unit tests'
  '$lib_tests' cgroups --test-threads=2
  echo '--- spec-tests/tests/cgroups.rs'
  cd '$ws/spec-tests' && '$spec_tests' --test-threads=2
  echo '--- spec-tests/tests/exec.rs'
  '$exec_tests' --test-threads=2
  left=\$(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d -name 'berth-*')
  [ -z \"\$left\" ] || { echo \"cgroups left behind: \$left\" >&2; exit 1; }
"
