"""Two asyncio tasks taking turns, for the sampler's reads of coroutines.

usage: tasks.py SECONDS

task_long() and task_short() each burn the CPU in a plain function
called from their coroutine, some 300 us and 100 us per step, then
yield to the event loop (asyncio.sleep(0)): work_long() gets three times
work_short()'s time.  Half of each is counted work (a --blocking stop
lengthens whatever it lands in and leaves shares as they are), half a
wait on time.perf_counter(), a C function called in a loop, as code
that polls a clock or a socket does.
Each step enters the coroutine's frame, which lives in the coroutine
object, not on the thread's frame stack.  Prints "ready" once the loop
runs, "done" at the end, and exits 0.  With PSAMPLE_TRUTH set, first
writes there (JSON) the seconds each work function took and the
seconds main() ran: the split a loaded machine gives, to judge a
profile by.
"""
import asyncio
import json
import os
import sys
import time

SPENT = {"work_long": 0.0, "work_short": 0.0}


def spin(n):
    x = 0
    for i in range(n):
        x += i
    return x


def wait(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def work_long():
    spin(3000)
    wait(0.00015)


def work_short():
    spin(1000)
    wait(0.00005)


async def task_long(end):
    while time.monotonic() < end:
        t0 = time.perf_counter()
        work_long()
        SPENT["work_long"] += time.perf_counter() - t0
        await asyncio.sleep(0)


async def task_short(end):
    while time.monotonic() < end:
        t0 = time.perf_counter()
        work_short()
        SPENT["work_short"] += time.perf_counter() - t0
        await asyncio.sleep(0)


async def main(seconds):
    t0 = time.perf_counter()
    end = time.monotonic() + seconds
    print("ready", flush=True)
    await asyncio.gather(task_long(end), task_short(end))
    SPENT["main"] = time.perf_counter() - t0


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
    if os.environ.get("PSAMPLE_TRUTH"):
        with open(os.environ["PSAMPLE_TRUTH"], "w") as f:
            json.dump(SPENT, f)
    print("done", flush=True)
