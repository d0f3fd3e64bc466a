#!/usr/bin/env bash
# hack/bench-scale.sh [LEVEL...]        (default levels: 0 200 1000)
#
# Issue 11: does giving a container its network cost the same on an empty
# host and on a full one? Makes one network (a /22 inside 10.213.0.0/16),
# then for each LEVEL fills it up to LEVEL running busybox httpd containers,
# each publishing 32 ports (host port 10000 + 32*i + j -> 80), and measures
# `berth run` of a /bin/true container publishing 32 ports of its own: wall
# time and CPU time of berth and its children, median of RUNS runs
# interleaved with a `berth run` of the same container without a network
# (the baseline; drift on the shared machine hits both alike) and with
# runc's `run` of it (the kernel's share of the growth: runc pays the same
# namespaces, mounts and cgroups on the same full host). Also times
# filling the host, `berth list` and `delete --force` of every container,
# checks the first and last container's first port from 127.0.0.1, and
# shows that `ip link`, `nft list ruleset` and the IPAM state are as before.
#
# Needs root. Everything it makes is under a temporary --root/--state-dir
# and is removed at the end, also on failure.
#
# Environment:
#   BERTH   the berth binary (default: cargo build --release, target/x86_64-unknown-linux-gnu/release/berth)
#   RUNS    measured runs per level and kind (default 15)
#   SUBNET  the network's subnet (default 10.213.236.0/22)
#   JOBS    containers started in parallel while filling (default 2)
#   PERF    set to 1 to also profile 10 probe runs per level with perf and
#           show what grows between the first and the last level (perf diff)
set -euo pipefail
cd "$(dirname "$0")/.."

levels=("$@")
[[ ${#levels[@]} -gt 0 ]] || levels=(0 200 1000)
runs=${RUNS:-15}
subnet=${SUBNET:-10.213.236.0/22}
jobs=${JOBS:-2}
ports=32

if [[ -n "${BERTH:-}" ]]; then
  berth=$BERTH
else
  cargo build --release -p berth >&2
  berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
fi
export BERTH=$berth

work=$(mktemp -d /tmp/berth-scale.XXXXXX)
root=$work/root
state=$work/netstate
net=scale$$
bridge=bsc$$
b() { "$berth" --root "$root" --state-dir "$state" "$@"; }
export -f b
export berth root state

snapshot() { # $1: name
  ip -br link | awk '{print $1}' | sort >"$work/$1.links"
  nft list ruleset >"$work/$1.nft"
  { b list -q 2>/dev/null; b network ls --format json 2>/dev/null; } >"$work/$1.ipam" || true
}

cleanup() {
  set +e
  echo "== cleanup" >&2
  b list -q 2>/dev/null | xargs -r -P "$jobs" -n 1 "$berth" --root "$root" --state-dir "$state" delete --force
  b network rm --force "$net" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)" # issue 11: nothing may fail for lack of fds

hack/mkbundle.sh "$work/true" true >/dev/null
hack/mkbundle.sh "$work/httpd" httpd -f -p 80 >/dev/null

snapshot before
b network create "$net" --subnet "$subnet" --bridge "$bridge" >/dev/null
b network inspect "$net" >"$work/empty.inspect"
echo "berth: $berth"
echo "network $net: $subnet on $bridge; $ports published ports per container; $runs runs per level"
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"

publish_args() { # $1: container index
  local j
  for ((j = 0; j < ports; j++)); do printf -- '-p\n%d:80\n' $((10000 + ports * $1 + j)); done
}

start_one() { # $1: index
  local args
  mapfile -t args < <(publish_args "$1")
  b run -d --bundle "$work/httpd" --network "$net" "${args[@]}" "web$1" </dev/null >/dev/null 2>"$work/err.$1" ||
    { echo "starting web$1 failed: $(cat "$work/err.$1")" >&2; return 1; }
  rm -f "$work/err.$1"
}
export -f start_one publish_args
export work net ports

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

probe_args=()
for ((j = 0; j < ports; j++)); do probe_args+=(-p "$((42000 + j)):80"); done

# Runs a command with stdin/stdout on /dev/null; prints "wall cpu", where
# cpu is the user+system time of the command and the children it waited
# for (from wait4, microseconds, unlike time(1)'s 10 ms steps).
cat >"$work/timeit.py" <<'PY'
import os, sys, time
dn = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
      (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
t0 = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=dn)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.exit(f"{sys.argv[1:]} exited {code}")
print(f"{wall:.6f} {ru.ru_utime + ru.ru_stime:.6f}")
PY
timeit() { python3 "$work/timeit.py" "$@"; }

runc=$(command -v runc)
measure() { # $1: label; appends to $work/results
  local k
  : >"$work/net.times"
  : >"$work/base.times"
  : >"$work/runc.times"
  for ((k = 0; k < runs; k++)); do
    timeit "$berth" --root "$root" --state-dir "$state" run --bundle "$work/true" \
      --network "$net" "${probe_args[@]}" "probe$k" >>"$work/net.times"
    timeit "$berth" --root "$root" --state-dir "$state" run --bundle "$work/true" \
      "base$k" >>"$work/base.times"
    timeit "$runc" --root "$work/runc" run --bundle "$work/true" "runc$k" >>"$work/runc.times"
  done
  local nw nc bw bc rw rc
  nw=$(awk '{print $1}' "$work/net.times" | median)
  nc=$(awk '{print $2}' "$work/net.times" | median)
  bw=$(awk '{print $1}' "$work/base.times" | median)
  bc=$(awk '{print $2}' "$work/base.times" | median)
  rw=$(awk '{print $1}' "$work/runc.times" | median)
  rc=$(awk '{print $2}' "$work/runc.times" | median)
  printf '%-6s run + 32 ports: wall %6.1f ms cpu %6.1f ms | run, no network: wall %6.1f ms cpu %6.1f ms | runc run: wall %6.1f ms cpu %6.1f ms\n' \
    "$1" "$(calc "$nw * 1000")" "$(calc "$nc * 1000")" "$(calc "$bw * 1000")" "$(calc "$bc * 1000")" \
    "$(calc "$rw * 1000")" "$(calc "$rc * 1000")"
  echo "$1 $nw $nc $bw $bc $rw $rc" >>"$work/results"
}

check_port() { # $1: host port
  local code
  code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/") || true
  if [[ "$code" =~ ^[1-5][0-9][0-9]$ ]]; then
    echo "127.0.0.1:$1 answers (HTTP $code)"
  else
    echo "127.0.0.1:$1 does not answer" >&2
    return 1
  fi
}

count=0
: >"$work/results"
for level in "${levels[@]}"; do
  if ((level > count)); then
    t0=$(now)
    seq "$count" $((level - 1)) | xargs -P "$jobs" -I{} bash -c 'start_one {}'
    t1=$(now)
    printf 'fill %d -> %d containers: %.1f s\n' "$count" "$level" "$(calc "$t1 - $t0")"
    count=$level
    check_port 10000
    check_port $((10000 + ports * (count - 1)))
  fi
  t0=$(now)
  n=$(b list -q | wc -l)
  t1=$(now)
  printf 'berth list (%d containers): %.3f s\n' "$n" "$(calc "$t1 - $t0")"
  measure "$level"
  if [[ "${PERF:-0}" == 1 ]]; then
    perf record -q -F 10000 -g -o "$work/perf.$level" -- bash -c '
      for k in $(seq 10); do
        "$berth" --root "$root" --state-dir "$state" run --bundle "$work/true" \
          --network "$net" "$@" "perf$k" </dev/null >/dev/null
      done' perf "${probe_args[@]}" 2>/dev/null
  fi
done

if [[ "${PERF:-0}" == 1 && ${#levels[@]} -gt 1 ]]; then
  first=${levels[0]} last=${levels[${#levels[@]} - 1]}
  echo "== perf: top symbols at $last containers (self, % of samples)"
  perf report -i "$work/perf.$last" --no-children -g none --sort dso,sym --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -25 || true
  echo "== perf diff: what gained share of the samples from $first to $last containers"
  perf diff "$work/perf.$first" "$work/perf.$last" 2>/dev/null |
    awk '/^#/ { next } { for (i = 1; i <= NF; i++) if ($i ~ /^[+][0-9.]+%$/) { d = $i; sub(/%/, "", d); print d "\t" $0; break } }' |
    sort -gr | head -20 | cut -f2- || true
fi

read -r _ w0 c0 bw0 bc0 rw0 rc0 < <(head -1 "$work/results")
read -r lN wN cN bwN bcN rwN rcN < <(tail -1 "$work/results")
printf 'growth cost(%s)/cost(%s): berth run + 32 ports wall %.2f cpu %.2f; berth run wall %.2f cpu %.2f; runc run wall %.2f cpu %.2f\n' \
  "$lN" "${levels[0]}" "$(calc "$wN / $w0")" "$(calc "$cN / $c0")" \
  "$(calc "$bwN / $bw0")" "$(calc "$bcN / $bc0")" "$(calc "$rwN / $rw0")" "$(calc "$rcN / $rc0")"

t0=$(now)
b list -q | xargs -r -P "$jobs" -n 1 "$berth" --root "$root" --state-dir "$state" delete --force
t1=$(now)
printf 'delete --force of %d containers: %.1f s\n' "$count" "$(calc "$t1 - $t0")"
# The network's own IPAM state, emptied, must be as when it was created,
# and no veth may be left on its bridge.
b network inspect "$net" >"$work/emptied.inspect"
# (A veth goes with its container's netns, which the kernel frees
# asynchronously after the last process exits: give it a few seconds.)
for ((k = 0; k < 50; k++)); do
  left=$(ip -o link show master "$bridge" | wc -l)
  ((left == 0)) && break
  sleep 0.1
done
echo "ports left on $bridge after deleting every container: $left"
b network rm "$net" >/dev/null

snapshot after
status=0
cp "$work/empty.inspect" "$work/before.inspect"
cp "$work/emptied.inspect" "$work/after.inspect"
declare -A label=([links]="ip link" [nft]="nft list ruleset" [ipam]="containers and networks"
  [inspect]="the network's addresses (emptied vs new)")
# What the benchmark made: its bridge and its subnet (every element and
# address of its containers is in it). On a host that
# others use meanwhile (tests, other engineers), changes that name none of
# these are theirs: reported, but not the benchmark's failure.
ours="$bridge|\\<10\\.213\\.23[6-9]\\."
((left == 0)) || status=1
for what in links nft ipam inspect; do
  if diff -u "$work/before.$what" "$work/after.$what" >"$work/$what.diff"; then
    echo "${label[$what]}: as before"
  elif grep -E '^[-+][^-+]' "$work/$what.diff" | grep -Eq "$ours" || [[ $what == inspect || $what == ipam ]]; then
    echo "${label[$what]}: CHANGED" >&2
    cat "$work/$what.diff" >&2
    status=1
  else
    echo "${label[$what]}: nothing of the benchmark's left; changed meanwhile by other users of the host:"
    grep -E '^[-+][^-+]' "$work/$what.diff" | sed 's/^/    /'
  fi
done
exit $status
