"""Reference line tables for test_linetable.c, from the running interpreter.

Compiles a large part of the interpreter's own stdlib, walks every code
object and prints its raw line table together with the line the
interpreter itself gives to each code unit, so that the C decoder can be
checked against CPython on every instruction.  Runs on CPython 3.8 - 3.15
with the standard library only.

Output, one record per line, fields separated by single spaces:

    V <major.minor.micro> <kind>        first line; kind as in linetable.h
    C <firstlineno> <table hex|-> <runs>

<runs> is the expected line of every code unit, run-length encoded as
comma-separated <line>:<count> (line -1 = no line), or "-" for no code.
Files that do not compile (newer syntax, bad encoding) are reported on
stderr and skipped.

Usage: python gen_linetables.py [file.py ...]   (default: the stdlib set)
"""

import dis
import os
import sys
import tokenize

KIND_LNOTAB, KIND_310, KIND_LOCATIONS = 1, 2, 3

PACKAGES = ("json", "email", "asyncio", "unittest", "http", "xml",
            "collections", "concurrent", "importlib", "logging",
            "multiprocessing", "urllib")


def kind():
    if sys.version_info < (3, 10):
        return KIND_LNOTAB
    if sys.version_info < (3, 11):
        return KIND_310
    return KIND_LOCATIONS


def stdlib_files():
    """Every module directly in Lib, plus a few packages, in stable order."""
    lib = os.path.dirname(os.__file__)
    files = sorted(os.path.join(lib, n) for n in os.listdir(lib)
                   if n.endswith(".py"))
    for pkg in PACKAGES:
        for root, dirs, names in os.walk(os.path.join(lib, pkg)):
            dirs.sort()
            files.extend(os.path.join(root, n) for n in sorted(names)
                         if n.endswith(".py"))
    return files


def code_objects(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            for sub in code_objects(c):
                yield sub


def lines_lnotab(code, units):
    # The line of a unit is that of the last line start at or before it.
    starts = list(dis.findlinestarts(code))
    out = []
    k = 0
    line = code.co_firstlineno
    for i in range(units):
        while k < len(starts) and starts[k][0] <= 2 * i:
            line = starts[k][1]
            k += 1
        out.append(line)
    return out


def lines_310(code, units):
    out = [-1] * units
    for start, end, line in code.co_lines():
        for i in range((start + 1) // 2, (end + 1) // 2):
            if i < units:
                out[i] = -1 if line is None else line
    return out


def lines_locations(code, units):
    out = [-1 if p[0] is None else p[0] for p in code.co_positions()]
    # Units the table does not reach have no line.
    out.extend([-1] * (units - len(out)))
    return out


def encode_runs(lines):
    runs = []
    prev, count = None, 0
    for line in lines:
        if line == prev:
            count += 1
            continue
        if count:
            runs.append("%d:%d" % (prev, count))
        prev, count = line, 1
    if count:
        runs.append("%d:%d" % (prev, count))
    return ",".join(runs) or "-"


def main(argv):
    k = kind()
    table_of = {
        KIND_LNOTAB: lambda c: c.co_lnotab,
        KIND_310: lambda c: c.co_linetable,
        KIND_LOCATIONS: lambda c: c.co_linetable,
    }[k]
    lines_of = {
        KIND_LNOTAB: lines_lnotab,
        KIND_310: lines_310,
        KIND_LOCATIONS: lines_locations,
    }[k]
    out = sys.stdout
    out.write("V %d.%d.%d %d\n" % (sys.version_info[:3] + (k,)))
    for path in argv[1:] or stdlib_files():
        try:
            with tokenize.open(path) as f:
                src = f.read()
            top = compile(src, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeDecodeError, OSError) as e:
            sys.stderr.write("skipped %s: %s\n" % (path, e))
            continue
        for code in code_objects(top):
            table = table_of(code)
            units = len(code.co_code) // 2
            out.write("C %d %s %s\n" % (code.co_firstlineno,
                                        table.hex() or "-",
                                        encode_runs(lines_of(code, units))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
