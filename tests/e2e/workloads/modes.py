"""Workloads whose time splits in known ways, for tests/e2e/test_modes.py.

  modes.py alternate SECS   the main thread alternates 200 ms asleep in
                            nap() and 200 ms spinning in spin_chunk()
  modes.py gil SECS         three threads: py_compute() spins in pure
                            Python, sleeper() sleeps, hasher() hashes a
                            16 MB buffer (hashlib releases the GIL)
  modes.py gc SECS          make_cycles() builds reference cycles and
                            collect_cycles() runs gc.collect() on them
  modes.py memory           grow() keeps 1 MB more every 10 ms up to
                            48 MB; churn() allocates and frees 1 MB every
                            10 ms; prints the resident growth of each as
                            JSON (from /proc/self/statm)
  modes.py deep SECS DEPTH  recurses DEPTH frames, then spins
"""
import gc
import hashlib
import json
import os
import sys
import threading
import time


def nap(secs):
    time.sleep(secs)


def spin_chunk(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        pass


def alternate(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        nap(0.2)
        spin_chunk(0.2)


def py_compute(end):
    x = 0
    while time.perf_counter() < end:
        for i in range(1000):
            x += i * i


def sleeper(end):
    while time.perf_counter() < end:
        time.sleep(0.01)


def hasher(end):
    buf = b"\x5a" * (16 << 20)
    while time.perf_counter() < end:
        hashlib.sha256(buf).digest()


def gil(secs):
    end = time.perf_counter() + secs
    threads = [threading.Thread(target=f, args=(end,), name=f.__name__)
               for f in (py_compute, sleeper, hasher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class Node:
    def __init__(self):
        self.peer = None


def make_cycles(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.peer, b.peer = b, a


def collect_cycles():
    gc.collect()


def gc_loop(secs):
    gc.disable()        # every collection is the explicit one
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        make_cycles(20000)
        collect_cycles()


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def grow(kept, steps):
    for _ in range(steps):
        kept.append(b"g" * (1 << 20))
        end = time.perf_counter() + 0.01
        while time.perf_counter() < end:
            pass


def churn(steps):
    for _ in range(steps):
        tmp = b"c" * (1 << 20)
        del tmp
        end = time.perf_counter() + 0.01
        while time.perf_counter() < end:
            pass


def settle(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        pass


def memory():
    kept = []
    settle(0.3)
    r0 = rss()
    grow(kept, 48)
    r1 = rss()
    churn(48)
    r2 = rss()
    settle(0.1)
    print(json.dumps({"grow": r1 - r0, "churn": r2 - r1}), flush=True)


def deep(depth, end):
    if depth > 1:
        return deep(depth - 1, end)
    x = 0
    while time.perf_counter() < end:
        x += 1
    return x


def main(argv):
    what = argv[1]
    if what == "alternate":
        alternate(float(argv[2]))
    elif what == "gil":
        gil(float(argv[2]))
    elif what == "gc":
        gc_loop(float(argv[2]))
    elif what == "memory":
        memory()
    elif what == "deep":
        sys.setrecursionlimit(int(argv[3]) + 100)
        deep(int(argv[3]), time.perf_counter() + float(argv[2]))
    else:
        sys.exit("unknown workload %r" % what)


if __name__ == "__main__":
    main(sys.argv)
