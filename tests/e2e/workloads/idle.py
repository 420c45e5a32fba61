"""Sleeps in a known place until killed (or for argv[1] seconds)."""
import sys
import time


def wait_here(secs):
    time.sleep(secs)  # @wait


print("ready", flush=True)
wait_here(float(sys.argv[1]) if len(sys.argv) > 1 else 3600)  # @call
