#!/usr/bin/env python3
"""hack/bench-exec.py RUNS NAME=COMMAND...

Runs each COMMAND (a shell-free command line, split on spaces) RUNS times,
interleaved round-robin after 10 warm-up rounds, and prints per command the
median wall time and the median CPU time (user + system of the command and
every descendant it waited for, from getrusage(RUSAGE_CHILDREN)) with the
ratios to the command of the same variant (the NAME's `+suffix`) named
`crun`, else `runc`. hyperfine reports CPU as a mean only; exec's CPU is
the figure issue 18 sets a goal for.
"""
import resource
import statistics
import subprocess
import sys
import time

WARMUP = 10


def main():
    runs = int(sys.argv[1])
    cmds = [arg.split("=", 1) for arg in sys.argv[2:]]
    wall = {name: [] for name, _ in cmds}
    cpu = {name: [] for name, _ in cmds}
    for round_ in range(WARMUP + runs):
        for name, line in cmds:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(line.split(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, check=True)
            end = time.perf_counter()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if round_ >= WARMUP:
                wall[name].append(end - start)
                cpu[name].append(after.ru_utime - before.ru_utime
                                 + after.ru_stime - before.ru_stime)
    med = {n: (statistics.median(wall[n]) * 1000, statistics.median(cpu[n]) * 1000)
           for n in wall}

    def ref_of(name):
        suffix = name[len(name.split("+")[0]):]
        return next(r + suffix for r in ("crun", "runc") if r + suffix in med)

    print(f"{'runtime':16} {'wall ms':>8} {'cpu ms':>8} {'wall/ref':>9} {'cpu/ref':>8}  ref")
    for name, _ in cmds:
        w, c = med[name]
        ref = ref_of(name)
        print(f"{name:16} {w:8.2f} {c:8.2f} {w / med[ref][0]:9.2f} {c / med[ref][1]:8.2f}  {ref}")


if __name__ == "__main__":
    main()
