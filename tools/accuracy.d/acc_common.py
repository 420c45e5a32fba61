"""What every tools/accuracy workload shares.

A workload is run as `python WORKLOAD.py SECONDS TRUTH.json`: it sets
itself up (calibration included), prints "ready", runs its measured part
for SECONDS, then writes its ground truth to TRUTH.json and exits 0.

The measured part runs inside a *root* function (one per thread where
there are threads).  A sampler's share of a function f is the fraction
of the samples with f's root on the stack that also have f anywhere on
the stack (its *total* share; for a function that calls no Python, its
*own* share is the same).  The truth is the same ratio in time: the
time f's frame was on the stack, over the time the root's frame was,
both measured with time.perf_counter from inside the program.

Kept to what CPython 3.8 has.
"""

import json
import re
import statistics
import sys
import time

pc = time.perf_counter

_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")
_CALL = re.compile(r"#\s*call:\s*(\w+)")


def args():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: %s SECONDS TRUTH.json\n" % sys.argv[0])
        sys.exit(2)
    return float(sys.argv[1]), sys.argv[2]


def ready():
    print("ready", flush=True)


def edges(path):
    """Call sites marked `# call: CALLEE` in the source at path.

    Returns [{"caller", "callee", "lines"}]: the caller is the function
    the marked line is in.  A sampler that shows the caller directly
    below the callee on any other line shows a stack the program never
    had, and so does one that shows the callee directly above any other
    function."""
    found = {}
    stack = []          # (indent, name) of the enclosing defs
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip())
            while stack and indent <= stack[-1][0] and \
                    not line.lstrip().startswith("#"):
                stack.pop()
            m = _DEF.match(line)
            if m:
                stack.append((len(m.group(1)), m.group(2)))
                continue
            m = _CALL.search(line)
            if m and stack:
                key = (stack[-1][1], m.group(1))
                found.setdefault(key, []).append(lineno)
    return [{"caller": k[0], "callee": k[1], "lines": v}
            for k, v in sorted(found.items())]


def nothing():
    pass


def bracket_cost(batches=15, n=400):
    """Seconds a perf_counter bracket measures around a call of an empty
    function, in the shape the workloads time their calls.

    Some of that is the empty function's own frame (which a sampler
    rightly counts as the callee), the rest is the bracket and the call
    seen from the caller's side: so a function's true time on the stack
    lies between its measured time less calls x this, and its measured
    time.  Median of batch means (other threads and the scheduler
    inflate single batches)."""
    means = []
    for _ in range(batches):
        acc = 0.0
        for _ in range(n):
            t0 = pc()
            nothing()
            t1 = pc()
            acc += t1 - t0
        means.append(acc / n)
    return statistics.median(means)


def timer_cost(n=2000):
    """Seconds between two back-to-back perf_counter calls."""
    acc = 0.0
    for _ in range(n):
        t0 = pc()
        t1 = pc()
        acc += t1 - t0
    return acc / n


def calibrate(fn, target_s, n=16, tries=7):
    """The argument n for which fn(n) takes about target_s (median of
    tries timed calls, n scaled until within 10 %)."""
    for _ in range(12):
        ts = []
        for _ in range(tries):
            t0 = pc()
            fn(n)
            ts.append(pc() - t0)
        t = statistics.median(ts)
        if t <= 0:
            n *= 4
            continue
        ratio = target_s / t
        if 0.9 < ratio < 1.1:
            break
        n = max(1, int(n * ratio))
    return n


def write_truth(path, workload, src, roots, functions, **extra):
    """roots: {name: seconds}; functions: {name: {"root", "seconds",
    "calls", "leaf"}} (seconds: perf_counter sum of the calls)."""
    for name, f in functions.items():
        f["share"] = f["seconds"] / roots[f["root"]] if roots[f["root"]] \
            else 0.0
    doc = {
        "workload": workload,
        "file": src.rsplit("/", 1)[-1],
        "python": "%d.%d.%d" % sys.version_info[:3],
        "roots": roots,
        "functions": functions,
        "edges": edges(src),
    }
    doc.update(extra)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
