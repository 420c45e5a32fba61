"""Prints the lines where threading's bootstrap frames call onward, so
dump tests can check them exactly on whatever interpreter runs this."""
import inspect
import json
import threading


def call_line(func, *needles):
    lines, first = inspect.getsourcelines(func)
    for i, text in enumerate(lines):
        if any(n in text for n in needles):
            return first + i
    return None


print(json.dumps({
    "file": threading.__file__,
    "Thread.run": call_line(threading.Thread.run, "self._target("),
    # 3.14 runs the thread inside its context: self._context.run(self.run)
    "Thread._bootstrap_inner": call_line(threading.Thread._bootstrap_inner,
                                         "self.run()", "(self.run)"),
    "Thread._bootstrap": call_line(threading.Thread._bootstrap,
                                   "self._bootstrap_inner()"),
}))
