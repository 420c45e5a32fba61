"""Two functions that share the main thread's work 75/25, for psample top.

Per round, top_major() runs three units of a busy loop and top_minor()
one, so their shares of the main thread's samples are known by
construction.  A second thread, named "top-sleeper", sleeps in
top_sleeper() the whole time, so a thread filter has something to tell
apart.  Prints the native thread ids ("main TID", "sleeper TID") and
then "ready"; runs for the number of seconds given (default: until
killed), then prints "done" and exits 0.
"""
import sys
import threading
import time


def spin(n):
    i = 0
    while i < n:
        i += 1


def top_major(unit):
    i, n = 0, 3 * unit
    while i < n:
        i += 1


def top_minor(unit):
    i, n = 0, unit
    while i < n:
        i += 1


def top_sleeper(stop):
    while not stop.is_set():
        time.sleep(0.05)


def calibrate():
    """Iterations of the loop in about a millisecond."""
    n = 1000
    while True:
        t = time.perf_counter()
        spin(n)
        took = time.perf_counter() - t
        if took > 0.02:
            return max(1, int(n * 0.001 / took))
        n *= 2


def main(duration):
    unit = calibrate()
    stop = threading.Event()
    sleeper = threading.Thread(target=top_sleeper, args=(stop,),
                               name="top-sleeper", daemon=True)
    sleeper.start()
    while sleeper.native_id is None:
        time.sleep(0.01)
    print("main %d" % threading.get_native_id())
    print("sleeper %d" % sleeper.native_id)
    print("ready", flush=True)
    t0 = time.perf_counter()
    while duration <= 0 or time.perf_counter() - t0 < duration:
        top_major(unit)
        top_minor(unit)
    stop.set()
    sleeper.join()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
    print("done", flush=True)
