"""Signals while sampled with --blocking: every one must be handled.

usage: signals.py COUNT

Three worker threads compute in Python, in bursts.  Meanwhile, each signal sent only
once the one before it was handled (so none can merge with another):
 - the main thread sends COUNT SIGUSR1s, in turn to each worker
   (pthread_kill: the signal lands on that thread), to itself and to the
   process (os.kill), a couple of milliseconds apart;
 - a one-shot SIGALRM timer is re-armed by its handler, COUNT times;
 - a forker thread forks COUNT children that exit 7 at once, and reaps
   each after its SIGCHLD was handled.
A lost signal stalls its chain; after 10 s without it the workload gives
up.  Prints "usr1 N alrm N chld N forks N" (what was handled; forks:
children reaped with status 7) and exits 0 if every N is COUNT, else 1.
"""
import os
import signal
import sys
import threading
import time
import warnings

COUNT = int(sys.argv[1])
counts = {"usr1": 0, "alrm": 0, "chld": 0}
stop = False


def on_usr1(sig, frame):
    counts["usr1"] += 1


def on_alrm(sig, frame):
    counts["alrm"] += 1
    if counts["alrm"] < COUNT:
        signal.setitimer(signal.ITIMER_REAL, 0.003)


def on_chld(sig, frame):
    counts["chld"] += 1


def wait_for(key, n, limit=10.0):
    end = time.monotonic() + limit
    while counts[key] < n:
        if time.monotonic() > end:
            return False
        time.sleep(0.0005)
    return True


def spin():
    # Busy in bursts, so the threads that send and handle signals get
    # the GIL without waiting out whole switch intervals.
    x = 0
    while not stop:
        for _ in range(300):
            x = (x * 7 + 1) % 1000003
        time.sleep(0.0005)


def forker(result):
    ok = 0
    for i in range(COUNT):
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        if not wait_for("chld", i + 1):
            break
        _, status = os.waitpid(pid, 0)
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7):
            break
        ok += 1
    result.append(ok)


def main():
    global stop
    # fork() from a threaded program: the children only _exit.
    warnings.simplefilter("ignore", DeprecationWarning)
    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGALRM, on_alrm)
    signal.signal(signal.SIGCHLD, on_chld)
    workers = [threading.Thread(target=spin) for _ in range(3)]
    for t in workers:
        t.start()
    forks = []
    fk = threading.Thread(target=forker, args=(forks,))
    fk.start()
    signal.setitimer(signal.ITIMER_REAL, 0.003)
    targets = [t.ident for t in workers] + [threading.get_ident(), None]
    for i in range(COUNT):
        t = targets[i % len(targets)]
        if t is None:
            os.kill(os.getpid(), signal.SIGUSR1)
        else:
            signal.pthread_kill(t, signal.SIGUSR1)
        if not wait_for("usr1", i + 1):
            break
        time.sleep(0.002)
    last, end = -1, 0.0
    while counts["alrm"] < COUNT:
        if counts["alrm"] != last:
            last, end = counts["alrm"], time.monotonic() + 10
        elif time.monotonic() > end:
            break
        time.sleep(0.001)
    # Python runs handlers in the main thread only, and a signal the
    # kernel gives to another thread does not wake a main thread blocked
    # in join(): wait in short sleeps instead.
    while fk.is_alive():
        time.sleep(0.001)
    stop = True
    for t in workers:
        t.join()
    got = (counts["usr1"], counts["alrm"], counts["chld"], forks[0])
    print("usr1 %d alrm %d chld %d forks %d" % got, flush=True)
    sys.exit(0 if all(n == COUNT for n in got) else 1)


if __name__ == "__main__":
    main()
