"""Three threads with different CPU loads.

usage: threads.py SECONDS TRUTH.json

thr_heavy alternates burn_heavy (~1 ms of pure Python) and hash_heavy
(hashlib.sha256 of 1 MiB, which releases the GIL while it hashes);
thr_medium alternates burn_medium (~1 ms) and rest_medium (time.sleep of
1 ms); thr_light alternates burn_light (~0.3 ms) and rest_light (sleep of
3 ms).  The main thread waits in join().  Each thread is its own root:
a share is a function's time over its thread's time, on the wall clock,
the way a wall-mode sampler sees every thread at every tick (time spent
waiting for the GIL inside burn_* is burn_*'s).  Each thread's CPU time
(time.thread_time) is written too, as the load it actually had.
"""

import hashlib
import os
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


def hash_heavy(blob):
    return hashlib.sha256(blob).digest()


def rest_medium(secs):
    time.sleep(secs)


def rest_light(secs):
    time.sleep(secs)


def thr_heavy(res, end, n, blob):
    start = pc()
    c0 = time.thread_time()
    tb = th = 0.0
    calls = 0
    while True:
        t0 = pc()
        burn_heavy(n)  # call: burn_heavy
        t1 = pc()
        hash_heavy(blob)  # call: hash_heavy
        t2 = pc()
        tb += t1 - t0
        th += t2 - t1
        calls += 1
        if t2 > end:
            break
    res["thr_heavy"] = (pc() - start, time.thread_time() - c0,
                        {"burn_heavy": (tb, calls),
                         "hash_heavy": (th, calls)})


def thr_medium(res, end, n):
    start = pc()
    c0 = time.thread_time()
    tb = tr = 0.0
    calls = 0
    while True:
        t0 = pc()
        burn_medium(n)  # call: burn_medium
        t1 = pc()
        rest_medium(0.001)  # call: rest_medium
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
    tb = tr = 0.0
    calls = 0
    while True:
        t0 = pc()
        burn_light(n)  # call: burn_light
        t1 = pc()
        rest_light(0.003)  # call: rest_light
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
    blob = os.urandom(1 << 20)
    res = {}
    end = pc() + seconds
    threads = [
        threading.Thread(target=thr_heavy, args=(res, end, n1ms, blob),
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
