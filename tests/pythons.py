"""Discovery of the CPython interpreters the tests run against.

Shared by the unit tests (through the CLI) and the end-to-end tests (as a
module).  Interpreters are looked for on PATH, in pyenv's versions
directory, in /usr/bin and /usr/local/bin, in the bin folder of tools/setup's
cache (${XDG_CACHE_HOME:-~/.cache}/psample-test/bin: wrappers that run
Debian sid's interpreters in a chroot, and the free-threaded build), and in
PSAMPLE_TEST_PYTHONS (colon-separated paths).  With PSAMPLE_TEST_ONLY=1,
only in PSAMPLE_TEST_PYTHONS.  Each distinct binary (by realpath) is run
once to learn its version and build flags.

    from pythons import discover
    for interp in discover(min_version=(3, 8)): ...

CLI: python3 tests/pythons.py [--min X.Y]
prints "path<TAB>major.minor.micro<TAB>flags" per interpreter, sorted by
version; flags is a comma-separated subset of debug, ft (free-threaded),
shared (the interpreter runs from a shared libpython), wrapped (a script
that runs it, see Interp), or "-".
"""

import collections
import glob
import os
import re
import shutil
import subprocess
import sys

# wrapped: path is a script that runs the interpreter (in tools/setup's
# chroot), not the interpreter's own file.
Interp = collections.namedtuple(
    "Interp", "path version version_str debug free_threaded shared wrapped",
    defaults=(False,))

MINORS = range(6, 16)

# Interpreter binaries only: not python3.X-config, python3.X-gdb.py, ...
_NAME = re.compile(r"^python3(\.\d+(d|t|td|-dbg)?)?$")

# Kept compatible with old interpreters so that they are reported and
# excluded by version rather than failing.
_PROBE = r"""
import sys, sysconfig
v = sys.version_info
print("%d.%d.%d" % (v[0], v[1], v[2]))
print(sys.version.replace("\n", " "))
print(int(hasattr(sys, "gettotalrefcount")))
print(int(bool(sysconfig.get_config_var("Py_GIL_DISABLED"))))
shared = bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))
try:
    # Debian builds libpython but links its python3.X statically, while
    # still saying Py_ENABLE_SHARED=1: what is mapped is what counts.
    with open("/proc/self/maps") as f:
        shared = "/libpython3" in f.read()
except (IOError, OSError):
    pass
print(int(shared))
"""


def _is_script(path):
    # pyenv shims and similar wrappers: running them works, but their
    # realpath says nothing about which interpreter they pick.
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return True


def _pyenv_roots():
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=30,
                                 universal_newlines=True)
            if out.returncode == 0 and out.stdout.strip():
                roots.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    roots.append(os.path.expanduser("~/.pyenv"))
    return roots


def setup_bin():
    """Where tools/setup puts the interpreters it makes."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(
        "~/.cache")
    return os.path.join(cache, "psample-test", "bin")


def expected():
    """Paths of the interpreters tools/setup was asked to make (its list
    CACHE/bin/expected), so that one it failed to make is noticed."""
    try:
        with open(os.path.join(setup_bin(), "expected")) as f:
            return [os.path.join(setup_bin(), n.strip()) for n in f
                    if n.strip()]
    except OSError:
        return []


def _candidates():
    """(path, explicit) to try, most explicit first; may contain
    duplicates.  Explicit ones may be scripts and have any name."""
    env = os.environ.get("PSAMPLE_TEST_PYTHONS", "")
    for p in env.split(":"):
        if p:
            yield p, True
    if os.environ.get("PSAMPLE_TEST_ONLY") == "1":
        return
    # tools/setup's wrappers are scripts: trusted like explicit paths,
    # but named like interpreters.
    for p in sorted(glob.glob(os.path.join(setup_bin(), "python3*"))):
        if _NAME.match(os.path.basename(p)):
            yield p, True
    for name in ["python3"] + ["python3.%d" % x for x in MINORS]:
        p = shutil.which(name)
        if p:
            yield p, False
    for root in _pyenv_roots():
        for p in sorted(glob.glob(os.path.join(root, "versions", "*",
                                               "bin", "python3*"))):
            yield p, False
    for d in ("/usr/bin", "/usr/local/bin"):
        for p in sorted(glob.glob(os.path.join(d, "python3*"))):
            yield p, False


def _probe(path):
    try:
        out = subprocess.run([path, "-c", _PROBE], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=60,
                             universal_newlines=True)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.splitlines()
    if out.returncode != 0 or len(lines) != 5:
        return None
    try:
        version = tuple(int(x) for x in lines[0].split("."))
        flags = [bool(int(x)) for x in lines[2:5]]
    except ValueError:
        return None
    return Interp(path, version, lines[1], *flags, wrapped=_is_script(path))


_cache = None


def _all():
    global _cache
    if _cache is not None:
        return _cache
    seen = set()
    found = []
    for path, explicit in _candidates():
        path = os.path.abspath(path)
        if not explicit and not _NAME.match(os.path.basename(path)):
            continue
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        if not explicit and _is_script(path):
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        interp = _probe(path)
        if interp:
            found.append(interp)
    found.sort(key=lambda i: (i.version, i.debug, i.free_threaded, i.path))
    _cache = found
    return found


def discover(min_version=(3, 8)):
    """Interpreters of at least min_version, sorted by version."""
    return [i for i in _all() if i.version[:len(min_version)] >= min_version]


def flags(interp):
    f = [name for name, on in (("debug", interp.debug),
                               ("ft", interp.free_threaded),
                               ("shared", interp.shared),
                               ("wrapped", interp.wrapped)) if on]
    return ",".join(f) or "-"


def main(argv):
    min_version = (3, 8)
    if len(argv) == 3 and argv[1] == "--min":
        min_version = tuple(int(x) for x in argv[2].split("."))
    elif len(argv) != 1:
        sys.stderr.write("usage: %s [--min X.Y]\n" % argv[0])
        return 2
    for i in discover(min_version):
        print("%s\t%s\t%s" % (i.path, ".".join(map(str, i.version)),
                              flags(i)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
