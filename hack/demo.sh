#!/usr/bin/env bash
# The demo: build berth, make a busybox bundle, run it; then make a berth
# network and run a container attached to it, showing its addresses.
# Needs root. Leaves nothing behind (state, network and bundle are removed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

hack/setup.sh
if [[ -n "${BERTH:-}" ]]; then
  berth=$BERTH # a binary built elsewhere
else
  cargo build --release -p berth
  berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
fi
export BERTH=$berth

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
root=$work/state
netstate=$work/netstate
net=demo$$
subnet=10.213.77.0/24
b() { "$berth" --root "$root" --state-dir "$netstate" "$@"; }

cleanup() {
  set +e
  for id in $(b list -q 2>/dev/null); do b delete --force "$id"; done
  if [[ -n "${net_made:-}" ]]; then b network rm "$net" >/dev/null 2>&1 || b network delete "$net" >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo
echo "== a busybox bundle"
hack/mkbundle.sh "$work/bundle" sh -c \
  'echo "hello from $(hostname): pid $$ in its own pid namespace, uid $(id -u), $(wc -l < /proc/self/mountinfo) mounts"; ip addr; ip route'

echo
echo "== berth run (no network: only loopback)"
b run --bundle "$work/bundle" "demo-$$"

echo
echo "== create / start / state / delete"
b create --bundle "$work/bundle" "demo2-$$" </dev/null >"$work/demo2.out" 2>&1
b state "demo2-$$" | jq -c '{id, status, pid}'
b start "demo2-$$"
sleep 0.2
b state "demo2-$$" | jq -c '{id, status, pid}'
b delete "demo2-$$"
echo "output of demo2: $(head -1 "$work/demo2.out")"

echo
if ! "$berth" network --help >/dev/null 2>&1; then
  echo "== this build of berth has no 'network' command yet: networked container skipped"
  exit 0
fi
echo "== berth network create $net --subnet $subnet"
# Its own bridge name: the default (berthN) may be taken by another state dir.
b network create "$net" --subnet "$subnet" --bridge "bdemo$$"
net_made=1
b network ls 2>/dev/null || true

echo
echo "== berth run --network $net (a veth on the $net bridge, an address from $subnet)"
b run --network "$net" --bundle "$work/bundle" "demo3-$$"
