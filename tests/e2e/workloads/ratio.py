"""Three functions that share the work 60/30/10 by construction.

Used by the record tests: per round, a(), b() and c() run the same loop
6, 3 and 1 units of iterations, so the expected share of samples is
known.  The shares are of work, not of wall-clock deadlines: a function
that is preempted keeps its share, as it would in any real program.
Runs for about the number of seconds given (default 3), then prints
"done" and exits with the status given (default 0).  With PSAMPLE_TRUTH
set, first writes the seconds each function took there (JSON).
"""
import json
import os
import sys
import time


def burn(n):
    i = 0
    while i < n:  # @burn_loop
        i += 1  # @burn_pass


def a(unit):
    burn(6 * unit)  # @a_call


def b(unit):
    burn(3 * unit)  # @b_call


def c(unit):
    burn(unit)  # @c_call


def calibrate():
    """Iterations of burn's loop in about a millisecond."""
    n = 1000
    while True:
        t = time.perf_counter()
        burn(n)
        took = time.perf_counter() - t
        if took > 0.02:
            return max(1, int(n * 0.001 / took))
        n *= 2


def main(duration):
    """Runs the rounds; returns the seconds spent in a, b and c."""
    unit = calibrate()  # @main_calibrate
    clock = time.perf_counter
    spent = [0.0, 0.0, 0.0]
    t0 = clock()
    while clock() - t0 < duration:  # @main_loop
        t = clock()
        a(unit)  # @main_a
        u = clock()
        b(unit)  # @main_b
        v = clock()
        c(unit)  # @main_c
        w = clock()
        spent[0] += u - t
        spent[1] += v - u
        spent[2] += w - v
    return spent  # @main_end


if __name__ == "__main__":
    # The time each function took, as the workload saw it, into the file
    # PSAMPLE_TRUTH names: the split a loaded machine gives (a function
    # preempted for 100 ms has 100 ms more), against which a profile is
    # judged without counting the load against it.
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    spent = main(secs)  # @module_main
    if os.environ.get("PSAMPLE_TRUTH"):
        with open(os.environ["PSAMPLE_TRUTH"], "w") as f:
            json.dump(dict(zip("abc", spent)), f)
    print("done", flush=True)
    sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
