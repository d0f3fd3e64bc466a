#!/usr/bin/env bash
# hack/bench-cni.sh [RUNS]
#
# What attaching a container to a network and detaching it costs, berth
# against the CNI reference plugins (Debian's containernetworking-plugins,
# /usr/lib/cni), in one run, with hyperfine:
#
#   CNI    a netns made here (ip netns add); one cycle is CNI_COMMAND=ADD then
#          DEL of bridge + host-local (10.213.200.0/24), as a runtime's libcni
#          would exec them; and the same with portmap chained after bridge
#          (one published port), for parity with `berth -p`.
#   berth-cni  the same cycles (ADD then DEL, with and without one published
#          port through runtimeConfig.portMappings) of berth's CNI plugin on
#          its own netns and network (10.213.202.0/24, made by the first ADD),
#          exec'd the same way.
#   berth  one cycle is `berth create` + `berth delete` of a container whose
#          process is `true`: without a network, with `--network N`, and with
#          `--network N -p PORT:80` (10.213.201.0/24). The network's cost is
#          the difference with the run without a network (same clone, rootfs,
#          cgroup and netns work in both).
#
# Prints a table of wall times and CPU times (user + system of the cycle and
# its children) and the ratios berth / CNI (goal: <= 0.10) and berth-cni /
# CNI (goal: CPU <= 0.1, wall <= 0.2). Needs root,
# hyperfine and jq. Leaves nothing behind: netns, bridges, CNI's IPAM files,
# portmap's iptables chains (if it made them), ip_forward, berth's network
# and state are removed or restored on exit, also on failure.
#
# Environment: BERTH (default target/x86_64-unknown-linux-gnu/release/berth), BERTH_CNI (default
# target/x86_64-unknown-linux-gnu/release/berth-cni), CNI_PATH (default
# /usr/lib/cni), RUNS (default 40, or the first argument: samples per
# cycle), ROUNDS (default 5: hyperfine runs the samples are spread over).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-${RUNS:-40}}
berth=${BERTH:-$here/target/x86_64-unknown-linux-gnu/release/berth}
cni_path=${CNI_PATH:-/usr/lib/cni}

die() { echo "bench-cni: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root"
[[ -x "$berth" ]] || die "no berth binary at $berth (cargo build --release -p berth, or set BERTH)"
berth_cni=${BERTH_CNI:-$here/target/x86_64-unknown-linux-gnu/release/berth-cni}
[[ -x "$berth_cni" ]] || die "no berth-cni at $berth_cni (cargo build --release -p network --bin berth-cni, or set BERTH_CNI)"
for tool in hyperfine jq ip iptables ip6tables nft; do
  command -v "$tool" >/dev/null || die "$tool is missing (hack/setup.sh installs it)"
done
for p in bridge host-local portmap; do
  [[ -x "$cni_path/$p" ]] || die "$cni_path/$p is missing (apt-get install -y containernetworking-plugins)"
done
cni_subnet=10.213.200.0/24
berth_subnet=10.213.201.0/24
plugin_subnet=10.213.202.0/24
for s in 10.213.200. 10.213.201. 10.213.202.; do
  if ip -o route show | grep -q "^$s"; then
    die "the host already has a route into ${s}0/24: something else uses the benchmark's subnets"
  fi
done

tag=$(( $$ % 100000 ))
work=$(mktemp -d /tmp/berth-bench-cni.XXXXXX)
netns=berthbench$tag
plugin_netns=berthcni$tag
plugin_bridge=bpcn$tag
plugin_net=benchcni$tag
plugin_port=18202
cni_bridge=bcni$tag
berth_bridge=bbth$tag
berth_net=bench$tag
cid=bench$tag
cni_port=18200
berth_port=18201
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
declare -A cni_chains_before nat_table_before
for fam in ip ip6; do
  nat_table_before[$fam]=$(nft list tables 2>/dev/null | grep -c "^table $fam nat\$" || true)
  cni_chains_before[$fam]=0
  if [[ "${nat_table_before[$fam]}" != 0 ]]; then
    ipt=iptables
    [[ $fam == ip6 ]] && ipt=ip6tables
    cni_chains_before[$fam]=$($ipt -t nat -S 2>/dev/null | grep -c -- '-N CNI-' || true)
  fi
done
B=("$berth" --root "$work/root" --state-dir "$work/state")

cleanup() {
  set +e
  "${B[@]}" delete --force "$cid" >/dev/null 2>&1
  "${B[@]}" network rm --force "$berth_net" >/dev/null 2>&1
  if [[ -e /run/netns/$plugin_netns ]]; then
    CNI_COMMAND=DEL CNI_CONTAINERID=$cid CNI_NETNS=/run/netns/$plugin_netns CNI_IFNAME=eth0 \
      "$berth_cni" < "$work/berth-cni-port.json" >/dev/null 2>&1
    ip netns del "$plugin_netns"
  fi
  "$berth" --state-dir "$work/plugin-state" network rm --force "$plugin_net" >/dev/null 2>&1
  if [[ -e /run/netns/$netns ]]; then
    CNI_COMMAND=DEL CNI_CONTAINERID=$cid CNI_NETNS=/run/netns/$netns CNI_IFNAME=eth0 \
      CNI_PATH=$cni_path "$cni_path/bridge" < "$work/bridge.json" >/dev/null 2>&1
    ip netns del "$netns"
  fi
  ip link show "$cni_bridge" >/dev/null 2>&1 && ip link del "$cni_bridge"
  # portmap leaves its top chains (CNI-HOSTPORT-*) in the nat tables (and
  # iptables-nft the tables): removed when there were none before.
  for fam in ip ip6; do
    ipt=iptables
    [[ $fam == ip6 ]] && ipt=ip6tables
    [[ "${cni_chains_before[$fam]}" == 0 ]] || continue
    for builtin in PREROUTING OUTPUT POSTROUTING; do
      $ipt -t nat -S "$builtin" 2>/dev/null | grep -- '-j CNI-' | sed 's/^-A /-D /' |
        while read -r rule; do
          eval "$ipt -t nat $rule"
        done
    done
    chains=$($ipt -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-/ {print $2}')
    for chain in $chains; do $ipt -t nat -F "$chain"; done
    for chain in $chains; do $ipt -t nat -X "$chain"; done
    if [[ "${nat_table_before[$fam]}" == 0 ]] && ! $ipt -t nat -S 2>/dev/null | grep -q '^-[AN] '; then
      nft delete table "$fam" nat 2>/dev/null
    fi
  done
  echo "$forward_before" > /proc/sys/net/ipv4/ip_forward
  rm -rf "$work"
}
trap cleanup EXIT

# ---- CNI ----
ip netns add "$netns"
cat > "$work/bridge.json" <<EOF
{"cniVersion": "1.0.0", "name": "berthbench", "type": "bridge",
 "bridge": "$cni_bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
 "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cni_subnet"}]],
          "dataDir": "$work/cni-ipam"}}
EOF
cat > "$work/cni-cycle.sh" <<EOF
#!/usr/bin/env bash
# One attach + detach through the CNI plugins, as libcni runs them.
set -euo pipefail
export CNI_PATH=$cni_path CNI_CONTAINERID=$cid CNI_NETNS=/run/netns/$netns CNI_IFNAME=eth0
result=\$(CNI_COMMAND=ADD $cni_path/bridge < $work/bridge.json)
if [[ "\${1:-}" == portmap ]]; then
  pm=\$(printf '{"cniVersion": "1.0.0", "name": "berthbench", "type": "portmap", "snat": true, "capabilities": {"portMappings": true}, "runtimeConfig": {"portMappings": [{"hostPort": $cni_port, "containerPort": 80, "protocol": "tcp"}]}, "prevResult": %s}' "\$result")
  CNI_COMMAND=ADD $cni_path/portmap <<< "\$pm" > /dev/null
  CNI_COMMAND=DEL $cni_path/portmap <<< "\$pm" > /dev/null
fi
CNI_COMMAND=DEL $cni_path/bridge < $work/bridge.json > /dev/null
EOF
chmod +x "$work/cni-cycle.sh"
# One checked cycle first: the plugins work and DEL undoes ADD.
"$work/cni-cycle.sh" portmap || die "the CNI plugins failed (see above)"
if ip netns exec "$netns" ip -o link show eth0 >/dev/null 2>&1; then
  die "CNI DEL left eth0 in the netns"
fi

# ---- berth-cni ----
ip netns add "$plugin_netns"
plugin_config() {
  jq -n --arg name "$plugin_net" --arg subnet "$plugin_subnet" --arg bridge "$plugin_bridge" \
    --arg state "$work/plugin-state" --argjson ports "$1" \
    '{cniVersion: "1.0.0", name: $name, type: "berth-cni", stateDir: $state,
      subnet: $subnet, bridge: $bridge, capabilities: {portMappings: true},
      runtimeConfig: {portMappings: $ports}}'
}
plugin_config '[]' > "$work/berth-cni.json"
plugin_config "[{\"hostPort\": $plugin_port, \"containerPort\": 80, \"protocol\": \"tcp\"}]" \
  > "$work/berth-cni-port.json"
cat > "$work/berth-cni-cycle.sh" <<EOF
#!/usr/bin/env bash
# One attach + detach through berth-cni, as libcni runs it.
set -euo pipefail
export CNI_PATH=$cni_path CNI_CONTAINERID=$cid CNI_NETNS=/run/netns/$plugin_netns CNI_IFNAME=eth0
config=$work/berth-cni.json
[[ "\${1:-}" == port ]] && config=$work/berth-cni-port.json
CNI_COMMAND=ADD $berth_cni < \$config > /dev/null
CNI_COMMAND=DEL $berth_cni < \$config > /dev/null
EOF
chmod +x "$work/berth-cni-cycle.sh"
# The cost of the cycle scripts themselves: the same shape with /bin/true
# in place of the plugins, subtracted from both sides for the net ratios.
cat > "$work/noop-cycle.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
export CNI_PATH=$cni_path CNI_CONTAINERID=$cid CNI_NETNS=/run/netns/$plugin_netns CNI_IFNAME=eth0
CNI_COMMAND=ADD /bin/true < $work/berth-cni.json > /dev/null
CNI_COMMAND=DEL /bin/true < $work/berth-cni.json > /dev/null
EOF
chmod +x "$work/noop-cycle.sh"
"$work/berth-cni-cycle.sh" port || die "berth-cni failed (see above)"
if ip netns exec "$plugin_netns" ip -o link show eth0 >/dev/null 2>&1; then
  die "berth-cni DEL left eth0 in the netns"
fi

# ---- berth ----
BERTH=$berth "$here/hack/mkbundle.sh" "$work/bundle" true >/dev/null
"${B[@]}" network create "$berth_net" --subnet "$berth_subnet" --bridge "$berth_bridge" >/dev/null
cat > "$work/berth-cycle.sh" <<EOF
#!/usr/bin/env bash
# One berth create + delete; arguments: extra create flags.
set -euo pipefail
$berth --root $work/root --state-dir $work/state create --bundle $work/bundle "\$@" $cid
$berth --root $work/root --state-dir $work/state delete --force $cid
EOF
chmod +x "$work/berth-cycle.sh"
"$work/berth-cycle.sh" --network "$berth_net" -p "$berth_port:80" || die "berth create/delete failed"
in_use=$("${B[@]}" network inspect "$berth_net" | jq '.[0].addressesInUse')
[[ "$in_use" == 0 ]] || die "berth left $in_use address(es) allocated"

# ---- measure ----
# The machine is shared: the cycles are measured in ROUNDS hyperfine runs
# that alternate between the commands, so that load that comes and goes
# hits every command alike, and the figures are medians (and minimums) of
# all samples, not means.
rounds=${ROUNDS:-5}
per_round=$(( (runs + rounds - 1) / rounds ))
(( per_round >= 2 )) || per_round=2
echo "bench-cni: $rounds rounds x $per_round runs of each cycle (hyperfine), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
names=("cni bridge+host-local" "cni bridge+host-local+portmap" "berth-cni" "berth-cni -p" "noop"
       "berth no network" "berth --network" "berth --network -p")
cmds=("$work/cni-cycle.sh" "$work/cni-cycle.sh portmap"
      "$work/berth-cni-cycle.sh" "$work/berth-cni-cycle.sh port" "$work/noop-cycle.sh" "$work/berth-cycle.sh"
      "$work/berth-cycle.sh --network $berth_net"
      "$work/berth-cycle.sh --network $berth_net -p $berth_port:80")
for r in $(seq "$rounds"); do
  args=()
  for k in "${!names[@]}"; do args+=(-n "${names[$k]}" "${cmds[$k]}"); done
  warm=1
  [[ $r == 1 ]] && warm=3
  hyperfine -N --style none --warmup "$warm" --runs "$per_round" \
    --export-json "$work/round$r.json" "${args[@]}" >/dev/null
done
jq -s '[.[].results[]] | group_by(.command) | map({command: .[0].command, times: (map(.times) | add),
          cpu: ((map(.user + .system) | add) / length)})' \
  "$work"/round*.json > "$work/times.json"

# stat NAME median|min|mean|n, in ms
stat() {
  jq -r --arg n "$1" --arg f "$2" '
    .[] | select(.command == $n) | .times | sort | map(. * 1000) |
    if $f == "median" then (if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end)
    elif $f == "min" then .[0]
    elif $f == "n" then length
    else add / length end' "$work/times.json"
}
# cpu NAME: mean user + system CPU of a cycle (with its children), in ms
cpu() { jq -r --arg n "$1" '.[] | select(.command == $n) | .cpu * 1000' "$work/times.json"; }
row() { printf '%-44s %9.2f %9.2f %9.2f %9.2f %5d\n' "$1" "$(stat "$2" median)" "$(stat "$2" min)" "$(stat "$2" mean)" "$(cpu "$2")" "$(stat "$2" n)"; }
echo
printf '%-44s %9s %9s %9s %9s %5s\n' "cycle (attach + detach), ms" "median" "min" "mean" "cpu" "n"
row "CNI bridge + host-local ADD+DEL" "cni bridge+host-local"
row "CNI bridge + host-local + portmap ADD+DEL" "cni bridge+host-local+portmap"
row "berth-cni ADD+DEL" "berth-cni"
row "berth-cni ADD+DEL, one port" "berth-cni -p"
row "the cycle script alone (/bin/true x2)" "noop"
row "berth create+delete, no network" "berth no network"
row "berth create+delete --network" "berth --network"
row "berth create+delete --network -p" "berth --network -p"
echo
awk -v cni="$(stat "cni bridge+host-local" median)" -v cni_pm="$(stat "cni bridge+host-local+portmap" median)" \
    -v none="$(stat "berth no network" median)" -v net="$(stat "berth --network" median)" \
    -v net_pm="$(stat "berth --network -p" median)" \
    -v cni_min="$(stat "cni bridge+host-local" min)" -v cni_pm_min="$(stat "cni bridge+host-local+portmap" min)" \
    -v none_min="$(stat "berth no network" min)" -v net_min="$(stat "berth --network" min)" \
    -v net_pm_min="$(stat "berth --network -p" min)" 'BEGIN {
  n = net - none; p = net_pm - none
  printf "%-44s %9.2f ms (min-based %.2f)\n", "berth network cost (--network - none)", n, net_min - none_min
  printf "%-44s %9.2f ms (min-based %.2f)\n", "berth network+port cost (-p - none)", p, net_pm_min - none_min
  printf "%-44s %9.3f    (min-based %.3f)\n", "ratio berth / CNI, no port", n / cni, (net_min - none_min) / cni_min
  printf "%-44s %9.3f    (min-based %.3f)\n", "ratio berth / CNI, one published port", p / cni_pm, (net_pm_min - none_min) / cni_pm_min
  printf "%-44s %9s\n", "goal: ratio <= 0.10 (medians)", ((n / cni <= 0.10 && p / cni_pm <= 0.10) ? "met" : "NOT met")
}'
# berth-cni against the CNI chain, both exec'd the same way (the cycle
# script's bash counts in both).
awk -v cni="$(stat "cni bridge+host-local" median)" -v cni_pm="$(stat "cni bridge+host-local+portmap" median)" \
    -v b="$(stat "berth-cni" median)" -v b_pm="$(stat "berth-cni -p" median)" \
    -v cni_cpu="$(cpu "cni bridge+host-local")" -v cni_pm_cpu="$(cpu "cni bridge+host-local+portmap")" \
    -v b_cpu="$(cpu "berth-cni")" -v b_pm_cpu="$(cpu "berth-cni -p")" \
    -v z="$(stat noop median)" -v z_cpu="$(cpu noop)" 'BEGIN {
  printf "%-44s %9.3f wall, %.3f cpu\n", "ratio berth-cni / CNI, no port", b / cni, b_cpu / cni_cpu
  printf "%-44s %9.3f wall, %.3f cpu\n", "ratio berth-cni / CNI, one published port", b_pm / cni_pm, b_pm_cpu / cni_pm_cpu
  nw = (b - z) / (cni - z); nc = (b_cpu - z_cpu) / (cni_cpu - z_cpu)
  pw = (b_pm - z) / (cni_pm - z); pc = (b_pm_cpu - z_cpu) / (cni_pm_cpu - z_cpu)
  printf "%-44s %9.3f wall, %.3f cpu\n", "  the same without the cycle script, no port", nw, nc
  printf "%-44s %9.3f wall, %.3f cpu\n", "  the same without the cycle script, one port", pw, pc
  met = (nc <= 0.10 && pc <= 0.10 && nw <= 0.20 && pw <= 0.20)
  printf "%-44s %9s\n", "goal: cpu <= 0.10, wall <= 0.20 (net)", (met ? "met" : "NOT met")
}'
