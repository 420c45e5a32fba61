"""A recursion of a known depth that spins in its innermost frame.

rec(n) calls rec(n - 1) down to rec(1), which calls spin(); so every
sample in spin has exactly DEPTH rec frames under it.  Prints "ready"
once at the bottom, spins for SECONDS, returns.  argv: DEPTH SECONDS.
"""
import sys
import time


def spin(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:  # @spin_loop
        pass


def rec(n, secs):
    if n <= 1:
        print("ready", flush=True)
        spin(secs)
        return
    rec(n - 1, secs)  # @rec_call


if __name__ == "__main__":
    sys.setrecursionlimit(100000)
    rec(int(sys.argv[1]), float(sys.argv[2]))
