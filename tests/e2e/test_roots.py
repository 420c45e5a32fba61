"""Roots that are not Python, and no process left behind.

With --subprocesses, record and attach take a root that is not Python
(here a shell) and sample every Python process it starts under its own
process root; the summary says the root was not Python, and record
exits with the root's status.  A root that becomes Python (a shell that
execs it, a C program that loads libpython late, as uWSGI does) is
sampled as the root.  Without --subprocesses a root that is not Python
within 5 seconds is refused (exit 4) with a hint, and whatever psample
started and gives up on - the command's whole process group, not only
the command - is ended: nothing of it is left running.  Signals psample
gets are passed on to that group.  In a terminal (a tmux pane), a
command that reads it works as without psample, Ctrl-Z and fg stop and
continue the two together, Ctrl-C reaches a command that does not read
it, and quitting top -- COMMAND leaves nothing of the command running.

These check the process tree and its ends, which psample handles the
same whatever the interpreter: each runs on the oldest and the newest
interpreter found (the embedded one on the oldest and newest with a
shared libpython), not on every one.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import common

LEAF = os.path.join(common.WORKLOADS, "leaf.py")
EMBED = os.environ.get("PSAMPLE_EMBED") or os.path.join(
    os.path.dirname(common.PSAMPLE), "tests", "embed")
PROCESS_ROOT = re.compile(r"^process (\d+) \((.*)\)$")
ROOT_NOT_PYTHON = re.compile(
    r"^psample: the root '(.*)' \(pid (\d+)\) is not Python; its Python "
    r"descendants were sampled$", re.M)
RATE = 200


def q(path):
    return "'%s'" % path.replace("'", "'\\''")


def group_live(pgid):
    """The pids of the processes of group pgid that are alive (a zombie
    has ended)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            out.append(int(name))
    return out


def running(pid, what):
    """Whether pid is alive and runs what (its command line's start)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().split(b"\0")[0].decode()
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (OSError, ValueError):
        return False
    return (stat[stat.rindex(")") + 2] not in "ZX" and
            os.path.basename(cmd) == what)


def kill_group(pgid):
    """Whatever a failed check left running: not left to the next."""
    for pid in group_live(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def pids_printed(text):
    """{name: pid} from the "NAME PID" lines of leaf.py and the shells."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+) (\d+)$", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def rooted(path):
    """{function name: {pid: samples}} below process roots, the stacks
    with no process root, and the malformed lines."""
    stacks, bad = (common.read_folded(path) if os.path.exists(path)
                   else ([], ["no profile written"]))
    fns, unrooted = {}, []
    for stack, count in stacks:
        m = PROCESS_ROOT.match(stack[0])
        if not m:
            unrooted.append(";".join(stack))
            continue
        for fr in stack[1:]:
            got = fns.setdefault(common.frame_name(fr), {})
            pid = int(m.group(1))
            got[pid] = got.get(pid, 0) + count
    return fns, unrooted, bad


def check_shell_root(tap, it, d):
    """record --subprocesses -- sh -c 'A & B; wait; exit 3'."""
    name = "%s: record --subprocesses of a shell" % common.label(it)
    out = os.path.join(d, "shell.folded")
    script = ("echo sh $$; %s %s a 1.5 & %s %s b 1.0; wait; exit 3"
              % (q(it.path), q(LEAF), q(it.path), q(LEAF)))
    r = common.run(["record", "--subprocesses", "-r", str(RATE), "-f",
                    "folded", "-o", out, "--", "sh", "-c", script],
                   timeout=120)
    pids = pids_printed(r.stdout)
    tap.ok(r.returncode == 3, "%s: exits with the shell's status (3)" % name,
           "rc=%d\n%s" % (r.returncode, r.stderr))
    fns, unrooted, bad = rooted(out)
    where = {fn: fns.get(fn, {}) for fn in ("leaf_a", "leaf_b")}
    tap.ok(not bad and not unrooted and "a" in pids and "b" in pids and
           set(where["leaf_a"]) == {pids["a"]} and
           set(where["leaf_b"]) == {pids["b"]},
           "%s: each Python child is sampled under its own process root"
           % name, "pids %s; leaf_a under %s, leaf_b under %s\n%s\n%s" % (
               pids, where["leaf_a"], where["leaf_b"],
               "\n".join((bad + unrooted)[:5]), r.stderr[-1500:]))
    shell = pids.get("sh")
    tap.ok(shell and not any(shell in got for got in fns.values()),
           "%s: the shell itself has no process root" % name,
           "sh %s; roots %s" % (shell, sorted({p for g in fns.values()
                                               for p in g})))
    m = ROOT_NOT_PYTHON.search(r.stderr)
    tap.ok(m and int(m.group(2)) == shell and
           m.group(1).startswith("sh -c echo sh"),
           "%s: the summary says the root was not Python" % name,
           r.stderr[-1500:])


def check_exec_root(tap, it, d):
    """A shell that execs Python: sampled as the root, under its pid."""
    name = "%s: record --subprocesses of a shell that execs Python" % (
        common.label(it))
    out = os.path.join(d, "exec.folded")
    script = "echo sh $$; sleep 0.3; exec %s %s c 1.0" % (q(it.path),
                                                           q(LEAF))
    r = common.run(["record", "--subprocesses", "-r", str(RATE), "-f",
                    "folded", "-o", out, "--", "sh", "-c", script],
                   timeout=120)
    pids = pids_printed(r.stdout)
    fns, unrooted, bad = rooted(out)
    got = fns.get("leaf_c", {})
    tap.ok(r.returncode == 0 and not bad and not unrooted and
           pids.get("sh") == pids.get("c") and set(got) == {pids.get("c")}
           and not ROOT_NOT_PYTHON.search(r.stderr),
           "%s: what it execs is sampled as the root" % name,
           "rc=%d pids %s leaf_c under %s\n%s" % (
               r.returncode, pids, got, r.stderr[-1500:]))


def check_attach_root(tap, it, d):
    """attach --subprocesses to a running shell that then starts Python."""
    name = "%s: attach --subprocesses to a shell" % common.label(it)
    out = os.path.join(d, "attach.folded")
    # The shell waits before its first child, so that psample is there.
    script = ("echo sh $$; sleep 1; %s %s a 1.0; %s %s b 0.5"
              % (q(it.path), q(LEAF), q(it.path), q(LEAF)))
    sh = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE,
                          text=True)
    try:
        r = common.run(["attach", "--subprocesses", "--pid", str(sh.pid),
                        "-r", str(RATE), "-f", "folded", "-o", out],
                       timeout=120)
        rest, _ = sh.communicate(timeout=60)
    finally:
        if sh.poll() is None:
            sh.kill()
            sh.wait()
    pids = pids_printed(rest)
    fns, unrooted, bad = rooted(out)
    where = {fn: fns.get(fn, {}) for fn in ("leaf_a", "leaf_b")}
    tap.ok(r.returncode == 0 and not bad and not unrooted and
           "a" in pids and "b" in pids and
           set(where["leaf_a"]) == {pids["a"]} and
           set(where["leaf_b"]) == {pids["b"]},
           "%s: its Python children are sampled under their own roots, "
           "until it exits" % name,
           "rc=%d pids %s; leaf_a under %s, leaf_b under %s\n%s" % (
               r.returncode, pids, where["leaf_a"], where["leaf_b"],
               r.stderr[-1500:]))
    m = ROOT_NOT_PYTHON.search(r.stderr)
    tap.ok(m and int(m.group(2)) == sh.pid,
           "%s: the summary says the root was not Python" % name,
           r.stderr[-1500:])


def check_not_python(tap, d):
    """Without --subprocesses: exit 4 after 5 s, a hint, nothing left."""
    name = "record of a shell without --subprocesses"
    pidfile = os.path.join(d, "sleep.pid")
    # The sleep's output elsewhere: psample's must close when it ends.
    script = ("echo sh $$; sleep 30 >/dev/null 2>&1 & echo $! > %s; wait"
              % q(pidfile))
    t0 = time.time()
    r = common.run(["record", "-o", os.path.join(d, "no.folded"), "--",
                    "sh", "-c", script], timeout=60)
    took = time.time() - t0
    shell = pids_printed(r.stdout).get("sh")
    try:
        with open(pidfile) as f:
            sleep = int(f.read())
    except (OSError, ValueError):
        sleep = None
    tap.ok(r.returncode == common.EXIT_NOT_PYTHON and 4.5 <= took < 10 and
           "not a Python" in r.stderr and "--subprocesses" in r.stderr and
           len(r.stderr.splitlines()) == 1,
           "%s: exit %d after 5 s, one line with a hint to add "
           "--subprocesses (%.1f s)" % (name, common.EXIT_NOT_PYTHON, took),
           "rc=%d\n%s" % (r.returncode, r.stderr))
    left = group_live(shell) if shell else []
    if sleep and running(sleep, "sleep"):
        left.append(sleep)
    tap.ok(shell and sleep and not left,
           "%s: the shell and the sleep it started are ended with their "
           "group" % name,
           "sh %s, sleep %s; still running: %s" % (shell, sleep, left))
    if shell:
        kill_group(shell)
    if sleep and running(sleep, "sleep"):
        os.kill(sleep, signal.SIGKILL)


def check_forwarded(tap, it, d):
    """SIGTERM and SIGINT to record reach the command's whole group."""
    for sig, code in ((signal.SIGTERM, 128 + signal.SIGTERM),
                      (signal.SIGINT, 128 + signal.SIGINT)):
        name = "%s: %s to record" % (common.label(it), sig.name)
        # A non-interactive shell's background job ignores SIGINT: the
        # Python child is in the foreground of the shell.
        script = ("echo sh $$; sleep 30 >/dev/null 2>&1 & echo sleep $!; "
                  "%s %s a 30" % (q(it.path), q(LEAF)))
        out = os.path.join(d, "fwd-%s.folded" % sig.name)
        p = subprocess.Popen([common.PSAMPLE, "record", "--subprocesses",
                              "-f", "folded", "-o", out, "--", "sh", "-c",
                              script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        text = ""
        deadline = time.time() + 30
        while "a" not in pids_printed(text) and time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            text += line
        time.sleep(1.0)
        p.send_signal(sig)
        try:
            rest, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rest, err = p.communicate()
        pids = pids_printed(text + rest)
        fns, _, bad = rooted(out)
        left = group_live(pids["sh"]) if "sh" in pids else []
        if sig == signal.SIGINT:
            # The background sleep ignores it, as from a terminal: it is
            # the shell's, and outlives it.
            left = [pid for pid in left if pid != pids.get("sleep")]
        tap.ok(p.returncode == code and not bad and
               set(fns.get("leaf_a", {})) == {pids.get("a")} and not left,
               "%s: passed on to the command's group, which ends; the "
               "profile is written; record exits %d" % (name, code),
               "rc=%s pids %s; running: %s\n%s" % (
                   p.returncode, pids, left, err[-1500:]))
        if "sh" in pids:
            kill_group(pids["sh"])


LIBPYTHON = ("import os, sys, sysconfig; v = sysconfig.get_config_var; "
             "print(os.path.join(v('LIBDIR'), v('INSTSONAME'))); "
             "print(sys.prefix)")


def check_embedded(tap, it, d):
    """A C program that loads libpython after 1 s and runs Python in it,
    as uWSGI does: Python once it is, with and without --subprocesses,
    and the root in the latter."""
    name = "%s: a C program that loads libpython after 1 s" % (
        common.label(it))
    got = subprocess.run([it.path, "-c", LIBPYTHON], capture_output=True,
                         text=True, timeout=30).stdout.split("\n")
    lib, prefix = (got + ["", ""])[:2]
    if not os.path.exists(EMBED) or not os.path.exists(lib):
        tap.skip(name, "no embed helper or libpython (%s)" % lib)
        return
    code = ("import time\n"
            "def embedded_work():\n"
            "    end = time.perf_counter() + 1.0\n"
            "    while time.perf_counter() < end:\n"
            "        pass\n"
            "embedded_work()\n")
    env = dict(os.environ, PYTHONHOME=prefix)
    for extra in ([], ["--subprocesses"]):
        out = os.path.join(d, "embed%d.folded" % len(extra))
        r = common.run(["record", "-r", str(RATE), "-f", "folded", "-o",
                        out] + extra + ["--", EMBED, lib, "1000", code],
                       timeout=120, env=env)
        stacks, bad = (common.read_folded(out) if os.path.exists(out)
                       else ([], ["no profile written"]))
        n = sum(c for s, c in stacks
                if any(common.frame_name(f) == "embedded_work" for f in s))
        roots = {s[0] for s, _ in stacks}
        rooted_ok = not extra or (
            len(roots) == 1 and
            all(PROCESS_ROOT.match(x) for x in roots) and
            "psample: the root" not in r.stderr)
        tap.ok(r.returncode == 0 and not bad and n > 0 and rooted_ok,
               "%s%s: sampled as Python%s" % (
                   name, " (--subprocesses)" if extra else "",
                   ", as the root" if extra else ""),
               "rc=%d, %d samples in embedded_work, roots %s\n%s" % (
                   r.returncode, n, sorted(roots)[:3], r.stderr[-1500:]))


PROMPT = "roots-test$ "


TMUX = common.Tmux("psample-roots", "roots")
tmux, screen, send, wait_for = (TMUX, TMUX.screen, TMUX.send,
                                 TMUX.wait_for)


def exit_code(s):
    m = re.search(r"EXIT=(\d+)", s or "")
    return int(m.group(1)) if m else None


def check_terminal(tap, it, d):
    """record and top -- COMMAND in a terminal, as a user types them."""
    name = "%s: in a terminal" % common.label(it)
    record = "%s record -q -o %s --" % (common.PSAMPLE,
                                          q(os.path.join(d, "tty.folded")))
    # The prompt is not on the command line as typed.
    upper = "%s -c \"x = input('ask' + ': '); print(x.upper())\"" % (
        q(it.path))

    # A command reading its input gets the terminal.
    send("clear; %s %s; echo EXIT=$?" % (record, upper), "Enter")
    wait_for(lambda s: "ask:" in s, 15)
    send("hello", "Enter")
    s = wait_for(lambda s: exit_code(s) is not None, 15)
    tap.ok(s and "HELLO" in s and exit_code(s) == 0,
           "%s: a command that reads the terminal gets its input" % name,
           TMUX.last)

    # Ctrl-Z stops both, fg continues both, with the terminal.
    send("clear; %s %s" % (record, upper), "Enter")
    wait_for(lambda s: "ask:" in s, 15)
    time.sleep(0.5)
    send("C-z")
    s1 = wait_for(lambda s: "Stopped" in s, 10)
    send("fg", "Enter")
    time.sleep(1.0)
    send("again", "Enter")
    s2 = wait_for(lambda s: "AGAIN" in s and
                  s.rstrip().endswith(PROMPT.strip()), 10)
    send("echo EXIT=$?", "Enter")
    s3 = wait_for(lambda s: exit_code(s) is not None, 10)
    tap.ok(s1 and s2 and exit_code(s3) == 0,
           "%s: Ctrl-Z stops record and its command, fg continues them"
           % name, TMUX.last)

    # Ctrl-C reaches a command that does not read the terminal.
    send("clear; %s %s -c \"import time; print('sle' + 'eping'); "
         "time.sleep(60)\"; echo EXIT=$?" % (record, q(it.path)), "Enter")
    wait_for(lambda s: "sleeping" in s, 15)
    time.sleep(0.5)
    send("C-c")
    s = wait_for(lambda s: exit_code(s) is not None, 15)
    tap.ok(exit_code(s) == 128 + signal.SIGINT and "KeyboardInterrupt" in s,
           "%s: Ctrl-C reaches the command through psample" % name,
           TMUX.last)

    # Quitting top -- COMMAND ends the command's whole group.
    pidfile = os.path.join(d, "top-sleep.pid")
    script = ("echo $$ > %s; sleep 60 >/dev/null 2>&1 & exec %s %s 60"
              % (q(pidfile), q(it.path),
                 q(os.path.join(common.WORKLOADS, "topspin.py"))))
    send("clear; %s top -- sh -c %s; echo EXIT=$?"
         % (common.PSAMPLE, q(script)), "Enter")
    s = wait_for(lambda s: "psample top" in s and "%Own" in s, 20)
    send("q")
    s = wait_for(lambda s: exit_code(s) is not None, 15)
    try:
        with open(pidfile) as f:
            group = int(f.read())
    except (OSError, ValueError):
        group = None
    left = group_live(group) if group else []
    tap.ok(exit_code(s) == 0 and group and not left,
           "%s: q in top -- COMMAND ends the command and what it started"
           % name, "group %s, running %s\n%s" % (group, left,
                                                  TMUX.last))
    if group:
        kill_group(group)


def main():
    tap = common.Tap()
    d = common.tmpdir()
    _, supported = common.interpreters(tap)
    ends = supported[:1] + supported[-1:] if len(supported) > 1 \
        else supported
    for it in ends:
        check_shell_root(tap, it, d)
        check_exec_root(tap, it, d)
        check_attach_root(tap, it, d)
        check_forwarded(tap, it, d)
    check_not_python(tap, d)
    shared = [it for it in supported if it.shared and not it.wrapped]
    for it in shared[:1] + shared[-1:] if len(shared) > 1 else shared:
        check_embedded(tap, it, d)
    if not shared:
        tap.skip("a C program that loads libpython",
                 "no interpreter with a shared libpython")
    if not shutil.which("tmux"):
        tap.skip("record and top in a terminal", "tmux is not installed")
    elif supported:
        try:
            tmux("new-session", "-d", "-x", "120", "-y", "30", "-s",
                 "roots", "PS1='%s' exec bash --norc --noprofile" % PROMPT)
            if wait_for(lambda s: PROMPT.strip() in s, 10):
                check_terminal(tap, supported[0], d)
            else:
                tap.ok(False, "a shell starts in tmux", TMUX.last)
        finally:
            tmux("kill-server", check=False)
    tap.done()


if __name__ == "__main__":
    main()
