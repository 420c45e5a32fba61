"""psample attach: the ways a run ends, and the ways it is refused.

Each ending (Ctrl-C, --duration, the target exiting) must write what was
sampled and exit 0; each refusal (not Python, no such process, an
unsupported version, no permission) must be one line with its own exit
code.
"""
import os
import shutil
import signal
import subprocess
import time

import common
import pythons  # noqa: E402  (on sys.path through common)


def sampled_wait(path):
    stacks, malformed = (common.read_folded(path) if os.path.exists(path)
                         else ([], ["missing"]))
    names = {common.frame_name(f) for s, _ in stacks for f in s}
    return not malformed and "wait_here" in names


def check_endings(tap, it, d):
    name = common.label(it)
    # Ctrl-C.
    with common.Target(it.path, "idle.py") as t:
        out = os.path.join(d, "int.folded")
        p = subprocess.Popen([common.PSAMPLE, "attach", "--pid", str(t.pid),
                              "-o", out], stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        tap.ok(p.returncode == 0 and sampled_wait(out) and
               "samples in" in err and t.proc.poll() is None,
               "%s: SIGINT during attach writes the profile, exits 0 and "
               "leaves the target running" % name,
               "rc=%s\n%s" % (p.returncode, err))
    # --duration.
    with common.Target(it.path, "idle.py") as t:
        out = os.path.join(d, "dur.folded")
        t0 = time.time()
        r = common.run(["attach", "--pid", str(t.pid), "-d", "1", "-o", out],
                       timeout=30)
        took = time.time() - t0
        tap.ok(r.returncode == 0 and sampled_wait(out) and took < 10,
               "%s: --duration 1 stops by itself and writes the profile"
               % name, "rc=%d took %.1fs\n%s" % (r.returncode, took,
                                                  r.stderr))
    # The target exits mid-run.
    with common.Target(it.path, "idle.py", "1.5") as t:
        out = os.path.join(d, "exit.folded")
        r = common.run(["attach", "--pid", str(t.pid), "-o", out],
                       timeout=30)
        tap.ok(r.returncode == 0 and sampled_wait(out),
               "%s: a target that exits mid-run: profile written, exit 0"
               % name, "rc=%d\n%s" % (r.returncode, r.stderr))


def check_refusals(tap, found, supported):
    p = subprocess.Popen(["sleep", "30"])
    try:
        r = common.run(["attach", "--pid", str(p.pid), "-d", "1"])
        tap.ok(r.returncode == common.EXIT_NOT_PYTHON and
               "not a Python" in r.stderr and
               len(r.stderr.splitlines()) == 1,
               "attach to sleep: one line, exit %d" % common.EXIT_NOT_PYTHON,
               "rc=%d %s" % (r.returncode, r.stderr))
    finally:
        p.kill()
        p.wait()

    p = subprocess.Popen(["true"])
    p.wait()
    r = common.run(["attach", "--pid", str(p.pid), "-d", "1"])
    tap.ok(r.returncode == common.EXIT_NO_PROCESS and
           "no such process" in r.stderr and len(r.stderr.splitlines()) == 1,
           "attach to a dead pid: one line, exit %d" % common.EXIT_NO_PROCESS,
           "rc=%d %s" % (r.returncode, r.stderr))

    # Older than 3.8 (pyenv's 3.6 and 3.7 on the CI machines).
    others = [i for i in pythons.discover(min_version=(3, 0))
              if tuple(i.version[:2]) < (3, 8)]
    others += [i for i in found if i not in supported]
    if others:
        it = others[0]
        with common.Target(it.path, "idle.py") as t:
            r = common.run(["attach", "--pid", str(t.pid), "-d", "1"])
            ver = "%d.%d" % it.version[:2]
            tap.ok(r.returncode == common.EXIT_UNSUPPORTED and
                   ver in r.stderr and len(r.stderr.splitlines()) == 1,
                   "attach to unsupported %s: names the version, exit %d"
                   % (ver, common.EXIT_UNSUPPORTED),
                   "rc=%d %s" % (r.returncode, r.stderr))
    else:
        tap.skip("attach to an unsupported version",
                 "no unsupported interpreter found")

    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv or not supported:
        tap.skip("permission denied", "needs root and setpriv")
        return
    with common.Target(supported[0].path, "idle.py") as t:
        r = subprocess.run([setpriv, "--reuid=65534", "--regid=65534",
                            "--clear-groups", common.PSAMPLE, "attach",
                            "--pid", str(t.pid), "-d", "1", "-o",
                            "/tmp/never.folded"],
                           capture_output=True, text=True, timeout=30)
        tap.ok(r.returncode == common.EXIT_PERMISSION and
               "CAP_SYS_PTRACE" in r.stderr and "ptrace_scope" in r.stderr
               and len(r.stderr.splitlines()) == 1,
               "attach without permission: explains the fix, exit %d"
               % common.EXIT_PERMISSION,
               "rc=%d %s" % (r.returncode, r.stderr))


HALFLOAD = os.environ.get("PSAMPLE_HALFLOAD") or os.path.join(
    os.path.dirname(common.PSAMPLE), "tests", "halfload")
LIBPYTHON = ("import os, sysconfig; v = sysconfig.get_config_var; "
             "print(os.path.join(v('LIBDIR'), v('INSTSONAME')))")


def check_half_loaded(tap, it):
    """A process that has mapped libpython but not yet its data, as one
    that has just exec'd is for a moment: psample must wait for it, not
    call its version unsupported (record attaches at that moment, and
    3.13's version came from the file while the live header was not
    there yet)."""
    name = common.label(it)
    lib = subprocess.run([it.path, "-c", LIBPYTHON], capture_output=True,
                         text=True, timeout=30).stdout.strip()
    if not os.path.exists(HALFLOAD) or not os.path.exists(lib):
        tap.skip("%s: a half-loaded libpython" % name,
                 "no halfload helper or libpython (%s)" % lib)
        return
    p = subprocess.Popen([HALFLOAD, lib], stdout=subprocess.PIPE, text=True)
    try:
        ready = p.stdout.readline().strip() == "ready"
        t0 = time.time()
        r = common.run(["attach", "--pid", str(p.pid), "-d", "1"])
        took = time.time() - t0
    finally:
        p.kill()
        p.wait()
    tap.ok(ready and r.returncode == common.EXIT_UNSUPPORTED and
           "cannot read the Python interpreter" in r.stderr and
           "does not support" not in r.stderr and took >= 0.9 and
           len(r.stderr.splitlines()) == 1,
           "%s: a libpython mapped but not yet loaded is waited for, then "
           "named unreadable, not an unsupported version" % name,
           "rc=%d took %.1fs\n%s" % (r.returncode, took, r.stderr))


def main():
    tap = common.Tap()
    d = common.tmpdir()
    found, supported = common.interpreters(tap, "attach on")
    for it in supported:
        check_endings(tap, it, d)
        if it.shared:
            check_half_loaded(tap, it)
    check_refusals(tap, found, supported)
    tap.done()


if __name__ == "__main__":
    main()
