"""Judged tasks on the leaderboard (win-rate, ties as half, failures, one column per judge), seeds as a level of
chance (seed-level t tests, calibrated at 3 seeds), tasks weighed the same in the overall test, labels that are data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mipo_bench.analysis.leaderboard.rank import leaderboard
from mipo_bench.analysis.leaderboard.render import markdown, rich_tables
from mipo_bench.stats.paired import paired_bootstrap, paired_test
from mipo_bench.stats.seed_tests import combine, compare_runs

from .test_leaderboard import entry, share


def test_seeds_that_disagree_are_not_significant_however_many_items():
    """Two seeds, one far above the base and one far below: every item-level test on the seed-averaged items would
    call the +10 mean gain significant; the seed-level test does not."""
    rng = np.random.default_rng(0)
    base = {i: float(v) for i, v in enumerate(rng.random(2000) < 0.5)}
    up = {i: float(rng.random() < 0.9) for i in base}  # +40 points
    down = {i: float(rng.random() < 0.3) for i in base}  # -20 points
    pooled = {i: (up[i] + down[i]) / 2 for i in base}
    assert paired_test(base, pooled)[1] < 0.001  # the item-level test: "significant"
    c = compare_runs([up, down], [base])
    assert c.mean == pytest.approx(paired_bootstrap(base, pooled).mean)
    assert c.p > 0.05 and c.low < 0 < c.high and c.test == "seed-level t (2 seeds vs 1 run)"


def test_seeds_that_agree_are_significant_and_one_seed_each_is_the_item_level_test():
    rng = np.random.default_rng(1)
    base = {i: float(v) for i, v in enumerate(rng.random(400) < 0.4)}
    seeds = [{i: float(max(base[i], rng.random() < 0.3)) for i in base} for _ in range(3)]
    pooled = {i: sum(s[i] for s in seeds) / 3 for i in base}
    c = compare_runs(seeds, [base])
    assert c.p < 0.01 and c.mean == pytest.approx(paired_bootstrap(base, pooled).mean)
    one = compare_runs(seeds[:1], [base])  # one seed: the item-level paired test (McNemar on 0/1 scores)
    assert one.test.startswith("item-level") and one.low < one.mean < one.high


def test_the_seed_level_test_at_three_seeds_rejects_about_five_percent_of_true_nulls():
    """Before: the two-level bootstrap resampled 3 seeds with replacement and read a normal-like quantile: 10-11% false
    positives once seeds spread by 8 points. A small pinned case of benchmarks/seed_test_calibration.py (which
    simulates every cell with 2,000 tables: all within 3.5-6%)."""
    rng = np.random.default_rng(7)
    hits = {"base": 0, "method": 0}
    sims = 400
    for _ in range(sims):
        p = rng.beta(2, 2, 200)

        def runs(k, p=p):
            offsets = rng.normal(0, 0.08, k)
            return [dict(enumerate((rng.random(200) < np.clip(p + o, 0, 1)).astype(float))) for o in offsets]

        hits["base"] += compare_runs(runs(3), [dict(enumerate((rng.random(200) < p).astype(float)))]).p < 0.05
        hits["method"] += compare_runs(runs(3), runs(3)).p < 0.05
    assert all(0.02 <= h / sims <= 0.085 for h in hits.values()), hits


def test_within_a_task_methods_whose_seeds_disagree_are_tied_with_their_neighbour():
    """The ranking's pairwise tests are seed-level too: A's seeds at 90% and 10% (mean 50) against B's two seeds at
    40%: on seed-averaged items B is significantly worse (the item-level test), the seed-level test ties them; with
    one seed each the item-level test still decides."""
    rng = np.random.default_rng(3)
    n = 2000
    base = entry("base", rng.random(n) < 0.3)
    a1, a2 = rng.random(n) < 0.9, rng.random(n) < 0.1
    b1, b2 = rng.random(n) < 0.4, rng.random(n) < 0.4
    pooled_a = {i: (a1[i] + a2[i]) / 2 for i in range(n)}
    pooled_b = {i: (b1[i] + b2[i]) / 2 for i in range(n)}
    assert paired_test(pooled_b, pooled_a)[1] < 0.001  # what ranking on averaged items would say
    board = leaderboard(
        [base, entry("A", a1, seed=1), entry("A", a2, seed=2), entry("B", b1, seed=1), entry("B", b2, seed=2)]
    )
    rows = {r["label"]: r for r in board["tasks"][base.task]["rows"]}
    assert rows["A"]["rank"] == rows["B"]["rank"] == 1 and rows["A"]["tied"]
    assert rows["A"]["score_low"] < 0.4 < 0.6 < rows["A"]["score_high"]  # the score's CI spans the seeds
    board = leaderboard([base, entry("A", a1, seed=1), entry("B", b1, seed=1)])
    rows = {r["label"]: r for r in board["tasks"][base.task]["rows"]}
    assert (rows["A"]["rank"], rows["B"]["rank"]) == (1, 2)
    assert rows["A"]["score_low"] > 0.85  # one seed: items only


def test_every_task_weighs_the_same_in_the_overall_test():
    """+1 on a 500-item task and -1 on a 20-item task: the mean gain over tasks is 0 and so is the test's centre
    (pooling the items would give +0.92 and a tiny p)."""
    rng = np.random.default_rng(2)
    big = compare_runs([{i: 1.0 for i in range(500)}], [{i: float(rng.random() < 0.0) for i in range(500)}])
    small = compare_runs([{i: 0.0 for i in range(20)}], [{i: 1.0 for i in range(20)}])
    overall = combine([big, small])
    assert overall.mean == 0.0 and overall.p == 1.0


def test_overall_mean_gain_has_a_ci_and_rows_say_which_test_they_used(tmp_path):
    base, a = share(0.3, 0), np.maximum(share(0.3, 0), share(0.6, 1))
    entries = [entry("base", base), entry("A", a, seed=1), entry("A", share(0.55, 2), seed=2), entry("B", a, seed=1)]
    board = leaderboard(entries)
    rows = {r["label"]: r for r in board["tasks"][entries[0].task]["rows"]}
    assert rows["A"]["ci_over"] == "seeds (t) and items" and rows["A"]["test"] == "seed-level t (2 seeds vs 1 run)"
    assert rows["B"]["ci_over"] == "items (1 run)" and rows["B"]["test"].startswith("item-level")
    overall = {r["label"]: r for r in board["overall"]}
    assert overall["A"]["low"] < overall["A"]["mean_gain"] < overall["A"]["high"]
    assert "seed-level t (2 seeds vs 1 run)" in markdown(board)
    assert "| 2: 1,2 |" in markdown(board)  # how many seeds, then which (issue 17: a lone "42" read as a count)


def write_judged_eval(root: Path, label: str, task: str, wins: list, judge: str = "judge-14b", seed=None) -> Path:
    """An evaluation of a personalization task judged against the dataset reference: ``wins`` per item is
    ``win`` / ``tie`` / ``loss`` / ``failed``. Laid out as `reproduce` writes it (eval dir, judge/ inside)."""
    eval_dir = root / label / "eval"
    judge_dir = eval_dir / "judge"
    judge_dir.mkdir(parents=True)
    samples = eval_dir / "out" / f"samples_{task}_2026-12-05.jsonl"
    samples.parent.mkdir()
    rows, mine, theirs = [], [], []
    for doc_id, outcome in enumerate(wins):
        item_id = f"prism/c{doc_id}"
        rows.append({"doc_id": doc_id, "doc": {"id": item_id, "prompt": "q", "preferences": ["p"]}, "resps": [["r"]]})
        score = {"win": 5, "tie": 3, "loss": 1, "failed": None}[outcome]
        mine.append({"item_id": item_id, "preference_index": 0, "score": score, "replies": ["x"], "failed": not score})
        theirs.append({"item_id": item_id, "preference_index": 0, "score": 3, "replies": ["3"], "failed": False})
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (judge_dir / "judgments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mine))
    (judge_dir / "reference_judgments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in theirs))
    summary = {
        "samples": str(samples),
        "judge": judge,
        "template": "paper",
        "template_path": None,
        "decoding": {"max_new_tokens": 8, "temperature": 0.1},
        "scoring": "text",
        "reference": {"source": "dataset"},
        "win_rate": {"n": len(wins)},
    }
    (judge_dir / "judge_summary.json").write_text(json.dumps(summary))
    results = {
        "results": {task: {}},
        "mipo_bench": {"model_spec": "model-1"},
        "samples": {
            task: [{"doc_id": r["doc_id"], "filter": "none", "metrics": ["bypass"], "bypass": 999} for r in rows]
        },
    }
    (eval_dir / "eval_results.json").write_text(json.dumps(results))
    manifest = {"status": "complete", "model": "model-1", "tasks": [task], "label": label, "inputs_hash": label}
    (eval_dir / "eval.manifest.json").write_text(json.dumps(manifest))
    return eval_dir


def test_judged_runs_rank_by_win_rate_with_failures_and_ties_and_never_across_judges(tmp_path):
    from mipo_bench.analysis.results import collect

    task = "mipo_prism"
    n = 40
    write_judged_eval(tmp_path, "base", task, ["tie"] * 20 + ["loss"] * 20)
    write_judged_eval(tmp_path, "mipo", task, ["win"] * 24 + ["tie"] * 4 + ["loss"] * 8 + ["failed"] * 4)
    write_judged_eval(tmp_path / "other", "mipo", task, ["win"] * n, judge="judge-8b")
    entries, skipped = collect([tmp_path])
    assert not skipped
    mipo = next(e for e in entries if e.label == "mipo" and e.manifest["judge"]["judge"] == "judge-14b")
    assert mipo.headline == "win" and sum(mipo.scores["win"].values()) == 28  # wins + ties; failures lose
    assert sum(mipo.scores["win_ties_half"].values()) == 26 and sum(mipo.scores["judge_failed"].values()) == 4

    board = leaderboard(entries)
    columns = sorted(board["tasks"])
    assert len(columns) == 2 and all(c.startswith(f"{task} (judge ") for c in columns)
    assert any("never compared" in note for note in board["notes"])
    by_judge = {c.split("judge ")[1].split(",")[0]: board["tasks"][c] for c in columns}
    rows = {r["label"]: r for r in by_judge["judge-14b"]["rows"]}
    assert rows["mipo"]["mean"] == pytest.approx(28 / n) and rows["mipo"]["judge_failed"] == 4
    assert rows["mipo"]["ties_half"] == pytest.approx(26 / n)
    assert rows["mipo"]["gain"] == pytest.approx(28 / n - 20 / n)
    assert by_judge["judge-8b"]["rows"][0]["gain"] is None  # no base judged by that judge: nothing to compare
    text = markdown(board)
    assert "(4 failed)" in text and "ties ½" in text


def test_the_store_keeps_each_preference_judgment_of_both_sides(tmp_path):
    """Per item and preference: the response's and the reference's 1-5 score, a failed call as NULL + failed."""
    from mipo_bench.analysis.leaderboard.store import ResultsStore

    eval_dir = write_judged_eval(tmp_path, "mipo", "mipo_prism", ["win", "failed", "tie"])
    judge_dir = eval_dir / "judge"
    for name in ("judgments.jsonl", "reference_judgments.jsonl"):  # a second preference on every item
        rows = [json.loads(line) for line in (judge_dir / name).read_text().splitlines()]
        extra = [{**r, "preference_index": 1, "score": 2, "failed": False} for r in rows]
        (judge_dir / name).write_text("".join(json.dumps(r) + "\n" for r in rows + extra))
    with ResultsStore(tmp_path / "lb.sqlite") as store:
        added, skipped = store.add_paths([tmp_path])
        assert added == 1 and not skipped
        assert store.counts()["judgments"] == 3 * 2 * 2  # items x sides x preferences
        (stored,) = store.entries()
    got = {(j["doc_id"], j["side"], j["preference_index"]): (j["score"], j["failed"]) for j in stored.judgments}
    assert got[(0, "response", 0)] == (5.0, False) and got[(0, "response", 1)] == (2.0, False)
    assert got[(1, "response", 0)] == (None, True)  # the failed call: no score, marked failed
    assert got[(2, "reference", 0)] == (3.0, False) and got[(2, "reference", 1)] == (2.0, False)
    assert stored.scores["judge_score"][0] == pytest.approx(3.5)  # the item's mean over its preferences


def test_labels_are_text_everywhere(tmp_path):
    """A label with rich markup, a pipe and a newline renders as itself, on one Markdown row."""
    from rich.console import Console

    label = "[/bold] a|b\nc $^$"
    entries = [entry("base", share(0.3, 0)), entry(label, share(0.6, 1), seed=1)]
    board = leaderboard(entries)
    console = Console(record=True, width=300)
    for table in rich_tables(board):
        console.print(table)
    assert "[/bold] a|b" in console.export_text()
    row = next(line for line in markdown(board).splitlines() if "[/bold]" in line)
    assert "a\\|b c $^$" in row


def test_judge_audit_finds_length_bias_and_failures_and_the_page_shows_it(tmp_path, capsys):
    """A judge that prefers long responses: wins are long, losses short. The audit's rank correlation is strong,
    the length-controlled win-rate falls below the raw one; failed calls are counted; self-judging is flagged."""
    from mipo_bench.analysis.judge_audit import audit
    from mipo_bench.analysis.leaderboard.page import write_page
    from mipo_bench.analysis.results import collect
    from mipo_bench.cli.main import main

    outcomes = ["win"] * 14 + ["tie"] * 4 + ["loss"] * 10 + ["failed"] * 2
    eval_dir = write_judged_eval(tmp_path, "mipo", "mipo_prism", outcomes)
    samples = next((eval_dir / "out").glob("samples_*.jsonl"))
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    words = {"win": 40, "tie": 20, "loss": 3, "failed": 12}  # the reference: 12 words
    for row, outcome in zip(rows, outcomes):
        row["resps"] = [[" ".join(["word"] * words[outcome])]]
        row["doc"]["reference"] = " ".join(["ref"] * 12)
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary_path = eval_dir / "judge" / "judge_summary.json"
    summary = json.loads(summary_path.read_text())
    summary["judge_choice"] = {"judge": "judge-14b", "reason": "given", "self_judging": True, "policy": "judge-14b"}
    summary_path.write_text(json.dumps(summary))

    report = audit(eval_dir, "mipo_prism")
    assert report["parse_failures"] == {"calls": 60, "failed": 2, "rate": 2 / 60}
    assert report["length_bias"]["spearman"] > 0.5 and report["length_bias"]["p"] < 0.01
    lc = report["length_controlled"]
    assert lc["raw"] == pytest.approx(18 / 28) and lc["lc"] < lc["raw"] and lc["slope"] > 0
    assert report["self_judging"]["flag"] and report["position_bias"]["applies"] is False
    assert "critic-accuracy" in report["human_agreement"]["why"]
    assert (eval_dir / "judge" / "judge_audit.json").is_file()

    assert main(["judge-audit", str(eval_dir)]) == 0
    printed = capsys.readouterr()
    assert "length bias" in printed.out + printed.err and "Spearman" in printed.out + printed.err

    write_judged_eval(tmp_path, "base", "mipo_prism", ["tie"] * 30)
    entries, _ = collect([tmp_path])
    board = leaderboard(entries)
    page = write_page(board, tmp_path / "board.html").read_text()
    assert "Judge audit: mipo_prism (judge judge-14b" in page and "Spearman" in page and "LC " in page
    assert "#### judge audit" in markdown(board)


def test_a_generation_only_run_is_a_note_not_an_empty_column():
    """The real table1 demo: the personalized row (the judged rows' reference) has no score of its own; it made an
    empty column and a false "judged by 2 different judges" note."""
    unscored = entry("personalized", share(0.5, 0), task="mipo_prefeval")
    unscored.headline, unscored.scores = "", {}
    board = leaderboard([unscored, entry("base", share(0.3, 1)), entry("A", share(0.6, 2), seed=1)])
    assert "mipo_prefeval" not in board["tasks"]
    assert any("personalized is generation only" in note for note in board["notes"])
    assert not any("different judges" in note for note in board["notes"])
