"""Shared harness of the end-to-end tests.

The tests drive the real psample binary (env PSAMPLE) against real
interpreters found by tests/pythons.py, and report in TAP so meson and
tools/test count every check.  An interpreter psample does not support
yet is reported as a skipped check naming it, never silently dropped.
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import pythons  # noqa: E402

# Absolute, so a test may run psample in another directory.
PSAMPLE = os.path.abspath(os.environ.get("PSAMPLE") or os.path.join(
    HERE, "..", "..", "build", "psample"))
WORKLOADS = os.path.join(HERE, "workloads")

# Versions (major, minor) psample has a layout for: one entry each in
# src/python/layout.c.
SUPPORTED = {(3, minor) for minor in range(8, 16)}

# Exit codes, as documented in README.md and include/psample/error.h.
EXIT_USAGE = 2
EXIT_NO_PROCESS = 3
EXIT_NOT_PYTHON = 4
EXIT_UNSUPPORTED = 5
EXIT_PERMISSION = 6
EXIT_OUTPUT = 7
EXIT_EXEC = 8

# The folded-line grammar real parsers accept (output-formats.md §4.5).
FOLDED_LINE = re.compile(r"^[^;\r\n]+(;[^;\r\n]+)* [1-9][0-9]*$")


class Tap:
    """Minimal TAP producer: one line per check, plan at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, name))
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[:40]:
                    print("# " + line)
        sys.stdout.flush()
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why))
        sys.stdout.flush()

    def note(self, text):
        print("# " + text)
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


def subset(supported):
    """The interpreters a run with PSAMPLE_TEST_SUBSET=1 tests (tools/test
    sets it for the ASan build, whose end-to-end tests would take too long
    on every interpreter): the oldest, the newest release, the newest
    debug and the newest free-threaded build, each as far as found."""
    def newest(cands):
        return cands[-1:] if cands else []
    picks = supported[:1]
    picks += newest([i for i in supported
                     if not i.debug and not i.free_threaded])
    picks += newest([i for i in supported if i.debug])
    picks += newest([i for i in supported if i.free_threaded])
    return [i for i in supported if i in picks]


def interpreters(tap, what=None):
    """Every interpreter found, and the ones to test: those psample
    supports (only subset() of them under PSAMPLE_TEST_SUBSET=1).  With
    what ("record on"), each other one is reported as a skipped check
    "<what> <interpreter>", so a missing version is visible."""
    found = pythons.discover(min_version=(3, 8))
    supported = []
    for it in found:
        if tuple(it.version[:2]) in SUPPORTED:
            supported.append(it)
        elif what:
            tap.skip("%s %s" % (what, label(it)),
                     "psample does not support %d.%d yet" % it.version[:2])
    if not supported:
        tap.ok(False, "a supported interpreter was found",
               "found: %s" % [i.path for i in found])
    if os.environ.get("PSAMPLE_TEST_SUBSET") == "1":
        chosen = subset(supported)
        for it in supported:
            if it not in chosen and what:
                tap.skip("%s %s" % (what, label(it)),
                         "not in PSAMPLE_TEST_SUBSET's oldest, newest, "
                         "debug and free-threaded")
        supported = chosen
    return found, supported


def judged(tap, name, measure, ok, runs=3):
    """A statistical check: one that a correct psample passes only most
    of the time (samples are a random draw; a loaded machine delays
    reads).  measure(i) -> (value, text) makes run i (0, 1, ...);
    ok(value) says whether that run passes (value None: it could not
    measure).  A run that fails is followed by runs - 1 more, and the
    check passes when most runs pass: for a one-sided bound, the median
    run is judged.  With the bounds taken where one run fails with
    probability p, the check fails with about 3p^2 (two of three): under
    one in a thousand for p up to 1.5 %.  Each check says, by its
    bound, how the bound was chosen from measured spreads.  Returns
    whether it passed."""
    values, texts = [], []
    for i in range(runs):
        value, text = measure(i)
        values.append(value)
        texts.append(text)
        if i == 0 and value is not None and ok(value):
            break
    good = sum(1 for v in values if v is not None and ok(v))
    return tap.ok(2 * good > len(values), "%s (%s)" % (
        name, ", ".join(_shown(v) for v in values)), "\n".join(texts))


def _shown(v):
    if v is None:
        return "-"
    if isinstance(v, tuple):
        return "/".join(_shown(x) for x in v)
    return "%.3g" % v if isinstance(v, float) else str(v)


class Runs:
    """The runs of one measurement, made when first asked for, so that
    checks judging different figures of a run share it: runs(i) is
    make()'s result for run i; first, if given, is run 0."""

    def __init__(self, make, first=None):
        self.make = make
        self.done = [first] if first is not None else []

    def __call__(self, i):
        while len(self.done) <= i:
            self.done.append(self.make())
        return self.done[i]

    def part(self, k):
        """A measure for judged(): figure k of run i's value."""
        def measure(i):
            value, text = self(i)
            return (None if value is None else value[k]), text
        return measure


def ratio_truth(path):
    """{"a": %, "b": %, "c": %}: the split of its time workloads/ratio.py
    measured itself and wrote to path (PSAMPLE_TRUTH), or None."""
    try:
        with open(path) as f:
            spent = json.load(f)
        total = sum(spent[k] for k in "abc")
        return {k: 100.0 * spent[k] / total for k in "abc"}
    except (OSError, ValueError, KeyError, ZeroDivisionError):
        return None


def py_name(it, qualname):
    """The name psample shows for a function: its qualified name where
    the version records one (3.11+), else the bare co_name."""
    if tuple(it.version[:2]) >= (3, 11):
        return qualname
    return qualname.rsplit(".", 1)[-1]


def label(it):
    flags = [f for f in ("debug", "free_threaded", "shared")
             if getattr(it, f)]
    return "%s %s%s" % (".".join(map(str, it.version[:3])), it.path,
                        " (%s)" % ",".join(flags) if flags else "")


def run(args, timeout=60, **kw):
    """Run psample with args; returns CompletedProcess (text)."""
    return subprocess.run([PSAMPLE] + args, capture_output=True, text=True,
                          timeout=timeout, **kw)


class Target:
    """A Python workload started in the background; killed on exit.

    The workload prints "ready" (after any setup it reports on) so the
    test never samples an interpreter that is still starting; words after
    it on that line are kept in .ready.  prefix runs the interpreter
    through another command (unshare ...)."""

    def __init__(self, python, script, *args, ready=True, settle=0.0,
                 env=None, prefix=()):
        self.ready = []
        self.proc = subprocess.Popen(
            list(prefix) + [python, os.path.join(WORKLOADS, script)] +
            list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, **env) if env else None)
        self.lines = []
        if ready:
            deadline = time.time() + 30
            while time.time() < deadline:
                line = self.proc.stdout.readline()
                if not line:
                    break
                words = line.split()
                if words[:1] == ["ready"]:
                    self.ready = words[1:]
                    break
                line = line.strip()
                self.lines.append(line)
            else:
                raise RuntimeError("workload did not get ready")
        # "ready" is printed just before the workload parks: give its
        # threads time to get from the print to where they wait.
        time.sleep(settle)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Tmux:
    """A tmux server on a private socket and one session in it, as the
    tests that drive psample in a terminal use them.  last is the screen
    wait_for() saw last."""

    def __init__(self, name, session):
        self.socket = "%s-%d" % (name, os.getpid())
        self.session = session
        self.last = ""

    def __call__(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null"]
                              + list(args), capture_output=True, text=True,
                              check=check, timeout=30)

    def screen(self):
        return self("capture-pane", "-p", "-t", self.session).stdout

    def send(self, *keys):
        self("send-keys", "-t", self.session, *keys)

    def wait_for(self, pred, timeout=15.0):
        """The first screen pred accepts, or None (the last in .last)."""
        deadline = time.time() + timeout
        while True:
            s = self.screen()
            self.last = s
            if pred(s):
                return s
            if time.time() >= deadline:
                return None
            time.sleep(0.2)


def read_folded(path):
    """[(frames list, count)] and a list of malformed lines."""
    stacks, bad = [], []
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return [], ["invalid UTF-8: %s" % e]
    for line in text.split("\n"):
        if not line:
            continue
        if not FOLDED_LINE.match(line):
            bad.append(line)
            continue
        stack, count = line.rsplit(" ", 1)
        stacks.append((stack.split(";"), int(count)))
    return stacks, bad


def frame_name(frame):
    """'qualname (path:line)' -> qualname"""
    return frame.rsplit(" (", 1)[0]


def frame_loc(frame):
    """'qualname (path:line)' -> (path, line)"""
    m = re.search(r" \((.*):(\d+|\?)\)$", frame)
    return (m.group(1), m.group(2)) if m else (None, None)


def marker_lines(path):
    """{marker: line number} for '# @name' comments in a workload."""
    out = {}
    with open(path) as f:
        for i, line in enumerate(f, 1):
            m = re.search(r"# @(\w+)", line)
            if m:
                out[m.group(1)] = i
    return out


_TMPDIRS = []


@atexit.register
def _remove_tmpdirs():
    # PSAMPLE_KEEP_TMP=1 keeps a failed run's profiles for a look.
    if os.environ.get("PSAMPLE_KEEP_TMP") != "1":
        for d in _TMPDIRS:
            shutil.rmtree(d, ignore_errors=True)


def tmpdir():
    """A scratch directory, removed when the test program exits."""
    d = tempfile.mkdtemp(prefix="psample-e2e-")
    _TMPDIRS.append(d)
    return d


def wait_exit(proc, timeout):
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def shapes_script(d):
    """workloads/shapes.py copied into a directory whose name holds ';'
    and a space (paths like that must survive every format)."""
    sub = os.path.join(d, "we;ird dir")
    os.makedirs(sub, exist_ok=True)
    dst = os.path.join(sub, "shapes.py")
    shutil.copy(os.path.join(WORKLOADS, "shapes.py"), dst)
    return dst


def record_shapes(d, it, fmt, out, seconds=2, rate=500, extra=()):
    """Record shapes.py under interpreter it into out with format(s) fmt.
    Returns (CompletedProcess, script path)."""
    script = shapes_script(d)
    args = ["record", "-r", str(rate), "-f", fmt, "-o", out]
    args += list(extra) + ["--", it.path, script, str(seconds)]
    return run(args, timeout=120), script
