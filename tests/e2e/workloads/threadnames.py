"""Three named threads doing different things, for thread-name tests.

alpha-worker is a plain threading.Thread running a function that
computes; beta-sleeper is a Thread subclass with attributes of its own
whose __dict__ has been asked for (so its attributes live in a real dict,
not only the type's shared keys) and sleeps; gamma-hasher starts under
another name and renames itself before it hashes.  delta-os is started
with _thread, so threading has no name for it: it names itself to the
OS only (/proc/self/task/TID/comm, as prctl(PR_SET_NAME) does), and
sleeps.  The main thread waits.  Prints one JSON line {"main": tid, "alpha-worker": tid, ...}
(native thread ids), then "ready".

With the argument "gil": one thread ("spinner") spins in Python and one
("sleeper") sleeps in time.sleep, for the GIL-holder test.
"""
import _thread
import hashlib
import json
import sys
import threading
import time

tids = {}
started = threading.Event()


def alpha_work():
    tids["alpha-worker"] = threading.get_native_id()
    x = 0
    while True:
        x = (x * 31 + 7) % 1000003  # @alpha_work


class Sleeper(threading.Thread):
    def __init__(self):
        super().__init__(name="beta-sleeper", daemon=True)
        self.naps = 0
        self.extra = {"a": 1}
        self.more = [1, 2, 3]
        vars(self)  # materialise the instance dict

    def run(self):
        tids["beta-sleeper"] = threading.get_native_id()
        while True:
            self.naps += 1
            beta_sleep()


def beta_sleep():
    time.sleep(3600)  # @beta_sleep


def gamma_hash():
    threading.current_thread().name = "gamma-hasher"
    tids["gamma-hasher"] = threading.get_native_id()
    h = hashlib.sha256()
    while True:
        h.update(b"x" * 64)  # @gamma_hash


def delta_os():
    tid = _thread.get_native_id()
    with open("/proc/self/task/%d/comm" % tid, "w") as f:
        f.write("delta-os")
    tids["delta-os"] = tid
    while True:
        delta_wait()


def delta_wait():
    time.sleep(3600)  # @delta_wait


def spin():
    tids["spinner"] = threading.get_native_id()
    x = 0
    while True:
        x += 1  # @spin


def nap():
    tids["sleeper"] = threading.get_native_id()
    while True:
        time.sleep(0.5)  # @nap


def main():
    if sys.argv[1:] == ["gil"]:
        threads = [threading.Thread(target=spin, name="spinner", daemon=True),
                   threading.Thread(target=nap, name="sleeper", daemon=True)]
    else:
        threads = [threading.Thread(target=alpha_work, name="alpha-worker",
                                    daemon=True),
                   Sleeper(),
                   threading.Thread(target=gamma_hash, name="gamma-init",
                                    daemon=True)]
    for t in threads:
        t.start()
    want = len(threads)
    if sys.argv[1:] != ["gil"]:
        _thread.start_new_thread(delta_os, ())
        want += 1
    while len(tids) < want:
        time.sleep(0.01)
    while any(t.name == "gamma-init" for t in threads):
        time.sleep(0.01)
    tids["main"] = threading.get_native_id()
    print(json.dumps(tids))
    print("ready", flush=True)
    while True:
        time.sleep(3600)  # @main_wait


main()
