"""Busy target for tools/bench: recurse DEPTH frames, then spin forever.

usage: python3 busy.py DEPTH

The stack seen by a sampler is <module> + main + recurse() * (DEPTH - 3)
+ spin(), i.e. DEPTH Python frames in total.  "ready" is printed (from the
deepest frame) once the spin loop is about to start, so the caller can
wait for it.
"""
import sys


def spin():
    x = 0
    print("ready", flush=True)
    while True:          # pure-Python loop: no calls, stays in this frame
        x = (x + 1) & 0xFFFF


def recurse(n):
    if n <= 0:
        spin()
    else:
        recurse(n - 1)


def main():
    depth = int(sys.argv[1])
    sys.setrecursionlimit(depth + 100)
    recurse(depth - 4)   # <module> + main + (depth-3) recurse + spin


if __name__ == "__main__":
    main()
