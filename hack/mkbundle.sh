#!/usr/bin/env bash
# hack/mkbundle.sh DIR [ARG...]
#
# Makes an OCI bundle in DIR from Debian's busybox-static: DIR/rootfs holds
# /bin/busybox and a symlink per applet, a minimal /etc; DIR/config.json is
# `berth spec`'s default with process.args set to ARG... (default: sh).
#
# Environment:
#   BERTH     the berth binary (default: target/x86_64-unknown-linux-gnu/release/berth, else target/x86_64-unknown-linux-gnu/debug/berth)
#   BUSYBOX   the static busybox to copy (default: /bin/busybox)
#   TERMINAL  set to 1 to keep process.terminal=true (needs --console-socket)
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 DIR [ARG...]" >&2
  exit 2
fi
dir=$1
shift

here=$(cd "$(dirname "$0")/.." && pwd)
berth=${BERTH:-}
if [[ -z "$berth" ]]; then
  if [[ -x "$here/target/x86_64-unknown-linux-gnu/release/berth" ]]; then
    berth=$here/target/x86_64-unknown-linux-gnu/release/berth
  else
    berth=$here/target/x86_64-unknown-linux-gnu/debug/berth
  fi
fi
[[ -x "$berth" ]] || { echo "mkbundle: no berth binary at $berth (build first or set BERTH)" >&2; exit 1; }

busybox=${BUSYBOX:-/bin/busybox}
[[ -x "$busybox" ]] || { echo "mkbundle: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if command -v file >/dev/null && file -L "$busybox" | grep -q 'dynamically linked'; then
  echo "mkbundle: $busybox is dynamically linked; the bundle needs busybox-static" >&2
  exit 1
fi

if [[ -e "$dir/config.json" ]]; then
  echo "mkbundle: $dir/config.json exists; not overwriting" >&2
  exit 1
fi

rootfs=$dir/rootfs
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var,run}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"

# One relative symlink per applet, where busybox would install it. The
# busybox binary itself is never replaced by a link.
while read -r applet; do
  [[ -n "$applet" ]] || continue
  name=${applet##*/}
  [[ "$name" == busybox ]] && continue
  case "$applet" in
    /*) path=$applet ;;
    */*) path=/$applet ;;
    *) path=/bin/$applet ;;
  esac
  sub=${path%/*}
  mkdir -p "$rootfs$sub"
  case "$sub" in
    /bin) target=busybox ;;
    /sbin) target=../bin/busybox ;;
    /usr/bin | /usr/sbin) target=../../bin/busybox ;;
    *) target=/bin/busybox ;;
  esac
  [[ -e "$rootfs$path" || -L "$rootfs$path" ]] || ln -s "$target" "$rootfs$path"
done < <("$busybox" --list-full 2>/dev/null || "$busybox" --list)

cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
GROUP
echo "127.0.0.1 localhost" > "$rootfs/etc/hosts"
: > "$rootfs/etc/resolv.conf"

"$berth" spec --bundle "$dir"

args_json='["sh"]'
if [[ $# -gt 0 ]]; then
  args_json='[]'
  for arg in "$@"; do
    args_json=$(jq -c --arg a "$arg" '. + [$a]' <<<"$args_json")
  done
fi
terminal=false
[[ "${TERMINAL:-0}" == 1 ]] && terminal=true
tmp=$(mktemp "$dir/.config.XXXXXX")
jq --argjson args "$args_json" --argjson terminal "$terminal" \
  '.process.args = $args | .process.terminal = $terminal' "$dir/config.json" > "$tmp"
mv "$tmp" "$dir/config.json"
echo "mkbundle: bundle in $dir (process.args: $args_json)"
