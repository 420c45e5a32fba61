"""End-to-end test of the speedscope output.

Records workloads/shapes.py (recursion, two __init__, two functions called
step, a non-ASCII name, a worker thread, a path with ';' and a space) with
-f speedscope,folded, then checks the JSON as speedscope's schema and
importer see it, against the folded output of the same run, and by
loading it into the real speedscope app in headless chromium (from the
oldest and the newest interpreter found; PSAMPLE_SPEEDSCOPE_ALL=1: every
one).  A second
workload gives functions names that need JSON escaping (quotes,
backslashes, control characters, non-ASCII, a lone surrogate in a file
name) and names its worker thread.

Consumers: chromium (Debian) and npm speedscope@1.25.0 under
${XDG_CACHE_HOME:-~/.cache}/psample-test/node_modules; the checks that
need one are skipped, saying why, when it is missing.  Python's
jsonschema, if installed, validates against the schema the npm package
ships.

speedscope_load() is shared with test_pprof.py (speedscope imports pprof).
"""

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile

import common

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
RATE = 500
INTERVAL_NS = 10**9 // RATE

SPEEDSCOPE_DIST = os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "psample-test", "node_modules", "speedscope", "dist", "release")

# What speedscope prints when an import fails (output-formats.md §9).
SPEEDSCOPE_FAILURES = ("Failed to load format", "Unrecognized format",
                       "Something went wrong", "ALERT:")

# A workload whose function names and file names need escaping.  It
# renames code objects (co_qualname exists from 3.11 on; co_name is what
# older versions show) and names its worker thread with prctl, which
# CPython only does itself from 3.14 on.
NAMES_PY = r'''
import ctypes
import sys
import threading
import time

NAMES = %(names)r
SURROGATE_FILE = %(surrogate)r


def burn(n):
    i = 0
    while i < n:
        i += 1


def make(qualname, filename=None):
    def f(n):
        burn(n)
    kw = {"co_name": qualname.rsplit(".", 1)[-1]}
    if hasattr(f.__code__, "co_qualname"):
        kw["co_qualname"] = qualname
    if filename:
        kw["co_filename"] = filename
    f.__code__ = f.__code__.replace(**kw)
    return f


def name_thread(name):
    try:
        ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def worker(stop, f):
    while not stop.is_set():
        f(20000)


def start_named(name, target, args):
    """Start a thread that has its name from birth: a new thread copies
    its creator's, so a short-lived thread names itself and creates it
    (naming the thread itself would race with psample reading names)."""
    box = []

    def namer():
        name_thread(name)
        t = threading.Thread(target=target, args=args, name=name)
        t.start()
        box.append(t)
    n = threading.Thread(target=namer)
    n.start()
    n.join()
    return box[0]


def main(duration):
    funcs = [make(n) for n in NAMES]
    odd = make("surrogate_file", SURROGATE_FILE)
    stop = threading.Event()
    t = start_named("worker", worker, (stop, funcs[2]))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duration:
        for f in funcs:
            f(20000)
        odd(20000)
    stop.set()
    t.join()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
'''
WEIRD_NAMES = ['quote"back\\slash', "new\nline\ttab\x01ctl", "größe_λ_😀",
               "semi;colon name", "Outer.<locals>.<lambda>"]
SURROGATE_FILE = "bad\udcff.py"
# What a lone surrogate must become in a UTF-8 file: U+FFFD per byte of
# its surrogatepass encoding, as Python's own "replace" decodes it.
SURROGATE_SHOWN = SURROGATE_FILE.encode("utf-8", "surrogatepass").decode(
    "utf-8", "replace")


def names_script(d):
    """The escaping workload, in a directory whose name holds ';', a
    space, quotes and a backslash."""
    sub = os.path.join(d, 'we;ird "dir" \\ x')
    os.makedirs(sub, exist_ok=True)
    path = os.path.join(sub, "names.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(NAMES_PY % {"names": WEIRD_NAMES,
                            "surrogate": SURROGATE_FILE})
    return path


def record_names(d, it, fmt, out, seconds=1, extra=()):
    script = names_script(d)
    args = ["record", "-r", str(RATE), "-f", fmt, "-o", out]
    args += list(extra) + ["--", it.path, script, str(seconds)]
    return common.run(args, timeout=120), script


def sanitizer_report(stderr):
    """The first line of an ASan/UBSan report in stderr, or None."""
    for line in stderr.splitlines():
        if "Sanitizer" in line or "runtime error:" in line:
            return line
    return None


def check_run(tap, name, proc, paths):
    """psample exited 0, without sanitizer reports, and wrote paths."""
    ok = tap.ok(proc.returncode == 0, name + ": psample exits 0",
                "rc=%s\n%s" % (proc.returncode, proc.stderr))
    report = sanitizer_report(proc.stderr)
    tap.ok(report is None, name + ": no sanitizer report", report)
    missing = [p for p in paths if not os.path.isfile(p)]
    return tap.ok(ok and not missing, name + ": the files were written",
                  "missing: %s" % missing) and ok


def folded_total(path):
    stacks, bad = common.read_folded(path)
    return sum(c for _, c in stacks), bad


# --- speedscope in headless chromium (output-formats.md §9) ----------------

def speedscope_missing(it=None):
    """Why the speedscope check cannot run here (for interpreter it, if
    given), or None."""
    if not shutil.which("chromium"):
        return "chromium not installed (Debian package chromium)"
    if not os.path.isfile(os.path.join(SPEEDSCOPE_DIST, "index.html")):
        return "npm speedscope@1.25.0 not found in " + SPEEDSCOPE_DIST
    if it is not None and it not in BROWSER:
        return ("loaded in chromium from the oldest and the newest "
                "interpreter only (PSAMPLE_SPEEDSCOPE_ALL=1: all)")
    return None


# The interpreters whose profiles are loaded into the speedscope app,
# set by main() (test_pprof's too).  A load takes about 5 s and each
# interpreter had four (two here, two in test_pprof): 20 s of each
# interpreter's end-to-end time, for a check of the file format that the
# checks of the JSON and the proto already make on every interpreter.
# So the oldest and the newest, as test_top does.
BROWSER = []


def choose_browser(supported):
    BROWSER[:] = supported
    if os.environ.get("PSAMPLE_SPEEDSCOPE_ALL") != "1" and \
            len(supported) > 2:
        BROWSER[:] = [supported[0], supported[-1]]


# Run in the page after the import: speedscope renders its tables a
# frame or more later (sooner or later, headless), so wait for rows
# under the sandwich table's header, nudging with a resize, and then log
# the page's text.
PAGE_TEXT_JS = """
(function poll(n) {
  var t = document.body.innerText;
  var i = t.indexOf("Symbol Name");
  if ((i >= 0 && t.slice(i + 11).trim().length > 0) || n > 100) {
    console.log("PSAMPLE-TEXT " + JSON.stringify(t));
    return;
  }
  if (n % 10 == 5)
    window.dispatchEvent(new Event("resize"));
  setTimeout(function() { poll(n + 1); }, 100);
})(0);
"""


def speedscope_load(path):
    """Load path into the speedscope app the way its own CLI does, in
    headless chromium, sandwich view.  Returns (console messages, the
    page's text)."""
    work = tempfile.mkdtemp(prefix="psample-speedscope-")
    try:
        js = os.path.join(work, "load.js")
        with open(path, "rb") as f:
            b64 = base64.b64encode(f.read()).decode()
        with open(js, "w") as f:
            # An alert would block a headless page: log it instead.
            f.write('window.alert = function(m) '
                    '{ console.log("ALERT: " + m) };\n')
            f.write("speedscope.loadFileFromBase64(%s, %s);\n" % (
                json.dumps(os.path.basename(path)), json.dumps(b64)))
            f.write(PAGE_TEXT_JS)
        url = "file://%s/index.html#localProfilePath=%s&view=sandwich" % (
            SPEEDSCOPE_DIST, js)
        env = dict(os.environ, HOME=work, XDG_CONFIG_HOME=work,
                   XDG_CACHE_HOME=work)
        # SwiftShader: speedscope waits for a WebGL canvas.
        proc = subprocess.run(
            ["chromium", "--headless=new", "--no-sandbox",
             "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
             "--enable-logging=stderr", "--virtual-time-budget=20000",
             "--window-size=1280,4000",
             "--user-data-dir=" + os.path.join(work, "profile"),
             "--dump-dom", url],
            capture_output=True, timeout=180, env=env)
        console, text = [], ""
        for line in proc.stderr.decode("utf-8", "replace").splitlines():
            m = re.search(r':CONSOLE(?:\(\d+\))?:?\d*\] "(.*)", source:',
                          line)
            if not m:
                continue
            if m.group(1).startswith("PSAMPLE-TEXT "):
                text = json.loads(m.group(1)[len("PSAMPLE-TEXT "):])
            else:
                console.append(m.group(1))
        # The dumped DOM too: an error screen may have replaced the app.
        text += "\n" + dom_text(proc.stdout.decode("utf-8", "replace"))
        return console, text
    finally:
        shutil.rmtree(work, ignore_errors=True)


def dom_text(dom):
    """The text of an HTML dump, one '|' between elements."""
    import html
    dom = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "|", dom))
    return re.sub(r"\s*\|[\s|]*", "|", text)


def speedscope_verdict(console, text, importer):
    """None if speedscope imported the file with importer, else why not."""
    failures = [c for c in console if c.startswith(SPEEDSCOPE_FAILURES)]
    failures += [f for f in SPEEDSCOPE_FAILURES if f in text]
    if failures:
        return "failed: %s" % failures
    if ("Importing as " + importer) not in console:
        return "no 'Importing as %s' in console: %s" % (importer, console)
    if not any(c.startswith("import: ") for c in console):
        return "import did not finish: %s" % console
    return None


def sandwich_names(text):
    """Symbol names in speedscope's sandwich table, whose rows read
    'total (%)', tab 'self (%)', tab 'name'."""
    lines = text.split("\n")
    return {lines[i][1:] for i in range(1, len(lines))
            if lines[i].startswith("\t")
            and re.match(r"^\t.*\(.*%\)$", lines[i - 1])}


# --- the JSON ----------------------------------------------------------

def load_json(path):
    """(document, None) or (None, why)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return json.loads(data.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as e:
        return None, str(e)


def structure_errors(doc):
    """What speedscope's importer would reject or mis-read, beyond the
    schema: samples/weights lengths, frame indices, totals, nulls."""
    errs = []
    frames = doc.get("shared", {}).get("frames", [])
    for i, f in enumerate(frames):
        if set(f) - {"name", "file", "line", "col"}:
            errs.append("frame %d: keys %s" % (i, sorted(f)))
        for k, v in f.items():
            if v is None:
                errs.append("frame %d: %s is null" % (i, k))
    for p in doc.get("profiles", []):
        name = p.get("name")
        samples, weights = p.get("samples", []), p.get("weights", [])
        if len(samples) != len(weights):
            errs.append("%s: %d samples, %d weights" % (
                name, len(samples), len(weights)))
        for s in samples:
            bad = [i for i in s
                   if not isinstance(i, int) or not 0 <= i < len(frames)]
            if bad:
                errs.append("%s: frame indices out of range %s" % (name, bad))
                break
        if any(not isinstance(w, int) or w <= 0 for w in weights):
            errs.append("%s: weights not positive integers" % name)
        if p.get("endValue", 0) - p.get("startValue", 0) != sum(weights):
            errs.append("%s: endValue - startValue = %s, weights sum %s" % (
                name, p.get("endValue", 0) - p.get("startValue", 0),
                sum(weights)))
    return errs


def schema_errors(doc):
    """Validation against the schema shipped with npm speedscope; None
    if jsonschema or the schema is not available."""
    try:
        import jsonschema
    except ImportError:
        return None
    path = os.path.join(SPEEDSCOPE_DIST, "file-format-schema.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        schema = json.load(f)
    v = jsonschema.Draft7Validator(schema)
    return ["%s: %s" % (list(e.path), e.message)
            for e in v.iter_errors(doc)][:10]


def stacks(doc, profile):
    """[(frame dicts root first, weight)] of one profile."""
    frames = doc["shared"]["frames"]
    return [([frames[i] for i in s], w)
            for s, w in zip(profile["samples"], profile["weights"])]


def find_profile(doc, frame_name):
    """The profiles whose stacks hold a frame called frame_name."""
    return [p for p in doc["profiles"]
            if any(f["name"] == frame_name
                   for st, _ in stacks(doc, p) for f in st)]


THREAD_NAME = re.compile(r'^Thread (\d+)( "(.*)")?$', re.S)


def check_shapes(tap, it):
    name = common.label(it)
    d = common.tmpdir()
    stem = os.path.join(d, "prof")
    out, folded = stem + ".speedscope.json", stem + ".folded"
    proc, script = common.record_shapes(d, it, "speedscope,folded", stem,
                                        rate=RATE)
    if not check_run(tap, name + " shapes", proc, [out, folded]):
        return
    marks = common.marker_lines(script)

    doc, why = load_json(out)
    if not tap.ok(doc is not None, name + ": the file is valid UTF-8 JSON",
                  why):
        return
    tap.ok(doc.get("$schema") == SCHEMA_URL,
           name + ": $schema is speedscope's, exactly", doc.get("$schema"))
    tap.ok(str(doc.get("exporter", "")).startswith("psample")
           and doc.get("name"), name + ": exporter and name are set",
           "exporter=%r name=%r" % (doc.get("exporter"), doc.get("name")))
    errs = schema_errors(doc)
    if errs is None:
        tap.skip(name + ": validates against file-format-schema.json",
                 "python jsonschema or npm speedscope's schema missing")
    else:
        tap.ok(not errs, name + ": validates against file-format-schema.json",
               "\n".join(errs))
    errs = structure_errors(doc)
    tap.ok(not errs, name + ": samples and weights pair up, frame indices "
           "in range, endValue - startValue = sum of weights",
           "\n".join(errs[:20]))

    profiles = doc.get("profiles", [])
    tap.ok(all(p.get("type") == "sampled" and p.get("unit") == "nanoseconds"
               and p.get("startValue") == 0 for p in profiles),
           name + ": sampled profiles in nanoseconds from 0",
           [(p.get("type"), p.get("unit"), p.get("startValue"))
            for p in profiles])
    tap.ok(all(w % INTERVAL_NS == 0 for p in profiles for w in p["weights"]),
           name + ": every weight is a whole number of %d ns intervals"
           % INTERVAL_NS)
    total, bad = folded_total(folded)
    held = sum(p["endValue"] for p in profiles) // INTERVAL_NS
    tap.ok(total > 0 and held == total and not bad,
           name + ": the profiles hold as many samples as the folded "
           "output of the same run", "speedscope %d, folded %d %s" % (
               held, total, bad[:3]))
    active = doc.get("activeProfileIndex")
    tap.ok(isinstance(active, int) and 0 <= active < len(profiles),
           name + ": activeProfileIndex names a profile", active)

    # One profile per thread, named after it.
    tids = [THREAD_NAME.match(p["name"]) for p in profiles]
    tap.ok(len(profiles) == 2 and all(tids)
           and len({m.group(1) for m in tids}) == 2,
           name + ": one profile per thread, named 'Thread <tid>'",
           [p["name"] for p in profiles])
    def q(qualname):
        return common.py_name(it, qualname)

    main = find_profile(doc, q("A.__init__"))
    worker = find_profile(doc, "größe")
    tap.ok(len(main) == 1 and len(worker) == 1 and main != worker
           and find_profile(doc, "rec") == main,
           name + ": the main thread's and the worker's stacks are in "
           "separate profiles",
           "A.__init__ in %s, größe in %s" % (
               [p["name"] for p in main], [p["name"] for p in worker]))

    # Frames: clean names, the file, the current line.
    frames = doc["shared"]["frames"]
    by_name = {}
    for f in frames:
        by_name.setdefault(f["name"], []).append(f)
    dirty = [f["name"] for f in frames if re.search(r" \(.*:\d+\)$",
                                                    f["name"])]
    tap.ok(not dirty, name + ": frame names are bare qualnames", dirty[:5])

    def has(fname, line):
        return any(f.get("file") == script and f.get("line") == line
                   for f in by_name.get(fname, []))

    for fname, mark in (("A.__init__", "a_init"), ("B.__init__", "b_init"),
                        ("rec", "rec_leaf"), ("rec", "rec_self"),
                        ("größe", "groesse"), ("worker", "worker_call")):
        tap.ok(has(q(fname), marks[mark]),
               name + ": frame %s at %s:%d (file and current line)" % (
                   fname, os.path.basename(script), marks[mark]),
               by_name.get(fname))
    tap.ok(has("step", marks["step_one"]) and has("step", marks["step_two"]),
           name + ": both functions called step are there, by line",
           by_name.get("step"))

    # Stacks root first, recursion kept whole.
    main_stacks = stacks(doc, main[0]) if main else []
    roots = {st[0]["name"] for st, _ in main_stacks if st}
    deepest = max((sum(f["name"] == "rec" for f in st)
                   for st, _ in main_stacks), default=0)
    tap.ok("<module>" in roots and deepest == 7,
           name + ": stacks are root first and rec() recursion is 7 deep",
           "roots %s, deepest rec %d" % (sorted(roots), deepest))
    wstacks = stacks(doc, worker[0]) if worker else []
    tap.ok(any([f["name"] for f in st][-3:] == ["worker", "größe", "burn"]
               for st, _ in wstacks),
           name + ": the worker's stacks end worker > größe > burn")

    # The real consumer.
    why = speedscope_missing(it)
    if why:
        tap.skip(name + ": speedscope imports it", why)
        tap.skip(name + ": speedscope shows the active thread's functions",
                 why)
        return
    console, text = speedscope_load(out)
    verdict = speedscope_verdict(console, text, "speedscope json file")
    tap.ok(verdict is None, name + ": speedscope imports it", verdict)
    shown = sandwich_names(text)
    want = {f["name"] for st, _ in stacks(doc, profiles[active]) for f in st}
    tap.ok(want and want <= shown and profiles[active]["name"] in text,
           name + ": speedscope shows the active thread's functions",
           "missing %s; shown %s" % (sorted(want - shown), sorted(shown)))


def check_names(tap, it):
    name = common.label(it)
    d = common.tmpdir()
    stem = os.path.join(d, "names")
    out, folded = stem + ".speedscope.json", stem + ".folded"
    proc, script = record_names(d, it, "speedscope,folded", stem,
                                extra=["--threads"])
    if not check_run(tap, name + " names", proc, [out, folded]):
        return
    doc, why = load_json(out)
    if not tap.ok(doc is not None,
                  name + ": names needing escapes still give valid UTF-8 "
                  "JSON", why):
        return
    errs = (schema_errors(doc) or []) + structure_errors(doc)
    tap.ok(not errs, name + ": escaped names keep the file valid",
           "\n".join(errs))
    frames = doc["shared"]["frames"]
    names = {f["name"] for f in frames}
    missing = [n for n in WEIRD_NAMES if common.py_name(it, n) not in names]
    tap.ok(not missing, name + ": quotes, backslashes, control characters, "
           "non-ASCII and ';' survive in frame names",
           "missing %r" % missing)
    files = {f.get("file") for f in frames if f["name"] == "surrogate_file"}
    tap.ok(files == {SURROGATE_SHOWN},
           name + ": a lone surrogate in a file name becomes U+FFFD",
           files)
    tap.ok(any(f.get("file") == script for f in frames),
           name + ": a path with ';', quotes, a backslash and spaces "
           "survives", script)
    pnames = [p["name"] for p in doc["profiles"]]
    stacks_, _ = common.read_folded(folded)
    roots = set()
    for st, _ in stacks_:
        m = re.match(r"^thread (?:(\d+) \((.*)\)|\((\d+)\))$", st[0], re.S)
        roots.add(("Thread %s \"%s\"" % (m.group(1), m.group(2)))
                  if m and m.group(1) else
                  "Thread %s" % m.group(3) if m else st[0])
    tap.ok(sorted(pnames) == sorted(roots),
           name + ": the profiles are the threads the folded output of "
           "the same run has", "speedscope %s, folded %s" % (
               pnames, sorted(roots)))
    tap.ok(any(THREAD_NAME.match(n) and THREAD_NAME.match(n).group(3)
               == "worker" for n in pnames),
           name + ': the named thread\'s profile is Thread <tid> "worker"',
           pnames)
    why = speedscope_missing(it)
    if why:
        tap.skip(name + ": speedscope imports names that need escapes", why)
        return
    console, text = speedscope_load(out)
    verdict = speedscope_verdict(console, text, "speedscope json file")
    tap.ok(verdict is None,
           name + ": speedscope imports names that need escapes", verdict)


def main():
    tap = common.Tap()
    found, supported = common.interpreters(tap, "speedscope with")
    choose_browser(supported)
    for it in supported:
        check_shapes(tap, it)
        check_names(tap, it)
    tap.done()


if __name__ == "__main__":
    main()
