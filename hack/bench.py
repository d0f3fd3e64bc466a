#!/usr/bin/env python3
"""hack/bench.py RUNS SPEC.json [RESULT.json]

Runs the scenarios of SPEC.json interleaved and prints, per scenario and
runtime, the medians of wall time, CPU time and peak RSS, with the ratios
to crun and runc in the same scenario. hack/bench-run.sh writes the spec.

SPEC.json is a list of scenarios:

    [{"scenario": "run", "runtime": "berth",
      "setup": [["berth", "run", "-d", ...]],      # untimed, every round
      "timed": [["berth", "create", ...], ...]}]   # timed, in this order

Each round runs every scenario once, in the spec's order, after WARMUP
rounds that are not counted. A command is spawned directly (no shell) with
stdin, stdout and stderr on /dev/null; a command that fails stops the run
with its exit status and stderr.

What is measured, for the timed commands of one round taken together:
- wall: from the first spawn to the last wait;
- CPU: user + system time of each command and of every descendant it
  waited for, from wait4(2)'s rusage (so a container's init, its hooks and
  the container's own process count as the runtime's);
- peak RSS, in a separate pass of RSS_ROUNDS rounds after the timed
  ones: the largest `/usr/bin/time -f %M` of the timed commands (the
  largest resident set of the command or of any process it waited for), in
  MiB. It is not taken from the timed rounds: a child forked from this
  Python process counts Python's resident set as its own until it execs.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WARMUP = 5
RSS_ROUNDS = 5


def spawn(argv):
    """Runs argv to completion; returns its rusage. Raises on failure."""
    # stderr goes to a file, not a pipe: a created container's init keeps
    # it open, and a pipe would never reach EOF.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            text = err.read().decode(errors="replace").strip()
            raise SystemExit(f"bench: `{' '.join(argv)}` exited {code}: {text}")
    return usage


def measure(entry):
    """Wall and CPU seconds of one round of an entry."""
    for argv in entry.get("setup", []):
        spawn(argv)
    cpu = 0.0
    start = time.perf_counter()
    for argv in entry["timed"]:
        usage = spawn(argv)
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, cpu


def peak_rss(entry):
    """The largest peak RSS, in KiB, of the timed commands of one round."""
    for argv in entry.get("setup", []):
        spawn(argv)
    peak = 0
    with tempfile.NamedTemporaryFile(mode="r") as out:
        for argv in entry["timed"]:
            spawn(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv])
            out.seek(0)
            peak = max(peak, int(out.read().split()[-1]))
    return peak


def main():
    runs = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    samples = [([], [], []) for _ in spec]
    for round_ in range(WARMUP + runs):
        for entry, (wall, cpu, _) in zip(spec, samples):
            w, c = measure(entry)
            if round_ >= WARMUP:
                wall.append(w * 1000)
                cpu.append(c * 1000)
    for _ in range(RSS_ROUNDS):
        for entry, (_, _, rss) in zip(spec, samples):
            rss.append(peak_rss(entry) / 1024)
    results = [{"scenario": e["scenario"], "runtime": e["runtime"],
                "wall_ms": statistics.median(w), "cpu_ms": statistics.median(c),
                "rss_mib": statistics.median(r), "runs": runs}
               for e, (w, c, r) in zip(spec, samples)]
    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            json.dump(results, f, indent=1)
    print_table(results)


def print_table(results):
    by = {(r["scenario"], r["runtime"]): r for r in results}

    def ratio(r, ref, key):
        other = by.get((r["scenario"], ref))
        return f"{r[key] / other[key]:.2f}" if other else "-"

    header = ["scenario", "runtime", "wall ms", "CPU ms", "RSS MiB",
              "wall/crun", "CPU/crun", "wall/runc", "CPU/runc"]
    rows = [header]
    for r in results:
        rows.append([r["scenario"], r["runtime"], f"{r['wall_ms']:.1f}", f"{r['cpu_ms']:.1f}",
                     f"{r['rss_mib']:.1f}",
                     ratio(r, "crun", "wall_ms"), ratio(r, "crun", "cpu_ms"),
                     ratio(r, "runc", "wall_ms"), ratio(r, "runc", "cpu_ms")])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))))


if __name__ == "__main__":
    main()
