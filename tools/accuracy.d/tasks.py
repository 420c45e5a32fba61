"""Two asyncio tasks alternating, each burning CPU in a plain function.

usage: tasks.py SECONDS TRUTH.json

task_long calls burn_long (~300 us of pure Python) then awaits
asyncio.sleep(0); task_short does the same with burn_short (~100 us).
The event loop runs one step of each in turn.  burn_* are timed from
their coroutine; the root is tasks_root, which runs the loop.  A
sampler that loses a coroutine's frames gives burn_*'s time to the
event loop (the share drops); one that shows burn_* directly above
anything but its coroutine, or its coroutine on a line other than the
call, shows a stack the program never had.
"""

import asyncio
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


def burn_long(n):
    s = 0
    for i in range(n):
        s += i
    return s


def burn_short(n):
    s = 0
    for i in range(n):
        s += i
    return s


async def task_long(end, n, acc):
    while True:
        t0 = pc()
        burn_long(n)  # call: burn_long
        t1 = pc()
        acc[0] += t1 - t0
        acc[1] += 1
        if t1 > end:
            break
        await asyncio.sleep(0)


async def task_short(end, n, acc):
    while True:
        t0 = pc()
        burn_short(n)  # call: burn_short
        t1 = pc()
        acc[0] += t1 - t0
        acc[1] += 1
        if t1 > end:
            break
        await asyncio.sleep(0)


async def tasks_main(seconds, n100, acc_long, acc_short):
    end = pc() + seconds
    await asyncio.gather(task_long(end, 3 * n100, acc_long),
                         task_short(end, n100, acc_short))


def tasks_root(seconds, n100, acc_long, acc_short):
    start = pc()
    asyncio.run(tasks_main(seconds, n100, acc_long, acc_short))
    return pc() - start


def main():
    seconds, out = C.args()
    n100 = C.calibrate(spin, 100e-6)
    bracket = C.bracket_cost()
    C.ready()
    acc_long = [0.0, 0]
    acc_short = [0.0, 0]
    root = tasks_root(seconds, n100, acc_long, acc_short)
    fns = {}
    for name, acc in (("burn_long", acc_long), ("burn_short", acc_short)):
        fns[name] = {"root": "tasks_root", "seconds": acc[0],
                     "calls": acc[1], "leaf": True,
                     "mean_us": acc[0] / acc[1] * 1e6}
    C.write_truth(out, "tasks", os.path.abspath(__file__),
                  {"tasks_root": root}, fns, bracket_s=bracket)


if __name__ == "__main__":
    main()
