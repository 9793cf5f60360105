"""The book end to end in the smoke profile: every chapter executes and Jupyter Book renders it."""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from fashion_lib import paths
from fashion_lib.book.chapters import chapter_labels
from fashion_lib.book.runner import discover

ROOT = paths.PROJECT_ROOT
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
TIMES = "book-times/smoke.json"  # the runner's chapter times, under the runs folder
SCOREBOARD_WIDTH = 84  # characters of a scoreboard row: the page shows about 80


def _toc_files(toc: dict) -> list[str]:
    """Every file the toc names: the root, then each part's chapters and their sections."""
    files, entries = [toc["root"]], [c for part in toc.get("parts", []) for c in part["chapters"]]
    while entries:
        entry = entries.pop(0)
        files.append(entry["file"])
        entries[:0] = entry.get("sections", [])
    return files


def test_toc_lists_every_notebook_once() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    listed = [f for f in _toc_files(toc) if f.startswith("book/executed/")]
    assert len(listed) == len(set(listed)), f"a notebook is listed twice: {listed}"
    assert sorted(listed) == [f"book/executed/{p.stem}" for p in discover()]


def test_jupyter_book_is_1x() -> None:
    out = subprocess.run([JUPYTER_BOOK, "--version"], capture_output=True, text=True, check=True)
    assert re.search(r"Jupyter Book\s*:\s*1\.", out.stdout), out.stdout


def test_smoke_book_renders_every_chapter(smoke_site: Path) -> None:
    assert (smoke_site / "index.html").exists()
    for source in discover():
        page = smoke_site / "book" / "executed" / f"{source.stem}.html"
        assert page.exists(), f"{page} missing from the built book"


def test_overview_page_shows_its_executed_output(smoke_site: Path) -> None:
    html = (smoke_site / "book" / "executed" / "00_overview.html").read_text(encoding="utf-8")
    assert "profile: smoke" in html
    assert "notebooks/00_overview.py" in html


class _LoadedUrls(HTMLParser):
    """Collects the URLs a page makes the browser load: scripts, images, frames, stylesheets."""

    SRC_TAGS = frozenset({"script", "img", "iframe", "source", "video", "audio", "embed", "track"})
    LINK_RELS = frozenset(
        {"stylesheet", "preload", "modulepreload", "icon", "manifest", "prefetch"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in self.SRC_TAGS:
            self.urls += [a["src"]] if "src" in a else []
            self.urls += [u.split()[0] for u in a.get("srcset", "").split(",") if u.strip()]
        elif tag == "link" and self.LINK_RELS & set(a.get("rel", "").lower().split()):
            self.urls.append(a.get("href", ""))
        self.urls += CSS_URL.findall(a.get("style", ""))

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style":
            self.urls += CSS_URL.findall(data)


CSS_URL = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])([^\"')\s]+)", re.IGNORECASE)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def test_built_book_loads_nothing_from_the_internet(smoke_site: Path) -> None:
    """No page or stylesheet loads an http(s) resource; links (<a href>) to papers are fine."""
    external = []
    for page in sorted(smoke_site.rglob("*.html")):
        parser = _LoadedUrls()
        parser.feed(page.read_text(encoding="utf-8"))
        rel = page.relative_to(smoke_site)
        external += [f"{rel}: {u}" for u in parser.urls if EXTERNAL.match(u)]
    for sheet in sorted(smoke_site.rglob("*.css")):
        urls = CSS_URL.findall(sheet.read_text(encoding="utf-8", errors="replace"))
        external += [f"{sheet.relative_to(smoke_site)}: {u}" for u in urls if EXTERNAL.match(u)]
    assert not external, "loaded from the internet:\n" + "\n".join(external)


def test_mathjax_is_served_from_the_book(smoke_site: Path) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    mathjax = config["sphinx"]["config"]["mathjax_path"]
    assert not EXTERNAL.match(mathjax) and (smoke_site / "_static" / mathjax).is_file()
    with_math = [
        p for p in smoke_site.rglob("*.html") if f"_static/{mathjax}" in p.read_text("utf-8")
    ]
    assert with_math, "no page loads MathJax: the book shows no equation"
    fonts = smoke_site / "_static" / Path(mathjax).parent / "output" / "chtml" / "fonts" / "woff-v2"
    assert any(fonts.glob("*.woff")), f"MathJax's fonts are missing from {fonts}"


def test_smoke_book_ran_with_outbound_network_blocked(
    network_blocker: tuple[tuple[str, ...], str],
) -> None:
    """The prefix `smoke_site` runs the notebooks under reaches loopback but nothing else."""
    prefix, reason = network_blocker
    if reason:
        pytest.skip(reason)
    probe = (
        "import socket\n"
        "socket.create_server(('127.0.0.1', 0)).close()\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=5)\n"
        "except OSError as err:\n"
        "    print('blocked', err.errno)\n"
    )
    out = subprocess.run([*prefix, sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.split() == ["blocked", str(errno.ENETUNREACH)], out.stdout + out.stderr


def _published_outputs(smoke_site: Path) -> dict[str, list[str]]:
    """Every executed smoke chapter -> the texts of its outputs (streams, errors, data)."""
    import nbformat

    out = {}
    for path in sorted((smoke_site.parent.parent / "book" / "executed").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        texts = []
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if "text" in output:
                    texts.append(output["text"])
                texts += [str(v) for v in output.get("data", {}).values()]
                texts += output.get("traceback", [])
        texts.append(str(nb.metadata))
        out[path.stem] = texts
    return out


def test_published_pages_show_no_warning_and_no_machine_path(smoke_site: Path) -> None:
    site_root = str(smoke_site.parent.parent)
    machine = [str(ROOT), site_root, sys.prefix, "site-packages", "/tmp/", str(Path.home()) + "/"]
    warning = re.compile(r"\b[A-Z]\w*Warning\b|\bWARNING\b")
    found = []
    for chapter, texts in _published_outputs(smoke_site).items():
        for text in texts:
            if match := warning.search(text):
                found.append(f"{chapter}: {text[max(0, match.start() - 80) : match.end() + 80]!r}")
            found += [f"{chapter}: shows {p!r}" for p in machine if p in text]
    assert not found, "\n".join(found[:20])


def test_parameters_cell_is_shown_once(smoke_site: Path) -> None:
    import nbformat

    for path in sorted((smoke_site.parent.parent / "book" / "executed").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        shown = [
            c
            for c in cells
            if {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))
            and "remove-cell" not in c.metadata.get("tags", [])
        ]
        assert len(shown) == 1, f"{path.name}: {len(shown)} parameters cells shown"
        assert 'profile = "smoke"' in shown[0].source


def test_landing_page_is_the_root_and_links_report_and_scoreboard() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["root"] == "book/executed/97_landing"
    files = _toc_files(toc)
    assert files.index("book/executed/98_report") < files.index("book/executed/99_scoreboard")
    source = (ROOT / "notebooks" / "97_landing.py").read_text(encoding="utf-8")
    assert "<99_scoreboard>" in source and "<98_report>" in source


def _soup(smoke_site: Path, name: str):
    from bs4 import BeautifulSoup

    page = smoke_site / "book" / "executed" / f"{name}.html"
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")


def test_landing_page_shows_the_task_paths_and_recorded_times(smoke_book) -> None:
    from fashion_lib.book.timings import NOT_MEASURED

    soup = _soup(smoke_book.html, "97_landing")
    assert soup.select_one("figure img"), "no picture of the task"
    text = soup.get_text(" ")
    for reader in ("student", "instructor", "engineer"):
        assert reader in text, f"no reading path for the {reader}"
    assert "Prerequisites" in text
    times = json.loads((Path(smoke_book.env["FASHION_RUNS_DIR"]) / TIMES).read_text("utf-8"))
    table = next(t for t in soup.select("table") if "smoke" in t.get_text())
    rows = {r.find("th").get_text(strip=True): r for r in table.select("tbody tr")}
    chapters = [s for s in discover() if int(s.stem[:2]) < 90]
    for source, label in zip(chapters, chapter_labels(chapters), strict=True):
        cells = [td.get_text(strip=True) for td in rows[label].find_all("td")]  # smoke as recorded
        assert cells[1] == f"{times[source.stem]['seconds']:.0f} s" or "min" in cells[1]
        assert cells[3] == NOT_MEASURED  # gpu


def test_report_numbers_come_from_the_claims_ledger(smoke_book, monkeypatch) -> None:
    from fashion_lib.book.report import headline
    from fashion_lib.claims import scoreboard

    monkeypatch.setenv("FASHION_RUNS_DIR", smoke_book.env["FASHION_RUNS_DIR"])
    head = headline(scoreboard("smoke"))
    assert head.judged > 0, "the smoke book judged no claim"
    text = " ".join(_soup(smoke_book.html, "98_report").get_text(" ").split())
    assert f"{head.judged} claims are judged" in text
    assert f"{head.held} claims held, {head.against} were contradicted" in text
    for section in ("Scope of reproducibility", "Methodology", "Results", "What was easy"):
        assert section in text
    assert "What was difficult" in text and "Communication with the original authors" in text


def test_scoreboard_tables_fit_the_column(smoke_site: Path) -> None:
    """Each scoreboard table's widest lines per column add up to at most ~80 characters."""
    soup = _soup(smoke_site, "99_scoreboard")
    tables = soup.select("table.scoreboard")
    assert tables, "no scoreboard table"
    for table in tables:
        widths: dict[int, int] = {}
        for row in table.select("tr"):
            for i, cell in enumerate(row.find_all(["td", "th"])):
                lines = cell.get_text("\n").splitlines() or [""]
                widths[i] = max(widths.get(i, 0), *(len(line.strip()) for line in lines))
        assert sum(widths.values()) <= SCOREBOARD_WIDTH, f"columns {widths} wider than the page"
