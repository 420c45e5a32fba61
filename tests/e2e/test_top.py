"""psample top, driven in a real terminal: a tmux pane of 80x24.

The topspin workload spins 75/25 in top_major() and top_minor() on its
main thread while a second thread sleeps in top_sleeper().  On the oldest
and the newest interpreter found (PSAMPLE_TOP_ALL=1: every one; each
takes about 20 s), the test checks what a user would look at: the
functions appear, a sort key reorders them, the thread filter shows one
thread, freezing keeps the screen as it is while sampling goes on, the
window can be resized, `q` and Ctrl-C leave the full-screen view and
give the terminal back as it was (same stty settings, the shell prompt
on the normal screen), `top -- COMMAND` shows how the command exited and
returns its status, and stdout that is not a terminal is refused.

The tmux server runs on a private socket and is killed at the end.
"""
import os
import re
import shutil
import time

import common

SESSION = "top"
PROMPT = "top-test$ "
TOPSPIN = os.path.join(common.WORKLOADS, "topspin.py")
STTY_FILE = os.path.join(common.tmpdir(), "stty-before")
# A row of the table: four numbers, then the function.
ROW = re.compile(r"^\s*(\d+\.\d)\s+(\d+\.\d)\s+(\d+\.?\d*)\s+(\d+\.?\d*)"
                 r"\s+(\S.*)$")


TMUX = common.Tmux("psample-test", SESSION)
tmux, screen, send, wait_for = (TMUX, TMUX.screen, TMUX.send,
                                 TMUX.wait_for)


def run_line(cmd):
    """Type a command line in the pane, framed so the test can see its
    exit status and whether the terminal settings came back."""
    line = ("clear; stty -g > %s; %s; echo EXIT=$?; "
            "stty -g | cmp -s - %s && echo TTY-SAME || echo TTY-CHANGED"
            % (STTY_FILE, cmd, STTY_FILE))
    send(line, "Enter")


def rows(s):
    """Function names of the table, top to bottom."""
    out = []
    for line in s.splitlines():
        m = ROW.match(line)
        if m:
            out.append(m.group(5).split(" (")[0])
    return out


def row_values(s, name):
    for line in s.splitlines():
        m = ROW.match(line)
        if m and m.group(5).split(" (")[0] == name:
            return [float(m.group(i)) for i in range(1, 5)]
    return None


def ended(s):
    """The framed command line has finished and the shell has printed
    its next prompt (which it does a moment after the last echo)."""
    lines = [ln for ln in s.splitlines() if ln.strip()]
    tty = [i for i, ln in enumerate(lines) if ln.startswith("TTY-")]
    return "EXIT=" in s and tty and any(
        ln.startswith(PROMPT.strip()) for ln in lines[tty[-1] + 1:])


def check_exit(tap, what, s, code=0):
    """After top ended: exit status, terminal settings, normal screen."""
    if s is None:
        tap.ok(False, "%s: top exits" % what, TMUX.last)
        return
    m = re.search(r"EXIT=(\d+)", s)
    tap.ok(m and int(m.group(1)) == code,
           "%s: exits with status %d" % (what, code), s)
    tap.ok("TTY-SAME" in s, "%s: the terminal settings are restored" % what,
           s)
    tap.ok("runtime error" not in s and "Sanitizer" not in s,
           "%s: no sanitizer report" % what, s)
    lines = [ln for ln in s.splitlines() if ln.strip()]
    tap.ok("Function (file:line)" not in s and lines
           and lines[-1].startswith(PROMPT.strip()),
           "%s: the full-screen view is gone, the prompt is back" % what, s)


def session(tap, it):
    tag = common.label(it)
    major = common.py_name(it, "top_major")
    minor = common.py_name(it, "top_minor")
    main = common.py_name(it, "main")
    sleeper_fn = common.py_name(it, "top_sleeper")
    with common.Target(it.path, "topspin.py") as t:
        tids = dict(ln.split() for ln in t.lines if " " in ln)
        run_line("%s top --pid %d" % (common.PSAMPLE, t.pid))

        s = wait_for(lambda s: major in rows(s) and minor in rows(s)
                     and main in rows(s))
        if not tap.ok(s is not None, "%s: the spinning functions appear"
                      % tag, TMUX.last):
            send("q")
            wait_for(ended, 10)
            return
        head = s.splitlines()
        tap.ok(head and ("pid %d" % t.pid) in head[0]
               and ("Python %d.%d" % tuple(it.version[:2])) in head[0],
               "%s: the header names the pid and Python version" % tag, s)
        tap.ok(re.search(r"Threads 2\b", s) and "Samples " in s
               and re.search(r"GIL (\d+\.\d%|n/a)", s)
               and re.search(r"CPU (\d+\.\d%|n/a)", s),
               "%s: the header has threads, samples, GIL and CPU" % tag, s)

        # Default: by %Own.  main spins nowhere itself.
        s = wait_for(lambda s: "Sort: %Own" in s and major in rows(s)
                     and minor in rows(s))
        r = rows(s or TMUX.last)
        tap.ok(s and r.index(major) < r.index(minor) < r.index(main),
               "%s: by %%Own, top_major, then top_minor, then main"
               % tag, s or TMUX.last)
        v1, v2 = row_values(s or "", major), row_values(s or "", minor)
        tap.ok(v1 and v2 and v1[2] > v2[2] > 0,
               "%s: top_major has more own time than top_minor" % tag, s)

        send("2")
        s = wait_for(lambda s: "Sort: %Total" in s)
        r = rows(s or "")
        tap.ok(s and main in r and major in r
               and r.index(main) < r.index(major),
               "%s: key 2 sorts by %%Total: main above top_major" % tag,
               s or TMUX.last)
        send("1")
        s = wait_for(lambda s: "Sort: %Own" in s)
        r = rows(s or "")
        tap.ok(s and main in r and major in r
               and r.index(major) < r.index(main),
               "%s: key 1 sorts by %%Own again" % tag, s or TMUX.last)

        # Freeze: nothing on the screen changes for two refreshes.
        send("p")
        a = wait_for(lambda s: "FROZEN" in s)
        time.sleep(2.5)
        b = screen()
        tap.ok(a is not None and a == b,
               "%s: frozen, the screen stays the same for 2 s" % tag,
               "before:\n%s\nafter:\n%s" % (a, b))
        send("p")
        s = wait_for(lambda s: "FROZEN" not in s and s != a, 5)
        tap.ok(s is not None,
               "%s: resumed, the figures move on" % tag, TMUX.last)

        # Thread filter: cycle until the sleeper's thread is shown.
        want = "Thread: %s" % tids.get("sleeper", "?")
        s = None
        for _ in range(4):
            send("f")
            s = wait_for(lambda s: want in s, 2)
            if s:
                break
        tap.ok(s is not None, "%s: f selects the sleeping thread" % tag,
               TMUX.last)
        s = wait_for(lambda s: want in s and sleeper_fn in rows(s), 5)
        tap.ok(s and major not in rows(s) and main not in rows(s),
               "%s: filtered, only that thread's functions" % tag,
               s or TMUX.last)
        for _ in range(4):
            if "Thread: all" in screen():
                break
            send("f")
            wait_for(lambda s: "Thread: all" in s, 2)
        tap.ok("Thread: all" in screen(),
               "%s: f comes back to all threads" % tag, screen())

        # Help, then back.
        send("h")
        s = wait_for(lambda s: "psample top keys" in s, 5)
        send("x")
        s2 = wait_for(lambda s: "psample top keys" not in s, 5)
        tap.ok(s is not None and s2 is not None,
               "%s: h shows the keys, any key closes them" % tag,
               TMUX.last)

        # Resize: the layout follows the window.
        tmux("resize-window", "-t", SESSION, "-x", "60", "-y", "16")
        s = wait_for(lambda s: len(s.rstrip("\n").splitlines()) <= 16
                     and s.rstrip("\n").splitlines()[-1].startswith(
                         "1 %Own") and major in rows(s), 5)
        tap.ok(s is not None,
               "%s: after a resize to 60x16 the table and the footer "
               "fit" % tag, TMUX.last)
        tmux("resize-window", "-t", SESSION, "-x", "80", "-y", "24")
        wait_for(lambda s: len(s.rstrip("\n").splitlines()) > 16, 5)

        send("q")
        check_exit(tap, "%s: q" % tag, wait_for(ended, 10))
        tap.ok(t.proc.poll() is None,
               "%s: the attached process keeps running" % tag)

        # Ctrl-C (the terminal's SIGINT) ends top the same way.
        run_line("%s top --pid %d" % (common.PSAMPLE, t.pid))
        s = wait_for(lambda s: major in rows(s))
        tap.ok(s is not None, "%s: top runs again" % tag, TMUX.last)
        send("C-c")
        check_exit(tap, "%s: Ctrl-C" % tag, wait_for(ended, 10))


def command(tap, it):
    """top -- python topspin.py 3: the final state says how it ended."""
    tag = common.label(it)
    major = common.py_name(it, "top_major")
    run_line("%s top -- %s %s 3" % (common.PSAMPLE, it.path, TOPSPIN))
    s = wait_for(lambda s: "process exited with status" in s, 30)
    tap.ok(s and "status 0" in s and major in rows(s),
           "%s: top -- COMMAND shows the functions and the exit" % tag,
           s or TMUX.last)
    tap.ok(s and "whole run" in s,
           "%s: after the exit the shares are of the whole run" % tag, s)
    time.sleep(1.5)
    tap.ok(s and screen() == s,
           "%s: the final screen stays until q" % tag, screen())
    send("q")
    check_exit(tap, "%s: top -- COMMAND, q" % tag, wait_for(ended, 10))



def command_status(tap, it):
    """The command's exit status comes back through top."""
    tag = common.label(it)
    d = common.tmpdir()
    script = os.path.join(d, "exit3.py")
    with open(script, "w") as f:
        f.write("import time\nt = time.time()\n"
                "while time.time() - t < 1.5:\n    pass\n"
                "raise SystemExit(3)\n")
    run_line("%s top -- %s %s" % (common.PSAMPLE, it.path, script))
    s = wait_for(lambda s: "process exited with status" in s, 30)
    tap.ok(s and "status 3" in s,
           "%s: the command's exit status is shown" % tag,
           s or TMUX.last)
    send("q")
    check_exit(tap, "%s: top -- COMMAND exiting 3" % tag,
               wait_for(ended, 10), code=3)


def not_a_tty(tap, it):
    with common.Target(it.path, "topspin.py") as t:
        r = common.run(["top", "--pid", str(t.pid)], timeout=30)
        err = r.stderr.strip().splitlines()
        tap.ok(r.returncode == common.EXIT_USAGE and len(err) == 1
               and "terminal" in err[0] and not r.stdout,
               "stdout not a terminal: one line and exit 2", r.stderr)
    r = common.run(["top"], timeout=30)
    tap.ok(r.returncode == common.EXIT_USAGE and "--pid" in r.stderr,
           "top without --pid or a command: exit 2", r.stderr)


def main():
    tap = common.Tap()
    found, supported = common.interpreters(tap)
    if not shutil.which("tmux"):
        tap.skip("psample top in a terminal", "tmux is not installed")
        tap.done()
    if supported:
        not_a_tty(tap, supported[0])
    chosen = supported
    if os.environ.get("PSAMPLE_TOP_ALL") != "1" and len(supported) > 2:
        chosen = [supported[0], supported[-1]]
    for it in supported:
        if it not in chosen:
            tap.skip("top on %s" % common.label(it),
                     "only the oldest and newest (PSAMPLE_TOP_ALL=1: all)")
    env_prompt = "PS1='%s' exec bash --norc --noprofile" % PROMPT
    try:
        tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", SESSION,
             env_prompt)
        if not wait_for(lambda s: PROMPT.strip() in s, 10):
            tap.ok(False, "a shell starts in tmux", TMUX.last)
            tap.done()
        for it in chosen:
            session(tap, it)
            command(tap, it)
            command_status(tap, it)
    finally:
        tmux("kill-server", check=False)
    tap.done()


if __name__ == "__main__":
    main()
