"""The leaderboard page's item view: two rows of a task, the items where they differ (largest difference first,
filtered by won / lost / tied), with the prompt, the context, both responses and the extracted answer; every text is
data (a response that tries to close the script or inject markup shows as text); 5,000 items draw 100 at a time."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mipo_bench.analysis.leaderboard.item_page import item_sections
from mipo_bench.analysis.leaderboard.items import PAGE_SIZE, differences, embedded_json, item_view
from mipo_bench.analysis.leaderboard.page import write_page
from mipo_bench.analysis.leaderboard.rank import leaderboard

from .test_leaderboard import entry
from .test_leaderboard_page import CHROMIUM, CHROMIUM_ARGS

HOSTILE = '</script><img src=x onerror="console.error(1)"> & <b>bold</b>'


def run(tmp_path, label, correct, seed=None, n=None, responses=None):
    """An entry whose eval directory holds an eval_results.json with one sample per item (filters paper and strict)."""
    e = entry(label, correct, seed=seed, task="mipo_gsm8k")
    folder = tmp_path / f"{label}-{seed}"
    folder.mkdir()
    samples = []
    for doc_id, ok in enumerate(correct):
        doc = {"question": f"What is {doc_id} + {doc_id}?", "answer": str(2 * doc_id)}
        if doc_id == 0:
            doc["context"] = "I like <short> answers"
        text = (responses or {}).get(doc_id, f"{label} seed {seed} says {2 * doc_id if ok else -1}")
        for filt in ("strict", "paper"):
            answer = str(2 * doc_id if ok else -1) if filt == "paper" else "[invalid]"
            samples.append(
                {"doc_id": doc_id, "filter": filt, "doc": doc, "resps": [[text]], "filtered_resps": [answer]}
            )
    (folder / "eval_results.json").write_text(json.dumps({"samples": {"mipo_gsm8k": samples}}))
    return dataclasses.replace(e, eval_dir=folder, headline="paper", scores={"paper": e.scores[next(iter(e.scores))]})


def test_the_view_reads_scores_over_seeds_and_the_lowest_seeds_texts(tmp_path):
    base = run(tmp_path, "base", [1, 0, 0, 1, 0], responses={2: HOSTILE})
    mipo = [run(tmp_path, "mipo", [1, 1, 0, 0, 1], seed=2), run(tmp_path, "mipo", [1, 1, 1, 0, 0], seed=1)]
    (task,) = item_view([base, *mipo])
    assert task["rows"] == ["base", "mipo"] and task["seeds"]["mipo"] == [1, 2]
    assert task["scores"]["mipo"] == {0: 1.0, 1: 1.0, 2: 0.5, 3: 0.0, 4: 0.5}  # the mean over the seeds
    assert task["texts"]["mipo"][1]["response"] == "mipo seed 1 says 2"  # the lowest seed's answer
    assert task["texts"]["mipo"][1]["answer"] == "2"  # the headline filter's (paper), not strict's
    assert task["docs"][0] == {"prompt": "What is 0 + 0?", "context": "I like <short> answers", "gold": "0"}
    assert differences(task, "mipo", "base") == [(1, 1.0), (3, -1.0), (2, 0.5), (4, 0.5)]
    assert differences(task, "mipo", "base", "won") == [(1, 1.0), (2, 0.5), (4, 0.5)]
    assert differences(task, "mipo", "base", "lost") == [(3, -1.0)]
    assert differences(task, "mipo", "base", "tied") == [(0, 0.0)]
    blob = embedded_json([task])
    assert "<" not in blob and ">" not in blob and "&" not in blob  # nothing can close the script element
    assert json.loads(blob)[0]["texts"]["base"]["2"]["response"] == HOSTILE


def test_a_run_whose_files_are_gone_keeps_its_scores(tmp_path):
    gone = dataclasses.replace(run(tmp_path, "sft", [1, 0]), eval_dir=tmp_path / "nowhere")
    (task,) = item_view([gone])
    assert task["scores"]["sft"] == {0: 1.0, 1: 0.0} and task["texts"]["sft"] == {} and task["docs"] == {}
    assert item_sections([]) == []


@pytest.mark.browser
def test_the_item_view_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(0)
    n = 5000
    base = run(tmp_path, "base", rng.random(n) < 0.4, responses={k: HOSTILE for k in range(0, n, 7)})
    mipo = run(tmp_path, "mipo", rng.random(n) < 0.6, seed=1)
    entries = [base, mipo]
    path = write_page(leaderboard(entries), tmp_path / "board.html", items=item_view(entries))
    task = item_view(entries)[0]
    expected = differences(task, "base", "mipo")
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path.as_uri())
        section = page.locator("section.items").first
        assert section.locator("span.count").inner_text() == f"{len(expected)} item(s)"
        assert section.locator("div.item").count() == PAGE_SIZE  # drawn a page at a time
        heads = section.locator("div.item div.head").all_inner_texts()
        assert heads[0].startswith(f"item {expected[0][0]} · A ") and len(heads) == PAGE_SIZE
        section.locator("button.more").click()
        assert section.locator("div.item").count() == 2 * PAGE_SIZE
        section.locator("select.keep").select_option("lost")
        lost = [d for d in expected if d[1] < 0]
        assert section.locator("span.count").inner_text() == f"{len(lost)} item(s)"
        assert all("A lost" in h for h in section.locator("div.item div.head").all_inner_texts())
        hostile = section.locator("div.item pre", has_text="onerror").first.inner_text()
        assert hostile == HOSTILE  # shown as text
        assert page.locator("section.items img, section.items b:not(.won):not(.lost)").count() == 0
        section.locator("select.a").select_option("mipo")
        section.locator("select.b").select_option("base")
        section.locator("select.keep").select_option("won")
        assert section.locator("span.count").inner_text() == f"{len(lost)} item(s)"  # B's losses are A's wins
        page.screenshot(path=str(tmp_path / "items.png"))
        browser.close()
    assert errors == []
