"""Python processes that start Python (and non-Python) children.

For tests/e2e/test_subprocesses.py.  Every scenario prints one JSON line
on stdout naming the pids that ran each distinctively named function, so
the test can check which process root each function was sampled under.
Work is spinning on a wall-clock deadline, so a function's share of the
samples follows its duration whatever the machine's load.

  family.py pool METHOD     multiprocessing.Pool(4) (METHOD: default,
                            fork, spawn, forkserver) runs 16 tasks:
                            task_short spins 0.15 s, task_long 0.3 s
  family.py tree STATUS     a fork child, a fork+exec child, a child that
                            execs into another script, children living
                            ~50 ms, non-Python children, and (with
                            PSAMPLE_VFORKEXEC, tests/e2e/helpers/
                            vforkexec.c) a vfork child that waits 0.3 s
                            in the parent's memory before its exec;
                            exits STATUS
  family.py late            prints "ready", waits, then runs a Pool(2):
                            for attach --subprocesses
  family.py execloop G N    generation G of N: spins 0.1 s in gen_even
                            or gen_odd by G's parity, then execs the same
                            interpreter into generation G + 1
"""
import json
import multiprocessing
import os
import subprocess
import sys
import time

SCRIPT = os.path.abspath(__file__)


def spin(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        pass


def task_short(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        pass
    return os.getpid(), "task_short", secs


def task_long(secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        pass
    return os.getpid(), "task_long", secs


def pool(method, workers=4, short=0.15, n=8):
    if method == "default":
        ctx = multiprocessing.get_context()
    else:
        ctx = multiprocessing.get_context(method)
    jobs = []
    with ctx.Pool(workers) as p:
        for _ in range(n):
            jobs.append(p.apply_async(task_short, (short,)))
            jobs.append(p.apply_async(task_long, (2 * short,)))
        done = [j.get(timeout=120) for j in jobs]
    ran = {}
    for pid, fn, secs in done:
        per = ran.setdefault(str(pid), {})
        per[fn] = per.get(fn, 0.0) + secs
    return {"parent": os.getpid(), "ran": ran,
            "method": ctx.get_start_method()}


# ---------------------------------------------------------------- tree

def parent_before(secs):
    spin(secs)


def parent_after(secs):
    spin(secs)


def exec_child(secs):
    spin(secs)


def forked_child(secs):
    spin(secs)


def forked_parent(secs):
    spin(secs)


def brief_forked(secs):
    spin(secs)


def brief_exec(secs):
    spin(secs)


def before_exec(secs):
    spin(secs)


def after_exec(secs):
    spin(secs)


def vfork_parent(path, args, wait_ms):
    """Start args[0] as a vfork child that spends wait_ms in this
    process's memory first; this thread waits in here all that time."""
    import ctypes
    lib = ctypes.CDLL(path)
    lib.vforkexec.restype = ctypes.c_int
    lib.vforkexec.argtypes = [ctypes.c_char_p,
                              ctypes.POINTER(ctypes.c_char_p),
                              ctypes.c_long]
    argv = (ctypes.c_char_p * (len(args) + 1))(
        *[os.fsencode(a) for a in args], None)
    return lib.vforkexec(os.fsencode(args[0]), argv, wait_ms)


def vforked(secs):
    spin(secs)


def tree(status):
    py = sys.executable
    out = {"parent": os.getpid(), "python": py, "script": SCRIPT}
    parent_before(0.2)

    # fork+exec of a Python script, with a ';' in its arguments.
    p = subprocess.Popen([py, SCRIPT, "child", "a;b"])
    out["exec_child"] = p.pid
    parent_after(0.3)
    p.wait()

    # A bare fork: both sides run Python.
    pid = os.fork()
    if pid == 0:
        forked_child(0.3)
        os._exit(0)
    out["forked_child"] = pid
    forked_parent(0.3)
    os.waitpid(pid, 0)

    # Children that live ~50 ms: a fork, and a fresh interpreter.
    pid = os.fork()
    if pid == 0:
        brief_forked(0.05)
        os._exit(0)
    out["brief_forked"] = pid
    os.waitpid(pid, 0)
    p = subprocess.Popen([py, SCRIPT, "brief"])
    out["brief_exec"] = p.pid
    p.wait()

    # A Python child that execs into another Python program: same pid,
    # new program, new command line.
    p = subprocess.Popen([py, SCRIPT, "execer"])
    out["execer"] = p.pid
    p.wait()

    # A vfork child in the parent's memory for 0.3 s, then Python.
    helper = os.environ.get("PSAMPLE_VFORKEXEC")
    out["vforked"] = None
    if helper and os.path.exists(helper):
        pid = vfork_parent(helper, [py, SCRIPT, "vforked"], 300)
        out["vforked"] = pid
        os.waitpid(pid, 0)

    # Non-Python children: psample must pass over them quietly.
    p = subprocess.Popen(["/bin/sleep", "0.5"])
    out["non_python"] = [p.pid]
    p.wait()
    p = subprocess.Popen(["sh", "-c", "sleep 0.2; /bin/true"])
    out["non_python"].append(p.pid)
    p.wait()
    # A fork child that execs something that is not Python.
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/sleep", ["/bin/sleep", "0.3"])
    out["non_python"].append(pid)
    os.waitpid(pid, 0)

    print(json.dumps(out), flush=True)
    sys.exit(status)


def gen_even(secs):
    spin(secs)


def gen_odd(secs):
    spin(secs)


def execloop(g, n):
    """Generation g of n: runs gen_even or gen_odd by its parity, then
    execs the same interpreter into generation g + 1."""
    (gen_odd if g % 2 else gen_even)(0.1)
    if g < n:
        os.execv(sys.executable, [sys.executable, SCRIPT, "execloop",
                                  str(g + 1), str(n)])


def late():
    print("ready", flush=True)
    waiting(1.0)
    r = pool("default", workers=2, short=0.1, n=4)
    print(json.dumps(r), flush=True)


def waiting(secs):
    time.sleep(secs)


def main(argv):
    what = argv[1]
    if what == "pool":
        print(json.dumps(pool(argv[2])), flush=True)
    elif what == "tree":
        tree(int(argv[2]))
    elif what == "child":
        exec_child(0.3)
    elif what == "brief":
        brief_exec(0.05)
    elif what == "execer":
        before_exec(0.3)
        os.execv(sys.executable, [sys.executable, SCRIPT, "execed"])
    elif what == "execed":
        after_exec(0.3)
    elif what == "vforked":
        vforked(0.3)
    elif what == "execloop":
        execloop(int(argv[2]), int(argv[3]))
    elif what == "late":
        late()
    else:
        sys.exit("unknown scenario %r" % what)


if __name__ == "__main__":
    main(sys.argv)
