"""Calls that change every few microseconds, for --blocking.

usage: fastcalls.py SECONDS [THREADS]

The main thread and THREADS-1 workers (default 3 threads in all) each
run loop(): a() calls b() calls c() in a tight loop, every call and
return on a line of its own, so a stack copied while it changes could
show a caller on a line that does not call its callee.  Prints "ready"
once the workers run, "done" at the end, and exits 0.  The call graph
is declared by the "# @" markers the test reads.
"""
import sys
import threading
import time


def c(i):
    x = i * 3  # @c_1
    return x + 1  # @c_2


def b(i):
    y = c(i)  # @b_call
    return y - 2  # @b_ret


def a(i):
    z = b(i)  # @a_call
    return z ^ 5  # @a_ret


def loop(end):
    n = 0
    while time.monotonic() < end:  # @loop_check
        for i in range(200):  # @loop_for
            n += a(i)  # @loop_call
    return n


def main():
    seconds = float(sys.argv[1])
    nthreads = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    end = time.monotonic() + seconds
    threads = []
    for _ in range(nthreads - 1):
        threads.append(threading.Thread(target=loop, args=(end,)))  # @main_threads
    for t in threads:
        t.start()  # @main_start
    print("ready", flush=True)
    loop(end)  # @main_loop
    for t in threads:
        t.join()  # @main_join
    print("done", flush=True)


if __name__ == "__main__":
    main()  # @module_main
