"""psample convert and diff on saved raw profiles, several formats from one
run, the end-of-run table, and the agreement of the formats with each
other: one recording written as folded, pstats, callgrind and pprof must
give the same total, and the same self and total samples per function."""
import collections
import gzip
import marshal
import os
import re
import subprocess

import common

FORMATS = "raw,folded,pstats,callgrind,pprof"


# ---- readers: each format back to per-function (self, total) -----------

def folded_funcs(path):
    """{(name, file): [self, total]} from a --function folded file, a
    sample counted once per function however often it recurses."""
    stacks, bad = common.read_folded(path)
    out = collections.defaultdict(lambda: [0, 0])
    total = 0
    for frames, n in stacks:
        total += n
        keys = [(common.frame_name(f),) + common.frame_loc(f)
                for f in frames if not f.startswith("thread ")]
        if keys:
            out[keys[-1]][0] += n
        for k in set(keys):
            out[k][1] += n
    return out, total, bad


def pstats_funcs(path, interval):
    with open(path, "rb") as f:
        d = marshal.load(f)
    out = {}
    for (file, line, name), (cc, nc, tt, ct, callers) in d.items():
        out[(name, file, line)] = (round(tt / interval), round(ct / interval))
    return out


def callgrind_funcs(path):
    """{(file, fn name): (self, total)}: self from cost lines, total as
    KCacheGrind computes it (incoming calls without self-recursion, or
    self + outgoing for a function nobody calls).  A function is its
    name in its file (fl=; cfi=/cfl= for a callee)."""
    names = {"fl": {}, "fn": {}}
    self_cost = collections.Counter()
    incoming = collections.Counter()
    outgoing = collections.Counter()
    called = set()
    fl = fn = cfl = cfn = None
    in_call = False
    summary = None

    def resolve(kind, spec):
        m = re.match(r"\((\d+)\)(?: (.*))?$", spec)
        if not m:
            return spec
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind][m.group(1)]

    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            key, _, val = line.partition("=")
            if key == "fl":
                fl = cfl = resolve("fl", val)
            elif key in ("cfi", "cfl"):
                cfl = resolve("fl", val)
            elif key == "fn":
                fn = (fl, resolve("fn", val))
            elif key == "cfn":
                cfn = (cfl, resolve("fn", val))
            elif key == "calls":
                in_call = True
            elif line.startswith("summary:"):
                summary = int(line.split()[1])
            elif re.match(r"^[+-]?\d+ \d+$", line):
                cost = int(line.split()[1])
                if in_call:
                    outgoing[fn] += cost
                    if cfn != fn:
                        incoming[cfn] += cost
                    called.add(cfn)
                    in_call = False
                    cfl = fl
                else:
                    self_cost[fn] += cost
    out = {}
    for name in set(self_cost) | set(incoming) | set(outgoing):
        total = incoming[name] if name in called else \
            self_cost[name] + outgoing[name]
        out[name] = (self_cost[name], total)
    return out, summary


def pb_fields(buf):
    """Decode one protobuf message into [(field, wiretype, value)]."""
    i, out = 0, []
    while i < len(buf):
        key, i = varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((field, wt, v))
    return out


def varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def packed(v, wt):
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def pprof_funcs(path):
    """{(name, file, start_line): [self, total]} in samples (value 0)."""
    with open(path, "rb") as f:
        msg = pb_fields(gzip.decompress(f.read()))
    strings = [v.decode("utf-8") for fld, _, v in msg if fld == 6]
    funcs, locs, samples = {}, {}, []
    for fld, wt, v in msg:
        if fld == 5:
            d = {k: x for k, _, x in pb_fields(v)}
            funcs[d.get(1, 0)] = (strings[d.get(2, 0)],
                                  strings[d.get(4, 0)], d.get(5, 0))
        elif fld == 4:
            sub = pb_fields(v)
            lid = [x for k, _, x in sub if k == 1][0]
            lines = [dict((k, x) for k, _, x in pb_fields(ln))
                     for k, _, ln in sub if k == 4]
            locs[lid] = [ln.get(1, 0) for ln in lines]
        elif fld == 2:
            sub = pb_fields(v)
            ids = sum((packed(x, w) for k, w, x in sub if k == 1), [])
            vals = sum((packed(x, w) for k, w, x in sub if k == 2), [])
            samples.append((ids, vals))
    out = collections.defaultdict(lambda: [0, 0])
    total = 0
    for ids, vals in samples:
        n = vals[0]
        total += n
        fns = [funcs[f] for lid in ids for f in locs[lid]]
        if fns:
            out[fns[0]][0] += n  # leaf first
        for fk in set(fns):
            out[fk][1] += n
    return out, total


# ---- the checks ---------------------------------------------------------

def check_agreement(tap, it, d):
    name = common.label(it)
    stem = os.path.join(d, "agree")
    r, script = common.record_shapes(d, it, FORMATS, stem,
                                     extra=["--function"])
    paths = {f: stem + e for f, e in (("raw", ".psample"),
                                      ("folded", ".folded"),
                                      ("pstats", ".pstats"),
                                      ("pprof", ".pb.gz"))}
    paths["callgrind"] = os.path.join(d, "callgrind.out.agree")
    missing = [p for p in paths.values() if not os.path.exists(p)]
    tap.ok(r.returncode == 0 and not missing,
           "%s: -f %s -o STEM writes one file per format" % (name, FORMATS),
           "rc=%d missing=%s\n%s" % (r.returncode, missing, r.stderr))
    if missing:
        return
    interval = 1.0 / 500
    fold, total, bad = folded_funcs(paths["folded"])
    ps = pstats_funcs(paths["pstats"], interval)
    cg, cg_summary = callgrind_funcs(paths["callgrind"])
    pp, pp_total = pprof_funcs(paths["pprof"])

    ps_total = sum(s for s, _ in ps.values())
    cg_total = sum(s for s, _ in cg.values())
    tap.ok(total > 0 and total == ps_total == cg_total == cg_summary ==
           pp_total,
           "%s: the same total samples in folded, pstats, callgrind, pprof "
           "(%d)" % (name, total),
           "folded %d pstats %d callgrind %d (summary %s) pprof %d" % (
               total, ps_total, cg_total, cg_summary, pp_total))

    # Per function: folded keys are (qualname, short path, first line);
    # the others carry the full path, which ends with the short one.
    diffs = []
    for (qn, file, line), (s, t) in fold.items():
        if qn.startswith("[") or not file or line in (None, "?"):
            continue
        # folded shows ';' in a path as ':'
        got = [v for (n, f, ln), v in pp.items()
               if n == qn and ln == int(line) and
               (f.replace(";", ":") == file or
                f.replace(";", ":").endswith("/" + file))]
        if got != [[s, t]]:
            diffs.append("pprof %s: %s vs folded %s" % ((qn, file, line),
                                                        got, (s, t)))
    # pstats keys on co_name: compare through the qualname's last part
    # and the first line, which the pprof function carries too.
    for (n, f, line), v in pp.items():
        if not f and n[:1] in "<[":
            # A synthetic frame (<GC>, [truncated]): each format names
            # it its own way ({<GC>} in pstats); not a function to match.
            continue
        co_name = n.rsplit(".", 1)[-1]
        got = ps.get((co_name, f, line))
        if got != tuple(v):
            diffs.append("pstats %s: %s vs pprof %s" % ((co_name, f, line),
                                                        got, v))
        # Totals the KCacheGrind way are only exact without indirect
        # recursion (importlib's _find_and_load has it): compare the
        # workload's functions whole, self costs everywhere.
        got = cg.get((f, "%s:%d" % (n, line)))
        if got and not f.endswith("shapes.py"):
            got = (got[0], v[1])
        if got != tuple(v):
            diffs.append("callgrind %s:%d: %s vs pprof %s" % (n, line, got,
                                                              v))
    tap.ok(not diffs and len(pp) >= 8,
           "%s: each function's self and total samples agree across "
           "folded, pstats, callgrind and pprof (%d functions)"
           % (name, len(pp)), "\n".join(diffs[:20]) +
           "\ncallgrind names: %s" % sorted(cg)[:10])


def check_convert(tap, it, d):
    name = common.label(it)
    a, b = os.path.join(d, "a.psample"), os.path.join(d, "b.psample")
    ra, _ = common.record_shapes(d, it, "raw", a, seconds=1)
    rb, _ = common.record_shapes(d, it, "raw", b, seconds=1)
    if not tap.ok(ra.returncode == 0 and rb.returncode == 0 and
                  os.path.exists(a) and os.path.exists(b),
                  "%s: record -f raw" % name, ra.stderr + rb.stderr):
        return
    # raw -> raw is identical, byte for byte.
    a2 = os.path.join(d, "a2.psample")
    r = common.run(["convert", a, "-f", "raw", "-o", a2, "-q"])
    same = r.returncode == 0 and open(a, "rb").read() == open(a2, "rb").read()
    tap.ok(same, "%s: convert raw -> raw is identical" % name, r.stderr)

    # Merging two profiles gives every stack the sum of its counts.
    fa, fb, fab = (os.path.join(d, x) for x in ("a.folded", "b.folded",
                                                "ab.folded"))
    ok = all(common.run(["convert"] + ins + ["-f", "folded", "--threads",
                                              "-o", out, "-q"]).returncode
             == 0 for ins, out in (([a], fa), ([b], fb), ([a, b], fab)))
    want = collections.Counter()
    for p in (fa, fb):
        for frames, n in common.read_folded(p)[0] if ok else []:
            want[";".join(frames)] += n
    got = collections.Counter()
    for frames, n in common.read_folded(fab)[0] if ok else []:
        got[";".join(frames)] += n
    tap.ok(ok and want and got == want,
           "%s: convert A B merges: each stack's count is A's plus B's "
           "(%d stacks)" % (name, len(want)),
           "only in merge: %s\nmissing: %s" % (
               list((got - want).items())[:5],
               list((want - got).items())[:5]))

    # pstats from two files equals pstats.Stats(a, b).
    pa, pb, pab = (os.path.join(d, x) for x in ("a.pstats", "b.pstats",
                                                "ab.pstats"))
    for ins, out in (([a], pa), ([b], pb), ([a, b], pab)):
        common.run(["convert"] + ins + ["-f", "pstats", "-o", out, "-q"])
    code = ("import pstats,sys\n"
            "m=pstats.Stats(sys.argv[1]).stats\n"
            "s=pstats.Stats(sys.argv[2],sys.argv[3]).stats\n"
            "d=[k for k in set(m)|set(s) if k not in m or k not in s or "
            "abs(m[k][2]-s[k][2])>1e-9 or abs(m[k][3]-s[k][3])>1e-9]\n"
            "print(len(m), d[:5])\n"
            "sys.exit(1 if d or not m else 0)\n")
    r = subprocess.run([it.path, "-c", code, pab, pa, pb],
                       capture_output=True, text=True)
    tap.ok(r.returncode == 0,
           "%s: convert A B -f pstats equals pstats.Stats(A, B)" % name,
           r.stdout + r.stderr)

    # diff -f folded: the two counts per stack, each matching its input.
    r = common.run(["diff", a, b, "-f", "folded", "--threads"])
    rows = {}
    bad = []
    for line in r.stdout.splitlines():
        m = re.match(r"^(.*) (\d+) (\d+)$", line)
        if not m:
            bad.append(line)
            continue
        rows[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    ca = collections.Counter({";".join(f): n for f, n in
                              common.read_folded(fa)[0]})
    cb = collections.Counter({";".join(f): n for f, n in
                              common.read_folded(fb)[0]})
    want = {k: (ca[k], cb[k]) for k in set(ca) | set(cb)}
    tap.ok(r.returncode == 0 and not bad and rows == want,
           "%s: diff -f folded prints each stack's base and new counts"
           % name, "rc=%d bad=%s\n%s" % (r.returncode, bad[:3], r.stderr))
    svg = os.path.join(d, "diff.svg")
    r = common.run(["diff", a, b, "-o", svg])
    tap.ok(r.returncode == 0 and os.path.exists(svg) and
           open(svg, encoding="utf-8").read().lstrip().startswith("<"),
           "%s: diff BASE NEW -o diff.svg writes a differential flame graph"
           % name, r.stderr)


def check_report(tap, it, d):
    name = common.label(it)
    out = os.path.join(d, "rep.folded")
    r, _ = common.record_shapes(d, it, "folded", out, seconds=1)
    rows = [ln for ln in r.stderr.splitlines()
            if re.match(r"^\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d+\s+\d+\.\d+\s+\S",
                        ln)]
    tap.ok(r.returncode == 0 and "top functions" in r.stderr and
           rows and any(" burn (" in ln for ln in rows),
           "%s: a table of top functions by own and total time on stderr"
           % name, r.stderr)
    r, _ = common.record_shapes(d, it, "folded", out, seconds=1,
                                extra=["--quiet"])
    tap.ok(r.returncode == 0 and r.stderr == "",
           "%s: --quiet prints nothing on stderr" % name, r.stderr)


def check_bad_input(tap, d, good):
    cases = []
    trunc = os.path.join(d, "trunc.psample")
    with open(good, "rb") as f:
        data = f.read()
    with open(trunc, "wb") as f:
        f.write(data[:len(data) // 2])
    cases.append((trunc, "truncated"))
    foreign = os.path.join(d, "foreign.psample")
    with open(foreign, "w") as f:
        f.write("main;work 12\n")
    cases.append((foreign, "a folded file"))
    corrupt = os.path.join(d, "corrupt.psample")
    lines = data.split(b"\n")
    lines[len(lines) // 2] = b"\xff\x00garbage 1 2 3"
    with open(corrupt, "wb") as f:
        f.write(b"\n".join(lines))
    cases.append((corrupt, "corrupt"))
    cases.append((os.path.join(d, "missing.psample"), "missing"))
    for path, what in cases:
        out = os.path.join(d, "x.folded")
        r = common.run(["convert", path, "-f", "folded", "-o", out])
        one = r.stderr.strip().splitlines()
        tap.ok(r.returncode == 10 and len(one) == 1 and path in one[0] and
               not os.path.exists(out),
               "convert of a %s input: one line naming the file, exit 10"
               % what, "rc=%d %s" % (r.returncode, r.stderr))
    r = common.run(["convert", good, "-f", "nosuch", "-o", "x"])
    tap.ok(r.returncode == common.EXIT_USAGE and "pstats" in r.stderr and
           "callgrind" in r.stderr,
           "convert -f with an unknown format lists the valid ones",
           r.stderr)


def main():
    tap = common.Tap()
    _, supported = common.interpreters(tap)
    good = None
    for it in supported:
        d = common.tmpdir()
        check_agreement(tap, it, d)
        check_convert(tap, it, d)
        check_report(tap, it, d)
        if good is None and os.path.exists(os.path.join(d, "a.psample")):
            good = os.path.join(d, "a.psample")
            check_bad_input(tap, d, good)
    tap.done()


if __name__ == "__main__":
    main()
