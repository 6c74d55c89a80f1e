"""The documentation site: every public name documented, a strict build, no
broken internal link, and the pages render in a real (headless) browser.

The site is built once per session into a temporary folder with
``mkdocs build --strict`` (any warning fails) and served on 127.0.0.1 by a
server the test starts. The browser checks need Debian's ``chromium``
(``apt-get install chromium``; ``.ci/run`` installs it) and are skipped, with
that reason, only where it cannot be found.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import importlib
import inspect
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import griffe
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

from _generate import (  # noqa: E402
    BENCHMARK_RESULTS,
    config_names,
    public_modules,
    readme_table,
    script_of,
    write_readme,
)
from griffe_roles import EXTENSIONS, markdown  # noqa: E402

MODULES = public_modules(ROOT / "marlmeta")
PACKAGES = [m for m in MODULES if (ROOT / m.replace(".", "/") / "__init__.py").exists()]


# ----------------------------------------------------------------- public names
@functools.cache
def _package():
    return griffe.load(
        "marlmeta",
        search_paths=[str(ROOT)],
        extensions=griffe.load_extensions(*EXTENSIONS),
        resolve_aliases=True,
    )


def _public_names(module: str) -> dict[str, griffe.Object]:
    """The public module-level names of ``module`` as the site sees them:
    ``__all__`` when defined, else the names defined there and the redundant
    ``x as x`` re-exports; submodules have their own page."""
    mod = _package()
    if module != "marlmeta":
        mod = mod[module.removeprefix("marlmeta.")]
    return {
        name: member.final_target if member.is_alias else member
        for name, member in mod.members.items()
        if member.is_public and not member.is_module and not name.startswith("_")
    }


def test_public_modules_are_found():
    # The walk finds every public subpackage (and no private module).
    for name in ("marlmeta", "marlmeta.games", "marlmeta.games.zoo", "marlmeta.lp"):
        assert name in MODULES
    assert not [m for m in MODULES if "._" in m]
    pkgs = {p.parent.name for p in (ROOT / "marlmeta").glob("*/__init__.py")}
    assert {f"marlmeta.{p}" for p in pkgs if not p.startswith("_")} <= set(MODULES)


@pytest.mark.parametrize("module", PACKAGES)
def test_package_exports_match_runtime(module):
    """What the site documents for a package is what ``import`` gives."""
    mod = importlib.import_module(module)
    runtime = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    if hasattr(mod, "__all__"):
        runtime = {n for n in mod.__all__ if not inspect.ismodule(getattr(mod, n))}
    assert set(_public_names(module)) == runtime


def test_every_public_name_has_a_docstring():
    names, missing = 0, []
    for module in MODULES:
        for name, obj in _public_names(module).items():
            names += 1
            if not (obj.docstring and obj.docstring.value.strip()):
                missing.append(f"{module}.{name}")
    assert names > 150, names  # the walk saw the package
    assert not missing, f"public names without a docstring: {missing}"


def test_docstrings_become_markdown():
    """Sphinx roles and reStructuredText literals render as Markdown code, and
    doctest examples as fenced blocks (so their output is not read as links)."""
    text = (
        "See :func:`solve` and :class:`~marlmeta.games.MarkovGame`, ``x[0]``.\n"
        "\n"
        "Example:\n"
        "    >>> print([0.5, 0.5])\n"
        "    [0.5, 0.5]\n"
    )
    assert markdown(text) == (
        "See `solve` and `MarkovGame`, `x[0]`.\n"
        "\n"
        "Example:\n"
        "    ```pycon\n"
        "    >>> print([0.5, 0.5])\n"
        "    [0.5, 0.5]\n"
        "    ```"
    )


# ------------------------------------------------------------ the built site
@pytest.fixture(scope="session")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="session")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Links(html.parser.HTMLParser):
    """The ``href``/``src`` targets and element ids of one HTML page."""

    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images, self.title = [], set(), [], ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


@functools.cache
def _fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, resp.read(), resp.headers.get_content_type()
    except urllib.error.HTTPError as err:
        return err.code, b"", ""


@functools.cache
def _parse(body: bytes) -> _Links:
    page = _Links()
    page.feed(body.decode())
    return page


def _crawl(start: str):
    """Every internal URL reachable from ``start``: status, parsed page."""
    seen, todo, pages, anchors = {}, [start], {}, []
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        status, body, kind = _fetch(url)
        seen[url] = status
        if status != 200 or kind != "text/html":
            continue
        pages[url] = page = _parse(body)
        for link in page.links:
            target = urllib.parse.urljoin(url, link)
            base, _, frag = target.partition("#")
            if not base.startswith(start):
                continue  # external
            if frag:
                anchors.append((url, base, frag))
            todo.append(base)
    return seen, pages, anchors


def test_no_internal_link_is_broken(server):
    seen, pages, anchors = _crawl(server)
    broken = {url: code for url, code in seen.items() if code != 200}
    assert not broken, f"internal links that do not load: {broken}"
    for module in MODULES:
        assert f"{server}api/{module}/" in pages, f"no API page for {module}"
    dangling = [
        (src, base, frag)
        for src, base, frag in anchors
        if base in pages and frag not in pages[base].ids
    ]
    assert not dangling, f"links to a missing anchor: {dangling[:10]}"
    assert len(pages) >= 10 + len(MODULES)


def test_site_cites_papers_not_project_files(server):
    """The package ships without the project's notes: no page points at a
    machine path or cites a paper by its seed number instead of its authors."""
    _, pages, _ = _crawl(server)
    cite = re.compile(r"/work/|seed[ -]0\d\d|research/seed", re.I)
    found = {}
    for url in pages:
        hits = cite.findall(_fetch(url)[1].decode())
        if hits:
            found[url] = sorted(set(hits))
    assert not found, found


def test_two_clicks_from_getting_started_to_a_figure_and_its_config(server):
    """Some link of the getting-started page (or of a page it links to) lands
    on a section that shows a config's figure and the config itself."""
    status, body, _ = _fetch(server)
    assert status == 200
    found = set()
    frontier = [(server, link) for link in _parse(body).links]
    for depth in (1, 2):
        nxt = []
        for src, link in frontier:
            target = urllib.parse.urljoin(src, link)
            base, _, frag = target.partition("#")
            if not base.startswith(server):
                continue
            status, body, kind = _fetch(base)
            if status != 200 or kind != "text/html":
                continue
            text = body.decode()
            if frag in config_names():
                figure = f"figures/{frag}.png"
                if figure in text and f"configs/{frag}.yaml" in text:
                    found.add((depth, frag))
            if depth == 1:
                nxt += [(base, link) for link in _parse(body).links]
        frontier = nxt
    assert found, "no figure and config within two clicks of getting started"
    depth, name = min(found)
    assert depth == 1  # the getting-started page links to the figures directly
    status, body, _ = _fetch(f"{server}experiments/")
    (src,) = [i for i in _parse(body).images if i.endswith(f"figures/{name}.png")]
    status, _, kind = _fetch(urllib.parse.urljoin(f"{server}experiments/", src))
    assert (status, kind) == (200, "image/png")


def test_every_config_and_benchmark_result_is_on_the_site(server):
    """The generated sections: one per config (with its figure when one was
    generated), one table per benchmark JSON with a row per result."""
    _, body, _ = _fetch(f"{server}experiments/")
    page = _parse(body)
    for name in config_names():
        assert name in page.ids, f"no section for configs/{name}.yaml"
        if (ROOT / "docs" / "figures" / f"{name}.png").exists():
            assert any(i.endswith(f"figures/{name}.png") for i in page.images)
    text = _fetch(f"{server}benchmarks/")[1].decode()
    for path in sorted(BENCHMARK_RESULTS.glob("*.json")):
        assert f"benchmarks/results/{path.name}" in text
        section = text.split(f"benchmarks/results/{path.name}")[1].split("<h3")[0]
        rows = section.count("<tr>") - 1  # minus the header row
        data = json.loads(path.read_text())
        assert rows == len(data["rows"]), path.name


def test_readme_benchmark_table_is_generated_from_the_results():
    """The README's table is the one ``benchmarks/results/*.json`` gives
    (``python docs/_generate.py readme`` rewrites it), one row per headline
    entry, each citing its script."""
    assert write_readme(check=True), "run: python docs/_generate.py readme"
    table = readme_table()
    for path in sorted(BENCHMARK_RESULTS.glob("*.json")):
        assert f"`{script_of(path)}`" in table, path.name
    assert table in (ROOT / "README.md").read_text()


def _code(block: str) -> list[str]:
    """The lines of a Python block without comments and blank lines."""
    lines = (line.split("#", 1)[0].rstrip() for line in block.splitlines())
    return [line for line in lines if line]


def test_getting_started_example_is_the_tested_readme_example():
    """The quick example of the getting-started page is, comments aside, the
    README's first example, which tests/test_readme.py runs."""
    fence = re.compile(r"```python\n(.*?)```", re.S)
    docs = fence.findall((ROOT / "docs" / "index.md").read_text())
    readme = fence.findall((ROOT / "README.md").read_text())
    assert _code(docs[0]) == _code(readme[0])
    assert "print(" in docs[0]


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.skip(
            "Chromium not found (install Debian's chromium package: "
            "apt-get install chromium; .ci/run does it)"
        )
    return path


def _dump_dom(url: str, profile: pathlib.Path) -> str:
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize(
    ("path", "title", "heading"),
    [
        ("", "marlmeta", "Getting started"),
        ("api/marlmeta.games/", "marlmeta.games - marlmeta", "marlmeta.games"),
    ],
)
def test_page_renders_in_headless_chromium(server, tmp_path, path, title, heading):
    dom = _dump_dom(server + path, tmp_path / "profile")
    page = _Links()
    page.feed(dom)
    assert page.title.strip() == title
    assert f">{heading}<" in dom.replace("<code>", "").replace("</code>", "")
    # The theme's JavaScript loaded and ran: it adds a copy button to every
    # code block, which the served HTML does not have.
    marker = 'data-md-type="copy"'
    assert marker not in _fetch(server + path)[1].decode()
    assert marker in dom


# ------------------------------------------------- no horizontal overflow
_OVERFLOW_CHECK = """<!doctype html><html><body><pre id="out">pending</pre><script>
const pages = PAGES;
function check(url) {
  return new Promise((resolve) => {
    const f = document.createElement("iframe");
    f.style.width = "1280px";
    f.style.height = "900px";
    f.src = url;
    f.onload = () => setTimeout(() => {
      const bad = [];
      try {
        const doc = f.contentDocument;
        const col = doc.querySelector(".md-content");
        const right = col.getBoundingClientRect().right;
        for (const el of col.querySelectorAll("*")) {
          const r = el.getBoundingClientRect();
          if (r.width === 0 || r.right <= right + 1) continue;
          let a = el.parentElement, clipped = false;
          while (a && a !== col) {
            if (getComputedStyle(a).overflowX !== "visible") { clipped = true; break; }
            a = a.parentElement;
          }
          const by = Math.round(r.right - right);
          if (!clipped) bad.push(el.tagName + " past the column by " + by);
        }
        for (const el of col.querySelectorAll("pre > code")) {
          if (el.scrollWidth > el.clientWidth + 1) {
            bad.push("code block scrolls: " + el.textContent.slice(0, 60));
          }
        }
      } catch (e) { bad.push("error " + e); }
      f.remove();
      resolve(bad.slice(0, 5));
    }, 100);
    document.body.appendChild(f);
  });
}
(async () => {
  const out = {};
  for (const p of pages) out[p] = await check(p);
  document.getElementById("out").textContent = JSON.stringify(out);
})();
</script></body></html>
"""


def test_no_page_overflows_the_content_column_at_1280px(site, server, tmp_path):
    """Every page of the site, loaded at 1280 px in headless Chromium: no
    element runs past the content column (outside a scrolling container such
    as a wide table's), and no code block needs a horizontal scroll bar."""
    pages = sorted(
        "/" + str(p.relative_to(site).parent).replace("\\", "/").strip(".") + "/"
        for p in site.rglob("index.html")
        if p.parent.name not in ("search", "assets")
    )
    pages = [p.replace("//", "/") for p in pages]
    # A probe: the home page with an element wider than the column, which the
    # check must report (so that it can fail).
    home = (site / "index.html").read_text()
    article = re.search(r'<article class="md-content__inner[^"]*">', home)
    probe = site / "overflow-probe"
    probe.mkdir(exist_ok=True)
    (probe / "index.html").write_text(
        home[: article.end()]
        + '<div style="width:3000px;height:4px"></div>'
        + home[article.end() :]
    )
    (site / "overflow-check.html").write_text(
        _OVERFLOW_CHECK.replace("PAGES", json.dumps([*pages, "/overflow-probe/"]))
    )
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=300000",
        "--dump-dom",
        server + "overflow-check.html",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="out">(.*?)</pre>', proc.stdout, re.S)
    assert found and found.group(1) != "pending", proc.stdout[-2000:]
    results = json.loads(html.unescape(found.group(1)))
    assert results.pop("/overflow-probe/"), "the check missed the probe's overflow"
    assert len(results) == len(pages) > 10
    overflowing = {page: bad for page, bad in results.items() if bad}
    assert not overflowing, json.dumps(overflowing, indent=1)
