"""psample's sampling modes (--mode wall/cpu/gil/memory, --idle, --no-gc,
--poisson) and its falling-behind warning, against real interpreters.

Each workload (workloads/modes.py) splits its time in a known way: half
asleep and half spinning; one thread computing while others wait in C
with the GIL released; a loop that spends a known part of its time in
gc.collect(); memory kept by one function and only churned by another.
Each mode must show what it promises of that split: cpu mode drops the
sleeping half, gil mode keeps the computing thread, <GC> sits on the
collecting stack, memory mode charges the growth to the function that
grew.
"""
import json
import math
import os
import re
import shutil
import statistics
import subprocess

import common

# Every share, rate and fraction below is judged by common.judged() on
# most of up to three runs.  Each bound was checked against repeated runs
# (10-12 per interpreter, 3.8 to 3.15, release, debug and free-threaded,
# on a machine busy with other work): each lies at least 3.4 standard
# deviations of the worst interpreter beyond its mean (--poisson's
# shares, of 900 samples; most lie ten or more), so one run exceeds it
# far less often than the 1.5 % judged() allows; the figures are in the
# commit that checked them.  A mode that keeps the wrong threads or
# frames misses them by tens of points.
MODES = os.path.join(common.WORKLOADS, "modes.py")
RATIO = os.path.join(common.WORKLOADS, "ratio.py")
RATE = 200
SIGNED_LINE = re.compile(r"^([^;\r\n]+(?:;[^;\r\n]+)*) (-?[0-9]+)$")
ACHIEVED = re.compile(r"\(([\d.]+) Hz achieved, (\d+) Hz asked")


def record(d, it, tag, args, extra=(), fmt="folded", rate=RATE):
    out = os.path.join(d, "%s.%s" % (tag, fmt.split(",")[0]))
    stem = os.path.join(d, tag)
    r = common.run(["record", "-r", str(rate), "-f", fmt,
                    "-o", stem if "," in fmt else out] + list(extra) +
                   ["--", it.path, MODES] + args, timeout=180)
    path = stem + ".folded" if "," in fmt else out
    stacks, malformed = (common.read_folded(path) if os.path.exists(path)
                         else ([], ["no profile written"]))
    return r, stacks, malformed


def names_of(stack):
    return [common.frame_name(f) for f in stack]


def samples_with(stacks, fn, innermost=False):
    n = 0
    for stack, count in stacks:
        names = names_of(stack)
        if (names and names[-1] == fn) if innermost else fn in names:
            n += count
    return n


def idle_split(stacks, fn):
    """(samples with fn whose innermost frame is <idle>, all with fn)."""
    idle = total = 0
    for stack, count in stacks:
        names = names_of(stack)
        if fn in names:
            total += count
            if names[-1] == "<idle>":
                idle += count
    return idle, total


def wall_run(it, d, first=None):
    """--mode wall on alternate: (nap's % of nap and spin, text)."""
    r, stacks, bad = first or record(d, it, "wall", ["alternate", "2"],
                                     extra=["--mode", "wall"])
    nap, spin = samples_with(stacks, "nap"), samples_with(stacks, "spin_chunk")
    text = "nap %d, spin %d\n%s%s" % (nap, spin, "\n".join(bad[:5]),
                                      r.stderr)
    if r.returncode != 0 or bad or not nap + spin:
        return None, text
    return 100.0 * nap / (nap + spin), text


def cpu_run(it, d):
    """--mode cpu on alternate: (nap's % of nap and spin, text), None
    when spin has under 100 samples (of ~200)."""
    r, stacks, bad = record(d, it, "cpu", ["alternate", "2"],
                            extra=["--mode", "cpu"])
    nap, spin = samples_with(stacks, "nap"), samples_with(stacks, "spin_chunk")
    text = "nap %d, spin %d\n%s%s" % (nap, spin, "\n".join(bad[:5]),
                                      r.stderr)
    if r.returncode != 0 or bad or spin < 100:
        return None, text
    return 100.0 * nap / (nap + spin), text


def cpuidle_run(it, d, first=None):
    """--mode cpu --idle on alternate: ((nap's % of nap and spin, % of
    nap's samples with <idle> innermost, % of spin's), text)."""
    r, stacks, bad = first or record(d, it, "cpuidle", ["alternate", "2"],
                                     extra=["--mode", "cpu", "--idle"])
    nap_idle, nap = idle_split(stacks, "nap")
    spin_idle, spin = idle_split(stacks, "spin_chunk")
    text = "nap %d (%d <idle>), spin %d (%d <idle>)\n%s%s" % (
        nap, nap_idle, spin, spin_idle, "\n".join(bad[:5]), r.stderr)
    if r.returncode != 0 or bad or not nap or not spin:
        return None, text
    return (100.0 * nap / (nap + spin), 100.0 * nap_idle / nap,
            100.0 * spin_idle / spin), text


def check_alternate(tap, it, d):
    """nap() sleeps and spin_chunk() spins, 200 ms each in turn."""
    name = common.label(it)

    first = record(d, it, "wall", ["alternate", "2"],
                   extra=["--mode", "wall"])
    r, stacks, bad = first
    marked = samples_with(stacks, "<idle>")
    tap.ok(r.returncode == 0 and marked == 0 and
           samples_with(stacks, "nap") > 0,
           "%s: --mode wall without --idle marks nothing <idle>" % name,
           "%d samples marked" % marked)
    runs = common.Runs(lambda: wall_run(it, d), wall_run(it, d, first))
    common.judged(tap, "%s: --mode wall: the sleeping and the spinning "
                  "function share the samples about evenly (nap's %%)"
                  % name, runs, lambda share: 35 <= share <= 65)

    # Some nap() samples in cpu mode are right: a thread woken from
    # time.sleep is runnable (R, "on a CPU" for the scheduler) while it
    # waits for a CPU, still inside nap().  And a thread's stack and its
    # state are read one after the other, so a wake-up between the two
    # reads counts.  Both happen at each wake-up.  On a quiet machine
    # that is 0 samples; on a 2-core machine running other tests (load
    # average above 10) wake-up latency and psample's own preemption
    # between the reads reach tens of ms: 4.6% and 5.2% of samples were
    # seen with 50 and 100 ms chunks.  With 200 ms chunks, 2.5 wake-ups
    # a second, 10 ms each against ~500 ms/s of spinning is 5%.  A cpu
    # mode that kept sleeping threads gives ~50%.
    common.judged(tap, "%s: --mode cpu: the spinning function is there, "
                  "the sleeping one is not (nap's %%)" % name,
                  lambda i: cpu_run(it, d), lambda share: share < 5)

    first = record(d, it, "cpuidle", ["alternate", "2"],
                   extra=["--mode", "cpu", "--idle"])
    r, stacks, bad = first
    misplaced = [";".join(s) for s, _ in stacks
                 if "<idle>" in names_of(s)[:-1]]
    tap.ok(not misplaced, "%s: <idle> is only ever the innermost frame"
           % name, "\n".join(misplaced[:5]))
    runs = common.Runs(lambda: cpuidle_run(it, d),
                       cpuidle_run(it, d, first))
    common.judged(tap, "%s: --mode cpu --idle: the sleeping function is "
                  "kept, with <idle> innermost (nap's %%, %% of it <idle>)"
                  % name, runs,
                  lambda v: 35 <= v[0] <= 65 and v[1] >= 90)
    common.judged(tap, "%s: --mode cpu --idle: the spinning function is "
                  "not marked <idle> (%% of its samples)" % name,
                  runs.part(2), lambda v: v <= 5)


def gil_run(it, d, first=None):
    """--mode gil on gil: (py_compute's % of the samples, text), None
    with under 100 samples (of ~400)."""
    r, stacks, bad = first or record(d, it, "gil", ["gil", "2"],
                                     extra=["--mode", "gil", "--threads"])
    total = sum(c for _, c in stacks)
    comp = samples_with(stacks, "py_compute")
    text = "py_compute %d of %d\nrc=%d\n%s" % (comp, total, r.returncode,
                                               r.stderr)
    if r.returncode != 0 or bad or total < 100:
        return None, text
    return 100.0 * comp / total, text


def check_gil(tap, it, d):
    name = common.label(it)
    if it.free_threaded:
        r = common.run(["record", "--mode", "gil", "-o",
                        os.path.join(d, "ft.folded"), "--", it.path, MODES,
                        "alternate", "1"], timeout=60)
        tap.ok(r.returncode == common.EXIT_UNSUPPORTED and
               "GIL" in r.stderr and len(r.stderr.splitlines()) == 1,
               "%s: --mode gil on a free-threaded build: one line saying "
               "there is no GIL, exit %d" % (name, common.EXIT_UNSUPPORTED),
               "rc=%d\n%s" % (r.returncode, r.stderr))
        return
    first = record(d, it, "gil", ["gil", "2"],
                   extra=["--mode", "gil", "--threads"])
    r, stacks, bad = first
    total = sum(c for _, c in stacks)
    common.judged(tap, "%s: --mode gil: the thread computing in Python has "
                  "most samples, not the ones sleeping or hashing without "
                  "the GIL (its %%)" % name,
                  common.Runs(lambda: gil_run(it, d), gil_run(it, d, first)),
                  lambda share: share > 80)
    # One thread at most holds the GIL: a tick gives at most one stack,
    # so no more samples than ticks (-r 200 for ~2 s).
    ticks = None
    m = re.search(r"(\d+) samples in ([\d.]+) s", r.stderr)
    if m:
        ticks = float(m.group(2)) * RATE
    tap.ok(ticks is not None and total <= ticks * 1.05 + 5,
           "%s: --mode gil: at most one stack per tick (%d stacks, ~%s "
           "ticks)" % (name, total, "%.0f" % ticks if ticks else "?"),
           r.stderr)


def gc_run(it, d, first=None):
    """gc workload: ((% of <GC> samples on collect_cycles, % of the
    samples in gc.collect() that show <GC>), text)."""
    r, stacks, bad = first or record(d, it, "gc", ["gc", "1.5"])
    gcs = [(names_of(s), c) for s, c in stacks if "<GC>" in names_of(s)]
    n_gc = sum(c for _, c in gcs)
    on_collect = sum(c for names, c in gcs
                     if len(names) >= 2 and names[-1] == "<GC>" and
                     names[-2] == "collect_cycles")
    # While collect_cycles() is the innermost Python frame the
    # interpreter is inside gc.collect() all but a few microseconds.
    in_collect = samples_with(stacks, "collect_cycles", innermost=True)
    text = "%d <GC>, %d on collect_cycles, %d in it without\n%s\n%s" % (
        n_gc, on_collect, in_collect,
        "\n".join(";".join(n) for n, _ in gcs[:5]), r.stderr)
    if r.returncode != 0 or bad or not n_gc:
        return None, text
    return (100.0 * on_collect / n_gc,
            100.0 * on_collect / (in_collect + on_collect)), text


def check_gc(tap, it, d):
    name = common.label(it)
    runs = common.Runs(lambda: gc_run(it, d))
    common.judged(tap, "%s: <GC> sits on top of the stack that runs "
                  "gc.collect() (%% of <GC> samples)" % name, runs.part(0),
                  lambda v: v >= 90)
    common.judged(tap, "%s: a sample inside gc.collect() shows <GC> (%%)"
                  % name, runs.part(1), lambda v: v >= 70)
    r, stacks, bad = record(d, it, "nogc", ["gc", "1.5"], extra=["--no-gc"])
    n_gc = samples_with(stacks, "<GC>")
    tap.ok(r.returncode == 0 and not bad and n_gc == 0 and
           samples_with(stacks, "collect_cycles") > 0,
           "%s: --no-gc: no <GC> frame" % name,
           "%d <GC> samples\n%s" % (n_gc, r.stderr))


def read_signed(path):
    """Folded lines with signed counts: ([(frames, count)], malformed)."""
    stacks, bad = [], []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if not line:
                continue
            m = SIGNED_LINE.match(line)
            if not m:
                bad.append(line)
                continue
            stacks.append((m.group(1).split(";"), int(m.group(2))))
    return stacks, bad


def memory_run(it, d):
    """--mode memory on memory: ((grow()'s bytes, churn()'s) as
    fractions of the growth the process saw, text), None if no profile;
    and whether the profile parsed, in the text."""
    stem = os.path.join(d, "mem")
    r = common.run(["record", "--mode", "memory", "-r", str(RATE),
                    "-f", "folded", "-o", stem + ".folded", "--", it.path,
                    MODES, "memory"], timeout=120)
    real = None
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            real = json.loads(line)
    if r.returncode != 0 or not real or not os.path.exists(
            stem + ".folded"):
        return None, "rc=%d\n%s" % (r.returncode, r.stderr)
    stacks, bad = read_signed(stem + ".folded")
    grow = sum(c for s, c in stacks if "grow" in names_of(s))
    churn = sum(c for s, c in stacks if "churn" in names_of(s))
    text = "grow %.1f MB, churn %.1f MB, the process saw %.1f MB\n%s\n%s" % (
        grow / 1e6, churn / 1e6, real["grow"] / 1e6, "\n".join(bad[:5]),
        r.stderr)
    if bad:
        return None, text
    return (grow / real["grow"], churn / real["grow"]), text


def check_memory(tap, it, d):
    name = common.label(it)
    runs = common.Runs(lambda: memory_run(it, d))
    common.judged(tap, "%s: --mode memory: grow() is charged its resident "
                  "growth (a fraction of what the process saw)" % name,
                  runs.part(0), lambda v: 0.5 <= v <= 2)
    common.judged(tap, "%s: --mode memory: churn(), which frees what it "
                  "allocates, is charged little (a fraction of grow's "
                  "growth)" % name, runs.part(1), lambda v: abs(v) <= 0.25)


def check_memory_formats(tap, it, d):
    """folded, pprof and raw are the formats that can carry signed byte
    counts (pprof's values are int64; raw is what convert and diff
    read); the others are refused before anything starts."""
    for fmt, ext in (("pprof", ".pb.gz"), ("raw", ".psample")):
        out = os.path.join(d, "memok" + ext)
        r = common.run(["record", "--mode", "memory", "-r", str(RATE),
                        "-f", fmt, "-o", out, "--", it.path, MODES,
                        "memory"], timeout=120)
        raw = ""
        if fmt == "raw" and os.path.exists(out):
            with open(out, encoding="utf-8") as f:
                raw = f.read()
        tap.ok(r.returncode == 0 and os.path.exists(out) and
               (fmt != "raw" or 'meta mode "memory"' in raw),
               "--mode memory -f %s: written%s" % (
                   fmt, ", and it records the memory mode"
                   if fmt == "raw" else ""),
               "rc=%d\n%s\n%s" % (r.returncode, r.stderr, raw[:300]))
    for fmt in ("svg", "pstats", "folded,speedscope"):
        marker = os.path.join(d, "started-%s" % fmt.replace(",", "-"))
        r = common.run(["record", "--mode", "memory", "-f", fmt, "-o",
                        os.path.join(d, "memfmt"), "--", "python3", "-c",
                        "open(%r, 'w')" % marker], timeout=60)
        tap.ok(r.returncode == common.EXIT_USAGE and
               not os.path.exists(marker) and r.stderr.strip(),
               "--mode memory -f %s: refused as a usage error (exit %d) "
               "before the command starts" % (fmt, common.EXIT_USAGE),
               "rc=%d\n%s" % (r.returncode, r.stderr))


def check_memory_convert(tap, it, d):
    """A memory profile saved as raw converts to the formats that carry
    signed counts, and only to them: what record refuses, convert does
    too, and the bytes of a memory profile never add up with samples."""
    stem = os.path.join(d, "memconv")
    r = common.run(["record", "--mode", "memory", "-r", str(RATE),
                    "-f", "folded,raw", "-o", stem, "--", it.path, MODES,
                    "memory"], timeout=120)
    raw, folded = stem + ".psample", stem + ".folded"
    if not tap.ok(r.returncode == 0 and os.path.exists(raw) and
                  os.path.exists(folded),
                  "--mode memory -f folded,raw: both written",
                  "rc=%d\n%s" % (r.returncode, r.stderr)):
        return
    # No -f and no -o: folded, the memory mode's default, named after
    # the input, with the very counts record wrote.
    sub = os.path.join(d, "memconv-default")
    os.makedirs(sub, exist_ok=True)
    r = common.run(["convert", raw], cwd=sub, timeout=60)
    out = os.path.join(sub, "memconv.folded")
    want, bad0 = read_signed(folded)
    got, bad1 = (read_signed(out) if os.path.exists(out)
                 else ([], ["not written"]))
    key = lambda v: sorted((";".join(f), c) for f, c in v)
    tap.ok(r.returncode == 0 and not bad0 and not bad1 and
           key(got) == key(want),
           "convert of a memory profile with no format writes folded, "
           "with record's signed counts (%d stacks, %d negative)" % (
               len(got), sum(1 for _, c in got if c < 0)),
           "rc=%d\n%s\n%s" % (r.returncode, r.stderr,
                               "\n".join((bad0 + bad1)[:5])))
    for fmt in ("svg", "pstats", "callgrind", "speedscope"):
        out = os.path.join(d, "memconv-out." + fmt)
        r = common.run(["convert", raw, "-f", fmt, "-o", out], timeout=60)
        lines = r.stderr.strip().splitlines()
        tap.ok(r.returncode == common.EXIT_USAGE and
               not os.path.exists(out) and len(lines) == 1 and
               fmt in lines[0],
               "convert of a memory profile to %s: refused in one line "
               "(exit %d), nothing written" % (fmt, common.EXIT_USAGE),
               "rc=%d\n%s" % (r.returncode, r.stderr))
    wall = os.path.join(d, "memconv-wall.psample")
    r = common.run(["record", "-r", str(RATE), "-f", "raw", "-o", wall,
                    "--", it.path, MODES, "memory"], timeout=120)
    out = os.path.join(d, "memconv-merged.folded")
    r2 = common.run(["convert", raw, wall, "-f", "folded", "-o", out],
                    timeout=60)
    tap.ok(r.returncode == 0 and r2.returncode == common.EXIT_USAGE and
           not os.path.exists(out) and "memory" in r2.stderr,
           "convert refuses to merge a memory profile with a wall one "
           "(exit %d)" % common.EXIT_USAGE,
           "record rc=%d, convert rc=%d\n%s" % (
               r.returncode, r2.returncode, r2.stderr))
    out = os.path.join(d, "memconv-diff.svg")
    r = common.run(["diff", raw, raw, "-o", out], timeout=60)
    tap.ok(r.returncode == common.EXIT_USAGE and not os.path.exists(out)
           and "pprof" in r.stderr,
           "diff of memory profiles: refused, pointing to pprof's "
           "-diff_base (exit %d)" % common.EXIT_USAGE,
           "rc=%d\n%s" % (r.returncode, r.stderr))


def deadlines(trace):
    """Absolute deadlines (ns) psample slept until, from strace output."""
    out = []
    pat = re.compile(r"clock_nanosleep\(CLOCK_MONOTONIC, TIMER_ABSTIME, "
                     r"\{tv_sec=(\d+), tv_nsec=(\d+)\}")
    with open(trace) as f:
        for line in f:
            m = pat.search(line)
            if m:
                t = int(m.group(1)) * 10**9 + int(m.group(2))
                if not out or t != out[-1]:     # EINTR retries
                    out.append(t)
    return out


def poisson_run(it, d):
    """record --poisson of ratio.py: ((Hz achieved, points the worst of
    a/b/c is off its share of the time ratio.py measured), text)."""
    out = os.path.join(d, "poisson.folded")
    truth = os.path.join(d, "poisson-truth.json")
    r = common.run(["record", "--poisson", "-r", "300", "-f", "folded,raw",
                    "-o", os.path.join(d, "poisson"), "--", it.path, RATIO,
                    "3"], timeout=120,
                   env=dict(os.environ, PSAMPLE_TRUTH=truth))
    m = ACHIEVED.search(r.stderr)
    stacks, bad = (common.read_folded(out) if os.path.exists(out)
                   else ([], ["missing"]))
    tot = {f: samples_with(stacks, f) for f in "abc"}
    n = sum(tot.values())
    sh = {f: 100.0 * v / n for f, v in tot.items()} if n else {}
    want = common.ratio_truth(truth)
    text = "a/b/c %s over %d samples, of the time %s\n%s\n%s" % (
        "/".join("%.1f" % sh.get(f, 0) for f in "abc"), n,
        "/".join("%.1f" % want[f] for f in "abc") if want else "unknown",
        "\n".join(bad[:5]), r.stderr)
    if r.returncode != 0 or not m or bad or n < 600 or not want:
        return None, text
    return (float(m.group(1)),
            max(abs(sh[f] - want[f]) for f in "abc")), text


def check_poisson(tap, it, d):
    name = common.label(it)
    # The profile is a normal one: ratio.py's 60/30/10 split shows, and
    # the rate is the one asked for, on average.  (-r 300: a rate psample
    # keeps up with on a busy 2-core machine.)
    runs = common.Runs(lambda: poisson_run(it, d))
    common.judged(tap, "%s: --poisson -r 300 achieves 300 Hz within 25%% "
                  "(Hz)" % name, runs.part(0),
                  lambda hz: 225 <= hz <= 375)
    common.judged(tap, "%s: --poisson: the profile is otherwise normal "
                  "(points the most off of a/b/c's share of their time)"
                  % name,
                  runs.part(1), lambda off: off <= 6)
    raw = ""
    if os.path.exists(os.path.join(d, "poisson.psample")):
        with open(os.path.join(d, "poisson.psample")) as f:
            raw = f.read()
    tap.ok(re.search(r"^meta interval_s 0\.00333333\d*$", raw, re.M),
           "%s: --poisson: the raw profile's interval is the mean one"
           % name, raw[:300])

    # The schedule itself, from the deadlines psample sleeps until
    # (strace sees them; psample never knows it is traced).  An
    # exponential distribution has its standard deviation equal to its
    # mean, and a Kolmogorov-Smirnov distance to the fitted exponential
    # below 2/sqrt(n) (exceeded with a probability far below 1e-3).
    # Without --poisson the deadlines are a fixed grid.
    if not shutil.which("strace"):
        tap.skip("%s: --poisson intervals are exponential" % name,
                 "strace not found")
        return
    runs = common.Runs(lambda: schedule_run(it, d, True))
    common.judged(tap, "%s: --poisson intervals are exponential with mean "
                  "1/rate (mean/(1/rate), cv, KS distance * sqrt(n))"
                  % name, runs, lambda v: abs(v[0] - 1) <= 0.2 and
                  0.75 <= v[1] <= 1.3 and v[2] < 2)
    # Every deadline is on the grid start + k/rate: a tick that came due
    # while psample was busy is skipped, never moved, so a loaded
    # machine shows whole multiples of the period (it did: cv 0.24 from
    # skips alone), and most are one.
    runs = common.Runs(lambda: schedule_run(it, d, False))
    value, text = runs(0)
    tap.ok(value is not None and value[0] == 0,
           "%s: without --poisson every deadline is on the 1/rate grid"
           % name, text)
    common.judged(tap, "%s: without --poisson most intervals are one "
                  "period (their share)" % name, runs.part(1),
                  lambda ones: ones >= 0.5)


def schedule_run(it, d, poisson):
    """The deadlines of an attach at -r 300 for 2 s, seen by strace:
    with poisson, ((mean interval * rate, coefficient of variation,
    Kolmogorov-Smirnov distance to the fitted exponential * sqrt(n)),
    text); without, ((intervals off the 1/rate grid, share of intervals
    of one period), text)."""
    with common.Target(it.path, "idle.py") as t:
        trace = os.path.join(d, "strace-%d.txt" % poisson)
        argv = ["strace", "-o", trace, "-e", "trace=clock_nanosleep",
                common.PSAMPLE, "attach", "--pid", str(t.pid), "-r",
                "300", "-d", "2", "-q", "-o",
                os.path.join(d, "strace.folded")]
        if poisson:
            argv.append("--poisson")
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=60)
    ts = deadlines(trace) if os.path.exists(trace) else []
    iv = [b - a for a, b in zip(ts, ts[1:])]
    if len(iv) < 300:
        return None, "strace shows %d deadlines\nrc=%d %s" % (
            len(ts), p.returncode, p.stderr[-2000:])
    mean = statistics.mean(iv)
    cv = statistics.pstdev(iv) / mean
    want = 1e9 / 300
    if poisson:
        s = sorted(iv)
        k = len(s)
        ks = max(max((i + 1) / k - (1 - math.exp(-v / mean)),
                     (1 - math.exp(-v / mean)) - i / k)
                 for i, v in enumerate(s))
        return (mean / want, cv, ks * math.sqrt(k)), \
            "%d intervals: mean %.2f ms, cv %.2f, KS %.3f" % (
                k, mean / 1e6, cv, ks)
    period = int(1e9 / 300)
    off = [v for v in iv if v % period]
    ones = sum(1 for v in iv if v == period)
    return (len(off), ones / len(iv)), \
        "%d intervals, %d of one period, %d off the grid, cv %.3f: %s" % (
            len(iv), ones, len(off), cv, off[:10])


def check_behind(tap, it, d):
    name = common.label(it)
    r = common.run(["record", "-r", "50000", "-o",
                    os.path.join(d, "behind.folded"), "--", it.path, MODES,
                    "deep", "3", "300"], timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if "falling behind" in ln]
    summary = [ln for ln in r.stderr.splitlines()
               if re.match(r"psample: \d+ samples in", ln)]
    tap.ok(r.returncode == 0 and 1 <= len(lines) <= 4 and
           all("rate" in ln for ln in lines) and len(summary) == 1 and
           re.search(r"Hz achieved.* \d+ late", summary[0]),
           "%s: -r 50000 on a 300-frame stack for 3 s: 1 to 4 'falling "
           "behind' lines advising a lower rate (%d), then the summary"
           % (name, len(lines)), r.stderr[-3000:])
    # -q is "nothing on stderr" (README), the warning included.
    r = common.run(["record", "-q", "-r", "50000", "-o",
                    os.path.join(d, "behindq.folded"), "--", it.path, MODES,
                    "deep", "2", "300"], timeout=120)
    tap.ok(r.returncode == 0 and r.stderr == "",
           "%s: -q: nothing on stderr, not even 'falling behind'" % name,
           r.stderr[-3000:])


def main():
    tap = common.Tap()
    d = common.tmpdir()
    found, supported = common.interpreters(tap, "modes on")
    for it in supported:
        check_gil(tap, it, d)
        check_alternate(tap, it, d)
        # On a free-threaded build (no GIL holder) <GC> goes on every
        # sampled thread: the workload has one.
        check_gc(tap, it, d)
        check_memory(tap, it, d)
    if not any(it.free_threaded for it in supported):
        tap.skip("--mode gil on a free-threaded build is refused",
                 "no free-threaded interpreter found (add one to "
                 "PSAMPLE_TEST_PYTHONS)")
    gil = [it for it in supported if not it.free_threaded]
    if gil:
        check_memory_formats(tap, gil[-1], d)
        check_memory_convert(tap, gil[-1], d)
        check_poisson(tap, gil[-1], d)
        check_behind(tap, gil[-1], d)
    tap.done()


if __name__ == "__main__":
    main()
