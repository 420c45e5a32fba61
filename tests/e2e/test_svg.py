"""End-to-end tests of the svg format (the interactive flame graph) and of
psample diff's svg and folded outputs.

shapes.py is recorded once per interpreter with -f svg,folded,raw, so the
flame graph can be checked against the folded stacks of the same run:
every frame's count must be what the folded lines add up to for its
stack, and the graph must be well-formed, self-contained XML.  Headless
Chromium then loads a copy of the SVG with a small test script appended
that clicks a frame, searches, resets, and writes what it saw into the
document, which --dump-dom prints.  The diff outputs compare that run
with itself merged with a ratio.py run, whose frames are all new.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.dom.minidom

import common

SVG_NS = "http://www.w3.org/2000/svg"
TITLE = re.compile(r"^(.*) \((\d+) samples, (\d+\.\d\d)%\)$", re.S)
DIFF_TITLE = re.compile(
    r"^(.*) \(base (\d+) samples, (\d+\.\d\d)%; new (\d+) samples, "
    r"(\d+\.\d\d)%; ([+-]?\d+\.\d\d) pp\)$", re.S)
SUBTITLE_SAMPLES = re.compile(r"^(\d+) samples")
MATCHED = re.compile(r"^Matched: (\d+) samples, (\d+\.\d\d)%$")
RGB = re.compile(r"^rgb\((\d+),(\d+),(\d+)\)$")
# The font the graph declares: 12px monospace, 0.6em a character.
CHAR_W = 7.2
# Frames below this share of the samples may be left out of the graph.
MIN_SHARE = 1e-4
# What a search highlight looks like (the graph's .match style).
HIGHLIGHT = "rgb(225, 0, 225)"


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


# ---- reading the files ----

def folded_counts(path):
    """{stack tuple (root first): inclusive samples}, total, bad lines."""
    stacks, bad = common.read_folded(path)
    incl, total = {}, 0
    for frames, n in stacks:
        total += n
        for i in range(1, len(frames) + 1):
            key = tuple(frames[:i])
            incl[key] = incl.get(key, 0) + n
    return incl, total, bad


def text_of(node):
    return "".join(c.data for c in node.childNodes
                   if c.nodeType in (c.TEXT_NODE, c.CDATA_SECTION_NODE))


def read_svg(path):
    """(dom, [frame dicts] in document order); raises on bad XML."""
    dom = xml.dom.minidom.parse(path)
    box = [g for g in dom.getElementsByTagName("g")
           if g.getAttribute("id") == "frames"]
    frames = []
    if not box:
        return dom, frames
    for g in box[0].childNodes:
        if g.nodeType != g.ELEMENT_NODE:
            continue
        titles = g.getElementsByTagName("title")
        rects = g.getElementsByTagName("rect")
        texts = g.getElementsByTagName("text")
        frames.append({
            "title": text_of(titles[0]) if titles else None,
            "x": int(g.getAttribute("data-x") or -1),
            "w": int(g.getAttribute("data-w") or -1),
            "d": int(g.getAttribute("data-d") or -1),
            "rect": ({k: rects[0].getAttribute(k)
                      for k in ("x", "y", "width", "height", "fill")}
                     if rects else None),
            "text": text_of(texts[0]) if texts else None,
        })
    return dom, frames


def by_id(dom, ident):
    for el in dom.getElementsByTagName("*"):
        if el.getAttribute("id") == ident:
            return el
    return None


def link_tree(frames):
    """Give every frame its parent (by depth and nesting, as drawn) and
    its path of names from the root; returns the problems found."""
    problems = []
    last_at = {}
    for f in frames:
        f["parent"] = None
        f["path"] = ()
        if f["d"] > 0:
            p = last_at.get(f["d"] - 1)
            if (p is None or not p["x"] <= f["x"]
                    or f["x"] + f["w"] > p["x"] + p["w"]):
                problems.append("no parent drawn under %r" % f["title"])
            else:
                f["parent"] = p
                f["path"] = p["path"] + (f["name"],)
        last_at[f["d"]] = f
    return problems


def self_contained(dom, raw):
    """What in the file would be fetched from elsewhere."""
    bad = []
    for el in dom.getElementsByTagName("*"):
        if el.tagName in ("image", "use", "a", "foreignObject", "iframe",
                          "feImage", "link"):
            bad.append("<%s>" % el.tagName)
        for name, value in el.attributes.items():
            if name == "xmlns" or name.startswith("xmlns:"):
                continue
            if name.endswith("href") and not value.startswith("#"):
                bad.append("%s=%r" % (name, value))
            if re.search(r"\w+:/|url\(\s*['\"]?[^#'\")\s]", value):
                bad.append("%s=%r" % (name, value))
        if el.tagName == "script" and el.getAttribute("src"):
            bad.append("script src")
    for el in (dom.getElementsByTagName("style") +
               dom.getElementsByTagName("script")):
        code = text_of(el)
        for pat in (r"https?:", r"@import", r"url\(\s*['\"]?[^#'\")\s]",
                    r"\bfetch\(", r"XMLHttpRequest", r"\bimport\(",
                    r"WebSocket", r"\.src\s*="):
            if re.search(pat, code):
                bad.append("%s: %s" % (el.tagName, pat))
    # Namespace names are identifiers, not links; nothing else may be one.
    rest = raw.replace(SVG_NS, "")
    for m in re.finditer(r"(https?|ftp|file)://", rest):
        bad.append("URL at byte %d" % m.start())
    return bad


def text_fits(label, text, width):
    """A frame's text is its label, or the label cut with "..", and it
    fits the frame."""
    if not text:
        return True
    if len(text) * CHAR_W > width - 6 + 0.01:
        return False
    return text == label or (text.endswith("..") and
                             label.startswith(text[:-2]))


# ---- the browser ----

# Installed before the graph's own script runs, to catch its errors.
EARLY_JS = """
window.__errors = [];
window.addEventListener("error", function (e) {
  window.__errors.push(String(e.message));
});
"""

# Appended: drives the graph like a user would, reports what it saw.
TEST_JS = r"""
(function () {
  var out = {errors: window.__errors, api: typeof window.psample};
  function report() {
    var t = document.createElementNS(document.documentElement.namespaceURI,
                                     "text");
    t.setAttribute("id", "test-result");
    var json = JSON.stringify(out);
    t.textContent = btoa(unescape(encodeURIComponent(json)));
    document.documentElement.appendChild(t);
  }
  try {
    var gs = Array.prototype.slice.call(
      document.querySelectorAll("#frames > g"));
    var name = function (g) {
      return g.querySelector("title").textContent.replace(/ \([^()]*\)$/, "");
    };
    var width = function (el) {
      return el ? el.getBoundingClientRect().width : -1;
    };
    var rectW = function (g) { return width(g.querySelector("rect")); };
    var label = function (g) {
      var t = g.querySelector("text");
      return t && width(t) > 0 ? t.textContent : "";
    };
    var num = function (g, k) { return +g.getAttribute("data-" + k); };
    var within = function (a, b) {
      return num(b, "x") >= num(a, "x") &&
        num(b, "x") + num(b, "w") <= num(a, "x") + num(a, "w");
    };
    var click = function (el) {
      el.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    };
    var byName = function (n) {
      return gs.filter(function (g) {
        return name(g).indexOf(n + " (") === 0;
      });
    };
    var root = gs[0];
    out.full = rectW(root);
    out.rendered = {};
    NAMES.forEach(function (n) {
      var best = null;
      byName(n).forEach(function (g) {
        if (!best || rectW(g) > rectW(best)) best = g;
      });
      out.rendered[n] = best ? {px: rectW(best), label: label(best)} : null;
    });
    out.roots = gs.filter(function (g) { return num(g, "d") === 1; })
      .map(function (g) {
        var above = gs.filter(function (h) {
          return num(h, "d") > 1 && within(g, h) && rectW(h) > 0;
        }).map(name);
        return {name: name(g), px: rectW(g), above: above};
      });
    if (!CLICK) { report(); return; }

    /* Zoom: click the outermost frame named CLICK (the widest of them:
       a narrow one may be a leaf, with nothing above it to check). */
    var zs = byName(CLICK);
    var zd0 = Math.min.apply(null, zs.map(function (g) {
      return num(g, "d");
    }));
    var z = zs.filter(function (g) { return num(g, "d") === zd0; })
      .sort(function (a, b) { return rectW(b) - rectW(a); })[0];
    var zd = num(z, "d");
    var sib = gs.filter(function (g) {
      return num(g, "d") === zd && g !== z && rectW(g) > 0;
    })[0];
    var kid = gs.filter(function (g) {
      return num(g, "d") > zd && within(z, g);
    })[0];
    var anc = gs.filter(function (g) {
      return num(g, "d") === zd - 1 && within(g, z);
    })[0];
    var zoom = out.zoom = {before: rectW(z), sibBefore: sib ? rectW(sib) : -1,
      kidBefore: rectW(kid), ancBefore: anc ? rectW(anc) : -1,
      resetBefore: width(document.getElementById("unzoom"))};
    click(z.querySelector("rect"));
    zoom.after = rectW(z);
    zoom.label = label(z);
    zoom.name = name(z);
    zoom.sibAfter = sib ? rectW(sib) : -1;
    zoom.kidAfter = rectW(kid);
    zoom.ancAfter = anc ? rectW(anc) : -1;
    zoom.isZoomed = window.psample.zoomed() === z;
    zoom.resetAfter = width(document.getElementById("unzoom"));

    /* Search through the button, as a user would. */
    window.prompt = function () { return SEARCH; };
    click(document.getElementById("search"));
    var hits = gs.filter(function (g) {
      return g.classList.contains("match");
    });
    out.search = {
      matched: hits.map(name),
      fills: hits.map(function (g) {
        return getComputedStyle(g.querySelector("rect")).fill;
      }),
      plain: gs.filter(function (g) { return !g.classList.contains("match"); })
        .slice(1, 6).map(function (g) {
          return [getComputedStyle(g.querySelector("rect")).fill,
                  g.querySelector("rect").getAttribute("fill")];
        }),
      text: document.getElementById("matched").textContent,
      clearShown: width(document.getElementById("clear")) > 0
    };

    /* Back: Reset zoom and Clear search. */
    click(document.getElementById("unzoom"));
    click(document.getElementById("clear"));
    out.reset = {
      width: rectW(z), before: zoom.before,
      sib: sib ? rectW(sib) : -1,
      hits: gs.filter(function (g) { return g.classList.contains("match"); })
        .length,
      text: document.getElementById("matched").textContent,
      resetShown: width(document.getElementById("unzoom"))
    };
  } catch (e) {
    out.exception = String(e && e.stack || e);
  }
  report();
})();
"""


def browse(svg_path, names, click, search, d):
    """Load a copy of svg_path with the test script in headless Chromium;
    returns (result dict or None, diagnostics)."""
    browser = chromium()
    with open(svg_path, encoding="utf-8") as f:
        text = f.read()
    start = text.index(">", text.index("<svg")) + 1
    end = text.rindex("</svg>")
    js = (TEST_JS.replace("NAMES", json.dumps(names))
          .replace("CLICK", json.dumps(click))
          .replace("SEARCH", json.dumps(search)))
    copy = (text[:start] + "\n<script><![CDATA[" + EARLY_JS + "]]></script>"
            + text[start:end] + "<script><![CDATA[" + js + "]]></script>\n"
            + text[end:])
    path = os.path.join(d, "browse-" + os.path.basename(svg_path))
    with open(path, "w", encoding="utf-8") as f:
        f.write(copy)
    profile = tempfile.mkdtemp(prefix="psample-chromium-", dir=d)
    try:
        p = subprocess.run(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--user-data-dir=" + profile,
             "--virtual-time-budget=10000", "--dump-dom",
             "file://" + os.path.abspath(path)],
            capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return None, "chromium timed out"
    m = re.search(r'<text id="test-result">([A-Za-z0-9+/=]*)</text>',
                  p.stdout)
    if not m:
        return None, "rc %d, no test-result\n%s\n%s" % (
            p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return json.loads(base64.b64decode(m.group(1)).decode("utf-8")), ""


# ---- the checks ----

def check_structure(tap, what, dom, raw, frames, diff=False):
    """Well-formed, self-contained, one parseable title per frame.  Gives
    each frame its name and counts."""
    bad = self_contained(dom, raw)
    tap.ok(not bad, "%s: self-contained (no external reference)" % what,
           "\n".join(bad[:20]))
    root = dom.documentElement
    tap.ok(root.tagName == "svg" and root.namespaceURI == SVG_NS
           and root.getAttribute("width") and root.getAttribute("height"),
           "%s: an <svg> root with a size" % what)
    pat = DIFF_TITLE if diff else TITLE
    untitled = []
    for f in frames:
        m = pat.match(f["title"] or "")
        if not m or not f["rect"]:
            untitled.append(f["title"])
            f["name"] = f["title"]
            continue
        f["name"] = m.group(1)
        if diff:
            f["base"], f["bpct"] = int(m.group(2)), float(m.group(3))
            f["n"], f["pct"] = int(m.group(4)), float(m.group(5))
            f["delta"] = float(m.group(6))
        else:
            f["n"], f["pct"] = int(m.group(2)), float(m.group(3))
    ending = ("(base N samples, P%; new N samples, P%; D pp)" if diff
              else "(N samples, P%)")
    tap.ok(frames and not untitled,
           "%s: %d frames, each with a <rect> and a title ending %s"
           % (what, len(frames), ending),
           "\n".join(map(repr, untitled[:10])))
    return not untitled and bool(frames)


def check_against_folded(tap, what, frames, incl, total, key="n"):
    """The graph's counts are the folded file's, frame by frame."""
    root = frames[0]
    tap.ok(root["name"] == "all" and root[key] == total and root["d"] == 0,
           "%s: the root frame holds all %d samples of the folded output"
           % (what, total), "root: %r" % root["title"])
    problems = link_tree(frames)
    tap.ok(not problems, "%s: every frame sits on a parent frame" % what,
           "\n".join(problems[:10]))
    wrong = []
    for f in frames[1:]:
        if incl.get(f["path"]) != f[key]:
            wrong.append("%s: svg %d, folded %s"
                         % (";".join(f["path"]), f[key], incl.get(f["path"])))
    tap.ok(not wrong, "%s: each frame's count is its stack's in the folded "
           "output" % what, "\n".join(wrong[:10]))
    drawn = {f["path"] for f in frames}
    missing = [";".join(p) for p, n in incl.items()
               if n >= MIN_SHARE * total and p not in drawn]
    tap.ok(not missing, "%s: every stack of at least %g%% of the samples is "
           "drawn" % (what, 100 * MIN_SHARE), "\n".join(missing[:10]))
    over, unsorted = [], []
    children = {}
    for k in frames:
        if k.get("parent") is not None:
            children.setdefault(id(k["parent"]), []).append(k)
    for f in frames:
        kids = children.get(id(f), [])
        if sum(k[key] for k in kids) > f[key]:
            over.append(f["title"])
        names = [k["name"] for k in sorted(kids, key=lambda k: k["x"])]
        if names != sorted(names):
            unsorted.append("%s: %s" % (f["name"], names))
    tap.ok(not over, "%s: children never hold more samples than their "
           "parent" % what, "\n".join(over[:10]))
    tap.ok(not unsorted, "%s: siblings are drawn in name order" % what,
           "\n".join(unsorted[:5]))


def check_geometry(tap, what, frames, key="n"):
    """Width proportional to count, rows by depth, labels that fit."""
    root = frames[0]
    full, left = float(root["rect"]["width"]), float(root["rect"]["x"])
    y0, h = float(root["rect"]["y"]), float(root["rect"]["height"])
    bad, rows, labels, pcts = [], set(), [], []
    for f in frames:
        r = f["rect"]
        x, w, y = float(r["x"]), float(r["width"]), float(r["y"])
        if abs(w - f[key] / root[key] * full) > 0.02:
            bad.append("%s: width %s for %d of %d" % (f["name"], w, f[key],
                                                       root[key]))
        if abs(x - (left + f["x"] / root[key] * full)) > 0.02:
            bad.append("%s: x %s" % (f["name"], x))
        rows.add((f["d"], y))
        if not text_fits(f["name"], f["text"], w):
            labels.append("%r in %.2fpx for %r" % (f["text"], w, f["name"]))
        if f.get("pct") is not None and abs(
                f["pct"] - 100.0 * f[key] / root[key]) > 0.0051:
            pcts.append(f["title"])
    tap.ok(not bad, "%s: widths and offsets are proportional to samples"
           % what, "\n".join(bad[:10]))
    # Flame: depth d is drawn d rows above the root, root at the bottom.
    tap.ok(all(abs(y - (y0 - d * (h + 1))) < 0.01 for d, y in rows)
           and max(y for _, y in rows) == y0,
           "%s: one row per depth, the root at the bottom" % what,
           sorted(rows)[:10])
    tap.ok(not labels, "%s: frame labels fit their frames (cut with '..')"
           % what, "\n".join(labels[:10]))
    tap.ok(not pcts, "%s: percentages are of all samples" % what,
           "\n".join(pcts[:10]))


def named(frames, name):
    return [f for f in frames if common.frame_name(f["name"]) == name]


def check_record(tap, it, d):
    what = "svg (%s)" % common.label(it)
    stem = os.path.join(d, "shapes-%d%d%d" % tuple(it.version[:3]))
    res, script = common.record_shapes(d, it, "svg,folded,raw", stem,
                                       extra=["--threads"])
    if not tap.ok(res.returncode == 0, "%s: record -f svg,folded,raw exits 0"
                  % what, res.stderr):
        return None
    with open(stem + ".svg", "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
        tap.ok(True, "%s: valid UTF-8" % what)
    except UnicodeDecodeError as e:
        tap.ok(False, "%s: valid UTF-8" % what, e)
        return None
    try:
        dom, frames = read_svg(stem + ".svg")
        tap.ok(True, "%s: parses as XML" % what)
    except Exception as e:  # noqa: BLE001 - any parser error is the finding
        tap.ok(False, "%s: parses as XML" % what, e)
        return None
    if not check_structure(tap, what, dom, text, frames):
        return None
    incl, total, badlines = folded_counts(stem + ".folded")
    tap.ok(total > 0 and not badlines, "%s: the folded file of the same run "
           "is valid (%d samples)" % (what, total), "\n".join(badlines[:5]))
    check_against_folded(tap, what, frames, incl, total)
    check_geometry(tap, what, frames)

    sub = text_of(by_id(dom, "subtitle") or dom.documentElement)
    m = SUBTITLE_SAMPLES.match(sub)
    tap.ok(m and int(m.group(1)) == total and "Hz" in sub and
           ("Python %d.%d" % tuple(it.version[:2])) in sub,
           "%s: subtitle gives samples, rate and Python version" % what, sub)
    title = text_of(by_id(dom, "title") or dom.documentElement)
    tap.ok(os.path.basename(script) in title,
           "%s: title shows the command line" % what, title)

    # The workload's shapes, under the labels folded gives them.
    want = [common.py_name(it, n) for n in
            ("rec", "größe", "A.__init__", "B.__init__", "burn", "worker")]
    absent = [n for n in want if not named(frames, n)]
    tap.ok(not absent, "%s: frames for %s" % (what, ", ".join(want)),
           "missing: %s" % absent)
    steps = {f["name"] for f in named(frames, "step")}
    tap.ok(len(steps) >= 2, "%s: both functions called step are drawn"
           % what, steps)
    deep = max((sum(1 for n in f["path"] if common.frame_name(n) == "rec")
                for f in frames), default=0)
    tap.ok(deep == 7, "%s: recursion drawn 7 rec frames deep" % what, deep)
    roots = [f for f in frames if f["d"] == 1]
    tap.ok(len(roots) == 2 and all(f["name"].startswith("thread ")
                                   for f in roots),
           "%s: --threads gives one root per thread" % what,
           [f["name"] for f in roots])
    tap.ok(any("shapes.py" in f["name"] and "we:ird dir" in f["name"]
               for f in frames),
           "%s: a path with ';' and a space shows as folded shows it"
           % what)
    colours = {}
    warm = []
    for f in frames[1:]:
        # Python frames with a place in a file; thread roots are grey.
        if common.frame_loc(f["name"])[0] is None:
            continue
        m = RGB.match(f["rect"]["fill"])
        if not m:
            warm.append(f["rect"]["fill"])
            continue
        r, g, b = map(int, m.groups())
        if not (r >= 200 and b <= 60 and r > g):
            warm.append("%s %s" % (f["name"], f["rect"]["fill"]))
        colours.setdefault(common.frame_name(f["name"]), set()).add(
            f["rect"]["fill"])
    tap.ok(not warm, "%s: functions in warm colours" % what,
           "\n".join(warm[:10]))
    mixed = {n: c for n, c in colours.items() if len(c) > 1}
    tap.ok(not mixed and len(set().union(*colours.values())) > 3,
           "%s: one colour per function name, several in all" % what, mixed)
    return {"stem": stem, "frames": frames, "incl": incl, "total": total}


def check_browser(tap, it, rec, d):
    what = "svg in chromium (%s)" % common.label(it)
    if not chromium():
        tap.skip(what, "no chromium on PATH")
        return
    names = [common.py_name(it, n) for n in
             ("rec", "größe", "A.__init__", "B.__init__", "burn", "worker")]
    out, diag = browse(rec["stem"] + ".svg", names, "rec", "burn", d)
    if not tap.ok(out is not None and not out.get("exception"),
                  "%s: the page loads and the test script ran" % what,
                  diag or (out or {}).get("exception")):
        return
    tap.ok(not out["errors"] and out["api"] == "object",
           "%s: the graph's script runs without errors" % what, out["errors"])
    rendered = out["rendered"]
    shown = [n for n in names if rendered.get(n) and rendered[n]["px"] > 0
             and rendered[n]["label"] and
             (n + " (").startswith(rendered[n]["label"].rstrip(".")[:len(n)])]
    tap.ok(shown == names, "%s: frames render with their names: %s"
           % (what, ", ".join(names)),
           json.dumps(rendered, ensure_ascii=False))
    workers = [r for r in out["roots"] if r["name"].startswith("thread ")
               and any(a.startswith("worker (") for a in r["above"])]
    tap.ok(len(out["roots"]) == 2 and len(workers) == 1 and
           workers[0]["px"] > 0,
           "%s: the worker thread's root renders, worker() above it" % what,
           json.dumps(out["roots"], ensure_ascii=False)[:2000])

    z, full = out["zoom"], out["full"]
    tap.ok(z["before"] < full - 1 and abs(z["after"] - full) < 0.5
           and z["isZoomed"],
           "%s: clicking rec zooms it to the full width (%.1f -> %.1f px)"
           % (what, z["before"], z["after"]), json.dumps(z))
    tap.ok(z["sibBefore"] > 0 and z["sibAfter"] == 0,
           "%s: zooming hides rec's neighbours" % what, json.dumps(z))
    # Widths are drawn to 0.01 px with a fixed gap between frames, so a
    # callee a pixel wide scales with up to half a pixel of slack.
    want_kid = z["kidBefore"] * full / z["before"] if z["before"] else 0
    tap.ok(z["kidAfter"] > z["kidBefore"] > 0 and
           abs(z["kidAfter"] - want_kid) < max(0.5, 0.02 * want_kid),
           "%s: rec's callees widen in proportion" % what, json.dumps(z))
    tap.ok(abs(z["ancAfter"] - full) < 0.5,
           "%s: rec's callers stay, at full width" % what, json.dumps(z))
    tap.ok(z["label"] == z["name"] and z["resetBefore"] == 0 and
           z["resetAfter"] > 0,
           "%s: the zoomed frame shows its whole label; Reset zoom appears"
           % what, json.dumps(z, ensure_ascii=False))

    s = out["search"]
    burn = [f for f in rec["frames"] if re.search("burn", f["name"], re.I)]
    tap.ok(s["matched"] and sorted(s["matched"]) ==
           sorted(f["name"] for f in burn),
           "%s: searching 'burn' marks exactly the %d burn frames"
           % (what, len(burn)), json.dumps(s, ensure_ascii=False)[:2000])
    tap.ok(s["fills"] and set(s["fills"]) == {HIGHLIGHT} and
           all(c != HIGHLIGHT for c, _ in s["plain"]),
           "%s: matched frames are highlighted, others keep their colour"
           % what, json.dumps(s["fills"][:5] + s["plain"]))
    want = sum(n for p, n in rec["incl"].items()
               if re.search("burn", p[-1], re.I) and
               not any(re.search("burn", q, re.I) for q in p[:-1]))
    m = MATCHED.match(s["text"])
    tap.ok(m and int(m.group(1)) == want and
           abs(float(m.group(2)) - 100.0 * want / rec["total"]) < 0.006
           and s["clearShown"],
           "%s: the matched share is shown: %d samples, %.2f%%"
           % (what, want, 100.0 * want / rec["total"]), s["text"])
    r = out["reset"]
    tap.ok(abs(r["width"] - r["before"]) < 0.02 and r["sib"] > 0 and
           r["resetShown"] == 0,
           "%s: Reset zoom restores the graph" % what, json.dumps(r))
    tap.ok(r["hits"] == 0 and r["text"] == "",
           "%s: Clear search removes the highlight" % what, json.dumps(r))


def run_ok(tap, args, name):
    p = common.run(args, timeout=120)
    tap.ok(p.returncode == 0, name, p.stderr)
    return p.returncode == 0


def check_diff(tap, it, rec, d):
    what = "diff (%s)" % common.label(it)
    base = rec["stem"] + ".psample"
    ratio = os.path.join(d, "ratio.psample")
    new = os.path.join(d, "merged.psample")
    p = common.run(["record", "-r", "500", "-f", "raw", "-o", ratio, "-q",
                    "--", it.path, os.path.join(common.WORKLOADS, "ratio.py"),
                    "1"], timeout=120)
    if not tap.ok(p.returncode == 0, "%s: record ratio.py -f raw" % what,
                  p.stderr):
        return
    # new = the same shapes run plus ratio.py: shapes' share shrinks,
    # ratio.py's frames are all new.
    if not (run_ok(tap, ["convert", "-q", "-f", "raw", "-o", new, base,
                         ratio], "%s: convert merges two profiles" % what)
            and run_ok(tap, ["convert", "-q", "-f", "folded", "-o",
                             os.path.join(d, "base.folded"), base],
                       "%s: convert base to folded" % what)
            and run_ok(tap, ["convert", "-q", "-f", "folded", "-o",
                             os.path.join(d, "new.folded"), new],
                       "%s: convert new to folded" % what)):
        return
    bstacks, bbad = common.read_folded(os.path.join(d, "base.folded"))
    nstacks, nbad = common.read_folded(os.path.join(d, "new.folded"))
    want = {}
    for side, stacks in ((0, bstacks), (1, nstacks)):
        for frames, n in stacks:
            want.setdefault(";".join(frames), [0, 0])[side] += n

    out = os.path.join(d, "diff.folded")
    if run_ok(tap, ["diff", "-q", "-f", "folded", "-o", out, base, new],
              "%s: diff -f folded exits 0" % what):
        got, bad = {}, []
        with open(out, encoding="utf-8") as f:
            for line in f.read().splitlines():
                m = re.match(r"^([^;\r\n]+(?:;[^;\r\n]+)*) (\d+) (\d+)$",
                             line)
                if not m or m.group(1) in got or m.group(2) == m.group(3) \
                        == "0":
                    bad.append(line)
                    continue
                got[m.group(1)] = [int(m.group(2)), int(m.group(3))]
        tap.ok(not bad and not bbad and not nbad,
               "%s: folded diff lines are 'stack count_base count_new', "
               "each stack once" % what, "\n".join(bad[:5]))
        tap.ok(got == want,
               "%s: folded diff has every stack of either profile with "
               "both counts (%d stacks)" % (what, len(want)),
               "\n".join("%s: %s, want %s" % (k, got.get(k), want.get(k))
                         for k in sorted(set(got) | set(want))
                         if got.get(k) != want.get(k))[:3000])
        tap.ok(any(b == 0 < n for b, n in got.values()) and
               any(b > 0 and n > 0 for b, n in got.values()),
               "%s: folded diff has new-only and common stacks, 0 where "
               "absent" % what)

    out = os.path.join(d, "diff.svg")
    if not run_ok(tap, ["diff", "-q", "-o", out, base, new],
                  "%s: diff -o diff.svg exits 0" % what):
        return
    with open(out, encoding="utf-8") as f:
        raw = f.read()
    try:
        dom, frames = read_svg(out)
    except Exception as e:  # noqa: BLE001
        tap.ok(False, "%s: diff svg parses as XML" % what, e)
        return
    tap.ok(True, "%s: diff svg parses as XML" % what)
    if not check_structure(tap, what + " svg", dom, raw, frames, diff=True):
        return
    nincl, ntotal, _ = folded_counts(os.path.join(d, "new.folded"))
    bincl, btotal, _ = folded_counts(os.path.join(d, "base.folded"))
    check_against_folded(tap, what + " svg", frames, nincl, ntotal)
    check_geometry(tap, what + " svg", frames)
    wrong, colour = [], []
    for f in frames:
        b = btotal if f["d"] == 0 else bincl.get(f["path"], 0)
        delta = 100.0 * (f["n"] / ntotal - b / btotal)
        if (f["base"] != b or abs(f["bpct"] - 100.0 * b / btotal) > 0.0051
                or abs(f["delta"] - delta) > 0.0051):
            wrong.append("%s: %s, want base %d, %+.2f pp"
                         % (";".join(f["path"]), f["title"], b, delta))
        m = RGB.match(f["rect"]["fill"])
        if not m:
            colour.append(f["rect"]["fill"])
            continue
        r, g, bl = map(int, m.groups())
        if f["delta"] >= 0.5 and not r > bl:
            colour.append("%s grew %.2f: %s" % (f["name"], f["delta"],
                                                 f["rect"]["fill"]))
        if f["delta"] <= -0.5 and not bl > r:
            colour.append("%s shrank %.2f: %s" % (f["name"], f["delta"],
                                                   f["rect"]["fill"]))
        if f["delta"] == 0 and not r == g == bl:
            colour.append("%s unchanged: %s" % (f["name"], f["rect"]["fill"]))
    tap.ok(not wrong, "%s svg: titles give the base count and the change "
           "in percentage points" % what, "\n".join(wrong[:10]))
    tap.ok(not colour, "%s svg: red where the share grew, blue where it "
           "shrank, grey where unchanged" % what, "\n".join(colour[:10]))
    grew = [f for f in frames if f["name"].startswith("a (") and
            "ratio.py" in f["name"]]
    shrank = [f for f in frames if f["name"].startswith("rec (")]
    tap.ok(grew and grew[0]["base"] == 0 and grew[0]["delta"] > 0 and
           shrank and shrank[0]["delta"] < 0,
           "%s svg: ratio.py's a() is new (red), shapes' rec() shrank "
           "(blue)" % what)
    if not chromium():
        tap.skip("%s svg in chromium" % what, "no chromium on PATH")
        return
    res, diag = browse(out, ["rec", "a"], "rec", "burn", d)
    tap.ok(res is not None and not res.get("exception") and
           not res["errors"] and res["zoom"]["isZoomed"] and
           abs(res["zoom"]["after"] - res["full"]) < 0.5 and
           MATCHED.match(res["search"]["text"]),
           "%s svg in chromium: loads, zooms and searches" % what,
           diag or json.dumps(res)[:2000])


def main():
    tap = common.Tap()
    d = common.tmpdir()
    found, supported = common.interpreters(tap, "svg on")
    for it in supported:
        rec = check_record(tap, it, d)
        if not rec:
            continue
        check_browser(tap, it, rec, d)
        check_diff(tap, it, rec, d)
    shutil.rmtree(d, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
