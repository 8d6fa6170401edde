"""Take ``docs/demo.png``: the demo page of ``seqrec serve`` with a short history of films.

    python docs/demo_screenshot.py                 # trains a small SASRec on ml-1m-head first
    python docs/demo_screenshot.py --run RUN_DIR   # or uses a run you have

Needs Debian's chromium (``/usr/bin/chromium``) and the ``playwright`` Python package (its own browser
download is not used).
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import expect, sync_playwright

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.serving import Recommender
from seqrec.serving.app import create_app

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HISTORY = [
    ("star wars", "Star Wars: Episode IV - A New Hope (1977)"),
    ("empire strikes", "Star Wars: Episode V - The Empire Strikes Back (1980)"),
    ("raiders", "Raiders of the Lost Ark (1981)"),
    ("terminator", "Terminator, The (1984)"),
]


def train(run: Path) -> Path:
    if (run / "model.safetensors").exists():
        return run
    data = SequenceDataset.from_config(SeqRec(data={"dataset": "ml-1m-head"}).config.data)
    SeqRec(
        model={"name": "sasrec", "max_len": 100, "hidden": 64, "blocks": 2, "heads": 1, "dropout": 0.2},
        training={"epochs": 20, "eval_every": 5, "batch_size": 128, "loss": "ce"},
        runtime=RuntimeOptions(progress=False, seed=42, threads=1),
    ).fit(data, run_dir=run)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "demo.png")
    args = parser.parse_args()
    run = args.run or train(ROOT / "benchmarks" / ".work" / "demo-ml-1m-head")
    rec = Recommender.load(run)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(rec), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"http://127.0.0.1:{port}/")
        for query, title in HISTORY:
            page.fill("#search", query)
            hit = page.locator("#results li.hit", has_text=title).first
            expect(hit).to_be_visible()
            hit.locator("button.add").click()
        expect(page.locator("#recs tr.rec")).to_have_count(10)
        page.fill("#search", "alien")
        expect(page.locator("#results li.hit").first).to_contain_text("Alien")
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    server.should_exit = True
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
