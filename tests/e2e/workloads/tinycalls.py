"""A loop that calls a tiny function, for the sampler's bias.

usage: tinycalls.py SECONDS

inner() does almost nothing, so a good part of the program's time goes
to calling it and returning: a reader that races the program and keeps
only frames that were there both before and after its copy gives that
time to outer().  Prints "done" at the end and exits 0.
"""
import sys
import time


def inner(x):
    return x * 2 + 1  # @inner


def outer(k):
    s = 0
    for i in range(k):  # @outer_for
        s += inner(i)  # @outer_call
    return s  # @outer_ret


def main(seconds):
    end = time.monotonic() + seconds
    n = 0
    while True:
        outer(20)  # @main_call
        n += 1
        if n % 1000 == 0 and time.monotonic() > end:  # @main_check
            break


if __name__ == "__main__":
    main(float(sys.argv[1]))
    print("done", flush=True)
