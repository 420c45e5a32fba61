"""The pstats output against its real consumer, Python's pstats module.

shapes.py is recorded into pstats and folded at once (one run, so the
folded file is an independent count of the same samples).  The pstats
file must load and print (stats, callers, callees) under every
interpreter found, not only the profiled one; merge with a real cProfile
dump of the same script through Stats.add(); be the ref-free marshal
subset every Python reads; and say what the program did: one entry per
function keyed like cProfile's, times that add up to samples x interval,
recursion counted once per sample, same-named functions kept apart.
"""
import ast
import io
import json
import marshal
import os
import pstats
import shutil
import subprocess

import common

RATE = 500
INTERVAL = 1.0 / RATE

# Run under each interpreter: load, print every report, describe.
LOAD = r"""
import io, json, marshal, pstats, sys
s = pstats.Stats(sys.argv[1], stream=io.StringIO())
s.sort_stats("cumulative").print_stats()
s.print_callers()
s.print_callees()
with open(sys.argv[1], "rb") as f:
    d = marshal.load(f)
shape = all(isinstance(k, tuple) and len(k) == 3 and isinstance(v, tuple)
            and len(v) == 5 and isinstance(v[4], dict) and
            all(isinstance(c, tuple) and len(c) == 4
                for c in v[4].values())
            for k, v in d.items())
print(json.dumps({"n": len(s.stats), "tt": s.total_tt, "shape": shape,
                  "printed": len(s.stream.getvalue())}))
"""

# Run under the profiled interpreter: ours + a cProfile dump.
ADD = r"""
import io, json, pstats, sys
def load(*paths):
    s = pstats.Stats(paths[0], stream=io.StringIO())
    for p in paths[1:]:
        s.add(p)
    return s
ours, theirs, merged = load(sys.argv[1]), load(sys.argv[2]), \
    load(sys.argv[1], sys.argv[2])
merged.sort_stats("cumulative").print_stats()
merged.print_callers()
merged.print_callees()
enc = lambda s: [[list(k), list(v[:4])] for k, v in s.stats.items()]
print(json.dumps({"ours": enc(ours), "theirs": enc(theirs),
                  "merged": enc(merged)}))
"""


def walk_marshal(data):
    """Check data is one object in marshal's { ( u i l g 0 subset, with
    no references; returns None or what is wrong."""
    pos = [0]

    def int32():
        v = int.from_bytes(data[pos[0]:pos[0] + 4], "little", signed=True)
        pos[0] += 4
        return v

    def obj():
        code = data[pos[0]]
        pos[0] += 1
        if code & 0x80:
            raise ValueError("FLAG_REF set at byte %d" % (pos[0] - 1))
        c = chr(code)
        if c == "{":
            while data[pos[0]] != ord("0"):
                obj()
                obj()
            pos[0] += 1
        elif c == "(":
            for _ in range(int32()):
                obj()
        elif c == "u":
            n = int32()
            data[pos[0]:pos[0] + n].decode("utf-8", "surrogatepass")
            pos[0] += n
        elif c == "i":
            pos[0] += 4
        elif c == "l":
            n = abs(int32())
            digits = data[pos[0]:pos[0] + 2 * n]
            if n == 0 or digits[-2:] == b"\0\0":
                raise ValueError("unnormalised long at %d" % pos[0])
            pos[0] += 2 * n
        elif c == "g":
            pos[0] += 8
        else:
            raise ValueError("type code %r at byte %d" % (c, pos[0] - 1))

    try:
        if not data or data[0] != ord("{"):
            return "not a dict"
        obj()
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        return str(e)
    if pos[0] != len(data):
        return "%d bytes after the dict" % (len(data) - pos[0])
    return None


def workload_defs(script):
    """{qualname: (co_name, co_firstlineno)} of shapes.py, from its
    source; the first step() is "step", the second "step#2"."""
    with open(script, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            q = node.name if node.name not in out else node.name + "#2"
            out[q] = (node.name, node.lineno)
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    out[node.name + "." + sub.name] = (sub.name, sub.lineno)
    return out


def run_py(python, code, *args):
    r = subprocess.run([python, "-c", code] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    try:
        return json.loads(r.stdout.splitlines()[-1]), r
    except (ValueError, IndexError):
        return None, r


def check(tap, it, found, d):
    name = common.label(it)
    stem = os.path.join(d, "shapes")
    r, script = common.record_shapes(d, it, "pstats,folded", stem,
                                     rate=RATE, extra=["--function"])
    prof, folded = stem + ".pstats", stem + ".folded"
    if not tap.ok(r.returncode == 0 and os.path.exists(prof) and
                  os.path.exists(folded),
                  "%s: record -f pstats,folded writes both files" % name,
                  "rc=%d\n%s" % (r.returncode, r.stderr)):
        return
    with open(prof, "rb") as f:
        data = f.read()
    bad = walk_marshal(data)
    tap.ok(bad is None, "%s: the file is the ref-free marshal subset "
           "{ ( u i l g 0 that every Python reads" % name, bad)

    stats = marshal.loads(data)
    ref = pstats.Stats(prof, stream=io.StringIO())
    for py in found:
        got, pr = run_py(py.path, LOAD, prof)
        tap.ok(got is not None and got["shape"] and got["printed"] > 0 and
               got["n"] == len(ref.stats) and
               abs(got["tt"] - ref.total_tt) < 1e-9,
               "%s: pstats.Stats under %s loads %d entries, prints stats, "
               "callers and callees" % (name, common.label(py),
                                       len(ref.stats)),
               "%s\n%s" % (got, pr.stderr))

    # The same samples, counted from the folded file.
    stacks, malformed = common.read_folded(folded)
    total = sum(c for _, c in stacks)
    functions = {f for s, _ in stacks for f in s}
    tap.ok(not malformed and total > 0 and len(stats) == len(functions),
           "%s: one entry per function sampled (%d entries, %d functions "
           "in the folded file)" % (name, len(stats), len(functions)),
           "\n".join(malformed[:5]))
    tt = sum(v[2] for v in stats.values())
    tap.ok(abs(tt - total * INTERVAL) < 1e-6 and
           abs(ref.total_tt - tt) < 1e-9,
           "%s: total time %.3f s = %d samples x %g s" % (
               name, tt, total, INTERVAL))

    defs = workload_defs(script)

    def key(q):
        co_name, line = defs[q]
        return (script, line, co_name)

    missing = [q for q in ("burn", "rec", "A.__init__", "B.__init__",
                           "step", "step#2", "größe", "main")
               if key(q) not in stats]
    tap.ok(not missing, "%s: the workload's functions are keyed like "
           "cProfile's: (full co_filename, co_firstlineno, co_name)" % name,
           "missing %s; keys in the script: %s" % (
               missing, sorted(k for k in stats if k[0] == script)))
    if missing:
        return

    in_rec = sum(c for s, c in stacks
                 if any(common.frame_name(f) == "rec" for f in s))
    cc, nc, _, ct, callers = stats[key("rec")]
    tap.ok(in_rec > 0 and cc == nc == in_rec and
           abs(ct - in_rec * INTERVAL) < 1e-9 and ct <= tt,
           "%s: rec() recursing 6 deep counts each sample once: "
           "nc = %d samples, ct = %.3f s <= %.3f s total"
           % (name, nc, ct, tt), "folded says %d samples" % in_rec)
    outer = sum(v[0] for k, v in callers.items() if k != key("rec"))
    tap.ok({key("main"), key("rec")} <= set(callers) and outer == nc,
           "%s: rec's callers include main and rec itself, and the calls "
           "from outside rec add up to rec's %d samples" % (name, nc),
           callers)

    a, b = key("A.__init__"), key("B.__init__")
    tap.ok(a != b and a[1] == defs["A.__init__"][1] and
           b[1] == defs["B.__init__"][1] and stats[a][1] > 0 and
           stats[b][1] > 0,
           "%s: A.__init__ (line %d) and B.__init__ (line %d) are two "
           "entries" % (name, a[1], b[1]))
    tap.ok(stats[key("größe")][1] > 0,
           "%s: größe() is there, its name intact" % name)
    s1, s2 = key("step"), key("step#2")
    tap.ok(s1[1] != s2[1] and stats[s1][1] > 0 and stats[s2][1] > 0,
           "%s: both functions named step are there (lines %d and %d)"
           % (name, s1[1], s2[1]))

    burn = stats[key("burn")]
    want = {key(q) for q in ("rec", "A.__init__", "B.__init__", "step",
                             "step#2", "größe")}
    tap.ok(want <= set(burn[4]) and
           sum(v[0] for v in burn[4].values()) == burn[1] and
           all(isinstance(v, tuple) and len(v) == 4
               for v in burn[4].values()),
           "%s: burn's callers include rec, A.__init__, B.__init__, both "
           "step and größe, and their calls add up to burn's" % name,
           "%s\nnc=%d" % (sorted(burn[4].items()), burn[1]))
    odd = sorted(set(burn[4]) - want)
    if odd:
        # The program never makes these calls: torn stacks from the
        # walker, which test_record checks; pstats only reports them.
        tap.note("%s: burn also called from %s in %d samples" % (
            name, odd, sum(burn[4][k][0] for k in odd)))

    # Stats.add: a real cProfile dump of the same script merges in.
    # The free-threaded 3.13.15's cProfile hangs, spinning in runctx once
    # the program's second thread has ended, in most runs of a program
    # with one (8 of 8 for a bare two-thread loop, 3 of 6 for shapes.py);
    # with the GIL enabled it does not.  The dump is only what psample's
    # file is merged with: take it with the GIL on there.
    cp = os.path.join(d, "cprofile.prof")
    cr = subprocess.run([it.path, "-m", "cProfile", "-o", cp, script,
                         "0.3"], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, universal_newlines=True,
                        timeout=120, env=dict(os.environ, PYTHON_GIL="1")
                        if it.free_threaded else None)
    got, ar = (run_py(it.path, ADD, prof, cp) if cr.returncode == 0
               else (None, cr))
    ok = got is not None
    if ok:
        ours = {tuple(k): v for k, v in got["ours"]}
        theirs = {tuple(k): v for k, v in got["theirs"]}
        merged = {tuple(k): v for k, v in got["merged"]}
        shared = set(ours) & set(theirs)
        ok = (set(merged) == set(ours) | set(theirs) and
              tuple(key("burn")) in shared and
              set(theirs) - set(ours) and
              all(merged[k][1] == ours.get(k, [0] * 4)[1] +
                  theirs.get(k, [0] * 4)[1] and
                  abs(merged[k][2] - ours.get(k, [0] * 4)[2] -
                      theirs.get(k, [0] * 4)[2]) < 1e-6
                  for k in merged))
    tap.ok(bool(ok), "%s: Stats.add() merges a cProfile dump of the same "
           "script: shared keys (burn, ...) add up, both sides' own "
           "entries stay" % name,
           "cProfile rc=%d\n%s\n%s" % (cr.returncode, cr.stderr[-2000:],
                                       ar.stderr[-2000:]))


def check_threads(tap, it, d):
    """--threads asks for thread roots; pstats has no place for them."""
    name = common.label(it)
    out = os.path.join(d, "threads.pstats")
    r, script = common.record_shapes(d, it, "pstats", out, seconds=1,
                                     rate=RATE, extra=["--threads"])
    got, pr = (run_py(it.path, LOAD, out) if r.returncode == 0
               else (None, r))
    stats = {}
    if got:
        with open(out, "rb") as f:
            stats = marshal.load(f)
    tap.ok(got is not None and got["shape"] and
           all(k[0] != "~" or "thread" not in k[2] for k in stats) and
           any(k[0] == script for k in stats),
           "%s: with --threads the file still holds only functions" % name,
           "%s\n%s" % (got, pr.stderr))


def main():
    tap = common.Tap()
    d = common.tmpdir()
    found, supported = common.interpreters(tap, "pstats from")
    for it in supported:
        check(tap, it, found, os.path.join(d, str(len(os.listdir(d)))))
    if supported:
        check_threads(tap, supported[0], os.path.join(d, "threads"))
    shutil.rmtree(d, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
