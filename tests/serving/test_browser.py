"""The demo page in a real headless browser: Debian's chromium driven by Playwright.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``) and the ``playwright`` Python package; the
browser Playwright would download is never used (``executable_path`` points at Debian's build).
Skipped, with the reason, when either is missing; with ``SEQREC_BROWSER_TESTS=required`` it fails instead.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from seqrec.serving import Recommender
from seqrec.serving.app import create_app

CHROMIUM = Path(os.environ.get("SEQREC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(rec: Recommender) -> Iterator[str]:
    """The app on a free loopback port, in a background thread of this process."""
    port = _free_port()
    config = uvicorn.Config(create_app(rec), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _missing(reason: str) -> None:
    """Skip, or fail where the browser test is required (``SEQREC_BROWSER_TESTS=required``, set by CI)."""
    if os.environ.get("SEQREC_BROWSER_TESTS") == "required":
        pytest.fail(f"browser test required but {reason}")
    pytest.skip(reason)


@pytest.fixture
def sync_api() -> Any:
    """Playwright's sync API, once chromium and playwright are known to be there (before the server)."""
    if not CHROMIUM.exists():
        _missing("Debian chromium is not installed (apt-get install -y chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    return sync_api


def test_demo_page_shows_recommendations(
    sync_api: Any, server: str, tmp_path: Path, rec: Recommender
) -> None:
    shot = tmp_path / "demo.png"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)  # fresh profile
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server + "/")
            sync_api.expect(page.locator("#model")).to_contain_text("SASRec on synthetic")
            for query in ("film 12", "film 13", "film 14"):
                page.fill("#search", query)
                hit = page.locator("#results li.hit").first
                sync_api.expect(hit).to_contain_text(query.title())
                hit.locator("button.add").click()
            sync_api.expect(page.locator("#history li")).to_have_count(3)
            rows = page.locator("#recs tr.rec")
            sync_api.expect(rows).to_have_count(10)
            sync_api.expect(page.locator("#status")).to_contain_text("10 items")
            expected = rec.recommend(histories=[[12, 13, 14]], k=10, meta=True)
            assert rows.locator("td.title").all_inner_texts() == expected["title"].to_list()
            details = rows.locator("td.meta").all_inner_texts()
            genres = [g.replace("|", ", ") for g in expected["genres"].to_list()]
            assert all(d.startswith(g) for d, g in zip(details, genres, strict=True))
            assert not {"Film 12", "Film 13", "Film 14"} & set(expected["title"].to_list())
            page.screenshot(path=str(shot), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
