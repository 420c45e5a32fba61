"""psample record against real interpreters.

The ratio workload spends 60/30/10 % of its time in a(), b() and c();
record at 1 kHz must find each within 3 percentage points, every line of
the folded file must parse, and no stack may contain a call that the
program never makes (the workload's call graph is known exactly, down to
the line each call is on).  Also: the child's output and exit status
pass through, options change what the profile says, and bad commands or
output paths fail early with their exit codes.  A class's __init__ sits
right under the line that makes the instance: CPython's own trampoline
between the two (3.13+'s _Py_InitCleanup, a code object named
"__init__" in a file "__init__") is not shown.
"""
import os
import re
import signal
import subprocess
import time

import common

RATIO = os.path.join(common.WORKLOADS, "ratio.py")


def workload_frames(stack):
    """The workload's own frames of a folded stack: (name, line)."""
    out = []
    for fr in stack:
        path, line = common.frame_loc(fr)
        if path and path.endswith("ratio.py"):
            out.append((common.frame_name(fr), line))
    return out


CALIBRATE_CALLS = set()


def _calibrate_lines():
    """Lines of calibrate() that call burn (it runs before main's loop)."""
    with open(RATIO) as f:
        lines = f.read().splitlines()
    inside = False
    for i, text in enumerate(lines, 1):
        if text.startswith("def calibrate"):
            inside = True
        elif text.startswith("def "):
            inside = False
        elif inside and "burn(" in text:
            CALIBRATE_CALLS.add(i)


_calibrate_lines()


def impossible(stacks):
    """Stacks with a call ratio.py does not make, or from the wrong line."""
    m = common.marker_lines(RATIO)
    # caller (name, line) -> callees it can have at that line
    calls = {
        ("<module>", m["module_main"]): {"main"},
        ("main", m["main_calibrate"]): {"calibrate"},
        ("main", m["main_a"]): {"a"},
        ("main", m["main_b"]): {"b"},
        ("main", m["main_c"]): {"c"},
        ("a", m["a_call"]): {"burn"},
        ("b", m["b_call"]): {"burn"},
        ("c", m["c_call"]): {"burn"},
    }
    calib = [ln for ln in range(1, 200) if ln in CALIBRATE_CALLS]
    for ln in calib:
        calls[("calibrate", ln)] = {"burn"}
    # Lines a leaf (innermost workload frame) can be on.
    leaf_lines = {
        "burn": {m["burn_loop"], m["burn_pass"], m["burn_loop"] - 1},
        # main's own lines, the clock() calls among them (C, no frame).
        "main": set(range(m["main_calibrate"] - 1, m["main_end"] + 1)),
        "calibrate": set(range(min(CALIBRATE_CALLS) - 3,
                               max(CALIBRATE_CALLS) + 6)),
        # The module's last lines, the ones writing the truth file too.
        "<module>": set(range(m["module_main"] - 1, m["module_main"] + 7)),
        "a": {m["a_call"]}, "b": {m["b_call"]}, "c": {m["c_call"]},
    }
    # A function just entered, before its first instruction, is on its
    # def line (CPython reports co_firstlineno there too).
    for name, marker in (("burn", "burn_loop"), ("a", "a_call"),
                         ("b", "b_call"), ("c", "c_call")):
        first = m[marker] - (2 if name == "burn" else 1)
        leaf_lines[name].add(first)
    # Sampling starts as soon as the interpreter is up, so the module
    # can be caught on its imports (in importlib's frames, or not).
    with open(RATIO) as f:
        leaf_lines["<module>"] |= {i for i, ln in enumerate(f, 1)
                                   if ln.startswith("import ")}
    # 3.12 puts a module's RESUME on line 0, and the eval breaker runs
    # there: a collection at startup is sampled as <module>:0;<GC>.
    leaf_lines["<module>"].add(0)
    bad = []
    for stack, count in stacks:
        wf = workload_frames(stack)
        if not wf:
            continue
        ok = wf[0][0] == "<module>"
        for (caller, cl), (callee, _) in zip(wf, wf[1:]):
            ok &= callee in calls.get((caller, int(cl)), set())
        name, line = wf[-1]
        ok &= line != "?" and int(line) in leaf_lines.get(name, set())
        if not ok:
            bad.append("%s %d" % (";".join(stack), count))
    return bad


def shares(stacks):
    tot = {"a": 0, "b": 0, "c": 0}
    for stack, count in stacks:
        names = {n for n, _ in workload_frames(stack)}
        for f in tot:
            if f in names:
                tot[f] += count
    n = sum(tot.values())
    return {f: 100.0 * v / n for f, v in tot.items()} if n else {}, n


def check_ratio(tap, it, d):
    name = common.label(it)
    out = os.path.join(d, "ratio.folded")
    truth = os.path.join(d, "ratio-truth.json")
    r = common.run(["record", "-r", "1000", "-o", out, "--", it.path, RATIO,
                    "3", "7"], timeout=120,
                   env=dict(os.environ, PSAMPLE_TRUTH=truth))
    tap.ok(r.returncode == 7 and r.stdout.strip() == "done",
           "%s: record passes the child's output and exit status through"
           % name, "rc=%d stdout=%r stderr=%s" % (r.returncode, r.stdout,
                                                  r.stderr))
    summary = [ln for ln in r.stderr.splitlines()
               if re.match(r"psample: \d+ samples in", ln)]
    tap.ok(len(summary) == 1 and "wrote " + out in summary[0],
           "%s: one summary line on stderr naming the profile" % name,
           r.stderr)
    if not os.path.exists(out):
        tap.ok(False, "%s: profile written" % name, r.stderr)
        return
    stacks, malformed = common.read_folded(out)
    tap.ok(not malformed, "%s: every folded line parses" % name,
           "\n".join(malformed[:10]))
    _, n = shares(stacks)
    bad = impossible(stacks)
    tap.ok(not bad, "%s: no impossible stack among %d samples" % (name, n),
           "\n".join(bad[:10]))
    first = ratio_off(stacks, truth, r.stderr)
    common.judged(tap, "%s: a/b/c get the shares of samples of the time "
                  "they took (60/30/10 on a quiet machine) within %g "
                  "points, the most off" % (name, RATIO_POINTS),
                  common.Runs(lambda: ratio_run(it, d), first),
                  lambda off: off <= RATIO_POINTS)


# How far the worst of a/b/c may be from its share of the time ratio.py
# measured, in points, over a 3 s record at 1 kHz.  Against the time
# measured, not the 60/30/10 of the work: a loaded machine that stalls
# the workload for 150 ms in one function moves the time split by 5
# points, and a wall-clock profile with it.  The bound: repeated runs on
# release, debug and free-threaded builds from 3.8 to 3.15, on a machine
# busy with other work, put it over six standard deviations above the
# worst interpreter's mean (the figures are in the commit that set it);
# a walker that gives a callee's time to its caller misses it by far.
RATIO_POINTS = 3.0


def ratio_run(it, d):
    """One more record of ratio.py: ratio_off() of it."""
    out = os.path.join(d, "ratio-again.folded")
    truth = os.path.join(d, "ratio-again.json")
    r = common.run(["record", "-r", "1000", "-o", out, "--", it.path, RATIO,
                    "3"], timeout=120,
                   env=dict(os.environ, PSAMPLE_TRUTH=truth))
    return ratio_off(common.read_folded(out)[0] if r.returncode == 0
                     else [], truth, r.stderr)


def ratio_off(stacks, truth, stderr):
    """(points the worst of a/b/c is off its share of the time the
    workload measured, written to truth; what was seen), or (None, ...)
    when the run has too few samples to tell."""
    sh, n = shares(stacks)
    want = common.ratio_truth(truth)
    text = "a/b/c %s over %d samples, of the time %s\n%s" % (
        "/".join("%.1f" % sh.get(f, 0) for f in "abc"), n,
        "/".join("%.1f" % want[f] for f in "abc") if want else "unknown",
        stderr)
    if n < 2000 or not want:
        return None, text
    return max(abs(sh[f] - want[f]) for f in "abc"), text


def check_options(tap, it, d):
    name = common.label(it)
    m = common.marker_lines(RATIO)
    # --function: one frame per function, at its first line.
    out = os.path.join(d, "func.folded")
    r = common.run(["record", "--function", "-r", "500", "-o", out, "--",
                    it.path, RATIO, "1"], timeout=60)
    stacks, _ = common.read_folded(out) if r.returncode == 0 else ([], [])
    lines = {(common.frame_name(f), common.frame_loc(f)[1])
             for s, _ in stacks for f in s
             if (common.frame_loc(f)[0] or "").endswith("ratio.py")}
    want = {("burn", str(m["burn_loop"] - 2)), ("a", str(m["a_call"] - 1))}
    tap.ok(r.returncode == 0 and want <= lines and
           not any(n == "burn" and ln != str(m["burn_loop"] - 2)
                   for n, ln in lines),
           "%s: --function labels frames with the function's first line"
           % name, "%s\n%s" % (sorted(lines), r.stderr))

    # --threads: a root per thread, named by native thread id.
    out = os.path.join(d, "threads.folded")
    r = common.run(["record", "--threads", "-r", "500", "-o", out, "--",
                    it.path, RATIO, "1"], timeout=60)
    stacks, _ = common.read_folded(out) if r.returncode == 0 else ([], [])
    roots = {s[0] for s, _ in stacks}
    tap.ok(r.returncode == 0 and roots and
           all(re.match(r"^thread (\d+ \(.*\)|\(\d+\))$", x) for x in roots),
           "%s: --threads puts a 'thread <tid>' root on every stack" % name,
           "%s\n%s" % (sorted(roots)[:5], r.stderr))

    # Paths: stdlib frames shortened unless --full-paths.
    code = ("import json, time\n"
            "t = time.time()\n"
            "while time.time() - t < 1:\n"
            "    json.dumps(list(range(2000)))\n")
    script = os.path.join(d, "uses_json.py")
    with open(script, "w") as f:
        f.write(code)
    outs = {}
    for flag in ([], ["--full-paths"]):
        out = os.path.join(d, "paths%d.folded" % len(flag))
        r = common.run(["record", "-r", "500", "-o", out] + flag +
                       ["--", it.path, script], timeout=60)
        stacks, _ = common.read_folded(out) if r.returncode == 0 else ([],
                                                                       [])
        outs[bool(flag)] = {common.frame_loc(f)[0] for s, _ in stacks
                            for f in s} - {None}
    tap.ok("json/encoder.py" in outs[False] and
           any(p.endswith("/json/encoder.py") and p.startswith("/")
               for p in outs[True]),
           "%s: stdlib paths are shortened, and kept whole with "
           "--full-paths" % name,
           "%s\n%s" % (sorted(outs[False])[:8], sorted(outs[True])[:8]))


def check_sigterm(tap, it, d):
    """SIGTERM ends sampling like Ctrl-C: the profile is still written."""
    name = common.label(it)
    out = os.path.join(d, "term.folded")
    p = subprocess.Popen([common.PSAMPLE, "record", "-r", "200", "-o", out,
                          "--", it.path, RATIO, "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    stacks, malformed = (common.read_folded(out) if os.path.exists(out)
                         else ([], ["missing"]))
    tap.ok(stacks and not malformed and
           p.returncode == 128 + signal.SIGTERM,
           "%s: SIGTERM to record writes the profile, ends the command "
           "and exits with its status" % name,
           "rc=%s\n%s" % (p.returncode, err))


def check_errors(tap, d):
    r = common.run(["record", "--", "/nonexistent/command"])
    tap.ok(r.returncode == common.EXIT_EXEC and
           "cannot run" in r.stderr and len(r.stderr.splitlines()) == 1,
           "record of a missing command: one line, exit %d"
           % common.EXIT_EXEC, "rc=%d %s" % (r.returncode, r.stderr))

    marker = os.path.join(d, "should-not-exist")
    r = common.run(["record", "-o", "/nonexistent/dir/out.folded", "--",
                    "python3", "-c", "open(%r, 'w')" % marker])
    tap.ok(r.returncode == common.EXIT_OUTPUT and
           not os.path.exists(marker) and len(r.stderr.splitlines()) == 1,
           "unwritable output: refused before the command starts, exit %d"
           % common.EXIT_OUTPUT, "rc=%d %s" % (r.returncode, r.stderr))

    r = common.run(["record", "-o", os.path.join(d, "x.folded"), "--",
                    "sleep", "10"], timeout=60)
    tap.ok(r.returncode == common.EXIT_NOT_PYTHON and
           "not a Python" in r.stderr,
           "record of a non-Python command: exit %d"
           % common.EXIT_NOT_PYTHON, "rc=%d %s" % (r.returncode, r.stderr))


def check_init_caller(tap, it, d):
    """Samples in A.__init__ or B.__init__ of shapes.py have main() on
    the line that makes the instance right below, and CPython's
    trampoline (a frame "__init__" of file "__init__") is never shown.
    __init__ runs a millisecond per call, so a stack read while it is
    entered or left is rare: at most 1 % may be off (0-0.3 % seen
    without --blocking on 3.10, 3.13 and 3.15), the trampoline never."""
    name = common.label(it)
    out = os.path.join(d, "init.folded")
    r, script = common.record_shapes(d, it, "folded", out)
    if r.returncode != 0 or not os.path.exists(out):
        tap.ok(False, "%s: record of shapes.py" % name,
               "rc=%d\n%s" % (r.returncode, r.stderr))
        return
    m = common.marker_lines(script)
    lines = {str(m["a_init"]): str(m["main_a"]),
             str(m["b_init"]): str(m["main_b"])}
    stacks, _ = common.read_folded(out)
    n, off, shim, bad = 0, 0, 0, []
    for stack, count in stacks:
        if any(fr.endswith(" (__init__)") or
               common.frame_loc(fr)[0] == "__init__" for fr in stack):
            shim += count
            bad.append("%s %d" % (";".join(stack), count))
        for i, fr in enumerate(stack):
            path, line = common.frame_loc(fr)
            if not ((path or "").endswith("shapes.py") and line in lines
                    and common.frame_name(fr).endswith("__init__")):
                continue
            n += count
            below = stack[i - 1] if i else ""
            if common.frame_name(below) != "main" or \
                    common.frame_loc(below) != (path, lines[line]):
                off += count
                bad.append("%s %d" % (";".join(stack), count))
            break
    tap.ok(n >= 50 and not shim and 100 * off <= n,
           "%s: __init__ right under the line that makes the instance "
           "(%d samples in __init__, %d not; trampoline in %d)"
           % (name, n, off, shim), "\n".join(bad[:10]))


def main():
    tap = common.Tap()
    d = common.tmpdir()
    found, supported = common.interpreters(tap, "record on")
    for it in supported:
        check_ratio(tap, it, d)
        check_options(tap, it, d)
        check_init_caller(tap, it, d)
    if supported:
        check_sigterm(tap, supported[0], d)
    check_errors(tap, d)
    tap.done()


if __name__ == "__main__":
    main()
