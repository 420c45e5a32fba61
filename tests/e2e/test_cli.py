"""The command line itself: usage errors are one line and exit 2, help
and version work, an unknown format lists the valid ones."""
import common


def main():
    tap = common.Tap()
    usage = [
        ([], "no command"),
        (["frobnicate"], "unknown command"),
        (["attach"], "attach without --pid"),
        (["dump"], "dump without --pid"),
        (["attach", "--pid", "abc"], "non-numeric pid"),
        (["attach", "--pid", "1", "-r", "0"], "zero rate"),
        (["attach", "--pid", "1", "-d", "-3"], "negative duration"),
        (["record"], "record without a command"),
        (["attach", "--pid", "1", "extra"], "stray argument"),
    ]
    for args, what in usage:
        r = common.run(args)
        tap.ok(r.returncode == common.EXIT_USAGE and r.stderr.strip(),
               "%s: exit %d with a message" % (what, common.EXIT_USAGE),
               "rc=%d %s" % (r.returncode, r.stderr))
    r = common.run(["--help"])
    tap.ok(r.returncode == 0 and "record" in r.stdout and
           "--rate" in r.stdout, "--help prints usage, exit 0", r.stderr)
    r = common.run(["--version"])
    tap.ok(r.returncode == 0 and r.stdout.startswith("psample "),
           "--version", r.stdout + r.stderr)
    r = common.run(["record", "-f", "nosuch", "--", "true"])
    tap.ok(r.returncode == common.EXIT_USAGE and "folded" in r.stderr and
           len(r.stderr.splitlines()) == 1,
           "unknown format: one line listing the valid formats",
           "rc=%d %s" % (r.returncode, r.stderr))
    tap.done()


if __name__ == "__main__":
    main()
