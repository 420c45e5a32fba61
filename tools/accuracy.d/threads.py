"""Three threads with different CPU loads.

usage: threads.py SECONDS TRUTH.json

thr_heavy alternates burn_heavy (~1 ms of pure Python) and sort_heavy
(sorted() of 3000 floats, in C, holding the GIL); thr_medium alternates
burn_medium (~1 ms) and rest_medium (time.sleep, ~1 ms); thr_light
alternates burn_light (~0.3 ms) and rest_light (sleep, ~3 ms).  Every
burn and sleep length is drawn from 0.5x-1.5x of its mean (fixed seed):
a thread that slept exactly one sampling interval would wake in step
with a 1 kHz sampler and be seen at the same point of its cycle every
time.  The main thread waits in join().

Each thread is its own root: a share is a function's time over its
thread's time, on the wall clock, the way a wall-mode sampler sees
every thread at every tick (time spent waiting for the GIL inside
burn_* is burn_*'s).  Each thread's CPU time (time.thread_time) is
written too, as the load it actually had.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acc_common as C  # noqa: E402

pc = C.pc


def spin(n):
    s = 0
    for i in range(n):
        s += i
    return s


def burn_heavy(n):
    s = 0
    for i in range(n):
        s += i
    return s


def burn_medium(n):
    s = 0
    for i in range(n):
        s += i
    return s


def burn_light(n):
    s = 0
    for i in range(n):
        s += i
    return s


def sort_heavy(data):
    return sorted(data)


def rest_medium(secs):
    time.sleep(secs)


def rest_light(secs):
    time.sleep(secs)


def lengths(seed, mean, count=4096):
    """count values spread evenly over 0.5 x mean .. 1.5 x mean, shuffled."""
    rnd = random.Random(seed)
    v = [mean * (0.5 + (i + 0.5) / count) for i in range(count)]
    rnd.shuffle(v)
    return v


def thr_heavy(res, end, n, data):
    start = pc()
    c0 = time.thread_time()
    ns = [int(x) for x in lengths(1, n)]
    tb = th = 0.0
    calls = 0
    while True:
        k = ns[calls % len(ns)]
        t0 = pc()
        burn_heavy(k)  # call: burn_heavy
        t1 = pc()
        sort_heavy(data)  # call: sort_heavy
        t2 = pc()
        tb += t1 - t0
        th += t2 - t1
        calls += 1
        if t2 > end:
            break
    res["thr_heavy"] = (pc() - start, time.thread_time() - c0,
                        {"burn_heavy": (tb, calls),
                         "sort_heavy": (th, calls)})


def thr_medium(res, end, n):
    start = pc()
    c0 = time.thread_time()
    ns = [int(x) for x in lengths(2, n)]
    ss = lengths(3, 0.001)
    tb = tr = 0.0
    calls = 0
    while True:
        k = ns[calls % len(ns)]
        z = ss[calls % len(ss)]
        t0 = pc()
        burn_medium(k)  # call: burn_medium
        t1 = pc()
        rest_medium(z)  # call: rest_medium
        t2 = pc()
        tb += t1 - t0
        tr += t2 - t1
        calls += 1
        if t2 > end:
            break
    res["thr_medium"] = (pc() - start, time.thread_time() - c0,
                         {"burn_medium": (tb, calls),
                          "rest_medium": (tr, calls)})


def thr_light(res, end, n):
    start = pc()
    c0 = time.thread_time()
    ns = [int(x) for x in lengths(4, n)]
    ss = lengths(5, 0.003)
    tb = tr = 0.0
    calls = 0
    while True:
        k = ns[calls % len(ns)]
        z = ss[calls % len(ss)]
        t0 = pc()
        burn_light(k)  # call: burn_light
        t1 = pc()
        rest_light(z)  # call: rest_light
        t2 = pc()
        tb += t1 - t0
        tr += t2 - t1
        calls += 1
        if t2 > end:
            break
    res["thr_light"] = (pc() - start, time.thread_time() - c0,
                        {"burn_light": (tb, calls),
                         "rest_light": (tr, calls)})


def main():
    seconds, out = C.args()
    n1ms = C.calibrate(spin, 1e-3)
    bracket = C.bracket_cost()
    C.ready()
    rnd = random.Random(14)
    data = [rnd.random() for _ in range(3000)]
    res = {}
    end = pc() + seconds
    threads = [
        threading.Thread(target=thr_heavy, args=(res, end, n1ms, data),
                         name="heavy"),
        threading.Thread(target=thr_medium, args=(res, end, n1ms),
                         name="medium"),
        threading.Thread(target=thr_light, args=(res, end, n1ms * 3 // 10),
                         name="light"),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    roots = {}
    fns = {}
    cpu = {}
    for root, (wall, cpu_s, parts) in res.items():
        roots[root] = wall
        cpu[root] = {"cpu_s": cpu_s, "cpu_share": cpu_s / wall}
        for name, (t, calls) in parts.items():
            fns[name] = {"root": root, "seconds": t, "calls": calls,
                         "leaf": True, "mean_us": t / calls * 1e6}
    C.write_truth(out, "threads", os.path.abspath(__file__), roots, fns,
                  bracket_s=bracket, thread_cpu=cpu)


if __name__ == "__main__":
    main()
