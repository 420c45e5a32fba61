"""C functions called from Python: time spent in sorted(), hashlib, re.

usage: cfuncs.py SECONDS TRUTH.json

cfuncs_loop calls, per round, c_sorted (sorted() of 2500 floats),
c_sha256 (hashlib.sha256 of 256 KiB, which releases the GIL), c_regex (a
compiled pattern's findall over 12 KB of text) and py_between (a
pure-Python loop of ~100 us, for contrast).  None of them calls Python,
so a sampler without native frames must give each its time as its own.
"""

import hashlib
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acc_common as C  # noqa: E402

pc = C.pc

PAT = re.compile(r"\b(\w+)@(\w+)\.org\b")


def c_sorted(data):
    return sorted(data)


def c_sha256(blob):
    return hashlib.sha256(blob).digest()


def c_regex(text):
    return PAT.findall(text)


def py_between(n):
    s = 0
    for i in range(n):
        s += i
    return s


def cfuncs_loop(seconds, data, blob, text, n):
    start = pc()
    end = start + seconds
    t = {"c_sorted": 0.0, "c_sha256": 0.0, "c_regex": 0.0, "py_between": 0.0}
    calls = 0
    while True:
        t0 = pc()
        c_sorted(data)  # call: c_sorted
        t1 = pc()
        t["c_sorted"] += t1 - t0
        t0 = pc()
        c_sha256(blob)  # call: c_sha256
        t1 = pc()
        t["c_sha256"] += t1 - t0
        t0 = pc()
        c_regex(text)  # call: c_regex
        t1 = pc()
        t["c_regex"] += t1 - t0
        t0 = pc()
        py_between(n)  # call: py_between
        t1 = pc()
        t["py_between"] += t1 - t0
        calls += 1
        if t1 > end:
            break
    return pc() - start, t, calls


def main():
    seconds, out = C.args()
    rnd = random.Random(14)
    data = [rnd.random() for _ in range(2500)]
    blob = bytes(rnd.getrandbits(8) for _ in range(256 * 1024))
    words = ["alpha", "beta", "gamma@delta.org", "x@y.org", "lorem", "ipsum"]
    text = " ".join(rnd.choice(words) for _ in range(1500))[:12000]
    n = C.calibrate(py_between, 100e-6)
    bracket = C.bracket_cost()
    C.ready()
    root, t, calls = cfuncs_loop(seconds, data, blob, text, n)
    fns = {}
    for name, s in t.items():
        fns[name] = {"root": "cfuncs_loop", "seconds": s, "calls": calls,
                     "leaf": True, "mean_us": s / calls * 1e6}
    C.write_truth(out, "cfuncs", os.path.abspath(__file__),
                  {"cfuncs_loop": root}, fns, bracket_s=bracket)


if __name__ == "__main__":
    main()
