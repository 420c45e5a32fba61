"""A Python process that a non-Python root (a shell) starts, for
tests/e2e/test_roots.py: prints "NAME PID" on stdout, then spins SECS
seconds of wall-clock time in a function named leaf_NAME (a, b or c),
so the test knows which process root each function must be under.

  leaf.py NAME SECS
"""
import os
import sys
import time


def spin(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        pass


def leaf_a(secs):
    spin(secs)


def leaf_b(secs):
    spin(secs)


def leaf_c(secs):
    spin(secs)


name, secs = sys.argv[1], float(sys.argv[2])
# One write, whole: leaf.py processes share a pipe, and an unbuffered
# print (PYTHONUNBUFFERED) writes the line and its end apart.
os.write(1, ("%s %d\n" % (name, os.getpid())).encode())
globals()["leaf_" + name](secs)
