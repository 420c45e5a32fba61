"""psample dump against real interpreters: every thread, exact frames.

A workload parks two named threads in known functions (and spins a
third); dump must give, per native thread id, exactly the expected
functions, files and lines, innermost first - for the workload's frames
and for threading's bootstrap frames, whose lines the same interpreter
reports about itself.
"""
import json
import os
import subprocess

import common

PARK = os.path.join(common.WORKLOADS, "park.py")


def expected_stacks(it):
    m = common.marker_lines(PARK)
    tl = json.loads(subprocess.check_output(
        [it.path, os.path.join(common.WORKLOADS, "threadlines.py")],
        text=True))
    boot = [("Thread.run", tl["file"], tl["Thread.run"]),
            ("Thread._bootstrap_inner", tl["file"],
             tl["Thread._bootstrap_inner"]),
            ("Thread._bootstrap", tl["file"], tl["Thread._bootstrap"])]
    want = {
        "alpha": [("alpha_leaf", PARK, m["alpha_leaf"]),
                  ("alpha_mid", PARK, m["alpha_mid"])] + boot,
        "beta": [("Beta.park", PARK, m["beta_park"]),
                 ("Beta.run", PARK, m["beta_run"])] + boot,
        "main": [("<module>", PARK, m["main_park"])],
    }
    return {t: [(common.py_name(it, q), f, n) for q, f, n in stack]
            for t, stack in want.items()}


def check(tap, it):
    name = common.label(it)
    want = expected_stacks(it)
    m = common.marker_lines(PARK)
    with common.Target(it.path, "park.py", settle=0.5) as t:
        tids = json.loads(t.lines[-1])
        r = common.run(["dump", "--pid", str(t.pid), "--json"])
        if not tap.ok(r.returncode == 0, "%s: dump --json exits 0" % name,
                      r.stderr):
            return
        doc = json.loads(r.stdout)
        by_tid = {th["tid"]: th for th in doc["threads"]}
        tap.ok(set(by_tid) == set(tids.values()),
               "%s: one entry per thread, keyed by native id" % name,
               "dump: %s\nworkload: %s" % (sorted(by_tid), tids))
        for tname, stack in want.items():
            th = by_tid.get(tids[tname], {})
            got = [(f["qualname"], f["file"], f["line"])
                   for f in th.get("frames", [])]
            tap.ok(got == stack,
                   "%s: thread %s stack is exactly as parked" % (name, tname),
                   "got:\n%s\nwant:\n%s" % ("\n".join(map(str, got)),
                                            "\n".join(map(str, stack))))
        for tname in ("alpha", "beta", "main"):
            th = by_tid.get(tids[tname], {})
            tap.ok(th.get("state") == "idle",
                   "%s: parked thread %s is idle" % (name, tname),
                   th.get("state"))
        gamma = by_tid.get(tids["gamma"], {})
        frames = gamma.get("frames", [])
        tap.ok(frames and frames[0]["qualname"] == "spin" and
               frames[0]["line"] in (m["gamma_loop"], m["gamma_add"]) and
               gamma.get("state") == "running",
               "%s: spinning thread is running in spin()" % name,
               json.dumps(gamma)[:2000])

        # The text form carries the same facts, traceback-style.
        r = common.run(["dump", "--pid", str(t.pid)])
        alpha = want["alpha"][0]
        line = '  File "%s", line %d, in %s' % (alpha[1], alpha[2], alpha[0])
        tap.ok(r.returncode == 0 and line in r.stdout.splitlines() and
               ("Thread %d (idle)" % tids["alpha"]) in r.stdout,
               "%s: text dump shows the traceback line and thread header"
               % name, r.stdout + r.stderr)


def main():
    tap = common.Tap()
    found, supported = common.interpreters(tap, "dump on")
    for it in supported:
        check(tap, it)
    tap.done()


if __name__ == "__main__":
    main()
