"""Screenshots of a published run: the call-list page (headless Chromium driven by Playwright)
and the first printed page of a workbook (LibreOffice to PDF, then ``pdftoppm``).

Used by ``tests/test_site_browser.py``, and to refresh the README's pictures from a demo run::

    .venv/bin/python tests/screenshots.py outputs/demo/latest docs/img

Nothing is downloaded: Chromium is Debian's ``chromium`` package (``make test`` installs it where
it can), LibreOffice is ``libreoffice-calc-nogui`` and ``poppler-utils`` (optional).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FIRST_PAGE_PDF = 'pdf:calc_pdf_Export:{"PageRange":{"type":"string","value":"1"}}'
"""LibreOffice's PDF export of the first page only (a big workbook prints to hundreds)."""


def chromium() -> str | None:
    """Path of an installed Chromium (``XSELL_CHROMIUM`` first), or None."""
    explicit = os.environ.get("XSELL_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((p for p in map(shutil.which, CHROMIUM_CANDIDATES) if p), None)


def browser_missing() -> str | None:
    """Why the browser checks cannot run here (None: they can)."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if chromium() is None:
        return "no Chromium installed (Debian: apt-get install chromium; `make test` does it as root)"
    return None


def office_missing() -> str | None:
    """Why the printed-page check cannot run here (None: it can)."""
    if shutil.which("soffice") is None:
        return "LibreOffice is not installed (Debian: apt-get install --no-install-recommends libreoffice-calc-nogui)"
    if shutil.which("pdftoppm") is None:
        return "pdftoppm is not installed (Debian: apt-get install poppler-utils)"
    return None


def launch(playwright):  # noqa: ANN001, ANN201 - playwright types are optional
    """Headless Chromium of the system (``--no-sandbox``: tests may run as root in a container)."""
    return playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])


def call_list_screenshot(
    run_dir: Path, country: str, out: Path, *, search: str | None = None, browser=None, width: int = 1400, height: int = 900  # noqa: ANN001
) -> Path:
    """PNG of ``site/<country>.html`` of a published run, opened from disk, once its rows are in
    (``search``: typed into the search box first). ``browser``: a launched Playwright browser
    (default: one is started and closed)."""
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            own = launch(p)
            try:
                return call_list_screenshot(run_dir, country, out, search=search, browser=own, width=width, height=height)
            finally:
                own.close()
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto((Path(run_dir).resolve() / "site" / f"{country}.html").as_uri())
        page.wait_for_selector("#section-calls tbody tr.row")
        if search:
            page.fill("#search-calls", search)
            page.wait_for_function("s => [...document.querySelectorAll('#section-calls tbody tr.row')].every(r => r.dataset.group === s)", arg=search)
        page.screenshot(path=str(out))
    finally:
        page.close()
    return out


def printed_page(workbook: Path, out: Path, *, dpi: int = 80, timeout: int = 300) -> Path:
    """PNG of the first printed page of ``workbook``: LibreOffice prints it to PDF with the
    workbook's own print setup, ``pdftoppm`` renders page 1."""
    with tempfile.TemporaryDirectory(prefix="xsell-print-") as tmp:
        profile = Path(tmp) / "profile"
        subprocess.run(
            ["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", FIRST_PAGE_PDF, "--outdir", tmp, str(workbook)],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
        pdf = Path(tmp) / (Path(workbook).stem + ".pdf")
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(Path(tmp) / "page")], check=True, timeout=120)
        shutil.copyfile(Path(tmp) / "page.png", out)
    return out


def assert_not_blank(path: Path) -> None:
    """The picture has content: a PNG of a real size with dark text on a light background."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 400 and height >= 300 and len(data) > 10_000, (width, height, len(data))
    try:
        from PIL import Image
    except ImportError:  # Pillow comes with matplotlib (MLflow's); without it the size must do
        return
    low, high = Image.open(path).convert("L").getextrema()
    assert high - low > 100, (low, high)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a published run folder, e.g. outputs/demo/latest")
    parser.add_argument("out", type=Path, help="folder for call_list_page.png and workbook_page.png")
    parser.add_argument("--country", default="DE")
    parser.add_argument("--workbook", type=Path, help="workbook to print (default: the country's first sales rep's, else the country's)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(call_list_screenshot(args.run, args.country, args.out / "call_list_page.png"))
    reps = sorted((args.run / "sales" / args.country).glob("*.xlsx"))
    workbook = args.workbook or (reps[0] if reps else args.run / "sales" / f"{args.country}.xlsx")
    print(printed_page(workbook, args.out / "workbook_page.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
