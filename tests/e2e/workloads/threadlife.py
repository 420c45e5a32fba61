"""One thread that ends, then one that starts, each spinning.

The main thread waits while "early" spins for SECONDS and ends, then
"late" starts and spins for SECONDS: a sampler of on-CPU threads sees
each for about half the run, under its own name.  argv: SECONDS.
"""
import sys
import threading
import time


def spin(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        pass


def early(secs):
    spin(secs)


def late(secs):
    spin(secs)


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 1.5
    for fn in (early, late):
        t = threading.Thread(target=fn, args=(secs,), name=fn.__name__)
        t.start()
        t.join()
