"""Fast and slow calls: a loop calling functions of ~1.5 us, ~30 us, ~1 ms.

usage: calls.py SECONDS TRUTH.json

Each round of calls_loop makes 100 calls of fast_1us, 5 of mid_30us and
one of slow_1ms (pure-Python arithmetic, iteration counts calibrated at
start), each timed with a perf_counter bracket.  fast_1us ends up with
about a tenth of the time: a sampler that gives part of a short call to
its caller shows it here.  The bracket is itself a sizeable part of a
1.5 us call: see acc_common.bracket_cost; the truth file carries it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acc_common as C  # noqa: E402

pc = C.pc


def fast_1us(n):
    s = 0
    for i in range(n):
        s += i
    return s


def mid_30us(n):
    s = 0
    for i in range(n):
        s += i
    return s


def slow_1ms(n):
    s = 0
    for i in range(n):
        s += i
    return s


def calls_loop(seconds, nf, nm, ns):
    start = pc()
    end = start + seconds
    tf = tm = ts = 0.0
    cf = cm = cs = 0
    while True:
        for _ in range(100):
            t0 = pc()
            fast_1us(nf)  # call: fast_1us
            t1 = pc()
            tf += t1 - t0
        cf += 100
        for _ in range(5):
            t0 = pc()
            mid_30us(nm)  # call: mid_30us
            t1 = pc()
            tm += t1 - t0
        cm += 5
        t0 = pc()
        slow_1ms(ns)  # call: slow_1ms
        t1 = pc()
        ts += t1 - t0
        cs += 1
        if t1 > end:
            break
    return pc() - start, (tf, cf), (tm, cm), (ts, cs)


def main():
    seconds, out = C.args()
    nf = C.calibrate(fast_1us, 1.5e-6)
    nm = C.calibrate(mid_30us, 30e-6)
    ns = C.calibrate(slow_1ms, 1e-3)
    bracket = C.bracket_cost()
    timer = C.timer_cost()
    C.ready()
    root, f, m, s = calls_loop(seconds, nf, nm, ns)
    fns = {}
    for name, (t, n) in (("fast_1us", f), ("mid_30us", m), ("slow_1ms", s)):
        fns[name] = {"root": "calls_loop", "seconds": t, "calls": n,
                     "leaf": True, "mean_us": t / n * 1e6}
    C.write_truth(out, "calls", os.path.abspath(__file__),
                  {"calls_loop": root}, fns, bracket_s=bracket,
                  timer_s=timer, iterations={"fast_1us": nf,
                                             "mid_30us": nm,
                                             "slow_1ms": ns})


if __name__ == "__main__":
    main()
