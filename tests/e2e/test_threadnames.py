"""Thread names and the GIL holder, read from real interpreters.

A workload runs three threads named alpha-worker (a plain Thread that
computes), beta-sleeper (a Thread subclass with a materialised instance
dict, sleeping) and gamma-hasher (which renamed itself from gamma-init),
delta-os (started with _thread: no threading name, only the one it gave
the OS), plus the main thread.  For every interpreter: `psample dump` (JSON and
text) names each thread next to its own function, and a recording with
--threads carries the names in the thread roots of folded and callgrind,
the profile names of speedscope and the thread_name label of pprof.

A second workload spins in one thread and sleeps in another: with
--mode gil the spinner, which holds the GIL, gets nearly every sample,
and dump marks it as the holder; free-threaded builds refuse --mode gil.
"""
import collections
import json
import os
import re

import common
import test_pprof

SCRIPT = os.path.join(common.WORKLOADS, "threadnames.py")
# Each thread's name and the function it spends its time in.
WANT = {"alpha-worker": "alpha_work", "beta-sleeper": "beta_sleep",
        "gamma-hasher": "gamma_hash", "delta-os": "delta_wait",
        "MainThread": "main"}
KEY = {"alpha-worker": "alpha-worker", "beta-sleeper": "beta-sleeper",
       "gamma-hasher": "gamma-hasher", "delta-os": "delta-os",
       "MainThread": "main"}


def check_dump(tap, name, pid, tids):
    r = common.run(["dump", "--pid", str(pid), "--json"])
    if not tap.ok(r.returncode == 0, "%s: dump --json exits 0" % name,
                  r.stderr):
        return
    by_tid = {th["tid"]: th for th in json.loads(r.stdout)["threads"]}
    for tname, func in WANT.items():
        th = by_tid.get(tids[KEY[tname]], {})
        frames = th.get("frames") or [{}]
        tap.ok(th.get("name") == tname and frames[0].get("function") == func,
               "%s: dump --json names thread %s, in %s" % (name, tname, func),
               "name %r, innermost %r" % (th.get("name"),
                                          frames[0].get("function")))
    r = common.run(["dump", "--pid", str(pid)])
    lines = r.stdout.splitlines()
    for tname, func in WANT.items():
        tid = tids[KEY[tname]]
        head = [i for i, l in enumerate(lines)
                if l.startswith("Thread %d (" % tid)]
        ok = (len(head) == 1 and '"%s"' % tname in lines[head[0]] and
              head[0] + 1 < len(lines) and
              lines[head[0] + 1].endswith(", in %s" % func))
        tap.ok(ok, "%s: text dump heads %s's traceback with its name"
               % (name, tname), r.stdout)


def root_counts(stacks):
    """{root label: samples} of folded stacks."""
    out = collections.Counter()
    for frames, count in stacks:
        out[frames[0]] += count
    return out


def check_record(tap, name, pid, tids):
    d = common.tmpdir()
    stem = os.path.join(d, "names")
    r = common.run(["attach", "--pid", str(pid), "-d", "1.5", "-r", "200",
                    "--threads", "-q", "-f",
                    "folded,speedscope,pprof,callgrind", "-o", stem],
                   timeout=120)
    if not tap.ok(r.returncode == 0, "%s: attach --threads exits 0" % name,
                  r.stderr):
        return
    stacks, bad = common.read_folded(stem + ".folded")
    roots = root_counts(stacks)
    leaves = collections.defaultdict(set)
    for frames, _ in stacks:
        leaves[frames[0]].add(common.frame_name(frames[-1]))
    for tname, func in WANT.items():
        root = "thread %d (%s)" % (tids[KEY[tname]], tname)
        tap.ok(not bad and roots.get(root, 0) > 0 and
               any(l.rsplit(".", 1)[-1] == func for l in leaves[root]),
               "%s: folded root %r holds %s" % (name, root, func),
               "roots: %s\nbad: %s" % (dict(roots), bad[:3]))

    with open(stem + ".speedscope.json") as f:
        doc = json.load(f)
    pnames = {p.get("name") for p in doc.get("profiles", [])}
    for tname in WANT:
        want = 'Thread %d "%s"' % (tids[KEY[tname]], tname)
        tap.ok(want in pnames, "%s: speedscope profile %s" % (name, want),
               sorted(map(str, pnames)))

    prof, why = test_pprof.read_profile(stem + ".pb.gz")
    if tap.ok(prof is not None, "%s: pprof profile reads" % name, why):
        seen = collections.defaultdict(set)
        for frames, _, labels in prof.stacks():
            lab = {k: (s if s is not None else n) for k, s, n in labels}
            if "thread_name" in lab:
                seen[(lab["thread_name"], lab.get("thread_id"))].add(
                    frames[0]["name"].rsplit(".", 1)[-1])
        for tname, func in WANT.items():
            key = (tname, tids[KEY[tname]])
            tap.ok(func in seen.get(key, ()),
                   "%s: pprof thread_name label %s on %s's stacks"
                   % (name, tname, func), dict(seen))

    cg = os.path.join(d, "callgrind.out.names")
    with open(cg) as f:
        fns = set(re.findall(r"^fn=\(\d+\) (.*)$", f.read(), re.M))
    for tname in WANT:
        want = "<thread %d (%s)>" % (tids[KEY[tname]], tname)
        tap.ok(want in fns, "%s: callgrind root %s" % (name, want),
               sorted(fns)[:20])


def check_names(tap, it):
    name = common.label(it)
    with common.Target(it.path, "threadnames.py", settle=0.3) as t:
        tids = json.loads(t.lines[-1])
        check_dump(tap, name, t.pid, tids)
        check_record(tap, name, t.pid, tids)


def check_gil(tap, it):
    """A free-threaded build runs without its GIL unless asked: gil mode
    is refused then, and works as on any other build under PYTHON_GIL=1."""
    name = common.label(it)
    if it.free_threaded:
        with common.Target(it.path, "threadnames.py", "gil") as t:
            r = common.run(["attach", "--pid", str(t.pid), "--mode", "gil",
                            "-d", "1", "-q", "-o", os.path.join(
                                common.tmpdir(), "nogil.folded")])
            tap.ok(r.returncode == 5 and "free-threaded" in r.stderr,
                   "%s: --mode gil is refused (exit 5): the GIL is off"
                   % name, "rc %d: %s" % (r.returncode, r.stderr))
        gil_run(tap, it, name + " PYTHON_GIL=1", {"PYTHON_GIL": "1"})
    else:
        gil_run(tap, it, name, None)


def gil_measure(it, env):
    """One run of the gil workload: ((% of --mode gil samples on the
    spinner, % on the sleeper, dumps of 5 that mark the spinner alone as
    the GIL holder, most threads one dump marked), text)."""
    with common.Target(it.path, "threadnames.py", "gil", settle=0.3,
                       env=env) as t:
        tids = json.loads(t.lines[-1])
        d = common.tmpdir()
        out = os.path.join(d, "gil.folded")
        r = common.run(["attach", "--pid", str(t.pid), "--mode", "gil",
                        "-d", "2", "-r", "100", "--threads", "-q",
                        "-f", "folded", "-o", out], timeout=120)
        if r.returncode != 0:
            return None, "--mode gil: rc %d\n%s" % (r.returncode, r.stderr)
        stacks, bad = common.read_folded(out)
        roots = root_counts(stacks)
        total = sum(roots.values())
        spin = roots.get("thread %d (spinner)" % tids["spinner"], 0)
        sleep = roots.get("thread %d (sleeper)" % tids["sleeper"], 0)
        # dump marks the holder: the spinner in most dumps, never two.
        marked = collections.Counter()
        for _ in range(5):
            r = common.run(["dump", "--pid", str(t.pid), "--json"])
            if r.returncode:
                continue
            held = [th["tid"] for th in json.loads(r.stdout)["threads"]
                    if th.get("gil") is True]
            marked[len(held)] += 1
            marked[tuple(held)] += 1
    text = "spinner %d, sleeper %d of %d: %s\ndumps: %s" % (
        spin, sleep, total, dict(roots), dict(marked))
    if bad or total < 50:
        return None, text
    return (100.0 * spin / total, 100.0 * sleep / total,
            marked[(tids["spinner"],)],
            max([k for k in marked if isinstance(k, int)] or [0])), text


def gil_run(tap, it, name, env):
    # Judged on most of three runs; repeated runs on 3.8-3.15 gave the
    # spinner 99.5-100 % of the samples and 5 of 5 dumps, far from the
    # bounds (figures in the commit that checked them).
    runs = common.Runs(lambda: gil_measure(it, env))
    common.judged(tap, "%s: --mode gil samples the spinner, not the "
                  "sleeper (their %%)" % name, runs,
                  lambda v: v[0] >= 80 and v[1] <= 5)
    common.judged(tap, "%s: dump marks the spinner as the GIL holder (in "
                  "dumps of 5)" % name, runs.part(2), lambda n: n >= 3)
    value, text = runs(0)
    tap.ok(value is not None and value[3] <= 1,
           "%s: dump never marks two GIL holders" % name, text)


def main():
    tap = common.Tap()
    found, supported = common.interpreters(tap, "thread names on")
    for it in supported:
        check_names(tap, it)
        check_gil(tap, it)
    tap.done()


if __name__ == "__main__":
    main()
