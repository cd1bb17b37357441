"""The run's static site without a browser: every link stays inside the run folder and resolves,
each country's rows are in its data files (chunked between buying centers), values are data,
never markup, the manifest covers the site, and ``xsell serve`` serves it on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from conftest import EVIL_NAME
from publish_helpers import make_config, write_workdir
from xsell.cli import main
from xsell.errors import InputDataError
from xsell.publish.sales import OrderFacts, RunFacts, country_books
from xsell.publish.site import CHUNK_PREFIX, Downloads, count_chunk_rows, site_files
from xsell.steps.publish import run_publish, verify
from xsell.steps.serve import make_server, site_url


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.inputs: list[dict] = []
        self.labels: dict[str, str] = {}
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key])
        if tag == "input":
            self.inputs.append(a)
        if tag == "label":
            self._label = a.get("for")

    def handle_data(self, data: str) -> None:
        if self._label:
            self.labels[self._label] = self.labels.get(self._label, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label = None


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _chunk(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith(CHUNK_PREFIX)
    return json.loads(text[len(CHUNK_PREFIX) : text.rindex(")")])


def _column(payload: dict, key: str) -> list:
    col = payload["columns"][key]
    return [col["d"][c] for c in col["c"]] if "d" in col else col["v"]


@pytest.mark.slow  # the session's demo pipeline run
def test_every_link_is_relative_and_resolves_inside_the_run(demo_published):
    run = demo_published.run_dir.resolve()
    pages = sorted((run / "site").glob("*.html"))
    countries = sorted(set(demo_published.tables["cross_sell"]["country"]))
    assert {p.name for p in pages} == {"index.html", *(f"{c}.html" for c in countries)}
    for page in pages:
        for link in _parse(page).links:
            assert "://" not in link and not link.startswith("/"), (page.name, link)
            target = (page.parent / urllib.request.url2pathname(link)).resolve()
            assert target.is_file() and target.is_relative_to(run), (page.name, link)
    index = _parse(run / "site" / "index.html").links
    assert {"DE.html", "../sales/DE.xlsx", "../sales/DE.csv", "../buying_center_suggestions.csv"} <= set(index)
    de = _parse(run / "site" / "DE.html")
    assert "../sales/DE/Anna_Becker.xlsx" in de.links  # the reps' workbooks
    searches = [i for i in de.inputs if i.get("type") == "search"]
    assert len(searches) == 3 and all(de.labels[i["id"]] == "Suchen" for i in searches)  # DE reads German
    assert _parse(run / "site" / "GB.html").labels["search-calls"] == "Search"


@pytest.mark.slow  # the session's demo pipeline run
def test_country_rows_load_from_chunks_in_call_list_order(demo_published, tmp_path):
    run = demo_published.run_dir
    calls = [_chunk(p) for p in sorted((run / "site" / "data" / "DE").glob("calls-*.js"), key=lambda p: int(p.stem.split("-")[1]))]
    rows = pd.DataFrame({k: sum((_column(c, k) for c in calls), []) for k in ("buying_center_id", "rank", "product_id", "reason")})
    sheet = pd.read_csv(run / "sales" / "DE.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(rows) == len(sheet) == (demo_published.tables["buying_center_suggestions"]["country"] == "DE").sum()
    assert (rows["buying_center_id"] == sheet["Einkaufsstelle"]).all() and (rows["product_id"] == sheet["Produktnr."]).all()
    assert (rows["reason"] == sheet["Begründung"]).all()  # the page speaks the workbook's language
    # a large country comes in chunks cut between buying centers
    tables = {t: demo_published.tables[t] for t in ("cross_sell", "up_sell", "buying_center_suggestions")}
    book = next(b for b in country_books(tables, None, OrderFacts(), {}, {}) if b.country == "DE")
    files = site_files([book], {"DE": "DE"}, RunFacts(), {"DE": Downloads()}, {}, chunk_rows=1000)
    chunks = [json.loads(f.content()[len(CHUNK_PREFIX) : -3]) for f in files if f.path.startswith("site/data/DE/calls-")]
    assert len(chunks) >= len(book.calls) // 1000 and all(0 < c["rows"] <= 1000 for c in chunks)
    assert [c["parts"] for c in chunks] == [len(chunks)] * len(chunks) and sum(c["rows"] for c in chunks) == len(book.calls)
    for before, after in zip(chunks, chunks[1:]):
        assert _column(before, "buying_center_id")[-1] != _column(after, "buying_center_id")[0]


@pytest.mark.slow  # the session's demo pipeline run
def test_values_are_data_never_markup(demo_published):
    run = demo_published.run_dir
    for page in (run / "site").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "xsellXss" not in text and text.count("<script") == (0 if page.name == "index.html" else 2), page.name
    found = []
    for path in (run / "site" / "data" / "DE").glob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert "<" not in text and ">" not in text  # JSON strings with markup characters escaped
        payload = _chunk(path)
        found += [v for key in ("product", "rec_product") if key in payload["columns"] for v in _column(payload, key) if v == EVIL_NAME]
    assert found
    script = (run / "site" / "assets" / "xsell.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "textContent" in script


@pytest.mark.slow  # the session's demo pipeline run
def test_the_manifest_covers_the_site(demo_published):
    run = demo_published.run_dir
    entries = {e["path"]: e for e in json.loads((run / "manifest.json").read_text())["files"]}
    site = {p.relative_to(run).as_posix() for p in (run / "site").rglob("*") if p.is_file()}
    assert site <= set(entries)
    assert entries["site/data/DE/calls-0.js"]["rows"] == count_chunk_rows((run / "site" / "data" / "DE" / "calls-0.js").read_text())
    assert verify(demo_published.cfg, run.name) == 0


def test_serve_answers_on_loopback_and_links_reach_the_downloads(tmp_path):
    cfg, config_path = make_config(tmp_path)
    write_workdir(cfg.workdir)
    with pytest.raises(InputDataError, match="no published site"):
        make_server(cfg.publish.outputs, 0)
    assert main(["-q", "serve", "--config", str(config_path), "--port", "0"]) == 3
    run = run_publish(cfg).run_dir
    server = make_server(cfg.publish.outputs, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = site_url(server)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/latest/site/index.html")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
            assert "DE.html" in response.read().decode("utf-8")
        with urllib.request.urlopen(url.replace("site/index.html", "sales/DE.xlsx"), timeout=10) as response:
            assert response.read() == (run / "sales" / "DE.xlsx").read_bytes()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_serve_command_prints_the_address(tmp_path):
    cfg, config_path = make_config(tmp_path)
    write_workdir(cfg.workdir)
    run_publish(cfg)
    code = f"import sys; from xsell.cli import main; sys.exit(main(['serve', '--config', {str(config_path)!r}, '--port', '0']))"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        assert line.startswith(f"serving {cfg.publish.outputs} at http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
