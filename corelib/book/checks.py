"""The built pages checked in headless Chromium: every chapter has its figures and tables and no traceback, no table
wider than the page, launch links where the repository is known; the student edition shows no solution."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

from ..profiles import ROOT
from .chapters import CHAPTER_DIR, chapters, launch_links, repository_url, source_notebook
from .site import STUDENT_BOOK


def chromium_flags(root: Path) -> list[str]:
    """Headless Chromium with no network chatter and a profile under _build (check-html, make pdf)."""
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", f"--user-data-dir={root / '_build' / 'chromium-profile'}"]



def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no Chromium found for the HTML check; install it (Debian: apt-get install chromium)")



WIDTH_PROBE = """<!doctype html><html><body><pre id="out">pending</pre>
<iframe id="page" src="{src}" style="width:1280px;height:2000px"></iframe>
<script>
document.getElementById("page").onload = function () {{
  var doc = this.contentDocument, wide = [];
  doc.querySelectorAll("main table").forEach(function (t) {{
    var column = doc.querySelector("main article, main .bd-article, main").clientWidth;
    if (t.scrollWidth > column + 2) {{
      var head = Array.from(t.querySelectorAll("th")).slice(0, 4).map(function (h) {{ return h.textContent.trim(); }});
      wide.push(t.scrollWidth + " px > " + column + " px (columns " + head.join(", ") + " …)");
    }}
  }});
  document.getElementById("out").textContent = JSON.stringify(wide);
}};
</script></body></html>"""



SORT_PROBE = """<!doctype html><html><body><pre id="out">pending</pre>
<iframe id="page" src="{src}" style="width:1280px;height:2000px"></iframe>
<script>
function column(table, i) {{
  return Array.from(table.querySelectorAll("tbody tr")).map(function (r) {{
    var c = r.querySelectorAll("td")[i]; return c ? c.textContent.trim() : ""; }});
}}
document.getElementById("page").onload = function () {{
  var doc = this.contentDocument, out = document.getElementById("out");
  setTimeout(function () {{
    var tables = Array.from(doc.querySelectorAll("table[id^='itables_']")).filter(function (t) {{
      return t.querySelector("tbody tr td"); }});
    if (!tables.length) {{ out.textContent = JSON.stringify({{tables: 0}}); return; }}
    var table = tables[0], heads = Array.from(table.querySelectorAll("thead th"));
    var i = heads.findIndex(function (h) {{ return h.textContent.trim().indexOf("mean") === 0; }});
    var before = column(table, i);
    (heads[i].querySelector(".dt-column-order") || heads[i]).click();  // itables sorts from the header's icon
    setTimeout(function () {{
      var after = column(table, i), values = after.map(parseFloat);
      var ascending = values.every(function (v, k) {{ return k === 0 || v >= values[k - 1]; }});
      out.textContent = JSON.stringify({{tables: tables.length, column: heads[i].textContent.trim(), rows: after.length,
                                         changed: before.join("|") !== after.join("|"), ascending: ascending}});
    }}, 1000);
  }}, 3000);
}};
</script></body></html>"""



QUIZ_PROBE = """<!doctype html><html><body><pre id="out">pending</pre>
<iframe id="page" src="{src}" style="width:1280px;height:2000px"></iframe>
<script>
function shown(q) {{
  return Array.from(q.querySelectorAll(".cb-fb")).filter(function (e) {{ return !e.hidden; }})
    .map(function (e) {{ return e.textContent.trim().slice(0, 1); }});
}}
document.getElementById("page").onload = function () {{
  var doc = this.contentDocument, out = document.getElementById("out");
  var questions = Array.from(doc.querySelectorAll("main .cb-q")), result = {{questions: questions.length}};
  var mc = questions.filter(function (q) {{ return q.dataset.kind === "choice"; }})[0];
  if (mc) {{
    mc.querySelector(".cb-opt[data-correct='0'] button").click(); result.wrong = shown(mc);
    mc.querySelector(".cb-opt[data-correct='1'] button").click(); result.right = shown(mc);
  }}
  var num = questions.filter(function (q) {{ return q.dataset.kind === "numeric"; }})[0];
  if (num) {{
    var input = num.querySelector("input"), button = num.querySelector("button");
    input.value = String(parseFloat(num.dataset.answer) + 10 * parseFloat(num.dataset.tolerance) + 1);
    button.click(); result.numeric_wrong = shown(num);
    input.value = num.dataset.answer; button.click(); result.numeric_right = shown(num);
  }}
  out.textContent = JSON.stringify(result);
}};
</script></body></html>"""



def quiz_feedback(page: Path, browser: str, flags: list[str]) -> dict:
    """The kernel-free questions of a rendered page, clicked in headless Chromium: how many there are, and which
    feedback (✓ or ✗) shows after a wrong and after the right choice of the first multiple-choice question, and
    after a wrong and the right value of the first numeric one."""
    found = _probe(page, QUIZ_PROBE, "quiz", browser, flags, 10000)
    return {"probe": "did not run"} if found is None else found


def quiz_problems(name: str, probe: dict) -> list[str]:
    """What is wrong with a page's questions (`quiz_feedback`): fewer than three, or feedback that does not show
    ✗ for a wrong answer and ✓ for the right one."""
    expected = {"wrong": ["✗"], "right": ["✓"], "numeric_wrong": ["✗"], "numeric_right": ["✓"]}
    problems = [] if probe.get("questions", 0) >= 3 else [f"{name}: fewer than three questions in the page ({probe})"]
    bad = {k: probe.get(k) for k, v in expected.items() if k in probe and probe[k] != v}
    if "wrong" not in probe or bad:
        problems.append(f"{name}: the questions do not give their feedback when clicked ({probe})")
    return problems



def _probe(page: Path, template: str, name: str, browser: str, flags: list[str], budget_ms: int):
    """Run a probe page (`template`, with the page's file name as {src}) beside `page` in headless Chromium and
    return the JSON it writes into its <pre id="out"> (None when it did not run)."""
    probe = page.with_name(f".{name}-probe-{page.stem}.html")
    probe.write_text(template.format(src=page.name))
    try:
        dom = subprocess.run([browser, *flags, "--allow-file-access-from-files", f"--virtual-time-budget={budget_ms}",
                              "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180).stdout
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    text = found.group(1) if found else "pending"
    return None if text == "pending" else json.loads(html.unescape(text))



def sortable_tables(page: Path, browser: str, flags: list[str]) -> dict:
    """Whether the interactive tables of a rendered page work offline, probed in headless Chromium: how many there
    are, and whether a click on the first one's `mean` header reorders its rows into ascending order."""
    found = _probe(page, SORT_PROBE, "sort", browser, flags, 30000)
    return {"probe": "did not run"} if found is None else found



def wide_tables(page: Path, browser: str, flags: list[str]) -> list[str]:
    """The tables of a rendered page wider than its content column, measured in headless Chromium at a 1280-px
    window: one line each, with the table's width, the column's and its first headers."""
    found = _probe(page, WIDTH_PROBE, "width", browser, flags, 20000)
    return ["the table-width probe did not run"] if found is None else found



def _interactive(name: str, page: Path, main: str, browser: str, flags: list[str]) -> list[str]:
    """What the page's interactive parts get wrong when clicked: the questions (every chapter has them) and, where
    there is one, the recorded tiers' sortable table."""
    problems = quiz_problems(name, quiz_feedback(page, browser, flags))
    if "itables_" in main:  # an interactive table (the recorded tiers'): it must sort, offline
        probe = sortable_tables(page, browser, flags)
        if not (probe.get("tables") and probe.get("changed") and probe.get("ascending")):
            problems.append(f"{name}: the interactive table does not sort offline ({probe})")
    return problems



def check_html(html_dir: Path | None = None, screenshots: Path | None = None, root: Path = ROOT) -> list[str]:
    """Render every chapter page in headless Chromium and return the problems found: a missing page, a page
    without a figure or a table, a page that shows a Python traceback, an exercise without its solution dropdown,
    no passing self-check, no licence footer, no download of the executed notebook or of the results, not the Colab and
    Binder links `launch_links` gives for the repository `_config.yml` names, a table wider than the content column (or a width probe
    that did not run), fewer than three kernel-free questions or questions whose feedback does not show when clicked,
    an interactive table that does not sort; and a missing teacher's guide."""
    html_dir = Path(html_dir or root / "_build" / "html")
    browser = _chromium()
    problems = []
    flags = chromium_flags(root)
    url = repository_url(root)
    for name in chapters(root):
        page = html_dir / CHAPTER_DIR / f"{name}.html"
        if not page.is_file():
            problems.append(f"{name}: no page at {page}")
            continue
        dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        main = dom.split('<main', 1)[-1]
        images = len(re.findall(r"<img\b[^>]*src=\"[^\"]+\.(?:png|svg|jpg)", main))
        tables = len(re.findall(r"<table\b", main))
        if images == 0:
            problems.append(f"{name}: no figure (no <img> in the rendered page)")
        if tables == 0:
            problems.append(f"{name}: no table")
        if "Traceback (most recent call last)" in main:
            problems.append(f"{name}: the page shows a Python traceback")
        exercises = len(re.findall(r'class="exercise\b[^"]*admonition', main))
        solutions = len(re.findall(r'class="solution\b[^"]*dropdown', main))
        if exercises == 0 or solutions < exercises:
            problems.append(f"{name}: {exercises} exercises and {solutions} solutions in dropdowns (every exercise "
                            "needs its worked solution)")
        if "all cases agree with corelib" not in main:
            problems.append(f"{name}: no self-checking exercise whose check passes")
        if not re.search(rf'href="[^"]*_sources/[^"]*{name}\.ipynb"', dom):
            problems.append(f"{name}: no download of the executed notebook (.ipynb) on the page")
        if not re.search(rf'href="[^"]*_downloads/[^"]*{name}_results\.zip"', main):
            problems.append(f"{name}: no download of the chapter's results (CSV files, {name}_results.zip)")
        links = re.findall(r"\]\((https://[^)]+)\)", launch_links(name, url))  # none for '' or a non-GitHub host
        if not all(html.escape(link) in main or link in main for link in links):
            problems.append(f"{name}: no Colab and Binder launch links for {url} on the page")
        if "CC BY 4.0" not in dom:
            problems.append(f"{name}: no licence in the footer")
        for line in wide_tables(page, browser, flags):
            problems.append(f"{name}: a table wider than the content column: {line}")
        problems += _interactive(name, page, main, browser, flags)
        if screenshots:
            screenshots.mkdir(parents=True, exist_ok=True)
            subprocess.run([browser, *flags, f"--screenshot={screenshots / (name + '.png')}",
                            "--window-size=1280,2400", page.as_uri()], capture_output=True, timeout=120)
        print(f"{name}: {images} figures, {tables} tables, {exercises} exercises")
    teacher = html_dir / "book" / "teacher.html"
    if not teacher.is_file() or "chapter" not in teacher.read_text():
        problems.append(f"no teacher's guide at {teacher}")
    return problems



def _output_text(output: dict) -> str:
    """The text a notebook output shows (stream, or its text / HTML / Markdown data)."""
    parts = [output.get("text", "")] + [output.get("data", {}).get(kind, "")
                                         for kind in ("text/plain", "text/html", "text/markdown")]
    return html.unescape(re.sub(r"<[^>]+>", "", "".join("".join(p) if isinstance(p, list) else p for p in parts)))



def check_student_html(html_dir: Path | None = None, root: Path = ROOT) -> list[str]:
    """The student edition's pages (`make student`): each chapter keeps its exercises and shows none of their worked
    solutions, neither the dropdowns nor the code of a computed solution."""
    html_dir = Path(html_dir or root / STUDENT_BOOK / "_build" / "html")
    problems = []
    for name in chapters(root):
        page = html_dir / CHAPTER_DIR / f"{name}.html"
        if not page.is_file():
            problems.append(f"student edition, {name}: no page at {page} (run make student after make book)")
            continue
        main = page.read_text().split("<main", 1)[-1]
        exercises = len(re.findall(r'class="exercise\b[^"]*admonition', main))
        solutions = len(re.findall(r'class="solution\b', main))
        if exercises == 0:
            problems.append(f"student edition, {name}: no exercises")
        if solutions:
            problems.append(f"student edition, {name}: {solutions} worked solutions shown")
        if "tag_solution" in main:  # jupyter-book gives each cell its tags as classes
            problems.append(f"student edition, {name}: a computed solution's code cell is on the page")
        text = html.unescape(re.sub(r"<[^>]+>", "", main))
        executed = root / CHAPTER_DIR / f"{name}.ipynb"
        nb = json.loads((executed if executed.is_file() else source_notebook(name, root)).read_text())
        # what the chapter itself prints outside its solutions (e.g. corelib's source of the formula) is not a leak
        printed = "\n".join(_output_text(o) for c in nb["cells"] if c["cell_type"] == "code"
                            and "solution" not in c["metadata"].get("tags", []) for o in c.get("outputs", []))
        for cell in nb["cells"]:
            if "solution" in cell.get("metadata", {}).get("tags", []):
                body = [line.strip() for line in "".join(cell["source"]).splitlines()]
                shown = [line for line in body if len(line) >= 20 and line in text and line not in printed
                         and not line.startswith(("def ", "import ", "from ", "#"))]  # a stub keeps the signature
                if shown:
                    problems.append(f"student edition, {name}: the worked answer's code is on the page ({shown[0]!r})")
    return problems


__all__ = ["check_html", "check_student_html", "chromium_flags", "QUIZ_PROBE", "quiz_feedback", "quiz_problems",
           "SORT_PROBE", "sortable_tables", "wide_tables", "WIDTH_PROBE"]
