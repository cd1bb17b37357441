"""``xsell serve``: the published site on ``http://127.0.0.1:<port>/latest/site/index.html``.

A convenience for looking at a run's pages and downloads without a web server: the standard
library's ``http.server`` serves the ``publish.outputs`` folder read-only, on the loopback
interface only. ``latest`` is followed on every request, so a publish while it runs shows up on
the next page load; an old run's pages are under ``/runs/<run_id>/site/``. The site itself needs
no server (it works opened from disk); serving helps where browsers or mail filters block
``file://`` links.
"""

from __future__ import annotations

import errno
import logging
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from xsell.config import Config
from xsell.errors import InputDataError, UsageError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SITE_PATH = "latest/site/index.html"


class _Handler(SimpleHTTPRequestHandler):
    """Static files of the outputs folder; request lines go to the debug log."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript; charset=utf-8", ".html": "text/html; charset=utf-8",
                      ".csv": "text/csv; charset=utf-8", ".jsonl": "application/jsonl; charset=utf-8",
                      ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        log.debug("serve: %s %s", self.address_string(), format % args)


def make_server(outputs: Path, port: int = 8000) -> ThreadingHTTPServer:
    """A server of ``outputs`` on 127.0.0.1:``port`` (0: a free port), not yet serving.

    Raises ``InputDataError`` when no run has been published there (no ``latest/site``) and
    ``UsageError`` when the port is taken."""
    index = Path(outputs) / SITE_PATH
    if not index.is_file():
        raise InputDataError("no published site: run `xsell publish` (or a pipeline) first", file=index)
    try:
        return ThreadingHTTPServer((HOST, port), partial(_Handler, directory=str(outputs)))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise UsageError(f"cannot serve on {HOST}:{port}: {exc.strerror}; choose another --port") from None
        raise


def site_url(server: ThreadingHTTPServer) -> str:
    """Address of the latest run's index page on ``server``."""
    return f"http://{HOST}:{server.server_address[1]}/{SITE_PATH}"


def serve(cfg: Config, port: int = 8000) -> int:
    """Serve ``publish.outputs`` until interrupted (Ctrl+C: exit 0), printing the site's URL."""
    with make_server(cfg.publish.outputs, port) as server:
        print(f"serving {cfg.publish.outputs} at {site_url(server)} (Ctrl+C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0
