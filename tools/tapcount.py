#!/usr/bin/env python3
"""Count every TAP check in meson's test logs and print the closing line
"N passed, N failed, N skipped".  A test program that crashed or printed
no plan counts as one failure, so a broken runner cannot pass silently.
Each failed check is printed again with its "# " diagnostic lines, just
above the count, so a rare failure can be read from the tail of a CI log.
Exits 1 if anything failed or nothing ran."""
import json
import re
import sys

MAX_DIAG = 40  # lines of diagnostic per failed check
MAX_SHOWN = 20  # failed checks shown in all

passed = failed = skipped = 0
shown = []
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            out = t.get("stdout") or ""
            n_ok = n_bad = n_skip = 0
            plan = False
            diag = None
            for ln in out.splitlines():
                if diag is not None:
                    if ln.startswith("#") and len(diag) <= MAX_DIAG:
                        diag.append(ln)
                        continue
                    if not ln.startswith("#"):
                        diag = None
                if re.match(r"^1\.\.\d+", ln):
                    plan = True
                elif re.match(r"^ok\b", ln):
                    if re.search(r"#\s*SKIP", ln, re.I):
                        n_skip += 1
                    else:
                        n_ok += 1
                elif re.match(r"^not ok\b", ln):
                    n_bad += 1
                    diag = ["%s: %s" % (t.get("name", "?"), ln)]
                    shown.append(diag)
            if t.get("result") not in ("OK", "SKIP") and n_bad == 0:
                n_bad = 1   # crashed, timed out, or exited non-zero
            if not plan and n_bad == 0:
                n_bad = 1
            passed += n_ok
            failed += n_bad
            skipped += n_skip
shown = shown[:MAX_SHOWN]
if shown:
    print("== failed checks")
    for d in shown:
        print("\n".join(d))
# CI reads the last line, which must be exactly "N passed, N failed".
print("%d skipped" % skipped)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or passed == 0 else 0)
