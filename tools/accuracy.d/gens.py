"""A consumer pulling from generators of different cost.

usage: gens.py SECONDS TRUTH.json

Each round, gens_consume takes 20 items from gen_cheap (~5 us of
pure Python in the generator's own frame per item), one from gen_costly
(which calls gen_helper, ~200 us, per item), and then does ~100 us of
work of its own in consume_work.  A generator's frame is on the stack
from next() until it yields: each next() is timed from the consumer, so
the truth includes next()'s own call, which a sampler gives to the
consumer (the truth file carries the cost of timing next() on a
generator that does nothing, the same bracket).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acc_common as C  # noqa: E402

pc = C.pc


def spin(n):
    s = 0
    for i in range(n):
        s += i
    return s


def gen_cheap(n):
    while True:
        s = 0
        for i in range(n):
            s += i
        yield s


def gen_helper(n):
    s = 0
    for i in range(n):
        s += i
    return s


HELPER = [0.0, 0]     # gen_helper's seconds and calls, timed inside gen_costly


def gen_costly(n):
    while True:
        t0 = pc()
        v = gen_helper(n)  # call: gen_helper
        t1 = pc()
        HELPER[0] += t1 - t0
        HELPER[1] += 1
        yield v


def consume_work(n):
    s = 0
    for i in range(n):
        s += i
    return s


def gen_idle():
    while True:
        yield 0


def next_cost(batches=15, n=400):
    """acc_common.bracket_cost, for next() of a generator doing nothing."""
    g = gen_idle()
    means = []
    for _ in range(batches):
        acc = 0.0
        for _ in range(n):
            t0 = pc()
            next(g)
            t1 = pc()
            acc += t1 - t0
        means.append(acc / n)
    means.sort()
    return means[len(means) // 2]


def gens_consume(seconds, ncheap, ncostly, nwork):
    start = pc()
    end = start + seconds
    ga = gen_cheap(ncheap)
    gb = gen_costly(ncostly)
    ta = tb = tw = 0.0
    ca = cb = 0
    while True:
        for _ in range(20):
            t0 = pc()
            next(ga)  # call: gen_cheap
            t1 = pc()
            ta += t1 - t0
        ca += 20
        t0 = pc()
        next(gb)  # call: gen_costly
        t1 = pc()
        consume_work(nwork)  # call: consume_work
        t2 = pc()
        tb += t1 - t0
        tw += t2 - t1
        cb += 1
        if t2 > end:
            break
    return pc() - start, (ta, ca), (tb, cb), (tw, cb)


def main():
    seconds, out = C.args()
    n1 = C.calibrate(spin, 1e-4)
    ncheap = max(1, n1 // 20)
    bracket = next_cost()
    call_bracket = C.bracket_cost()
    C.ready()
    root, a, b, w = gens_consume(seconds, ncheap, 2 * n1, n1)
    fns = {
        "gen_cheap": {"seconds": a[0], "calls": a[1], "leaf": True},
        "gen_costly": {"seconds": b[0], "calls": b[1], "leaf": False},
        "gen_helper": {"seconds": HELPER[0], "calls": HELPER[1],
                       "leaf": True},
        "consume_work": {"seconds": w[0], "calls": w[1], "leaf": True},
    }
    for f in fns.values():
        f["root"] = "gens_consume"
        f["mean_us"] = f["seconds"] / f["calls"] * 1e6
    # consume_work is an ordinary call, timed like the other workloads';
    # both brackets are about the same size, the larger one is kept.
    C.write_truth(out, "gens", os.path.abspath(__file__),
                  {"gens_consume": root}, fns,
                  bracket_s=max(bracket, call_bracket),
                  next_bracket_s=bracket, call_bracket_s=call_bracket)


if __name__ == "__main__":
    main()
