"""End-to-end test of runs that sample nothing (issue 15).

attach --mode gil (and cpu) on workloads/idle.py, asleep before psample
starts, takes no sample: psample must exit 0, write every format asked
for, and say on stderr, in one line, that nothing was sampled and why.
Each empty file is then opened in its real consumer: pstats.Stats and
python -m pstats under the profiled interpreter, callgrind_annotate,
go tool pprof (and the proto decoded independently), speedscope's schema
and importer's rules (and, once, the speedscope app in chromium), the
SVG as XML (and, once, in chromium, whose console must stay clean);
folded is 0 bytes; raw converts with psample convert to every format,
byte for byte what attach wrote, and psample diff compares it.

record --mode gil on a sleeping program is checked too, but its run is
seldom empty: record starts sampling as soon as the interpreter has a
thread, and the first ticks catch the interpreter's own start-up
(importlib, site) holding the GIL (on 3.8 in every run tried, on 3.14
in most).  So record is checked for what holds either way: every file
written, the command's exit status, the one line exactly when the
summary counts no sample, and the sleep itself never sampled.

Only the oldest interpreter and the newest one with a GIL run this:
what is checked is the writers' empty files and the CLI's summary, the
same code whatever the target's version; the two ends of the range
show that the sampler's counts (GIL, CPU state) read as nothing on
both.  The chromium loads run on the newest only (about 10 s each).
"""

import os
import re
import shutil
import subprocess
import sys
import xml.dom.minidom

import common
from test_callgrind import ANNOTATE, Callgrind, function_costs
from test_pprof import GoPprof, invariant_errors, read_profile, top_total
from test_speedscope import (SCHEMA_URL, load_json, sanitizer_report,
                             schema_errors, speedscope_load,
                             speedscope_missing, speedscope_verdict,
                             structure_errors)

RATE = 100
FORMATS = ["folded", "svg", "pstats", "callgrind", "speedscope", "pprof",
           "raw"]
SAMPLES = re.compile(r"^psample: (\d+) samples in [\d.]+ s \(", re.M)
TICKS = re.compile(r"at any of the (\d+) ticks$")
EMPTY = "psample: nothing was sampled: "
SVG_NS = "http://www.w3.org/2000/svg"


def paths(stem):
    """{format: the path -o stem gives it}, as README's -o says."""
    d, base = os.path.split(stem)
    out = {f: stem + ext for f, ext in (
        ("folded", ".folded"), ("svg", ".svg"), ("pstats", ".pstats"),
        ("speedscope", ".speedscope.json"), ("pprof", ".pb.gz"),
        ("raw", ".psample"))}
    out["callgrind"] = os.path.join(d, "callgrind.out." + base)
    return out


def empty_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith(EMPTY)]


def check_exit(tap, name, r, rc=0):
    """psample exited rc without a sanitizer report."""
    tap.ok(r.returncode == rc, "%s: exits %d" % (name, rc),
           "rc=%s\n%s" % (r.returncode, r.stderr))
    report = sanitizer_report(r.stderr)
    tap.ok(report is None, name + ": no sanitizer report", report)


def check_written(tap, name, files):
    missing = [f for f in FORMATS if not os.path.isfile(files[f])]
    return tap.ok(not missing, name + ": every format's file is written",
                  "missing: %s" % missing)


def attach(it, pid, mode, stem, extra=()):
    return common.run(["attach", "--pid", str(pid), "--mode", mode,
                       "-r", str(RATE), "-f", ",".join(FORMATS), "-o",
                       stem] + list(extra), timeout=60)


# --- each consumer on its empty file -------------------------------------

PSTATS_LOAD = r"""
import io, sys, pstats
s = pstats.Stats(sys.argv[1], stream=io.StringIO())
s.sort_stats("cumulative").print_stats()
s.print_callers()
s.print_callees()
print(len(s.stats), s.total_calls, s.total_tt, sorted(s.stats))
"""


def check_pstats(tap, it, name, path):
    r = subprocess.run([it.path, "-c", PSTATS_LOAD, path],
                       capture_output=True, text=True, timeout=60)
    tap.ok(r.returncode == 0 and
           r.stdout.strip() == "1 0 0.0 [('~', 0, '<no samples>')]",
           name + ": pstats.Stats loads it: one {no samples} entry, 0 "
           "calls, 0 s", "rc=%d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    r = subprocess.run([it.path, "-m", "pstats", path],
                       input="sort cumulative\nstats\nquit\n",
                       capture_output=True, text=True, timeout=60)
    tap.ok(r.returncode == 0 and not r.stderr and
           "0 function calls in 0.000 seconds" in r.stdout and
           "{no samples}" in r.stdout,
           name + ": python -m pstats shows 0 function calls in 0.000 "
           "seconds", "rc=%d\n%s%s" % (r.returncode, r.stdout, r.stderr))


def check_callgrind(tap, name, path):
    cg = Callgrind(path)
    tap.ok(not cg.problems and cg.summary == 0 and cg.totals == 0 and
           not cg.functions(),
           name + ": callgrind file: the header, summary 0, no function",
           "%s summary=%s totals=%s functions=%s" % (
               cg.problems, cg.summary, cg.totals, cg.functions()))
    if not os.access(ANNOTATE, os.X_OK):
        tap.skip(name + ": callgrind_annotate reads it",
                 "%s not installed (Debian package valgrind)" % ANNOTATE)
        return
    for args in ([], ["--inclusive=yes"]):
        r = subprocess.run([ANNOTATE] + args + [path], capture_output=True,
                           text=True, timeout=60,
                           cwd=os.path.dirname(path))
        tap.ok(r.returncode == 0 and not r.stderr and
               "WARNING" not in r.stdout and
               "Events recorded:  samples" in r.stdout and
               function_costs(r.stdout) == {},
               "%s: callgrind_annotate %sreads it: no warning, no "
               "function" % (name, " ".join(args) + " " if args else ""),
               "rc=%d\n%s%s" % (r.returncode, r.stdout, r.stderr))


def check_pprof(tap, name, path, go):
    p, why = read_profile(path)
    if not tap.ok(p is not None, name + ": pprof: gzip'ed protobuf that "
                  "decodes", why):
        return
    errs = invariant_errors(p)
    tap.ok(not errs and not p.samples and
           p.sample_types == [("samples", "count"), ("wall", "nanoseconds")]
           and p.period == 10**9 // RATE,
           name + ": pprof: no sample, the sample types and period still "
           "there", "%s samples=%d types=%s period=%d" % (
               errs, len(p.samples), p.sample_types, p.period))
    if go.missing:
        tap.skip(name + ": go tool pprof reads it", go.missing)
        return
    rc, raw, err = go("-raw", path)
    rc2, top, err2 = go("-top", path)
    tap.ok(rc == 0 and rc2 == 0 and not err.strip() and not err2.strip()
           and "Samples:" in raw and top_total(top) == "0",
           name + ": go tool pprof -raw and -top read it: 0 total",
           "rc=%d %d\n%s%s\n%s" % (rc, rc2, err, err2, top))


def check_speedscope(tap, name, path, load):
    doc, why = load_json(path)
    if not tap.ok(doc is not None, name + ": speedscope file is JSON", why):
        return
    errs = (schema_errors(doc) or []) + structure_errors(doc)
    profiles = doc.get("profiles", [])
    tap.ok(not errs and doc.get("$schema") == SCHEMA_URL and
           len(profiles) == 1 and profiles[0].get("type") == "sampled" and
           profiles[0].get("samples") == [] and
           doc.get("activeProfileIndex") == 0,
           name + ": speedscope: valid, one sampled profile with no "
           "samples (none would make the app call it empty)",
           "%s\n%s" % (errs, profiles))
    if not load:
        return
    missing = speedscope_missing()
    if missing:
        tap.skip(name + ": the speedscope app opens it", missing)
        return
    console, text = speedscope_load(path)
    verdict = speedscope_verdict(console, text, "speedscope json file")
    tap.ok(verdict is None and "No symbols found." in text,
           name + ": the speedscope app opens it (No symbols found.)",
           verdict or text[:2000])


def svg_console(path):
    """chromium's console messages for the SVG, or None without chromium."""
    browser = None
    for cand in ("chromium", "chromium-browser", "google-chrome"):
        browser = browser or shutil.which(cand)
    if not browser:
        return None
    d = common.tmpdir()
    r = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--enable-logging=stderr",
         "--user-data-dir=" + os.path.join(d, "profile"), "--dump-dom",
         "file://" + path],
        capture_output=True, timeout=120,
        env=dict(os.environ, HOME=d, XDG_CONFIG_HOME=d, XDG_CACHE_HOME=d))
    err = r.stderr.decode("utf-8", "replace")
    return [l for l in err.splitlines() if ":CONSOLE" in l]


def check_svg(tap, name, path, load):
    try:
        dom = xml.dom.minidom.parse(path)
    except Exception as e:  # any parse error is the finding
        tap.ok(False, name + ": svg parses as XML", e)
        return
    ids = {e.getAttribute("id"): e for tag in ("g", "text")
           for e in dom.getElementsByTagNameNS(SVG_NS, tag)
           if e.getAttribute("id")}
    frames = ids.get("frames")
    kids = [n for n in frames.childNodes if n.nodeType == n.ELEMENT_NODE] \
        if frames else None

    def text(ident):
        e = ids.get(ident)
        return "".join(n.data for n in e.childNodes
                       if n.nodeType == n.TEXT_NODE) if e else None

    tap.ok(kids == [] and text("empty") == "No samples" and
           (text("subtitle") or "").startswith("0 samples, %d Hz" % RATE),
           name + ": svg parses as XML: no frame, 'No samples', subtitle "
           "'0 samples'", "frames=%s empty=%r subtitle=%r" % (
               kids, text("empty"), text("subtitle")))
    if not load:
        return
    console = svg_console(path)
    if console is None:
        tap.skip(name + ": svg in chromium", "no chromium on PATH")
        return
    tap.ok(not console, name + ": svg in chromium: no console message "
           "(the script has no frame to work on)", "\n".join(console))


def check_consumers(tap, it, name, files, go, load):
    tap.ok(os.path.getsize(files["folded"]) == 0,
           name + ": folded is empty (0 bytes)",
           "%d bytes" % os.path.getsize(files["folded"]))
    check_svg(tap, name, files["svg"], load)
    check_pstats(tap, it, name, files["pstats"])
    check_callgrind(tap, name, files["callgrind"])
    check_speedscope(tap, name, files["speedscope"], load)
    check_pprof(tap, name, files["pprof"], go)


# --- the runs ------------------------------------------------------------

def check_attach(tap, it, d, go, load):
    name = "%s: attach --mode gil, asleep" % common.label(it)
    stem = os.path.join(d, "gil")
    files = paths(stem)
    with common.Target(it.path, "idle.py", settle=0.3) as t:
        r = attach(it, t.pid, "gil", stem, ["-d", "1"])
        cpu = attach(it, t.pid, "cpu", os.path.join(d, "cpu"), ["-d", "0.5"])
        short = common.run(["attach", "--pid", str(t.pid), "--mode", "gil",
                            "-d", "0.003", "-o",
                            os.path.join(d, "short.folded")], timeout=60)
        wall = common.run(["attach", "--pid", str(t.pid), "-d", "0.3",
                           "-r", str(RATE), "-q", "-o",
                           os.path.join(d, "wall.psample")], timeout=60)
    check_exit(tap, name, r)
    lines = empty_lines(r.stderr)
    m = TICKS.search(lines[0]) if len(lines) == 1 else None
    # -d 1 at 100 Hz: about 100 ticks, whatever the machine's load.
    tap.ok(len(lines) == 1 and "no thread held the GIL at any of the" in
           lines[0] and m and int(m.group(1)) >= 50,
           name + ": one line says nothing was sampled: no thread held the "
           "GIL at any of the ~100 ticks", r.stderr)
    s = SAMPLES.search(r.stderr)
    tap.ok(s and s.group(1) == "0" and "wrote " + files["folded"] in
           r.stderr and "top functions" not in r.stderr,
           name + ": the summary counts 0 samples and names the files, "
           "no table", r.stderr)
    if not check_written(tap, name, files):
        return None

    check_consumers(tap, it, name, files, go, load)

    cname = "%s: attach --mode cpu, asleep" % common.label(it)
    check_exit(tap, cname, cpu)
    lines = empty_lines(cpu.stderr)
    tap.ok(len(lines) == 1 and "no Python thread was on a CPU at any of "
           "the" in lines[0], cname + ": one line: no Python thread was on "
           "a CPU", cpu.stderr)
    check_written(tap, cname, paths(os.path.join(d, "cpu")))

    sname = "%s: attach -d 0.003" % common.label(it)
    check_exit(tap, sname, short)
    lines = empty_lines(short.stderr)
    tap.ok(len(lines) == 1 and re.search(
        r"the run lasted [\d.]+ [mu]s, shorter than one sample interval of "
        r"10\.0 ms$", lines[0]) and os.path.isfile(
            os.path.join(d, "short.folded")),
        sname + ": the file is written; the line says the run was shorter "
        "than one interval", short.stderr)
    wall_raw = os.path.join(d, "wall.psample")
    if not tap.ok(wall.returncode == 0 and os.path.isfile(wall_raw),
                  "%s: attach --mode wall on the same sleep samples it" %
                  common.label(it), wall.stderr):
        wall_raw = None
    return files, wall_raw


def check_convert(tap, it, d, files):
    name = "%s: convert of the empty raw profile" % common.label(it)
    sub = os.path.join(d, "conv")
    os.mkdir(sub)
    stem = os.path.join(sub, "gil")
    r = common.run(["convert", files["raw"], "-f", ",".join(FORMATS),
                    "-o", stem])
    check_exit(tap, name, r)
    tap.ok("psample: the input holds no samples: the profiles are empty"
           in r.stderr.splitlines(), name + ": says the input holds no "
           "samples", r.stderr)
    out = paths(stem)
    if not check_written(tap, name, out):
        return
    differ = []
    for f in FORMATS:
        with open(files[f], "rb") as a, open(out[f], "rb") as b:
            if a.read() != b.read():
                differ.append(f)
    tap.ok(not differ, name + ": every format is byte for byte what "
           "attach wrote (so the consumers above read it)",
           "differ: %s" % differ)


def check_diff(tap, it, d, empty_raw, wall_raw):
    name = "%s: diff" % common.label(it)
    r = common.run(["diff", empty_raw, empty_raw])
    check_exit(tap, name + " of two empty profiles to folded", r)
    tap.ok(r.stdout == "", name + " of two empty profiles: no line",
           r.stdout)
    cases = [("empty", "empty", empty_raw, empty_raw)]
    if wall_raw:
        cases += [("sampled", "empty", wall_raw, empty_raw),
                  ("empty", "sampled", empty_raw, wall_raw)]
    for bname, nname, base, new in cases:
        what = "%s %s -> %s, svg" % (name, bname, nname)
        out = os.path.join(d, "diff-%s-%s.svg" % (bname, nname))
        r = common.run(["diff", base, new, "-o", out])
        check_exit(tap, what, r)
        try:
            dom = xml.dom.minidom.parse(out)
        except Exception as e:  # a parse error or no file is the finding
            tap.ok(False, what + ": parses as XML", e)
            continue
        frames = [g for g in dom.getElementsByTagNameNS(SVG_NS, "g")
                  if g.getAttribute("data-w")]
        empty = [t for t in dom.getElementsByTagNameNS(SVG_NS, "text")
                 if t.getAttribute("id") == "empty"]
        # Widths are NEW's: frames exactly when NEW has samples.
        want = nname == "sampled"
        tap.ok(bool(frames) == want and bool(empty) != want,
               what + ": parses as XML, %s" % (
                   "frames drawn" if want else "'No samples', no frame"),
               "frames=%d empty=%d" % (len(frames), len(empty)))


def check_record(tap, it, d):
    name = "%s: record --mode gil of a sleep" % common.label(it)
    stem = os.path.join(d, "rec")
    files = paths(stem)
    r = common.run(["record", "--mode", "gil", "-r", str(RATE), "-f",
                    ",".join(FORMATS), "-o", stem, "--", it.path,
                    os.path.join(common.WORKLOADS, "idle.py"), "1"],
                   timeout=60)
    check_exit(tap, name, r)
    check_written(tap, name, files)
    s = SAMPLES.search(r.stderr)
    n = int(s.group(1)) if s else None
    lines = empty_lines(r.stderr)
    tap.note("%s: %s samples, all of the interpreter's start-up" %
             (name, n))
    tap.ok(n is not None and (len(lines) == 1) == (n == 0) and
           len(lines) <= 1 and (n or "GIL" in lines[0]),
           name + ": the nothing-sampled line (about the GIL) exactly when "
           "0 samples", r.stderr)
    # The second of sleep is 100 ticks without the GIL; start-up a few.
    tap.ok(n is not None and n < 50,
           name + ": the sleep itself is not sampled (%s samples)" % n,
           r.stderr)
    status = common.run(["record", "--mode", "gil", "-q", "-o",
                         os.path.join(d, "status.folded"), "--", it.path,
                         "-c", "import sys, time; time.sleep(0.5); "
                         "sys.exit(3)"], timeout=60)
    tap.ok(status.returncode == 3 and
           os.path.isfile(os.path.join(d, "status.folded")),
           name + ": the command's exit status (3) is psample's, the file "
           "written", "rc=%s\n%s" % (status.returncode, status.stderr))


def check_gone(tap, it, d, go):
    """A command that ends before it could be sampled (here one that is
    not Python and exits 3 at once) still gets every file, each opening
    in its consumer, its exit status, and one line saying why."""
    name = "record -- sh -c 'exit 3'"
    stem = os.path.join(d, "gone")
    files = paths(stem)
    r = common.run(["record", "-f", ",".join(FORMATS), "-o", stem, "--",
                    "sh", "-c", "exit 3"], timeout=60)
    check_exit(tap, name, r, rc=3)
    lines = empty_lines(r.stderr)
    tap.ok(len(lines) == 1 and "'sh' exited after" in lines[0] and
           "before Python could be sampled" in lines[0],
           name + ": one line says nothing was sampled: it exited first",
           r.stderr)
    if check_written(tap, name, files):
        check_pstats(tap, it, name, files["pstats"])
        check_callgrind(tap, name, files["callgrind"])
        check_pprof(tap, name, files["pprof"], go)


def main():
    tap = common.Tap()
    found, supported = common.interpreters(tap)
    gil = [i for i in supported if not i.free_threaded]
    chosen = gil[:1] + gil[-1:] if len(gil) > 1 else gil
    for it in supported:
        if it not in chosen:
            tap.skip("empty runs on %s" % common.label(it),
                     "the oldest and the newest with a GIL are enough: "
                     "the empty files and the summary do not depend on "
                     "the version")
    go = GoPprof()
    try:
        for it in chosen:
            d = common.tmpdir()
            load = it is chosen[-1]
            got = check_attach(tap, it, d, go, load)
            if got:
                files, wall_raw = got
                check_convert(tap, it, d, files)
                check_diff(tap, it, d, files["raw"], wall_raw)
            check_record(tap, it, d)
        if chosen:
            check_gone(tap, chosen[0], common.tmpdir(), go)
    finally:
        go.cleanup()
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
