"""psample --blocking against real interpreters.

With --blocking psample stops the target's Python threads (ptrace
SEIZE + INTERRUPT) for each read and lets them go (DETACH) after it.
Checked on every interpreter:
 1. fastcalls.py, whose stacks change every few microseconds, recorded
    at 1 kHz: every stack is one the program can have (its call graph
    is known down to the line of each call).  Recorded again without
    --blocking, impossible stacks stay rare.
 1b. tinycalls.py, a loop calling a function that does almost nothing,
    attached to twice, with and without --blocking: the share of samples
    each function is the innermost one in agrees (a reader racing the
    program must not give a fast callee's time to its caller, nor the
    caller's to the callee); a run over the bound is judged by the
    median of it and two more runs.  3.11-3.13 mark the
    running frame, which psample uses: the bounds are tighter there than
    where it has only the current-frame word.
 2. psample killed with SIGKILL at random moments of a 2 kHz --blocking
    run (attach, and record with the test as the orphaned target's
    subreaper): the target is never left stopped or traced, and ends
    with its normal output and exit status 0.
 3. signals.py, whose threads get SIGUSR1 (aimed at each thread), a
    chained SIGALRM timer and SIGCHLD from children forked by a thread,
    one at a time: under --blocking every signal is handled, every child
    exits normally, exactly as unprofiled.
"""
import ast
import ctypes
import os
import random
import re
import signal
import subprocess
import time

import common

FAST = os.path.join(common.WORKLOADS, "fastcalls.py")
SIGNALS = os.path.join(common.WORKLOADS, "signals.py")
KILLS = 10


# ------------------------------------------------------------ call graph

def function_lines():
    """{name: (def line, last line)} of fastcalls.py's functions."""
    with open(FAST) as f:
        tree = ast.parse(f.read())
    return {n.name: (n.lineno, n.end_lineno) for n in tree.body
            if isinstance(n, ast.FunctionDef)}


def rules():
    """(calls, leaf_lines, calls_out, import_lines, dying) of
    fastcalls.py.

    calls: (caller, line) -> the workload function it calls there.
    leaf_lines: the lines a function can be on with nothing called.
    calls_out: (function, line) where it calls into other files.
    dying: (function, line) -> the one other file it may call there,
    from callbacks of the locals of the function it called.
    """
    m = common.marker_lines(FAST)
    fl = function_lines()
    calls = {
        ("<module>", m["module_main"]): "main",
        ("main", m["main_loop"]): "loop",
        ("loop", m["loop_call"]): "a",
        ("a", m["a_call"]): "b",
        ("b", m["b_call"]): "c",
    }
    # A function just entered is on its def line (CPython reports
    # co_firstlineno before the first instruction's line).
    leaf = {
        "c": {fl["c"][0], m["c_1"], m["c_2"]},
        "b": {fl["b"][0], m["b_call"], m["b_ret"]},
        "a": {fl["a"][0], m["a_call"], m["a_ret"]},
        "loop": set(range(fl["loop"][0], fl["loop"][1] + 1)),
        "main": set(range(fl["main"][0], fl["main"][1] + 1)),
    }
    out = {("main", m["main_threads"]), ("main", m["main_start"]),
           ("main", m["main_join"])}
    # A function's locals die after its frame is popped, so callbacks
    # of what they held run under its caller's call line: main()'s
    # Thread objects leave threading._dangling, a WeakSet, from
    # <module>'s line (seen once in CI on 3.13, ASan build; checked
    # on 3.8, 3.11 and 3.13 with a weakref callback printing its stack).
    dying = {("<module>", m["module_main"]): "_weakrefset.py"}
    with open(FAST) as f:
        imports = {i for i, ln in enumerate(f, 1)
                   if ln.startswith("import ")}
    return calls, leaf, out, imports, dying


def impossible(stacks):
    """Stacks fastcalls.py cannot have."""
    calls, leaf, out, imports, dying = rules()
    bad = []
    for stack, count in stacks:
        while stack and common.frame_name(stack[-1]) == "<GC>":
            stack = stack[:-1]
        ours = [i for i, fr in enumerate(stack)
                if (common.frame_loc(fr)[0] or "").endswith("fastcalls.py")]
        if not ours:
            continue        # start-up, or a worker not yet in loop()
        frames = [(common.frame_name(stack[i]), common.frame_loc(stack[i])[1])
                  for i in ours]
        why = None
        if any(ln == "?" for _, ln in frames):
            why = "a frame without a line"
        elif ours != list(range(ours[0], ours[-1] + 1)):
            why = "another file's frame between the workload's"
        elif frames[0][0] == "<module>":
            if ours[0] != 0:
                why = "<module> is not the root"
        elif frames[0][0] != "loop" or ours[0] == 0:
            why = "a thread's first workload frame is not loop()"
        if not why:
            for (caller, cl), (callee, _) in zip(frames, frames[1:]):
                if calls.get((caller, int(cl))) != callee:
                    why = "%s at line %s does not call %s" % (caller, cl,
                                                              callee)
                    break
        if not why:
            name, line = frames[-1][0], int(frames[-1][1])
            if ours[-1] != len(stack) - 1:
                callee = common.frame_loc(stack[ours[-1] + 1])[0] or ""
                if (name, line) not in out and not (
                        name == "<module>" and line in imports) and not (
                        (name, line) in dying
                        and callee.endswith(dying[(name, line)])):
                    why = "%s at line %d calls no other file" % (name, line)
            elif name != "<module>" and line not in leaf.get(name, ()):
                why = "%s cannot be innermost at line %d" % (name, line)
        if why:
            bad.append("%s: %s %d" % (why, ";".join(stack), count))
    return bad


def leaf_shares(stacks, workload, root):
    """{function: % of samples it is the innermost workload frame in},
    over the samples inside root(); and that count."""
    counts, n = {}, 0
    for stack, count in stacks:
        ours = [common.frame_name(fr) for fr in stack if workload in fr]
        if root not in ours:
            continue
        counts[ours[-1]] = counts.get(ours[-1], 0) + count
        n += count
    return {f: 100.0 * c / n for f, c in counts.items()}, n


# Measured on 3.8-3.13 at 1 kHz, in both CI builds: without --blocking,
# impossible stacks of fastcalls.py 0-0.23 % where the running frame
# is marked (1.4-3.1 % before psample used the mark; 1.3 % on 3.12 when
# the stack top alone placed a mark-less top), 0.1-0.5 % elsewhere.
# tinycalls.py's shares, one run attached twice: 0.3-13.4 points from
# --blocking's where marked over three full runs, and once 15.2 (3.11.2
# in CI; eight runs in a row there gave 1.9-13.8, six of them 4-6), so
# a run over the bound is judged with two more (22-28 before; 15-20
# under ASan when a mark-less top was read again instead of placed;
# 20-32 on 3.11's debug build before straddling copies were placed at
# their start), 19-26 on 3.8-3.10,
# whose frames carry no such mark: a known gap, bounded here only
# against getting worse.  The bounds leave room for a loaded machine,
# and still fail the walks named.  Both checks are judged on most of up
# to three runs (common.judged()); repeated runs of every kind of
# interpreter, in both builds, on a busy machine, put each bound at
# least 2.9 standard deviations of the worst interpreter above its mean
# (3.8's tinycalls under ASan; 4.5 for the marked versions) and above
# every run seen, except that tinycalls on the unmarked 3.14 and 3.15
# came within 4 points of 40 (figures in the commit that checked them).
RUN_MARK = ((3, 11), (3, 12), (3, 13))


def fast_free_run(it, d):
    """One record of fastcalls.py without --blocking: (% of its stacks
    impossible, what was seen), or (None, ...) if it could not tell."""
    out = os.path.join(d, "fast-free.folded")
    r = common.run(["record", "-r", "1000", "-f", "folded", "-o", out,
                    "--", it.path, FAST, "2", "3"], timeout=120)
    if r.returncode != 0 or not os.path.exists(out):
        return None, "rc=%d\n%s" % (r.returncode, r.stderr)
    stacks, _ = common.read_folded(out)
    n = sum(c for s, c in stacks if any("fastcalls.py" in fr for fr in s))
    bad = impossible(stacks)
    nbad = sum(int(b.rsplit(" ", 1)[1]) for b in bad)
    text = "%d of %d stacks impossible\n%s" % (nbad, n, "\n".join(bad[:10]))
    if n < 500:
        return None, text + "\n" + r.stderr
    return 100.0 * nbad / n, text


def check_fast_free(tap, it, d):
    limit = 1.0 if tuple(it.version[:2]) in RUN_MARK else 3.0
    common.judged(tap, "%s: without --blocking, %% of fastcalls.py's "
                  "stacks impossible at most %.1f" % (common.label(it), limit),
                  lambda i: fast_free_run(it, d), lambda pct: pct <= limit)


def tiny_distance(it, d):
    """One run of tinycalls.py attached to twice, with and without
    --blocking: how far apart the innermost-function shares are (half
    the sum of the differences, in points), both shares, and why it
    could not tell (None if it could)."""
    shares = {}
    with common.Target(it.path, "tinycalls.py", "4", ready=False,
                       settle=0.3) as t:
        for how in ("--blocking", "without"):
            out = os.path.join(d, "tiny.folded")
            args = ["attach", "--pid", str(t.pid), "-d", "1.2"]
            args += [how] if how == "--blocking" else []
            r = common.run(args + ["-r", "1000", "-f", "folded", "-o",
                                   out], timeout=60)
            stacks, _ = common.read_folded(out) if r.returncode == 0 \
                else ([], [])
            shares[how], n = leaf_shares(stacks, "tinycalls.py", "main")
            if n < 500:
                return None, shares, "attached %s: rc=%d, %d samples\n%s" % (
                    how, r.returncode, n, r.stderr)
    ref, free = shares["--blocking"], shares["without"]
    dist = sum(abs(ref.get(f, 0) - free.get(f, 0))
               for f in set(ref) | set(free)) / 2
    return dist, shares, None


def tiny_run(it, d):
    """tiny_distance() as (points, what was seen)."""
    dist, shares, why = tiny_distance(it, d)
    if why:
        return None, why
    return dist, "%.1f points; --blocking: %s; without: %s" % (
        dist,
        " ".join("%s=%.1f" % kv for kv in sorted(shares["--blocking"].items())),
        " ".join("%s=%.1f" % kv for kv in sorted(shares["without"].items())))


def check_tiny(tap, it, d):
    """Two attaches to one run agree where two runs may not: runs of
    the program differ by up to 15 points between themselves
    (specialisation, memory layout).  The bias psample's reads leave
    differs by run too (see above), with a tail: a run over the bound
    is judged with two more, in new runs (common.judged)."""
    limit = 15 if tuple(it.version[:2]) in RUN_MARK else 40
    common.judged(tap, "%s: tinycalls.py without --blocking: innermost-"
                  "function shares within %d points of --blocking's"
                  % (common.label(it), limit),
                  lambda i: tiny_run(it, d), lambda dist: dist <= limit)


def check_fast(tap, it, d):
    name = common.label(it)
    out = os.path.join(d, "fast.folded")
    r = common.run(["record", "--blocking", "-r", "1000", "-f", "folded",
                    "-o", out, "--", it.path, FAST, "2", "3"], timeout=120)
    tap.ok(r.returncode == 0 and r.stdout.split() == ["ready", "done"],
           "%s: record --blocking of fastcalls.py exits 0 with its output"
           % name, "rc=%d stdout=%r\n%s" % (r.returncode, r.stdout,
                                            r.stderr))
    if not os.path.exists(out):
        tap.ok(False, "%s: --blocking profile written" % name, r.stderr)
        return
    stacks, malformed = common.read_folded(out)
    n = sum(c for s, c in stacks
            if any("fastcalls.py" in fr for fr in s))
    tap.ok(not malformed and n >= 500,
           "%s: the profile parses and holds the workload (%d stacks)"
           % (name, n), "\n".join(malformed[:10]) + "\n" + r.stderr)
    bad = impossible(stacks)
    tap.ok(not bad, "%s: no impossible stack among %d with --blocking"
           % (name, n), "\n".join(bad[:10]))
    check_fast_free(tap, it, d)


# ------------------------------------------------------------ kill -9

def held(pid):
    """[(tid, why)] of pid's threads that are stopped by ptrace or
    traced."""
    out = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                tracer = re.search(r"TracerPid:\s*(\d+)", f.read())
        except (OSError, IndexError):
            continue
        if state == "t" or (tracer and tracer.group(1) != "0"):
            out.append((tid, "state %s tracer %s" % (
                state, tracer.group(1) if tracer else "?")))
    return out


def released(pid, timeout=2.0):
    """Wait until none of pid's threads is held; the ones still held."""
    end = time.time() + timeout
    while True:
        h = held(pid)
        if not h or time.time() > end:
            return h
        time.sleep(0.01)


def check_kill_attach(tap, it, d, rnd):
    name = common.label(it)
    out = os.path.join(d, "kill.folded")
    leftovers, caught, alive = [], 0, 0
    with common.Target(it.path, "fastcalls.py", "12", "4") as t:
        for k in range(KILLS):
            p = subprocess.Popen(
                [common.PSAMPLE, "attach", "--pid", str(t.pid),
                 "--blocking", "-r", "2000", "-d", "60", "-q", "-f",
                 "folded", "-o", out],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rnd.uniform(0.1, 0.6))
            alive += p.poll() is None
            caught += bool(held(t.pid))
            p.kill()
            p.wait()
            p.stderr.close()
            h = released(t.pid)
            if h:
                leftovers.append("kill %d: %s" % (k + 1, h))
        try:
            outp, errp = t.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            t.proc.kill()
            outp, errp = t.proc.communicate()
        rc = t.proc.returncode
    tap.note("%s: %d of %d kills came while psample held a thread"
             % (name, caught, KILLS))
    tap.ok(alive == KILLS, "%s: psample attach --blocking was sampling "
           "at each of the %d kills" % (name, KILLS),
           "%d alive" % alive)
    tap.ok(not leftovers, "%s: after each kill -9 of psample no thread of "
           "the target is stopped or traced" % name, "\n".join(leftovers))
    tap.ok(rc == 0 and outp.split() == ["done"],
           "%s: the target then finishes normally (done, exit 0)" % name,
           "rc=%s stdout=%r stderr=%s" % (rc, outp, errp))


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def child_of(pid, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except OSError:
            return None
        time.sleep(0.005)
    return None


def reap(pid, timeout):
    end = time.time() + timeout
    while time.time() < end:
        r, status = os.waitpid(pid, os.WNOHANG)
        if r == pid:
            return status
        time.sleep(0.01)
    return None


def check_kill_record(tap, it, d, rnd):
    name = common.label(it)
    out = os.path.join(d, "killrec.folded")
    bad = []
    for k in range(3):
        p = subprocess.Popen(
            [common.PSAMPLE, "record", "--blocking", "-r", "2000", "-q",
             "-f", "folded", "-o", out, "--", it.path, FAST, "2", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        target = child_of(p.pid)
        time.sleep(rnd.uniform(0.3, 1.5))
        p.kill()
        p.wait()
        if target is None:
            bad.append("round %d: no target found" % (k + 1))
            continue
        h = released(target)
        status = reap(target, 60)
        if status is None:
            bad.append("round %d: target %d did not end (held: %s)"
                       % (k + 1, target, held(target)))
            os.kill(target, signal.SIGKILL)
            os.waitpid(target, 0)
        outp = p.stdout.read()
        p.stdout.close()
        p.stderr.close()
        if h or status is None or not os.WIFEXITED(status) or \
                os.WEXITSTATUS(status) != 0 or \
                outp.split() != ["ready", "done"]:
            bad.append("round %d: held %s, status %s, stdout %r"
                       % (k + 1, h, status, outp))
    tap.ok(not bad, "%s: record --blocking killed with SIGKILL 3 times: "
           "each target runs on, ends with its output and exit 0" % name,
           "\n".join(bad))


# ------------------------------------------------------------ signals

def check_signals(tap, it, d):
    name = common.label(it)
    want = "usr1 300 alrm 300 chld 300 forks 300"
    r = subprocess.run([it.path, SIGNALS, "300"], capture_output=True,
                       text=True, timeout=120)
    if not tap.ok(r.returncode == 0 and r.stdout.strip() == want,
                  "%s: signals.py handles every signal unprofiled" % name,
                  "rc=%d stdout=%r stderr=%s" % (r.returncode, r.stdout,
                                                  r.stderr)):
        return
    out = os.path.join(d, "signals.folded")
    r = common.run(["record", "--blocking", "-r", "1000", "-o", out, "--",
                    it.path, SIGNALS, "300"], timeout=180)
    m = re.search(r"psample: (\d+) samples in", r.stderr)
    tap.ok(r.returncode == 0 and r.stdout.strip() == want and m and
           int(m.group(1)) > 0,
           "%s: under record --blocking every signal is handled and every "
           "forked child exits normally (%s)" % (name, want),
           "rc=%d stdout=%r\n%s" % (r.returncode, r.stdout, r.stderr))


def main():
    tap = common.Tap()
    found, supported = common.interpreters(tap, "--blocking on")
    subreaper = become_subreaper()
    seed = int(os.environ.get("PSAMPLE_TEST_SEED") or time.time())
    tap.note("random seed %d (PSAMPLE_TEST_SEED to repeat)" % seed)
    rnd = random.Random(seed)
    for it in supported:
        d = common.tmpdir()
        check_fast(tap, it, d)
        check_tiny(tap, it, d)
        check_kill_attach(tap, it, d, rnd)
        if subreaper:
            check_kill_record(tap, it, d, rnd)
        else:
            tap.skip("%s: record --blocking killed" % common.label(it),
                     "cannot become a child subreaper")
        check_signals(tap, it, d)
    tap.done()


if __name__ == "__main__":
    main()
