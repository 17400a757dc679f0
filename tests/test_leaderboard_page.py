"""The static leaderboard page in a real headless browser (Debian's Chromium driven by playwright, which never
downloads a browser): it renders every entry, its figures load from the file itself, sorting by a column header
works, strings are escaped, and the console stays free of errors. A screenshot goes to /tmp/leaderboard_page.png."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mipo_bench.analysis.leaderboard.page import write_page
from mipo_bench.analysis.leaderboard.rank import leaderboard

from .test_leaderboard import entry, flip, share

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
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
SCREENSHOT = "/tmp/leaderboard_page.png"
HOSTILE = '<img src=x onerror="console.error(1)">'  # a label that must show as text, never as markup


def board_for_page() -> dict:
    base = share(0.3, 0)
    a = np.maximum(base, share(0.7, 1))
    b = np.maximum(base, share(0.3, 2))
    entries = [
        entry("base", base, train_seconds=None, tokens=5000),
        entry("mipo", a, seed=1, train_seconds=317.0, tokens=6100),
        entry("mipo", flip(a, 5, 9), seed=2, train_seconds=320.5, tokens=6050),
        entry("sft", b, seed=1, train_seconds=161.0, tokens=2500),
        entry(HOSTILE, flip(b, 6, 3), seed=1, train_seconds=47.0, tokens=3000),
        entry("base", share(0.5, 7), task="mipo_gsm8k", tokens=9000),
        entry("mipo", share(0.55, 8), task="mipo_gsm8k", seed=1, train_seconds=317.0, tokens=9100),
        entry("sft", share(0.4, 9), task="mipo_gsm8k", seed=1, train_seconds=161.0, tokens=8000),
    ]
    return leaderboard(entries)


def column(page, table, index: int, attribute: str | None = None) -> list[str]:
    """The cells of one column of a table's body, as text or as an attribute."""
    cells = page.locator("table.board").nth(table).locator(f"tbody tr td:nth-child({index + 1})")
    if attribute:
        return [cells.nth(i).get_attribute(attribute) for i in range(cells.count())]
    return cells.all_inner_texts()


def test_page_renders_sorts_and_has_no_console_errors(tmp_path):
    from playwright.sync_api import sync_playwright

    board = board_for_page()
    title = "Leaderboard <draft> & notes"
    path = write_page(board, tmp_path / "leaderboard.html", title)
    text = path.read_text()
    # self-contained: every src is a data: URI, nothing is linked
    n_figures = 1 + len(board["tasks"])  # the mean gains, then one per task
    assert re.findall(r'\bsrc="([a-z]+):', text) == ["data"] * n_figures and not re.search(r"<link|\bhref=|url\(", text)

    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: requests.append(req.url))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")

        assert page.title() == title
        tables = list(board["tasks"].items())
        assert page.locator("table.board").count() == 2 + len(tables)  # the grid, overall, then one per task
        grid_labels = column(page, 0, 1)
        assert grid_labels[0] == "base" and set(grid_labels) == {r["label"] for tb in tables for r in tb[1]["rows"]}
        assert column(page, 1, 2) == [r["label"] for r in board["overall"]]
        for t, (task, tb) in enumerate(tables, start=2):
            assert column(page, t, 2) == [r["label"] for r in tb["rows"]], task
        assert HOSTILE in column(page, 2, 2)  # escaped: shown as text
        cost = page.locator("table.board").nth(2).locator("th", has_text="train CPU s")
        assert "CPU seconds" in cost.get_attribute("title")  # each cost column says what it counts
        # the figures, embedded and decoded (no other image: the hostile label made none)
        loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert loaded == [True] * n_figures
        assert all(u.startswith(("file:", "data:")) for u in requests), requests
        # ties: the rows sharing a rank carry the marker
        tied_rows = sum(r["tied"] for tb in board["tasks"].values() for r in tb["rows"])
        assert page.locator("span.tied").count() == tied_rows + sum(r["tied"] for r in board["overall"])

        header = page.locator("table.board").nth(2).locator("th", has_text="gain [95% CI]")
        rows = board["tasks"]["mipo_arc_easy"]["rows"]
        with_gain = sorted((r for r in rows if r["gain"] is not None), key=lambda r: r["gain"])
        header.click()
        assert header.get_attribute("aria-sort") == "ascending"
        assert column(page, 2, 2) == [r["label"] for r in with_gain] + ["base"]  # no gain: last
        gains = [float(v) for v in column(page, 2, 6, "data-sort") if v]
        assert gains == sorted(gains) and len(gains) == len(with_gain)
        header.click()
        assert header.get_attribute("aria-sort") == "descending"
        assert column(page, 2, 2) == [r["label"] for r in reversed(with_gain)] + ["base"]

        tokens = page.locator("table.board").nth(2).locator("th", has_text="eval tokens")
        tokens.click()  # numbers with thousands separators sort by value, not as text
        assert column(page, 2, 9) == ["2,500", "3,000", "5,000", "12,150"]
        page.locator("table.board").nth(2).locator("th", has_text="method").click()
        assert column(page, 2, 2) == sorted((r["label"] for r in rows), key=str.lower)

        page.locator("table.board").nth(2).locator("th", has_text="rank").click()
        page.screenshot(path=SCREENSHOT, full_page=True)
        browser.close()
    assert errors == []
