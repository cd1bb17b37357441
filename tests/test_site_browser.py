"""The published site in a real headless Chromium (Debian's ``chromium``, driven by Playwright;
nothing is downloaded): from ``site/index.html`` opened from disk to a country's call list,
search as one types, a download, a product name with ``<script>`` shown as text, and
screenshots of the page and of a workbook's first printed page (LibreOffice, optional)."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import EVIL_NAME
from screenshots import assert_not_blank, browser_missing, call_list_screenshot, launch

BROWSER = browser_missing()
pytestmark = [pytest.mark.skipif(BROWSER is not None, reason=f"browser test skipped: {BROWSER}"), pytest.mark.slow]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def test_search_a_buying_center_download_its_workbook_and_markup_stays_text(demo_published, browser, tmp_path):
    run = demo_published.run_dir
    table = demo_published.tables["buying_center_suggestions"]
    de = table[table["country"] == "DE"]
    bc = de["buying_center_id"].value_counts().index[-1]  # not the first block on the page
    page = browser.new_page(accept_downloads=True)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((run / "site" / "index.html").resolve().as_uri())
    assert page.locator("table.countries tr[data-country='DE'] td").nth(3).inner_text() == f"{len(de):,}"

    # the workbook link of DE downloads the run's file
    with page.expect_download() as info:
        page.locator("table.countries tr[data-country='DE'] a.download").first.click()
    saved = tmp_path / "DE.xlsx"
    info.value.save_as(saved)
    assert saved.read_bytes() == (run / "sales" / "DE.xlsx").read_bytes()

    page.locator("table.countries a", has_text="DE").first.click()
    page.wait_for_selector("#section-calls tbody tr.row")
    assert page.url.endswith("/site/DE.html")
    box = page.get_by_label("Suchen").first  # the visible label of the call list's search box
    assert box.get_attribute("type") == "search"
    box.press_sequentially(bc, delay=20)  # typed, one key at a time
    rows = page.locator("#section-calls tbody tr.row")
    page.wait_for_function(
        "([bc, n]) => { const r = document.querySelectorAll('#section-calls tbody tr.row');"
        " return r.length === n && [...r].every(x => x.dataset.group === bc); }",
        arg=[bc, int((de["buying_center_id"] == bc).sum())],
    )
    assert rows.count() == (de["buying_center_id"] == bc).sum()
    products = rows.locator("td.col-product_id").all_inner_texts()
    assert products == de[de["buying_center_id"] == bc].sort_values("rank")["product_id"].tolist()
    group = page.locator("#section-calls tbody tr.group").all_inner_texts()
    customers = pd.read_parquet(demo_published.workdir / "canonical" / "customers.parquet").set_index("buying_center_id")
    assert len(group) == 1 and customers.loc[bc, "customer_name"] in group[0]

    # a product name with <script> and & is shown as text, never run
    box.fill(demo_published.evil_product)
    page.wait_for_function(
        "p => { const ids = [...document.querySelectorAll('#section-calls td.col-product_id')]; return ids.length > 0 && ids.every(td => td.textContent === p); }",
        arg=demo_published.evil_product,
    )
    shown = set(page.locator("#section-calls td.col-product").all_inner_texts())
    assert shown == {EVIL_NAME}
    assert page.evaluate("() => window.xsellXss") is None and not dialogs
    assert page.locator("#section-calls script").count() == 0

    # the product links load when their tab is opened, searchable by product
    page.locator("#tab-cross_sell").click()
    page.wait_for_selector("#section-cross_sell tbody tr.row")
    page.locator("#search-cross_sell").fill(demo_published.evil_product)
    cross = demo_published.tables["cross_sell"]
    mine = cross[(cross["country"] == "DE") & ((cross["product_id"] == demo_published.evil_product) | (cross["rec_product_id"] == demo_published.evil_product))]
    page.wait_for_function(
        "([p, n]) => { const r = [...document.querySelectorAll('#section-cross_sell tbody tr.row')];"
        " return r.length === n && r.every(x => x.dataset.group === p || x.querySelector('td.col-rec_product_id').textContent === p); }",
        arg=[demo_published.evil_product, len(mine)],
    )
    page.close()


def test_screenshot_of_the_call_list_page(demo_published, browser, tmp_path):
    table = demo_published.tables["buying_center_suggestions"]
    bc = table.loc[table["country"] == "DE", "buying_center_id"].iloc[0]
    shot = call_list_screenshot(demo_published.run_dir, "DE", tmp_path / "call_list.png", search=bc, browser=browser)
    assert_not_blank(shot)
