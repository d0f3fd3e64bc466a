#!/usr/bin/env bash
# hack/bench-run.sh [RUNS]
#
# The create path, measured: `run` of a busybox /bin/true container (create,
# start, wait, delete) by berth, runc and crun (when crun can run on this
# host: it refuses hybrid cgroup hosts), the same with podman's default
# seccomp profile (hack/seccomp-oci.py; berth's compiled profile comes from
# its cache after the warm-up), and by berth with a network and 32
# published ports. One hyperfine run, interleaved warm-up, then a table of
# wall time and CPU time (user + system of the runtime and its children)
# with the ratio to runc. Needs root; removes everything it made.
#
# Then `exec` of /bin/true into a running busybox container (the hot path
# of Kubernetes probes), by berth, runc and crun, interleaved, with medians
# of wall and CPU time and the ratios to crun (to runc when crun cannot run;
# hack/bench-exec.py). On a hybrid host crun
# runs only with the v2 `unified` mount out of its sight, so every runtime
# runs in one private mount namespace without it (unshare -m).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}

berth=${BERTH:-$PWD/target/release/berth}
[[ -x $berth ]] || cargo build --release -p berth
command -v hyperfine >/dev/null || { echo "bench-run: hyperfine is missing (hack/setup.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
net=bench$$
cleanup() {
  set +e
  "$berth" --root "$work/berth" --state-dir "$work/net" network rm --force "$net" >/dev/null 2>&1
  for rt in runc crun; do
    command -v $rt >/dev/null && $rt --root "$work/$rt" delete --force b1 >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT

BERTH=$berth hack/mkbundle.sh "$work/bundle" true >/dev/null
bundle=$work/bundle
# runc and crun create the cgroup named by cgroupsPath; keep it per runtime.
"$berth" --root "$work/berth" --state-dir "$work/net" network create "$net" \
  --subnet 10.213.250.0/24 --bridge "bb$$" >/dev/null
ports=""
for j in $(seq 0 31); do ports+=" -p $((30000 + j)):80"; done

# The same container with podman's default seccomp profile and podman's
# noNewPrivileges=false.
mkdir -p "$work/seccomp-bundle"
jq --slurpfile p <(hack/seccomp-oci.py) --arg root "$bundle/rootfs" \
  '.linux.seccomp = $p[0] | .process.noNewPrivileges = false | .root.path = $root' \
  "$bundle/config.json" >"$work/seccomp-bundle/config.json"
sbundle=$work/seccomp-bundle

cmds=(-n berth "$berth --root $work/berth --state-dir $work/net run -b $bundle b1"
      -n runc "runc --root $work/runc run -b $bundle b1"
      -n "berth +seccomp" "$berth --root $work/berth --state-dir $work/net run -b $sbundle b1"
      -n "runc +seccomp" "runc --root $work/runc run -b $sbundle b1")
# Debian's crun 1.8 knows runtime-spec versions up to 1.0.x: same config, older label.
mkdir -p "$work/crun-bundle"
jq --arg root "$bundle/rootfs" '.ociVersion = "1.0.2" | .root.path = $root' \
  "$bundle/config.json" >"$work/crun-bundle/config.json"
mkdir -p "$work/crun-seccomp-bundle"
jq '.ociVersion = "1.0.2"' "$sbundle/config.json" >"$work/crun-seccomp-bundle/config.json"
if crun --root "$work/crun" run -b "$work/crun-bundle" b1 >/dev/null 2>&1; then
  cmds+=(-n crun "crun --root $work/crun run -b $work/crun-bundle b1"
         -n "crun +seccomp" "crun --root $work/crun run -b $work/crun-seccomp-bundle b1")
else
  echo "(crun cannot run here: $(crun --root "$work/crun" run -b "$work/crun-bundle" b1 2>&1 | tail -1))"
fi
cmds+=(-n "berth +network +32 ports" "$berth --root $work/berth --state-dir $work/net run --network $net $ports -b $bundle b1")

hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/h.json" "${cmds[@]}" >/dev/null

echo
echo "run of a /bin/true busybox container, $runs runs each, $(date -u +%F) on $(nproc) cores"
jq -r '
  (.results[] | select(.command == "runc")) as $runc
  | ["runtime", "wall ms", "cpu ms", "wall/runc", "cpu/runc"],
    (.results[] | [ .command,
                    (.median * 1000 | . * 10 | round / 10),
                    ((.user + .system) * 1000 | . * 10 | round / 10),
                    (.median / $runc.median | . * 100 | round / 100),
                    ((.user + .system) / ($runc.user + $runc.system) | . * 100 | round / 100) ])
  | @tsv' "$work/h.json" | column -t -s $'\t'

# exec: every runtime in the same private mount namespace (see the top),
# into a plain container and into one with podman's seccomp profile (an
# exec'd process gets the container's filter). hack/bench-exec.py
# interleaves the runs and reports medians of wall and CPU time (hyperfine
# gives CPU as a mean only).
BERTH=$berth hack/mkbundle.sh "$work/sleeper" sleep 1000000 >/dev/null
for v in plain seccomp; do
  mkdir -p "$work/sleeper-$v" "$work/crun-sleeper-$v"
  jq --slurpfile p <(hack/seccomp-oci.py) --arg root "$work/sleeper/rootfs" --arg v "$v" '
    .root.path = $root
    | if $v == "seccomp" then .linux.seccomp = $p[0] | .process.noNewPrivileges = false else . end' \
    "$work/sleeper/config.json" >"$work/sleeper-$v/config.json"
  jq '.ociVersion = "1.0.2"' "$work/sleeper-$v/config.json" >"$work/crun-sleeper-$v/config.json"
done
echo
echo "exec of /bin/true into a running busybox container, $runs runs each, medians, one private mount namespace"
export berth work runs
unshare -m sh -ec '
  if grep -q " /sys/fs/cgroup/unified " /proc/self/mountinfo; then umount /sys/fs/cgroup/unified; fi
  crun_ok=yes
  for v in plain seccomp; do
    "$berth" --root "$work/xb" run -d -b "$work/sleeper-$v" "b-$v" </dev/null >/dev/null
    runc --root "$work/xr" run -d -b "$work/sleeper-$v" "r-$v" </dev/null >/dev/null
    crun --root "$work/xc" run -d -b "$work/crun-sleeper-$v" "c-$v" </dev/null >/dev/null 2>"$work/crun.err" || crun_ok=
  done
  [ -n "$crun_ok" ] || echo "(crun cannot run here: $(tail -1 "$work/crun.err"))"
  set --
  for v in plain seccomp; do
    suffix=; [ $v = plain ] || suffix=+$v
    set -- "$@" "berth$suffix=$berth --root $work/xb exec b-$v /bin/true" \
      "runc$suffix=runc --root $work/xr exec r-$v /bin/true"
    [ -z "$crun_ok" ] || set -- "$@" "crun$suffix=crun --root $work/xc exec c-$v /bin/true"
  done
  status=0
  hack/bench-exec.py "$runs" "$@" || status=$?
  for v in plain seccomp; do
    "$berth" --root "$work/xb" delete --force "b-$v"
    runc --root "$work/xr" delete --force "r-$v"
    crun --root "$work/xc" delete --force "c-$v" 2>/dev/null || true
  done
  exit $status
'
