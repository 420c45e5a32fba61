"""End-to-end test of the pprof output.

Records workloads/shapes.py (recursion, two __init__, two functions called
step, a non-ASCII name, a worker thread, a path with ';' and a space) with
-f pprof,folded, then checks the profile the way go tool pprof shows it
to a user (-raw, -top, -traces, -tagfocus), decodes it independently to
check the proto's invariants and its totals against the folded output of
the same run, and loads it into the real speedscope app in headless
chromium (from the oldest and the newest interpreter found;
PSAMPLE_SPEEDSCOPE_ALL=1: every one).  test_speedscope.py's workload
with names that need escaping checks the string table and the
thread_name label.

Consumers: Debian's golang-go (go tool pprof), chromium and npm
speedscope@1.25.0; the checks that need one are skipped, saying why, when
it is missing.
"""

import gzip
import os
import re
import shutil
import subprocess
import tempfile
import time

import common
from test_speedscope import (RATE, SURROGATE_SHOWN, WEIRD_NAMES, check_run,
                             choose_browser, folded_total, record_names,
                             sandwich_names, speedscope_load,
                             speedscope_missing, speedscope_verdict)

PERIOD_NS = 10**9 // RATE


# --- an independent decoder of profile.proto -----------------------------

def varint(buf, i):
    v = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if b < 0x80:
            return v, i


def fields(buf):
    """[(field, wire type, int or bytes)] of one message."""
    out, i = [], 0
    while i < len(buf):
        key, i = varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v = buf[i:i + n]
            if len(v) != n:
                raise ValueError("truncated field %d" % f)
            i += n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            v = buf[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, wt, v))
    return out


def ints(entries):
    """A repeated integer field, packed or not."""
    out = []
    for wt, v in entries:
        if wt == 0:
            out.append(v)
        else:
            i = 0
            while i < len(v):
                x, i = varint(v, i)
                out.append(x)
    return [x - 2**64 if x >= 2**63 else x for x in out]


def message(buf):
    """{field: [(wire type, value)]}"""
    m = {}
    for f, wt, v in fields(buf):
        m.setdefault(f, []).append((wt, v))
    return m


def one(m, f, default=0):
    v = m.get(f)
    return v[-1][1] if v else default


class Profile:
    """The parts of a perftools.profiles.Profile the test looks at."""

    def __init__(self, raw):
        p = message(raw)
        self.strings = [v.decode("utf-8") for _, v in p.get(6, [])]
        s = self.strings
        self.sample_types = [(s[one(vt, 1)], s[one(vt, 2)]) for vt in
                             (message(v) for _, v in p.get(1, []))]
        self.samples = []
        for _, v in p.get(2, []):
            m = message(v)
            labels = []
            for _, lv in m.get(3, []):
                lm = message(lv)
                labels.append((s[one(lm, 1)],
                               s[one(lm, 2)] if 2 in lm else None,
                               one(lm, 3) if 3 in lm else None))
            self.samples.append((ints(m.get(1, [])), ints(m.get(2, [])),
                                 labels))
        self.mappings = {}
        for _, v in p.get(3, []):
            m = message(v)
            self.mappings[one(m, 1)] = m
        self.locations = []
        for _, v in p.get(4, []):
            m = message(v)
            lines = [(one(lm, 1), one(lm, 2)) for lm in
                     (message(x) for _, x in m.get(4, []))]
            self.locations.append((one(m, 1), one(m, 2), one(m, 3), lines))
        self.functions = []
        for _, v in p.get(5, []):
            m = message(v)
            self.functions.append({
                "id": one(m, 1), "name": s[one(m, 2)],
                "system_name": one(m, 3), "filename": s[one(m, 4)],
                "start_line": one(m, 5)})
        self.time_nanos = one(p, 9)
        self.duration_nanos = one(p, 10)
        pt = message(one(p, 11, b""))
        self.period_type = (s[one(pt, 1)], s[one(pt, 2)])
        self.period = one(p, 12)
        self.comments = [s[i] for i in ints(p.get(13, []))]
        self.default_sample_type = s[one(p, 14)]

    def stacks(self):
        """[(function dicts leaf first, values, labels)]"""
        fn = {f["id"]: f for f in self.functions}
        loc = {l[0]: l for l in self.locations}
        out = []
        for ids, values, labels in self.samples:
            frames = [dict(fn[loc[i][3][0][0]], line=loc[i][3][0][1])
                      for i in ids]
            out.append((frames, values, labels))
        return out


def invariant_errors(p):
    """What go tool pprof or the proto's comments forbid."""
    errs = []
    if not p.strings or p.strings[0] != "":
        errs.append("string_table[0] is not ''")
    for what, ids in (("function", [f["id"] for f in p.functions]),
                      ("location", [l[0] for l in p.locations]),
                      ("mapping", list(p.mappings))):
        if 0 in ids or len(set(ids)) != len(ids):
            errs.append("%s ids not nonzero and unique: %s" % (what, ids))
    fids = {f["id"] for f in p.functions}
    lids = {l[0] for l in p.locations}
    for lid, mid, _, lines in p.locations:
        if mid not in p.mappings:
            errs.append("location %d: no mapping %d" % (lid, mid))
        if len(lines) != 1 or lines[0][0] not in fids:
            errs.append("location %d: lines %s" % (lid, lines))
    keys = set()
    for ids, values, labels in p.samples:
        if len(values) != len(p.sample_types):
            errs.append("sample with %d values for %d types" % (
                len(values), len(p.sample_types)))
        if any(i not in lids for i in ids):
            errs.append("sample refers to missing locations %s" % ids)
        key = (tuple(ids), tuple(sorted(labels, key=str)))
        if key in keys:
            errs.append("two samples for one stack and thread: %s" % (key,))
        keys.add(key)
    named = [f["name"] for f in p.functions if f["system_name"]]
    if named:
        errs.append("system_name set (pprof would demangle): %s" % named)
    return errs[:20]


def read_profile(path):
    """(Profile, None) or (None, why)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x1f\x8b":
        return None, "not gzip: %r" % data[:8]
    try:
        return Profile(gzip.decompress(data)), None
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as e:
        return None, "%s: %s" % (type(e).__name__, e)


# --- go tool pprof -------------------------------------------------------

class GoPprof:
    """go tool pprof with a throw-away HOME, GOCACHE and GOPATH."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="psample-go-")
        self.env = dict(os.environ, HOME=self.dir,
                        GOCACHE=os.path.join(self.dir, "cache"),
                        GOPATH=os.path.join(self.dir, "gopath"),
                        PPROF_TMPDIR=self.dir)
        self.missing = None
        if not shutil.which("go"):
            self.missing = "go not installed (Debian package golang-go)"
            return
        try:
            r = subprocess.run(["go", "tool", "pprof", "-h"],
                               capture_output=True, text=True, timeout=60,
                               env=self.env)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.missing = "go tool pprof does not run: %s" % e
            return
        if "usage" not in (r.stdout + r.stderr).lower():
            self.missing = "go tool pprof does not run: %s" % r.stderr[:200]

    def __call__(self, *args):
        r = subprocess.run(["go", "tool", "pprof"] + list(args),
                           capture_output=True, timeout=120, env=self.env)
        return (r.returncode, r.stdout.decode("utf-8", "replace"),
                r.stderr.decode("utf-8", "replace"))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def top_total(out):
    """N in '... of N total' of a -top report (a number with its unit)."""
    m = re.search(r"of (\S+) total", out)
    return m.group(1) if m else None


def raw_locations(out):
    """{location id: (name, file, line, start line)} from -raw."""
    locs = {}
    for m in re.finditer(r"^[ \t]*(\d+): 0x[0-9a-f]+ M=\d+ (.*?) "
                         r"(\S.*?):(\d+) s=(\d+)\(\)$", out, re.M):
        locs[int(m.group(1))] = (m.group(2), m.group(3), int(m.group(4)),
                                 int(m.group(5)))
    return locs


def raw_samples(out):
    """[(count, wall ns, location ids)] from -raw."""
    part = out.split("Samples:", 1)[-1].split("Locations", 1)[0]
    return [(int(m.group(1)), int(m.group(2)),
             [int(x) for x in m.group(3).split()])
            for m in re.finditer(r"^[ \t]*(\d+)[ \t]+(\d+): ([\d ]+)$",
                                 part, re.M)]


def traces(out):
    """[(labels text, function names leaf first)] from -traces."""
    blocks = []
    for block in out.split("-----------+")[1:]:
        lines = block.split("\n")[1:]
        labels = " ".join(l for l in lines if re.match(r"^\s*\w+:\s", l))
        # "%10s   %s": the value (first line only), then the function.
        names = [l[13:] for l in lines
                 if l.strip() and not re.match(r"^\s*\w+:\s", l)]
        if names:  # not the rule after the last trace
            blocks.append((labels, names))
    return blocks


def check_go(tap, it, name, go, out, script, marks, total):
    def q(qualname):
        return common.py_name(it, qualname)

    if go.missing:
        for what in ("reads it without error or warning",
                     "totals match the file", "functions have files "
                     "and start lines", "thread labels"):
            tap.skip(name + ": go tool pprof " + what, go.missing)
        return
    rc, raw, err = go("-raw", out)
    tap.ok(rc == 0 and not err.strip() and "Samples:" in raw,
           name + ": go tool pprof -raw reads it without error or warning",
           "rc=%d\n%s" % (rc, err))
    rc, top, err = go("-top", "-sample_index=samples", out)
    tap.ok(rc == 0 and not err.strip(),
           name + ": go tool pprof -top reads it without error or warning",
           "rc=%d\n%s" % (rc, err))
    samples = raw_samples(raw)
    raw_count = sum(c for c, _, _ in samples)
    tap.ok(top_total(top) == str(total) and raw_count == total,
           name + ": -top total = -raw sample sum = folded total",
           "-top %s, -raw %d, folded %d" % (top_total(top), raw_count,
                                            total))
    rc, wall, err = go("-top", "-unit=ns", out)
    tap.ok(rc == 0 and "Type: wall" in wall
           and top_total(wall) == "%dns" % (total * PERIOD_NS)
           and all(ns == c * PERIOD_NS for c, ns, _ in samples),
           name + ": wall time is the default and = samples x %d ns" %
           PERIOD_NS, "-top %s for %d samples\n%s" % (
               top_total(wall), total, wall[:500]))

    # What -raw shows of each function: name, file, line, start line.
    locs = raw_locations(raw)

    def located(fname, mark):
        return [l for l in locs.values() if l[0] == fname]

    for fname, mark in (("A.__init__", "a_init"), ("B.__init__", "b_init"),
                        ("größe", "groesse"), ("rec", "rec_self")):
        want = (q(fname), script, marks[mark], marks[mark] - 1
                if fname != "rec" else marks["rec_leaf"] - 2)
        tap.ok(want in locs.values(),
               name + ": -raw shows %s in %s at line %d, starting at %d" % (
                   fname, os.path.basename(script), want[2], want[3]),
               located(fname, mark))
    steps = {l[3] for l in locs.values() if l[0] == "step"}
    tap.ok(steps == {marks["step_one"] - 1, marks["step_two"] - 1},
           name + ": -raw shows both functions called step, by start line",
           steps)
    rc, top, err = go("-top", "-nodecount=1000", "-nodefraction=0", out)
    # flat flat% sum% cum cum% name
    shown = set(re.findall(r"^[ \t]*\S+[ \t]+\S+%[ \t]+\S+%[ \t]+\S+[ \t]+"
                           r"\S+%[ \t]+(.+)$", top, re.M))
    tap.ok({"<module>", "größe", q("A.__init__"), q("B.__init__")} <= shown
           and "<unknown>" not in top,
           name + ": -top shows <module> and größe intact, no <unknown>",
           sorted(shown))

    # Threads: labels, and filtering on them.
    rc, tr, err = go("-traces", out)
    blocks = traces(tr)
    wtid = {re.search(r"thread_id:\s+(\d+)", l).group(1)
            for l, names in blocks if "worker" in names
            and re.search(r"thread_id:\s+(\d+)", l)}
    mtid = {re.search(r"thread_id:\s+(\d+)", l).group(1)
            for l, names in blocks if q("A.__init__") in names
            and re.search(r"thread_id:\s+(\d+)", l)}
    unlabelled = [names for l, names in blocks if "thread_id" not in l]
    tap.ok(len(wtid) == 1 and len(mtid) == 1 and wtid != mtid
           and not unlabelled,
           name + ": -traces labels every stack with its thread_id; the "
           "worker's differs from the main thread's",
           "worker %s, main %s, unlabelled %s" % (wtid, mtid,
                                                 unlabelled[:2]))
    if len(wtid) == 1:
        rc, top, err = go("-top", "-tagfocus=thread_id=%s" % min(wtid), out)
        tap.ok(rc == 0 and "größe" in top and q("A.__init__") not in top,
               name + ": -tagfocus on the worker's thread_id keeps its "
               "stacks only", top[-800:])
    else:
        tap.ok(False, name + ": -tagfocus on the worker's thread_id keeps "
               "its stacks only", "no single worker thread_id")


def check_speedscope(tap, it, name, out, want):
    why = speedscope_missing(it)
    if why:
        tap.skip(name + ": speedscope imports it", why)
        if want is not None:
            tap.skip(name + ": speedscope shows its functions", why)
        return
    console, text = speedscope_load(out)
    verdict = speedscope_verdict(console, text, "protobuf encoded pprof file")
    tap.ok(verdict is None, name + ": speedscope imports it", verdict)
    if want is None:
        return
    shown = sandwich_names(text)
    tap.ok(want <= shown, name + ": speedscope shows its functions",
           "missing %s; shown %s" % (sorted(want - shown), sorted(shown)))


def check_shapes(tap, it, go):
    def q(qualname):
        return common.py_name(it, qualname)

    name = common.label(it)
    d = common.tmpdir()
    stem = os.path.join(d, "prof")
    out, folded = stem + ".pb.gz", stem + ".folded"
    t0 = time.time_ns()
    proc, script = common.record_shapes(d, it, "pprof,folded", stem,
                                        rate=RATE)
    t1 = time.time_ns()
    if not check_run(tap, name + " shapes", proc, [out, folded]):
        return
    marks = common.marker_lines(script)

    p, why = read_profile(out)
    if not tap.ok(p is not None, name + ": gzip'ed protobuf that decodes, "
                  "strings valid UTF-8", why):
        return
    errs = invariant_errors(p)
    tap.ok(not errs, name + ": string_table[0] = '', ids nonzero, "
           "references resolve, one sample per stack and thread, no "
           "system_name", "\n".join(errs))
    tap.ok(p.sample_types == [("samples", "count"), ("wall", "nanoseconds")]
           and p.default_sample_type == "wall"
           and p.period_type == ("wall", "nanoseconds")
           and p.period == PERIOD_NS,
           name + ": sample types samples/count and wall/nanoseconds, "
           "period %d ns" % PERIOD_NS,
           "%s default %s period %s %s" % (
               p.sample_types, p.default_sample_type, p.period_type,
               p.period))
    tap.ok(t0 - 10**9 <= p.time_nanos <= t1
           and 0 < p.duration_nanos <= t1 - t0,
           name + ": time_nanos and duration_nanos span the recording",
           "time %d in [%d, %d], duration %d" % (p.time_nanos, t0, t1,
                                                p.duration_nanos))
    total, bad = folded_total(folded)
    held = sum(v[0] for _, v, _ in p.samples)
    tap.ok(held == total and total > 0 and not bad and
           all(v[1] == v[0] * PERIOD_NS for _, v, _ in p.samples),
           name + ": it holds the folded output's samples, wall = count x "
           "period", "pprof %d, folded %d" % (held, total))
    mapping = p.mappings.get(1, {})
    tap.ok(len(p.mappings) == 1 and all(one(mapping, f) == 1
                                        for f in (7, 8, 9)),
           name + ": one mapping, marked as having functions, files and "
           "lines", mapping)

    # Functions per code object, locations per line, stacks leaf first.
    fns = {(f["name"], f["filename"], f["start_line"]) for f in p.functions}
    want = {(q("A.__init__"), script, marks["a_init"] - 1),
            (q("B.__init__"), script, marks["b_init"] - 1),
            ("step", script, marks["step_one"] - 1),
            ("step", script, marks["step_two"] - 1),
            ("größe", script, marks["groesse"] - 1),
            ("worker", script, marks["worker_call"] - 2)}
    tap.ok(want <= fns, name + ": a function per code object, with file "
           "and first line", sorted(want - fns))
    sts = p.stacks()
    deepest = max((sum(f["name"] == "rec" for f in fr) for fr, _, _ in sts),
                  default=0)
    leaf_first = [fr for fr, _, _ in sts
                  if [f["name"] for f in fr][:3] == ["burn", "rec", "rec"]]
    tap.ok(deepest == 7 and leaf_first
           and leaf_first[0][1]["line"] == marks["rec_leaf"]
           and leaf_first[0][2]["line"] == marks["rec_self"],
           name + ": stacks leaf first with their lines, rec() 7 deep",
           "deepest %d" % deepest)
    tids = {}
    for fr, _, labels in sts:
        tid = [n for k, s, n in labels if k == "thread_id" and n]
        for f in fr:
            tids.setdefault(f["name"], set()).update(tid)
    tap.ok(all(any(k == "thread_id" and n for k, _, n in labels)
               for _, _, labels in sts)
           and len(tids.get("worker", ())) == 1
           and len(tids.get(q("A.__init__"), ())) == 1
           and tids["worker"] != tids[q("A.__init__")],
           name + ": every sample has a thread_id label, one per thread",
           {k: tids.get(k) for k in ("worker", q("A.__init__"))})

    check_go(tap, it, name, go, out, script, marks, total)
    check_speedscope(tap, it, name, out,
                     {q("A.__init__"), q("B.__init__"), "größe", "rec", "step",
                      "worker", "<module>"})


def check_names(tap, it, go):
    name = common.label(it)
    d = common.tmpdir()
    out = os.path.join(d, "names.pb.gz")
    proc, script = record_names(d, it, "pprof", out)
    if not check_run(tap, name + " names", proc, [out]):
        return
    p, why = read_profile(out)
    if not tap.ok(p is not None, name + ": names needing escapes still "
                  "give valid UTF-8 strings", why):
        return
    errs = invariant_errors(p)
    tap.ok(not errs, name + ": the proto's invariants hold",
           "\n".join(errs))
    names = {f["name"] for f in p.functions}
    missing = [n for n in WEIRD_NAMES if common.py_name(it, n) not in names]
    tap.ok(not missing, name + ": quotes, backslashes, control characters, "
           "non-ASCII and ';' survive in function names",
           "missing %r" % missing)
    files = {f["filename"] for f in p.functions
             if f["name"] == "surrogate_file"}
    tap.ok(files == {SURROGATE_SHOWN},
           name + ": a lone surrogate in a file name becomes U+FFFD", files)
    tap.ok(any(f["filename"] == script for f in p.functions),
           name + ": a path with ';', quotes, a backslash and spaces "
           "survives", script)
    tnames = {s for _, _, labels in p.samples
              for k, s, _ in labels if k == "thread_name"}
    tap.ok("worker" in tnames,
           name + ": the named thread has a thread_name label", tnames)
    if go.missing:
        tap.skip(name + ": go tool pprof -tagfocus=thread_name=worker",
                 go.missing)
    else:
        rc, top, err = go("-top", "-tagfocus=thread_name=worker", out)
        tap.ok(rc == 0 and not err.strip() and "größe_λ_😀" in top
               and "semi;colon name" not in top,
               name + ": go tool pprof -tagfocus=thread_name=worker keeps "
               "the worker's stacks only", "rc=%d %s\n%s" % (rc, err, top))
    check_speedscope(tap, it, name + " names", out, None)


def main():
    tap = common.Tap()
    go = GoPprof()
    try:
        found, supported = common.interpreters(tap, "pprof with")
        choose_browser(supported)
        for it in supported:
            check_shapes(tap, it, go)
            check_names(tap, it, go)
    finally:
        go.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
