"""Threads parked in known functions, for dump tests.

Prints one JSON line {"main": tid, "alpha": tid, "beta": tid, "gamma": tid}
(native thread ids) and then "ready"; then every thread stays where it
is: alpha and beta sleep in known functions, gamma spins, main sleeps.
"""
import json
import sys
import threading
import time

parked = threading.Barrier(3)
tids = {}


def alpha_leaf():
    tids["alpha"] = threading.get_native_id()
    parked.wait()
    time.sleep(3600)  # @alpha_leaf


def alpha_mid():
    alpha_leaf()  # @alpha_mid


class Beta:
    def park(self):
        tids["beta"] = threading.get_native_id()
        parked.wait()
        time.sleep(3600)  # @beta_park

    def run(self):
        self.park()  # @beta_run


def spin():
    tids["gamma"] = threading.get_native_id()
    x = 0
    while True:  # @gamma_loop
        x += 1  # @gamma_add


threading.Thread(target=alpha_mid, name="alpha", daemon=True).start()
threading.Thread(target=Beta().run, name="beta", daemon=True).start()
threading.Thread(target=spin, name="gamma", daemon=True).start()
parked.wait()
while "gamma" not in tids:
    time.sleep(0.01)
tids["main"] = threading.get_native_id()
print(json.dumps(tids))
print("ready", flush=True)
time.sleep(3600)  # @main_park
