"""End-to-end: every kind of CPython install a user points psample at.

For each interpreter found (tests/pythons.py): psample names its exact
version and the file the interpreter lives in (libpython for a shared
build, the executable for a static one).  Then the installs that move
files around: a virtual environment (a symlinked executable), and a
process in a private mount namespace whose interpreter path does not
exist outside it, so psample must read it through /proc/PID/root.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import common
import pythons

IDLE = os.path.join(common.WORKLOADS, "idle.py")


def dump_json(pid):
    r = common.run(["dump", "--pid", str(pid), "--json"])
    if r.returncode != 0:
        return None, r.stderr
    return json.loads(r.stdout), r.stderr


def waiting_stack(doc, script):
    """(function, file, line) of the thread waiting in idle.py."""
    for th in doc["threads"]:
        frames = th["frames"]
        if frames and frames[0]["qualname"] == "wait_here":
            return [(f["qualname"], f["file"], f["line"]) for f in frames]
    return None


def expected_idle(script):
    m = common.marker_lines(IDLE)
    return [("wait_here", script, m["wait"]),
            ("<module>", script, m["call"])]


def check_identity(tap, it):
    name = common.label(it)
    with common.Target(it.path, "idle.py", settle=0.2) as t:
        doc, err = dump_json(t.pid)
        maps = open("/proc/%d/maps" % t.pid).read()
        exe = os.path.realpath("/proc/%d/exe" % t.pid)
    if not tap.ok(doc is not None, "%s: dump works" % name, err):
        return
    want = ".".join(map(str, it.version[:3]))
    tap.ok(doc["python"] == want,
           "%s: psample names the version %s" % (name, want),
           "psample says %r" % doc["python"])
    binary = doc["binary"]
    if it.shared:
        ok = os.path.basename(binary).startswith("libpython") and \
            binary in maps
    else:
        ok = os.path.realpath(binary) == exe
    tap.ok(ok, "%s: reads %s from %s" % (
        name, "the shared libpython" if it.shared else "the executable",
        binary))


def check_venv(tap, it):
    name = common.label(it)
    with tempfile.TemporaryDirectory(prefix="psample-venv-") as d:
        env_dir = os.path.join(d, "venv")
        r = subprocess.run([it.path, "-m", "venv", "--without-pip", env_dir],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            tap.skip("venv of %s" % name,
                     "python -m venv failed: %s" % r.stderr.strip()[-200:])
            return
        py = os.path.join(env_dir, "bin", "python")
        tap.ok(os.path.islink(py), "venv of %s: bin/python is a symlink"
               % name)
        with common.Target(py, "idle.py", settle=0.2) as t:
            doc, err = dump_json(t.pid)
        if not tap.ok(doc is not None, "venv of %s: dump works" % name, err):
            return
        got = waiting_stack(doc, IDLE)
        tap.ok(got == expected_idle(IDLE),
               "venv of %s: the exact stack" % name,
               "got %s" % got)


UNSHARE_SCRIPT = r"""
set -e
mount -t tmpfs psample-ns /mnt
mkdir -p /mnt/psns/prefix
mount --bind "$PREFIX" /mnt/psns/prefix
cp "$SCRIPT" /mnt/psns/idle.py
if [ -n "$LIBDIR" ]; then
    export LD_LIBRARY_PATH="/mnt/psns/prefix/$LIBDIR"
fi
export PYTHONHOME="$HOME_IN"
exec "/mnt/psns/prefix/$EXE" /mnt/psns/idle.py
"""


def check_namespace(tap, it):
    """Run it inside `unshare -m`, from paths only that namespace has."""
    name = common.label(it)
    what = "mount namespace, %s" % name
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or not unshare:
        tap.skip(what, "needs root and unshare (util-linux)")
        return
    probe = subprocess.run([unshare, "-m", "--propagation", "private",
                            "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        tap.skip(what, "unshare -m is not allowed here: %s"
                 % probe.stderr.strip()[-200:])
        return
    exe = os.path.realpath(it.path)
    prefix = os.path.dirname(os.path.dirname(exe))  # .../bin/python -> ...
    env = dict(os.environ, PREFIX=prefix, SCRIPT=IDLE,
               EXE=os.path.relpath(exe, prefix), LIBDIR="")
    if it.shared:
        env["LIBDIR"] = "lib"
    # Where the stdlib is, seen from inside: the bind mount of prefix.
    stdlib_home = subprocess.check_output(
        [it.path, "-c", "import sys; print(sys.base_prefix)"],
        text=True).strip()
    if os.path.commonpath([stdlib_home, prefix]) == prefix:
        env["HOME_IN"] = "/mnt/psns/prefix" + stdlib_home[len(prefix):]
    else:
        env["HOME_IN"] = stdlib_home
    p = subprocess.Popen([unshare, "-m", "--propagation", "private",
                          "sh", "-c", UNSHARE_SCRIPT],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        line = p.stdout.readline().strip()
        if line != "ready":
            tap.ok(False, "%s: the workload starts" % what,
                   p.stderr.read() if p.poll() is not None else line)
            return
        time.sleep(0.2)
        seen = os.readlink("/proc/%d/exe" % p.pid)
        tap.ok(seen.startswith("/mnt/psns/") and
               not os.path.exists("/mnt/psns"),
               "%s: the interpreter path exists only inside (%s)"
               % (what, seen))
        doc, err = dump_json(p.pid)
        if not tap.ok(doc is not None, "%s: dump works" % what, err):
            return
        if it.shared:
            tap.ok(doc["binary"].startswith("/mnt/psns/prefix/lib/"),
                   "%s: libpython read through /proc/PID/root" % what,
                   "binary %s" % doc["binary"])
        got = waiting_stack(doc, "/mnt/psns/idle.py")
        tap.ok(got == expected_idle("/mnt/psns/idle.py"),
               "%s: the exact stack" % what, "got %s" % got)
        r = common.run(["attach", "--pid", str(p.pid), "-d", "1", "-r", "50",
                        "-f", "folded", "-o", "-", "--quiet"])
        tap.ok(r.returncode == 0 and "wait_here (/mnt/psns/idle.py:" in
               r.stdout, "%s: attach samples it" % what,
               "rc=%d %s" % (r.returncode, r.stderr))
    finally:
        p.kill()
        p.wait()


def check_chroot(tap, it):
    """Run it chrooted into tools/setup's Debian chroot, its prefix bound
    there at the same path, as the chroot's own interpreters run: from
    outside, /proc/PID/maps names its libpython under the chroot's
    folder while /proc/PID/root is that folder."""
    what = "chroot, %s" % common.label(it)
    bin_dir = pythons.setup_bin()
    sid = os.path.join(os.path.dirname(bin_dir), "sid")
    mount = os.path.join(bin_dir, "sid-mount")
    if os.geteuid() != 0 or not os.path.exists(
            os.path.join(sid, ".psample-complete")) or \
            not os.path.exists(mount):
        tap.skip(what, "needs root and tools/setup's chroot (%s)" % sid)
        return
    exe = os.path.realpath(it.path)
    prefix = os.path.dirname(os.path.dirname(exe))
    r = subprocess.run([mount, prefix, common.WORKLOADS],
                       capture_output=True, text=True, timeout=60)
    if not tap.ok(r.returncode == 0, "%s: its prefix is bound into the "
                  "chroot" % what, r.stderr):
        return
    p = subprocess.Popen(["chroot", sid, exe, IDLE], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()
        if not tap.ok(line == "ready", "%s: the workload starts" % what,
                      p.stderr.read() if p.poll() is not None else line):
            return
        time.sleep(0.2)
        doc, err = dump_json(p.pid)
        if not tap.ok(doc is not None, "%s: dump works" % what, err):
            return
        tap.ok(doc["binary"].startswith(sid + "/"),
               "%s: %s read from the chroot's folder" % (
                   what, "libpython" if it.shared else "the executable"),
               "binary %s" % doc["binary"])
        got = waiting_stack(doc, IDLE)
        tap.ok(got == expected_idle(IDLE), "%s: the exact stack" % what,
               "got %s" % got)
    finally:
        p.kill()
        p.wait()


def check_expected(tap, found):
    """Each interpreter tools/setup was asked to make is found: a set-up
    that failed (no network, say) fails here rather than leaving the
    tests to run on fewer versions unnoticed."""
    if os.environ.get("PSAMPLE_TEST_ONLY") == "1":
        tap.skip("the interpreters from tools/setup are found",
                 "PSAMPLE_TEST_ONLY=1 picks the interpreters")
        return
    got = {os.path.abspath(i.path) for i in found}
    for path in pythons.expected():
        tap.ok(os.path.abspath(path) in got,
               "%s from tools/setup is found" % os.path.basename(path),
               "%s does not run; run tools/setup again and read what it "
               "says (or PSAMPLE_SETUP_PYTHONS=0 tools/setup to do without "
               "it)" % path)


def main():
    tap = common.Tap()
    found, supported = common.interpreters(tap, "versions on")
    check_expected(tap, found)
    for it in supported:
        check_identity(tap, it)
    # One static and one shared interpreter, as far as found, for the
    # installs that move files around.
    picks = []
    for want_shared in (False, True):
        # Not a chroot's interpreter: its venv links point into the
        # chroot, and its wrapper is no interpreter file to move around.
        cands = [i for i in supported if i.shared == want_shared and
                 not i.debug and not i.wrapped]
        if cands:
            picks.append(cands[-1])
        else:
            tap.skip("venv and namespace with a %s libpython" %
                     ("shared" if want_shared else "static"),
                     "no such interpreter found")
    shared = [i for i in picks if i.shared]
    if shared:
        check_chroot(tap, shared[-1])
    else:
        tap.skip("chroot with a shared libpython", "none found")
    for it in picks:
        check_venv(tap, it)
        check_namespace(tap, it)
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
