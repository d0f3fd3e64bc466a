#!/usr/bin/env python3
"""hack/seccomp-oci.py [PROFILE] [CAP...]

Prints the runtime-spec `linux.seccomp` object that podman and docker make
from a profile in their own format (default: podman's
/usr/share/containers/seccomp.json) for this machine (x86_64) and a
container with the capabilities CAP... (default: podman's defaults), by
their rules: the native architecture with its sub-architectures, rules
whose includes/excludes (arches, caps, minKernel) select them.

Used by hack/bench-run.sh and the seccomp spec-tests, so that berth is
measured and tested with the profile podman really passes.
"""
import json
import os
import sys

PODMAN_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
    "CAP_SETUID", "CAP_SYS_CHROOT",
]


def kernel_at_least(wanted):
    have = [int(x) for x in os.uname().release.split("-")[0].split(".")[:2]]
    want = [int(x) for x in wanted.split(".")[:2]]
    return have >= want


def selected(rule, caps):
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("arches") and "amd64" not in inc["arches"]:
        return False
    if "amd64" in (exc.get("arches") or []):
        return False
    if any(c not in caps for c in inc.get("caps") or []):
        return False
    if any(c in caps for c in exc.get("caps") or []):
        return False
    if inc.get("minKernel") and not kernel_at_least(inc["minKernel"]):
        return False
    return True


def convert(profile, caps):
    out = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == "SCMP_ARCH_X86_64":
            out["architectures"] = [entry["architecture"]] + entry.get("subArchitectures", [])
    out["syscalls"] = []
    for rule in profile.get("syscalls") or []:
        if not selected(rule, caps):
            continue
        names = rule.get("names") or [rule["name"]]
        new = {"names": names, "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            new["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            new["args"] = [
                {"index": a["index"], "value": a["value"], "valueTwo": a.get("valueTwo", 0), "op": a["op"]}
                for a in rule["args"]
            ]
        out["syscalls"].append(new)
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
    caps = sys.argv[2:] or PODMAN_CAPS
    with open(path) as f:
        profile = json.load(f)
    json.dump(convert(profile, caps), sys.stdout)
    print()


if __name__ == "__main__":
    main()
