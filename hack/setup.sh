#!/usr/bin/env bash
# Installs everything berth's build, demo and tests need, from Debian's
# packages. Idempotent: when every package is already installed it does
# nothing (BERTH_SETUP_FORCE=1 runs apt-get anyway). No rustup: cargo is
# expected on the machine.
set -euo pipefail

PACKAGES=(
  # the busybox the test bundles are made of
  busybox-static
  # reference runtimes to compare with
  runc crun
  # network layer: firewall backends, CNI plugins for comparison, ip(8)
  nftables iptables containernetworking-plugins iproute2
  # callers of the runtime (containerd's shim and CRI plugin, podman,
  # docker) and image tools
  containerd umoci podman conmon docker.io
  # scripts and benchmarks
  jq python3 hyperfine procps util-linux
  # building (libseccomp-dev: the static libseccomp.a berth links;
  # build-essential: also the seccomp tests' i386/x32 test programs)
  build-essential pkg-config git ca-certificates libseccomp-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 && "${BERTH_SETUP_FORCE:-0}" != 1 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
else
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]:-${PACKAGES[*]}}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${PACKAGES[@]}"
  # The docker tests start dockerds of their own; the system one that the
  # package starts under systemd would put docker0, its iptables rules and a
  # DROP policy on FORWARD on the host.
  if [[ " ${missing[*]} " == *" docker.io "* && -d /run/systemd/system ]]; then
    systemctl disable --now docker.service docker.socket || true
  fi
fi

if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
  echo "setup: cargo is in ${HOME:-/root}/.cargo/bin; add it to PATH" >&2
fi
command -v cargo >/dev/null 2>&1 || [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]] || {
  echo "setup: cargo not found (berth does not install a toolchain)" >&2
  exit 1
}
