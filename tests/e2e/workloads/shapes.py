"""Stack shapes the output-format tests need, in one program.

- recursion: rec() calls itself 6 deep before it burns;
- two functions with one name in one file: A.__init__ and B.__init__,
  and two module-level functions both called step (the first kept as
  step_one before the second def replaces the name);
- a non-ASCII function name: größe();
- two threads: the main thread and one named "worker".
The tests copy this file into a directory whose name holds ';' and a
space.  Runs for about the number of seconds given (default 2).
"""
import sys
import threading
import time


def burn(n):
    i = 0
    while i < n:  # @burn_loop
        i += 1


def rec(depth, n):
    if depth == 0:
        burn(n)  # @rec_leaf
        return
    rec(depth - 1, n)  # @rec_self


class A:
    def __init__(self, n):
        burn(n)  # @a_init


class B:
    def __init__(self, n):
        burn(2 * n)  # @b_init


def step(n):
    burn(n)  # @step_one


step_one = step


def step(n):  # noqa: F811 - the point: two functions called step
    burn(3 * n)  # @step_two


def größe(n):
    burn(n)  # @groesse


def worker(stop):
    while not stop.is_set():
        größe(20000)  # @worker_call


def main(duration):
    stop = threading.Event()
    t = threading.Thread(target=worker, args=(stop,), name="worker")
    t.start()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duration:
        rec(6, 20000)  # @main_rec
        A(20000)  # @main_a
        B(20000)  # @main_b
        step_one(20000)  # @main_step_one
        step(20000)  # @main_step_two
    stop.set()
    t.join()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
    print("done", flush=True)
