"""Fixed CPU-bound work for tools/bench's slowdown measurement.

usage: python3 work.py ITERATIONS [DEPTH]

Recurses DEPTH frames (default 50), then does ITERATIONS rounds of
pure-Python arithmetic with a function call each round, and prints
"wall <seconds> cpu <seconds>" measured inside with time.perf_counter and
time.process_time (interpreter start-up and the recursion are excluded).
"""
import sys
import time


def step(i, acc):
    return (acc * 31 + i) % 1000003


def kernel(n):
    acc = 0
    for i in range(n):
        acc = step(i, acc)
    return acc


def recurse(d, n):
    if d <= 0:
        c0, t0 = time.process_time(), time.perf_counter()
        r = kernel(n)
        t1, c1 = time.perf_counter(), time.process_time()
        return r, t1 - t0, c1 - c0
    return recurse(d - 1, n)


def main():
    n = int(sys.argv[1])
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    sys.setrecursionlimit(depth + 100)
    # <module> + main + recurse*(depth-3) + recurse(0) + kernel(+ step)
    r, wall, cpu = recurse(depth - 4, n)
    print("wall %.6f cpu %.6f result %d" % (wall, cpu, r), flush=True)


if __name__ == "__main__":
    main()
