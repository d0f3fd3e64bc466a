#!/usr/bin/env bash
# hack/bench-run.sh [RUNS]
#
# berth, crun and runc side by side on the paths their callers take, in one
# interleaved run (hack/bench.py), RUNS rounds (default 40) after a warm-up:
#
#   run                 `run` of a busybox /bin/true container (create, start,
#                       wait, delete), runc's default config (`berth spec`)
#   create+start+delete the same as three commands, as containerd's shim does
#   run +seccomp        `run` with podman's default seccomp profile
#                       (hack/seccomp-oci.py; berth's compiled program comes
#                       from its cache after the warm-up)
#   exec, exec +seccomp `exec` of /bin/true into a running busybox container
#                       (the path of Kubernetes' ExecSync probes)
#   delete --force      of a running container
#   state, list         with 100 created containers per runtime
#   run --network -p x32 berth only: a bridge network and 32 published ports
#
# and, as the floor, `unshare -pmnuif --fork /bin/true`. It prints medians of
# wall time, CPU time (user + system of the command and everything it waited
# for) and peak RSS with the ratios to crun and runc, then each runtime's
# stripped binary size and shared libraries.
#
# crun 1.8 refuses a hybrid cgroup host, and runs only with the v2 `unified`
# mount out of its sight; so every runtime runs in one private mount
# namespace (unshare -m) without it, where all state roots are on a tmpfs,
# as /run is on a real host. The script runs itself again inside that
# namespace; no per-run wrapper process is counted. Needs root; removes
# everything it made. BENCH_JSON=FILE keeps the medians as JSON.
#
# BASELINE=PATH adds another berth binary as the runtime `baseline` (e.g.
# main's, before a change), interleaved with the others in the same rounds:
# the before and after of a change measured in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-40}

if [[ -z ${BENCH_INSIDE:-} ]]; then
  berth=${BERTH:-$PWD/target/x86_64-unknown-linux-gnu/release/berth}
  [[ -x $berth ]] || cargo build --release -p berth
  for tool in jq runc crun python3; do
    command -v $tool >/dev/null || { echo "bench-run: $tool is missing (hack/setup.sh)" >&2; exit 1; }
  done
  BERTH=$berth BENCH_INSIDE=1 exec unshare -m --propagation private "$0" "$runs"
fi
baseline=${BASELINE:-}

berth=$BERTH
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
state=$work/state
net=bench$$
mkdir -p "$state"
mount -t tmpfs -o mode=0700 bench-state "$state"
if grep -q " /sys/fs/cgroup/unified " /proc/self/mountinfo; then umount /sys/fs/cgroup/unified; fi

declare -A rt=(
  [berth]="$berth --root $state/berth --state-dir $state/net"
  [crun]="crun --root $state/crun"
  [runc]="runc --root $state/runc"
)
runtimes=(berth crun runc)
if [[ -n $baseline ]]; then
  rt[baseline]="$baseline --root $state/baseline --state-dir $state/net"
  runtimes=(berth baseline crun runc)
fi

cleanup() {
  set +e
  for r in "${runtimes[@]}"; do
    for id in $(${rt[$r]} list -q 2>/dev/null); do ${rt[$r]} delete --force "$id" >/dev/null 2>&1; done
  done
  ${rt[berth]} network rm --force "$net" >/dev/null 2>&1
  umount "$state"
  rm -rf "$work"
}
trap cleanup EXIT

# One config for every runtime: runc's default, labelled 1.0.2 because
# Debian's crun 1.8 knows runtime-spec versions up to 1.0.x.
bundle() { # DIR SECCOMP(yes|no) ARG...
  local dir=$1 seccomp=$2
  shift 2
  BERTH=$berth hack/mkbundle.sh "$dir" "$@" >/dev/null
  jq --slurpfile p <(hack/seccomp-oci.py) --arg seccomp "$seccomp" '
    .ociVersion = "1.0.2"
    | if $seccomp == "yes" then .linux.seccomp = $p[0] | .process.noNewPrivileges = false else . end' \
    "$dir/config.json" >"$dir/config.json.new"
  mv "$dir/config.json.new" "$dir/config.json"
}
bundle "$work/true" no true
bundle "$work/true-seccomp" yes true
bundle "$work/sleep" no sleep 1000000
bundle "$work/sleep-seccomp" yes sleep 1000000

${rt[berth]} network create "$net" --subnet 10.213.230.0/24 --bridge "bb$$" >/dev/null
ports=""
for j in $(seq 0 31); do ports+=" -p $((30000 + j)):80"; done

# The spec for hack/bench.py: ENTRY SCENARIO RUNTIME SETUP TIMED... where
# each command is one string split on spaces ("" for no setup).
entries=()
entry() {
  local scenario=$1 runtime=$2 setup=$3
  shift 3
  entries+=("$(jq -nc --arg s "$scenario" --arg r "$runtime" --arg setup "$setup" '
    {scenario: $s, runtime: $r,
     setup: [$setup | select(. != "") | split(" ")],
     timed: [$ARGS.positional[] | split(" ")]}' --args "$@")")
}
spec() { printf '%s\n' "${entries[@]}" | jq -s . >"$1"; entries=(); }

for r in "${runtimes[@]}"; do
  ${rt[$r]} run -d -b "$work/sleep" "$r-x" </dev/null >/dev/null
  ${rt[$r]} run -d -b "$work/sleep-seccomp" "$r-xs" </dev/null >/dev/null
done
for r in "${runtimes[@]}"; do
  c=${rt[$r]}
  entry run "$r" "" "$c run -b $work/true $r-run"
  entry create+start+delete "$r" "" "$c create -b $work/true $r-csd" "$c start $r-csd" "$c delete --force $r-csd"
  entry "run +seccomp" "$r" "" "$c run -b $work/true-seccomp $r-rs"
  entry exec "$r" "" "$c exec $r-x /bin/true"
  entry "exec +seccomp" "$r" "" "$c exec $r-xs /bin/true"
  entry "delete --force" "$r" "$c run -d -b $work/sleep $r-del" "$c delete --force $r-del"
done
entry run "unshare(1)" "" "unshare -pmnuif --fork /bin/true"
entry "run --network -p x32" berth "" "${rt[berth]} run --network $net$ports -b $work/true berth-net"
spec "$work/paths.json"

echo "berth, crun, runc: $runs interleaved rounds, medians, $(date -u +%F), $(nproc) cores, Linux $(uname -r)"
hack/bench.py "$runs" "$work/paths.json" "$work/paths.out.json"

# state and list with 100 created containers per runtime.
for r in "${runtimes[@]}"; do
  for i in $(seq 1 100); do ${rt[$r]} create -b "$work/sleep" "$r-s$i" </dev/null >/dev/null; done
  entry state "$r" "" "${rt[$r]} state $r-s50"
  entry list "$r" "" "${rt[$r]} list"
done
spec "$work/many.json"
echo
echo "with 100 created containers per runtime"
hack/bench.py "$runs" "$work/many.json" "$work/many.out.json"

echo
echo "binary        stripped size   shared libraries"
for r in "${runtimes[@]}"; do
  case $r in
    berth) bin=$berth ;;
    baseline) bin=$baseline ;;
    *) bin=$(command -v "$r") ;;
  esac
  strip -o "$work/$r.stripped" "$bin"
  bin=$work/$r.stripped
  libs=$(ldd "$bin" 2>/dev/null | awk '$2 == "=>" {sub(/\.so.*/, "", $1); printf "%s ", $1}')
  printf "%-13s %6.2f MB       %s\n" "$r" "$(awk -v b="$(stat -c %s "$bin")" "BEGIN { print b / 1e6 }")" "${libs:-none (static)}"
done

if [[ -n ${BENCH_JSON:-} ]]; then
  jq -s 'add' "$work/paths.out.json" "$work/many.out.json" >"$BENCH_JSON"
fi
