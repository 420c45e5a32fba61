"""A program for the pid-namespace tests, run as the first process of a
namespace of its own (`unshare -p -f`): its main thread spins in
f_spin (two units of work) and g_spin (one unit), both through spin();
a thread named "sleeper" sleeps; with the argument "child" it first
starts a copy of itself in the role "leaf", which spins in leaf_spin,
and waits for it to start.  Prints "ready" and its pid as it sees it,
then runs until killed.
"""
import os
import subprocess
import sys
import threading
import time

UNIT = 20000


def spin(n):
    i = 0
    while i < n:
        i += 1


def f_spin():
    spin(2 * UNIT)


def g_spin():
    spin(UNIT)


def leaf_spin():
    spin(UNIT)


def sleeper():
    while True:
        time.sleep(0.02)


def main(role):
    if role == "leaf":
        print("ready", flush=True)
        while True:
            leaf_spin()
    threading.Thread(target=sleeper, name="sleeper", daemon=True).start()
    if role == "child":
        # Ready once the leaf is: a free-threaded build can take seconds
        # to start one on a loaded machine.
        leaf = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                 "leaf"], stdout=subprocess.PIPE)
        leaf.stdout.readline()
    print("ready", os.getpid(), flush=True)
    while True:
        f_spin()
        g_spin()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
