"""The callgrind output against callgrind_annotate (Debian's valgrind).

shapes.py is recorded into callgrind and folded at once (one run, so the
folded file is an independent count of the same samples).  The file must
satisfy callgrind_annotate without a warning, in its default, --auto=yes
and --inclusive=yes reports; its totals must be the samples taken; the
source lines of the workload must be annotated although its path holds
';' and a space; same-named functions must stay apart; recursion must
count once per sample; and each thread must have its own root.  The
file's own structure is checked where KCacheGrind is stricter than
callgrind_annotate: compressed ids defined once, and cfi= then cfn=
before every calls=.
"""
import ast
import os
import re
import shutil
import subprocess

import common

RATE = 500
ANNOTATE = "/usr/bin/callgrind_annotate"
HEADER = re.compile(r"^(version|creator|pid|cmd|desc|positions|event|"
                    r"events|summary|totals|thread|part):\s*(.*)$")


class Callgrind:
    """Parse a callgrind file the way both readers do, noting anything
    KCacheGrind or callgrind_annotate would complain about."""

    def __init__(self, path):
        self.header = []  # (key, value) before the first body line
        self.problems = []
        self.self_cost = {}  # (file, fn) -> {line: cost}
        self.calls = []  # (caller, line, callee, count, cost)
        self.summary = self.totals = None
        names = {"fl": {}, "fn": {}}
        cur_file = cur_fn = cfile = cfn = None
        pending = None  # (count, callee) after calls=
        since_cost = []  # spec kinds since the last cost line
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if not lines or lines[0] != "# callgrind format":
            self.problems.append("first line is not '# callgrind format'")
        body = False

        def name(kind, text, n):
            m = re.match(r"^\((\d+)\)(?: (.*))?$", text)
            if not m:
                self.problems.append("line %d: uncompressed name" % n)
                return text
            table = names["fl" if kind in ("fl", "cfi", "cfl") else "fn"]
            i, given = int(m.group(1)), m.group(2)
            if given is None:
                if i not in table:
                    self.problems.append("line %d: undefined id %d" % (n, i))
                return table.get(i)
            if i in table and table[i] != given:
                self.problems.append("line %d: id %d redefined" % (n, i))
            table[i] = given
            return given

        for n, line in enumerate(lines, 1):
            if not line or line.startswith("#"):
                continue
            m = HEADER.match(line)
            if m:
                key, value = m.groups()
                if key == "summary":
                    self.summary = int(value)
                elif key == "totals":
                    self.totals = int(value)
                elif body:
                    self.problems.append("line %d: header after body" % n)
                if not body and key != "totals":
                    self.header.append(key)
                continue
            body = True
            m = re.match(r"^(fl|fn|cfi|cfl|cfn)=(.*)$", line)
            if m:
                kind, value = m.groups()
                v = name(kind, value, n)
                since_cost.append(kind)
                if kind == "fl":
                    cur_file = v
                elif kind == "fn":
                    cur_fn = v
                elif kind in ("cfi", "cfl"):
                    cfile = v
                else:
                    cfn = (cfile if cfile is not None else cur_file, v)
                    cfile = None
                continue
            m = re.match(r"^calls=(\d+) (\d+)$", line)
            if m:
                tail = [k for k in since_cost if k in ("cfi", "cfn")][-2:]
                if tail != ["cfi", "cfn"]:
                    self.problems.append(
                        "line %d: calls= without cfi= then cfn=" % n)
                if int(m.group(1)) < 1:
                    self.problems.append("line %d: call count 0" % n)
                pending = (int(m.group(1)), cfn)
                continue
            m = re.match(r"^(\d+) (\d+)$", line)
            if not m:
                self.problems.append("line %d: not understood: %r"
                                     % (n, line))
                continue
            pos, cost = int(m.group(1)), int(m.group(2))
            since_cost = []
            me = (cur_file, cur_fn)
            if pending:
                self.calls.append((me, pos, pending[1], pending[0], cost))
                pending = None
            else:
                d = self.self_cost.setdefault(me, {})
                d[pos] = d.get(pos, 0) + cost
        if self.header[-2:] != ["events", "summary"]:
            self.problems.append("header does not end in events:, "
                                 "summary: (%s)" % self.header)

    def total_self(self):
        return sum(sum(d.values()) for d in self.self_cost.values())

    def functions(self):
        return set(self.self_cost) | {c[0] for c in self.calls} | \
            {c[2] for c in self.calls}

    def roots(self):
        called = {c[2] for c in self.calls}
        return {f for f in self.functions() if f not in called}

    def reachable(self, root):
        seen, todo = {root}, [root]
        while todo:
            f = todo.pop()
            for c in self.calls:
                if c[0] == f and c[2] not in seen:
                    seen.add(c[2])
                    todo.append(c[2])
        return seen


def annotate(args, cwd):
    return subprocess.run([ANNOTATE] + args, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)


def clean(r):
    return r.returncode == 0 and not r.stderr and "WARNING" not in r.stdout


def function_costs(out):
    """{'file:function': cost} from a callgrind_annotate report."""
    costs = {}
    for line in out.split("\n"):
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)  (\S.*)$", line)
        if m and not m.group(2).startswith("=>"):
            costs[m.group(2)] = int(m.group(1).replace(",", ""))
    return costs


def workload_defs(script):
    """{qualname: first line} of shapes.py; the second step is step#2."""
    with open(script, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name if node.name not in out
                else node.name + "#2"] = node.lineno
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    out[node.name + "." + sub.name] = sub.lineno
    return out


def check(tap, it, d):
    name = common.label(it)
    stem = os.path.join(d, "shapes")
    r, script = common.record_shapes(d, it, "callgrind,folded", stem,
                                     rate=RATE)
    path = os.path.join(d, "callgrind.out.shapes")
    folded = stem + ".folded"
    if not tap.ok(r.returncode == 0 and os.path.exists(path) and
                  os.path.exists(folded),
                  "%s: record -f callgrind,folded writes %s and the folded "
                  "file" % (name, os.path.basename(path)),
                  "rc=%d\n%s" % (r.returncode, r.stderr)):
        return
    cg = Callgrind(path)
    tap.ok(not cg.problems, "%s: ids defined once, cfi= then cfn= before "
           "every calls=, header ends in events: and summary:" % name,
           "\n".join(cg.problems[:10]))

    # A directory that is no prefix of the sources: see the note below.
    neutral = os.path.join(d, "elsewhere")
    os.makedirs(neutral, exist_ok=True)
    plain = annotate([path], neutral)
    tap.ok(clean(plain) and
           re.search(r"^Profiled target: .*%s" % re.escape(script),
                     plain.stdout, re.M),
           "%s: callgrind_annotate reads it without a warning and names "
           "the command" % name,
           "rc=%d\n%s\n%s" % (plain.returncode, plain.stderr,
                              plain.stdout[:1500]))

    stacks, _ = common.read_folded(folded)
    samples = sum(c for _, c in stacks)
    m = re.search(r"^\s*([\d,]+) \(100\.0%\)  PROGRAM TOTALS", plain.stdout,
                  re.M)
    printed = int(m.group(1).replace(",", "")) if m else None
    tap.ok(samples > 0 and cg.summary == cg.totals == cg.total_self() ==
           samples == printed,
           "%s: summary, totals, the self costs and callgrind_annotate's "
           "total all equal the %d samples taken" % (name, samples),
           "summary=%s totals=%s self=%d annotate=%s" % (
               cg.summary, cg.totals, cg.total_self(), printed))

    marks = common.marker_lines(script)
    defs = workload_defs(script)
    auto = annotate(["--auto=yes", path], neutral)
    src = auto.stdout.split("-- Auto-annotated source: %s\n" % script)
    ann = src[1].split("\n-- Auto-annotated source:")[0] if len(src) > 1 \
        else ""
    loop = [ln for ln in ann.split("\n") if "# @burn_loop" in ln]
    tap.ok(clean(auto) and loop and re.match(r"^\s*[\d,]+ \(", loop[0]),
           "%s: --auto=yes finds the source despite ';' and a space in "
           "its path, and shows cost on burn's loop line" % name,
           "%s\n%s" % (auto.stderr, auto.stdout[-3000:]))
    lines = ann.split("\n")
    at = [i for i, ln in enumerate(lines) if "# @rec_leaf" in ln]
    call = lines[at[0] + 1] if at and at[0] + 1 < len(lines) else ""
    m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)  => " +
                 re.escape("%s:burn:%d" % (script, defs["burn"])) +
                 r" \(([\d,]+)x\)", call)
    tap.ok(m and m.group(1) == m.group(2),
           "%s: the source shows the call rec -> burn on rec's line %d, "
           "counted in samples" % (name, marks["rec_leaf"]),
           "line after rec_leaf: %r" % call)

    inc = annotate(["--inclusive=yes", "--threshold=100", path], neutral)
    costs = function_costs(inc.stdout)
    want = ["%s:%d" % (common.py_name(it, q.split("#")[0]), defs[q])
            for q in ("rec", "A.__init__", "B.__init__", "step", "step#2",
                      "größe")]
    missing = [w for w in want if "%s:%s" % (script, w) not in costs]
    tap.ok(clean(inc) and not missing,
           "%s: --inclusive=yes lists %s as separate functions"
           % (name, ", ".join(want)),
           "missing %s\n%s" % (missing, inc.stderr + inc.stdout[:3000]))
    in_rec = sum(c for s, c in stacks
                 if any(common.frame_name(f) == "rec" for f in s))
    rec = costs.get("%s:rec:%d" % (script, defs["rec"]))
    tap.ok(in_rec > 0 and rec == in_rec and
           max(costs.values() or [0]) <= samples,
           "%s: rec() recursing 6 deep: its inclusive cost is the %d "
           "samples it is in, and no function exceeds the total"
           % (name, in_rec), "annotate says %s" % rec)

    roots = sorted(f for f in cg.roots() if f[1].startswith("<thread "))
    worker = (script, "worker:%d" % defs["worker"])
    main = (script, "main:%d" % defs["main"])
    with_main = [f for f in roots if main in cg.reachable(f)]
    with_worker = [f for f in roots if worker in cg.reachable(f)]
    root_costs = [costs.get("???:%s" % f[1], 0) for f in roots]
    tap.ok(len(roots) == 2 and set(roots) == cg.roots() and
           len(with_main) == 1 and len(with_worker) == 1 and
           with_main != with_worker and sum(root_costs) == samples,
           "%s: each thread has its own root (%s), and the roots' "
           "inclusive costs add up to the total" % (
               name, ", ".join(f[1] for f in roots)),
           "roots %s, costs %s" % (sorted(cg.roots()), root_costs))

    # callgrind_annotate strips its working directory from fl= names but
    # not from cfi= names, so from a directory holding the sources its
    # --inclusive=yes report splits each function called across files in
    # two.  Its default report is unaffected: check that one from there.
    home = annotate([path], os.path.dirname(script))
    tap.ok(clean(home) and "shapes.py:burn:%d" % defs["burn"] in
           function_costs(home.stdout),
           "%s: callgrind_annotate run from the source's directory reads "
           "it without a warning" % name, home.stderr + home.stdout[:1500])


def main():
    tap = common.Tap()
    d = common.tmpdir()
    found, supported = common.interpreters(tap, "callgrind from")
    if not os.access(ANNOTATE, os.X_OK):
        tap.skip("callgrind_annotate", "%s not installed (Debian package "
                 "valgrind)" % ANNOTATE)
        supported = []
    else:
        tap.note("callgrind_annotate --inclusive=yes run from a directory "
                 "that holds the sources counts cross-file calls under "
                 "two names (it strips its cwd from fl= only); the "
                 "checks run it from elsewhere")
    for it in supported:
        check(tap, it, os.path.join(d, str(len(os.listdir(d)))))
    shutil.rmtree(d, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
