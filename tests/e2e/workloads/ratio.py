"""Three functions that share the work 60/30/10 by construction.

Used by the record tests: per round, a(), b() and c() run the same loop
6, 3 and 1 units of iterations, so the expected share of samples is
known.  The shares are of work, not of wall-clock deadlines: a function
that is preempted keeps its share, as it would in any real program.
Runs for about the number of seconds given (default 3), then prints
"done" and exits with the status given (default 0).
"""
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
    unit = calibrate()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duration:  # @main_loop
        a(unit)  # @main_a
        b(unit)  # @main_b
        c(unit)  # @main_c


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)  # @module_main
    print("done", flush=True)
    sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
