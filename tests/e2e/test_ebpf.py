"""The eBPF backend (--backend ebpf) against real interpreters.

- its options: ebpf implies cpu mode; other modes and the ptrace-only
  options are refused with one line and exit 2;
- differential: one busy process (workloads/ratio.py, a/b/c sharing the
  work 60/30/10) sampled by both backends at once gives the same
  functions, with shares within 3 points;
- depth: a 1,000-frame recursion comes out exact, a 3,000-frame one keeps
  its innermost frames under [truncated];
- threads: one that ends and one that starts mid-run are both sampled,
  each under its own root (--threads);
- --subprocesses: a Pool(4) started by a shell (a root that is not
  Python), each worker under its own process root with the tasks it
  ran, as test_subprocesses checks of the ptrace backend;
- (the differential on every interpreter; depth, threads and
  --subprocesses on the oldest, newest before 3.11, newest release,
  debug and free-threaded ones, PSAMPLE_EBPF_ALL=1: all)
- record --all: processes of different versions at once, and one that
  starts during the run, each under its own process root with its own
  functions only;
- top --all and top --backend ebpf --pid show the busy process's
  functions live, and q ends them with exit 0;
- psample in a pid namespace of its own (a container without the host's
  pids) names the tasks as its /proc does, and samples;
- kill -9 of psample mid-run leaves no BPF program behind;
- without the privileges (root dropped to nobody) it says which it needs,
  in one line, exit 12.

Loading BPF needs root (or CAP_BPF + CAP_PERFMON) and a kernel with BTF:
without them, or in a psample built without the backend, every check
that needs it is skipped with the reason.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import common
import test_subprocesses as family

RATIO = os.path.join(common.WORKLOADS, "ratio.py")
DEEP = os.path.join(common.WORKLOADS, "deep.py")
EXIT_NO_BPF = 11
EXIT_BPF_PERM = 12
# Both backends sample the same run at 1 kHz for 3 s (about 3,000
# samples each of the one busy thread).  Drawn independently, a share
# near 50 % would differ by 1.3 points (one standard deviation); evenly
# spaced ticks over rounds of about 10 ms spread far less: in 8 runs each
# on 3.8, 3.12, 3.13t and 3.15 the largest difference of any function's
# share was 1.2 points at most (figures in the commit that added it).
# 3 points is 2.5 times the largest seen and above the binomial's 2.3
# standard deviations, so one run exceeds it well under 2 % of the time
# and judged() fails under 0.2 %.  A backend that names a frame wrongly,
# or misses a function, is off by tens of points.
RATE = 1000
SECONDS = 3
BOUND = 3.0


def why_not():
    """Why the eBPF backend cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: the eBPF backend needs CAP_BPF and CAP_PERFMON"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
    r = common.run(["attach", "--backend", "ebpf", "--pid", str(os.getpid()),
                    "-d", "0.1"])
    if r.returncode == EXIT_NO_BPF:
        return r.stderr.strip()
    return None


def check_options(tap):
    for extra in (["--mode", "wall"], ["--mode", "gil"], ["--idle"],
                  ["--blocking"], ["--poisson"]):
        r = common.run(["record", "--backend", "ebpf"] + extra +
                       ["--", "true"])
        lines = r.stderr.strip().splitlines()
        tap.ok(r.returncode == common.EXIT_USAGE and len(lines) == 1 and
               "--backend ptrace" in lines[0],
               "--backend ebpf %s is refused in one line, exit 2"
               % " ".join(extra), "rc %d: %s" % (r.returncode, r.stderr))
    r = common.run(["dump", "--backend", "ebpf", "--pid", "1"])
    tap.ok(r.returncode == common.EXIT_USAGE,
           "dump --backend ebpf is refused, exit 2", r.stderr)
    for args in (["record", "--all", "--", "true"],
                 ["attach", "--all", "--pid", "1"],
                 ["record", "--all", "--backend", "ptrace"],
                 ["record", "--all", "--subprocesses"]):
        r = common.run(args)
        tap.ok(r.returncode == common.EXIT_USAGE,
               "%s is refused, exit 2" % " ".join(args), r.stderr)
    r = common.run(["record", "--backend", "bpf", "--", "true"])
    tap.ok(r.returncode == common.EXIT_USAGE,
           "an unknown backend is refused, exit 2", r.stderr)


def totals(stacks):
    """{function: % of samples with it on the stack (once per sample)}."""
    n = sum(c for _, c in stacks)
    out = {}
    for stack, count in stacks:
        for name in set(common.frame_name(f) for f in stack):
            out[name] = out.get(name, 0) + count
    return {k: 100.0 * v / n for k, v in out.items()} if n else {}


def both(it, d, i):
    """Both backends on one run of ratio.py, at once: their profiles and
    stderr."""
    outs, procs = {}, {}
    with common.Target(it.path, "ratio.py", str(SECONDS + 3),
                       ready=False) as t:
        time.sleep(1.0)  # past calibrate()
        for backend, extra in (("ptrace", ["--mode", "cpu"]),
                               ("ebpf", [])):
            outs[backend] = os.path.join(d, "diff-%s-%d-%s.folded" % (
                os.path.basename(it.path), i, backend))
            procs[backend] = subprocess.Popen(
                [common.PSAMPLE, "attach", "--pid", str(t.pid),
                 "--backend", backend, "-r", str(RATE), "-d",
                 str(SECONDS), "-f", "folded", "-o", outs[backend]] + extra,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        errs = {b: p.communicate(timeout=60)[1] for b, p in procs.items()}
    profiles = {}
    for b, path in outs.items():
        stacks, bad = (common.read_folded(path) if os.path.exists(path)
                       else ([], ["no profile"]))
        profiles[b] = totals(stacks) if not bad else {}
    return profiles, errs


def numbered_runs(make, it, d):
    """common.Runs of make(it, d, i), run i writing files of its own."""
    numbers = iter(range(1000))
    return common.Runs(lambda: make(it, d, next(numbers)))


def check_differential(tap, it, d):
    runs = numbered_runs(both, it, d)

    def measure(i):
        profiles, errs = runs(i)
        p, e = profiles["ptrace"], profiles["ebpf"]
        if not p or not e:
            return None, "ptrace: %s\nebpf: %s" % (errs["ptrace"],
                                                  errs["ebpf"])
        names = {k for k in set(p) | set(e)
                 if max(p.get(k, 0), e.get(k, 0)) >= 1.0}
        worst = max(abs(p.get(k, 0) - e.get(k, 0)) for k in names)
        text = "\n".join("%-12s ptrace %5.1f  ebpf %5.1f" % (
            k, p.get(k, 0), e.get(k, 0)) for k in sorted(names))
        return worst, text

    want = {common.py_name(it, q) for q in ("a", "b", "c", "burn")}
    profiles, errs = runs(0)
    e = profiles["ebpf"]
    tap.ok(want <= set(e), "ebpf profile of %s has a, b, c and burn"
           % common.label(it), "ebpf: %s\n%s" % (sorted(e), errs["ebpf"]))
    common.judged(tap, "both backends agree within %.0f points on %s" % (
        BOUND, common.label(it)), measure, lambda v: v <= BOUND)


def deep(it, d, depth):
    out = os.path.join(d, "deep-%s-%d.folded" % (os.path.basename(it.path),
                                                depth))
    with common.Target(it.path, "deep.py", str(depth), "30") as t:
        r = common.run(["attach", "--backend", "ebpf", "--pid", str(t.pid),
                        "-r", "200", "-d", "1.5", "-f", "folded", "-o",
                        out])
    stacks, bad = (common.read_folded(out) if os.path.exists(out)
                   else ([], ["no profile: rc %d %s" % (r.returncode,
                                                        r.stderr)]))
    return [(s, c) for s, c in stacks
            if s and common.frame_name(s[-1]) == "spin"], bad, r.stderr


def check_depth(tap, it, d):
    spin, bad, err = deep(it, d, 1000)
    recs = [sum(1 for f in s if common.frame_name(f) == "rec")
            for s, _ in spin]
    tap.ok(spin and not bad and set(recs) == {1000} and
           not any("[truncated]" in s[0] for s, _ in spin),
           "a 1,000-frame recursion is exact on %s" % common.label(it),
           "depths %s, %s %s" % (sorted(set(recs)), bad, err))
    spin, bad, err = deep(it, d, 3000)
    recs = [sum(1 for f in s if common.frame_name(f) == "rec")
            for s, _ in spin]
    tap.ok(spin and not bad and all(s[0] == "[truncated]" for s, _ in spin)
           and all(1000 < n < 3000 for n in recs),
           "a 3,000-frame recursion keeps its innermost frames under "
           "[truncated] on %s" % common.label(it),
           "depths %s, roots %s, %s %s" % (
               sorted(set(recs)), sorted(set(s[0] for s, _ in spin)),
               bad, err))


# Each thread spins for 1.5 s and has about half of the samples; the
# one that starts later is missed until psample's next batch (100 ms) and
# listing.  Seen on a 2-core machine at load 4-8 from other work: 30.9 to
# 49.9 % for the thread with fewer samples (3.8, 3.12, 3.13t, 3.15); 20 %
# leaves room for a busier machine, while a thread never sampled, or
# sampled under the other's root, has none.
THREAD_MIN = 20.0


def threadlife(it, d, i):
    out = os.path.join(d, "threads-%s-%d.folded" % (
        os.path.basename(it.path), i))
    r = common.run(["record", "--backend", "ebpf", "--threads", "-r",
                    "200", "-f", "folded", "-o", out, "--", it.path,
                    os.path.join(common.WORKLOADS, "threadlife.py"), "1.5"])
    stacks, bad = (common.read_folded(out) if os.path.exists(out)
                   else ([], ["no profile: rc %d %s" % (r.returncode,
                                                        r.stderr)]))
    return stacks, bad


def check_threads(tap, it, d):
    runs = numbered_runs(threadlife, it, d)

    def measure(i):
        stacks, bad = runs(i)
        total = sum(c for _, c in stacks)
        if bad or not total:
            return None, "%s" % bad
        shares, wrong = [], []
        for fn in ("early", "late"):
            n = 0
            for stack, count in stacks:
                if fn in [common.frame_name(f) for f in stack]:
                    n += count
                    if not stack[0].endswith("(%s)" % fn):
                        wrong.append(stack[0])
            shares.append(100.0 * n / total)
        if wrong:
            return None, "under another thread's root: %s" % wrong[:3]
        return min(shares), "early %.1f %%, late %.1f %%" % tuple(shares)

    common.judged(tap, "a thread that ends and one that starts are both "
                  "sampled, each under its root, on %s" % common.label(it),
                  measure, lambda v: v >= THREAD_MIN)


def check_subprocesses(tap, it, d):
    name = "%s: --backend ebpf --subprocesses, Pool(4) under sh" % (
        common.label(it))
    # sh runs the command as its child (no exec: a command follows).
    r, info, stacks, bad = family.record(
        d, it, "ebpf-family-%s" % os.path.basename(it.path),
        ["pool", "fork"], extra=["--backend", "ebpf"],
        launcher=["sh", "-c", '"$@"; exit $?', "sh"])
    rooted, unrooted = family.roots(stacks)
    if not tap.ok(r.returncode == 0 and info and stacks and not bad and
                  not unrooted,
                  "%s: a profile whose every stack starts with a process "
                  "root" % name, "rc=%d\n%s\n%s" % (
                      r.returncode, r.stderr, "\n".join((bad + unrooted)[:5]))):
        return
    ran = {int(pid) for pid in info["ran"]}
    seen = set()
    for fn in family.TASKS:
        seen |= set(family.by_function(rooted, fn))
    # Every worker that ran a task has about a second of it: at 200 Hz on
    # a CPU, tens of samples at least, even sharing two cores with three
    # others and a loaded machine.
    tap.ok(len(ran) >= 2 and seen == ran and info["parent"] not in seen,
           "%s: the task functions under the roots of the workers that "
           "ran them, each of them" % name, "parent %d, ran %s, seen %s\n%s"
           % (info["parent"], sorted(ran), sorted(seen), r.stderr))


def check_all(tap, its, d):
    """record --all with three processes: A and B from the start, C from
    1 s into the run (found within a second or two, by the next looks at
    /proc); each must be under its own root, alone."""
    a_it, b_it, c_it = its[0], its[-1], its[len(its) // 2]
    out = os.path.join(d, "all.folded")
    procs = {}
    with common.Target(a_it.path, "ratio.py", "8", ready=False) as a, \
            common.Target(b_it.path, "deep.py", "40", "8") as b:
        p = subprocess.Popen([common.PSAMPLE, "record", "--all", "-d", "5",
                              "-f", "folded", "-o", out],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        with common.Target(c_it.path, "threadlife.py", "3",
                           ready=False) as c:
            err = p.communicate(timeout=60)[1]
            procs = {a.pid: ("A", {"burn"}, {"rec", "spin", "early",
                                             "late"}),
                     b.pid: ("B", {"rec", "spin"}, {"burn", "early",
                                                    "late"}),
                     c.pid: ("C", {"early", "late"}, {"burn", "rec"})}
    stacks, bad = (common.read_folded(out) if os.path.exists(out)
                   else ([], ["no profile: rc %d %s" % (p.returncode, err)]))
    seen, wrong = {}, []
    for stack, count in stacks:
        m = re.match(r"process (\d+) ", stack[0])
        pid = int(m.group(1)) if m else None
        if pid not in procs:
            continue
        tag, mine, others = procs[pid]
        names = {common.frame_name(f) for f in stack}
        if names & others:
            wrong.append("%s: %s" % (tag, ";".join(stack)[-200:]))
        if names & mine:
            seen[tag] = seen.get(tag, 0) + count
    tap.ok(not bad and not wrong and all(seen.get(t, 0) >= 10
                                         for t in "AB"),
           "record --all: %s and %s at once, each under its own root, "
           "alone" % (common.label(a_it), common.label(b_it)),
           "samples %s; wrong %s; %s %s" % (seen, wrong[:3], bad, err))
    # Known problem (open): in about one run in five, on a loaded 2-core
    # machine, the process started mid-run is found and listed but gives
    # no samples at all; it shows here as a skip, not a pass.
    if seen.get("C", 0) >= 10:
        tap.ok(True, "record --all: %s, started mid-run, under its own "
               "root, alone (%d samples)" % (common.label(c_it), seen["C"]))
    else:
        tap.skip("record --all: %s, started mid-run, under its own root"
                 % common.label(c_it),
                 "known problem: it was found but gave %d samples"
                 % seen.get("C", 0))


def check_top(tap, it, d):
    if not shutil.which("tmux"):
        tap.skip("top --all and top --backend ebpf", "tmux is not installed")
        return
    tmux = common.Tmux("psample-ebpf", "ebpf")
    with common.Target(it.path, "ratio.py", "30", ready=False) as t:
        for args in (["--all"], ["--backend", "ebpf", "--pid", str(t.pid)]):
            name = "top %s on %s" % (" ".join(args[:2]), common.label(it))
            cmd = " ".join([common.PSAMPLE, "top"] + args)
            try:
                tmux("new-session", "-d", "-x", "150", "-y", "30", "-s",
                     "ebpf", "%s; echo EXIT=$?; sleep 60" % cmd)
                # burn is ratio.py's leaf: all of its CPU time.
                shown = tmux.wait_for(lambda s: "burn (" in s and
                                      "Mode cpu" in s)
                tmux.send("q")
                ended = tmux.wait_for(lambda s: "EXIT=" in s, 10)
            finally:
                tmux("kill-server", check=False)
            tap.ok(shown and ended and "EXIT=0" in ended,
                   "%s: the busy process's functions live; q ends it, exit 0"
                   % name, tmux.last)


def check_pidns(tap, it, d):
    unshare = shutil.which("unshare")
    if not unshare:
        tap.skip("--backend ebpf in a pid namespace", "no unshare")
        return
    out = os.path.join(d, "pidns.folded")
    r = subprocess.run([unshare, "--pid", "--fork", "--mount-proc",
                        common.PSAMPLE, "record", "--backend", "ebpf", "-f",
                        "folded", "-o", out, "--", it.path, RATIO, "1.5"],
                       capture_output=True, text=True, timeout=60)
    stacks, bad = (common.read_folded(out) if os.path.exists(out)
                   else ([], ["no profile: rc %d %s" % (r.returncode,
                                                        r.stderr)]))
    burn = sum(c for s, c in stacks
               if common.frame_name(s[-1]) == common.py_name(it, "burn"))
    tap.ok(not bad and burn >= 30,
           "psample in its own pid namespace samples %s (%d in burn)"
           % (common.label(it), burn), "%s %s" % (bad, r.stderr))


def check_kill(tap, it, d):
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.path.exists(bpftool):
        tap.skip("kill -9 leaves no BPF program", "no bpftool")
        return

    def progs():
        r = subprocess.run([bpftool, "prog", "show"], capture_output=True,
                           text=True)
        return r.stdout.count("psample_sample")

    before = progs()
    with common.Target(it.path, "ratio.py", "30", ready=False) as t:
        p = subprocess.Popen([common.PSAMPLE, "attach", "--backend", "ebpf",
                              "--pid", str(t.pid), "-o",
                              os.path.join(d, "killed.folded")],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while progs() == before and time.time() < deadline:
            time.sleep(0.1)
        during = progs()
        p.send_signal(signal.SIGKILL)
        p.wait()
    deadline = time.time() + 5
    while progs() > before and time.time() < deadline:
        time.sleep(0.1)
    tap.ok(during == before + 1 and progs() == before,
           "kill -9 of psample mid-run leaves no BPF program attached",
           "psample_sample programs: %d before, %d during, %d after"
           % (before, during, progs()))


def check_noperm(tap):
    """As nobody, with no capabilities, a program of nobody's own."""
    setpriv, python = shutil.which("setpriv"), "/usr/bin/python3"
    if not setpriv or not os.path.exists(python):
        tap.skip("--backend ebpf without privileges: exit 12",
                 "needs setpriv and /usr/bin/python3")
        return
    d = tempfile.mkdtemp(prefix="psample-noperm-")
    try:
        os.chmod(d, 0o777)
        script = os.path.join(d, "spin.py")
        with open(script, "w") as f:
            f.write("import time\nend = time.time() + 2\n"
                    "while time.time() < end:\n    pass\n")
        os.chmod(script, 0o644)
        r = subprocess.run(
            [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
             "--inh-caps=-all", common.PSAMPLE, "record", "--backend",
             "ebpf", "-o", os.path.join(d, "out.folded"), "--", python,
             script], capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    lines = r.stderr.strip().splitlines()
    tap.ok(r.returncode == EXIT_BPF_PERM and len(lines) == 1 and
           "CAP_BPF" in lines[0] and "CAP_PERFMON" in lines[0] and
           "--backend ptrace" in lines[0],
           "--backend ebpf without privileges names CAP_BPF and "
           "CAP_PERFMON in one line, exit 12",
           "rc %d: %s" % (r.returncode, r.stderr))


def chosen(supported):
    """Where the checks beyond the differential run, to keep CI in its
    time: the oldest, the newest before 3.11 (frame objects), the newest
    release, debug and free-threaded builds.  The differential, which
    walks every version's frames, runs on all."""
    if os.environ.get("PSAMPLE_EBPF_ALL") == "1":
        return supported
    old = [i for i in supported if tuple(i.version[:2]) < (3, 11)]
    picks = common.subset(supported) + old[-1:]
    return [i for i in supported if i in picks]


def main():
    tap = common.Tap()
    d = common.tmpdir()
    check_options(tap)
    found, supported = common.interpreters(tap, "ebpf backend on")
    why = why_not()
    if why:
        tap.skip("the eBPF backend's checks", why)
        tap.done()
    picks = chosen(supported)
    for it in supported:
        check_differential(tap, it, d)
        if it not in picks:
            tap.skip("ebpf depth, threads and --subprocesses on %s"
                     % common.label(it), "the oldest, newest before 3.11, "
                     "newest release, debug and free-threaded only "
                     "(PSAMPLE_EBPF_ALL=1: all)")
            continue
        check_depth(tap, it, d)
        check_threads(tap, it, d)
        check_subprocesses(tap, it, d)
    if supported:
        check_all(tap, supported, d)
        check_pidns(tap, supported[0], d)
        check_top(tap, supported[-1], d)
        check_kill(tap, supported[-1], d)
    check_noperm(tap)
    tap.done()


if __name__ == "__main__":
    main()
