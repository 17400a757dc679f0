"""Comparison tables: paired deltas with bootstrap CIs, changed-response shares, every metric the samples carry."""

import io

import pytest
from rich.console import Console

from mipo_bench.analysis.report import changed_share, comparison_table, per_item_scores, score_pairs
from mipo_bench.stats.paired import paired_bootstrap


def _res(correct, texts, filters=("strict", "flexible"), paper=None):
    """Eval results of one task "t"; ``paper`` (the re-ask filter's correctness) adds `paper` rows."""
    samples = [
        {
            "doc_id": i,
            "filter": f,
            "metrics": ["exact_match"],
            "exact_match": float(c),
            "filtered_resps": ["A" if c else "[invalid]"],
            "resps": [[t]],
        }
        for i, (c, t) in enumerate(zip(correct, texts))
        for f in filters
    ]
    for i, (c, t) in enumerate(zip(paper or [], texts)):
        samples.append(
            {
                "doc_id": i,
                "filter": "paper",
                "metrics": ["exact_match"],
                "exact_match": float(c),
                "filtered_resps": ["7" if c else "[invalid]"],
                "resps": [[t]],
                "reask_reply": "7",
            }
        )
    return {"samples": {"t": samples}}


def test_paired_delta_and_table():
    base = _res([1, 0, 0, 0, 1, 0, 0, 0], list("abcdefgh"))
    new = _res([1, 1, 1, 0, 1, 1, 0, 0], list("abXdeYZh"))
    delta = paired_bootstrap(
        {i: x for i, x in enumerate([1, 0, 0, 0, 1, 0, 0, 0])}, {i: x for i, x in enumerate([1, 1, 1, 0, 1, 1, 0, 0])}
    )
    d, lo, hi = delta.mean, delta.low, delta.high
    assert d == pytest.approx(3 / 8) and 0 < lo <= d <= hi <= 1
    assert changed_share(base, new, "t") == pytest.approx(3 / 8)
    _, rows = comparison_table({"base": base, "new": new}, "t", "base", "demo")
    assert rows[0]["scores"]["strict"] == pytest.approx(0.25) and rows[1]["scores"]["strict"] == pytest.approx(5 / 8)
    assert rows[0]["no_answer"] == 6 and rows[1]["no_answer"] == 3 and rows[1]["changed"] == pytest.approx(3 / 8)
    assert rows[1]["deltas"]["strict"][0] == pytest.approx(3 / 8)


def test_report_deltas_are_the_leaderboards_paired_bootstrap():
    """One implementation: the demo table's interval is the leaderboard's on the same items, constant differences
    included (a zero-width interval at the constant, what every bootstrap resample gives — not nan)."""
    base = _res([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0], list("abcdefghijkl"))
    new = _res([1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0], list("abcdefghijkl"))
    table, rows = comparison_table({"base": base, "new": new}, "t", "base", "demo")
    expected = paired_bootstrap(per_item_scores(base, "t", "strict"), per_item_scores(new, "t", "strict"))
    assert rows[1]["deltas"]["strict"] == (expected.mean, expected.low, expected.high)

    same = _res([1, 0, 1, 0], list("abcd"))
    better = _res([1, 1, 1, 1], list("abcd"))  # +1 on the two wrong items, 0 on the others: not constant
    shifted = {"samples": {"t": [dict(s, exact_match=s["exact_match"] + 0.5) for s in same["samples"]["t"]]}}
    table, rows = comparison_table({"base": same, "better": better, "shifted": shifted}, "t", "base", "demo")
    assert rows[2]["deltas"]["strict"] == (0.5, 0.5, 0.5)  # every item +0.5: a zero-width interval
    console = Console(record=True, width=250, file=io.StringIO())
    console.print(table)
    assert "+50.0 [+50.0, +50.0]" in console.export_text()
    assert rows[1]["deltas"]["strict"][1] < rows[1]["deltas"]["strict"][2]


def test_paper_filter_is_the_headline():
    base = _res([0, 0, 0, 1], list("abcd"), paper=[1, 0, 0, 1])
    new = _res([1, 0, 0, 1], list("abXd"), paper=[1, 1, 1, 1])
    table, rows = comparison_table({"base": base, "new": new}, "t", "base", "demo")
    headers = [c.header for c in table.columns]
    assert headers[:5] == ["model", "n", "acc paper", "acc strict", "acc flexible"]
    assert "no answer (paper)" in headers and headers.index("Δ paper [95% CI]") < headers.index("Δ strict [95% CI]")
    assert list(rows[0]["scores"]) == ["paper", "strict", "flexible"]
    assert rows[0]["scores"]["paper"] == pytest.approx(0.5) and rows[1]["scores"]["paper"] == 1.0
    assert rows[0]["no_answer"] == 2 and rows[1]["no_answer"] == 0  # counted on the paper filter
    assert rows[1]["deltas"]["paper"][0] == pytest.approx(0.5)


def _loglik(acc, acc_norm):
    rows = [
        {
            "doc_id": i,
            "filter": "none",
            "metrics": ["acc", "acc_norm"],
            "acc": a,
            "acc_norm": n,
            "filtered_resps": [[-1.0, False], [-2.0, False]],
            "resps": [[[-1.0, False]], [[-2.0, False]]],
        }
        for i, (a, n) in enumerate(zip(acc, acc_norm))
    ]
    return {"samples": {"t": rows}}


def test_loglikelihood_metrics_come_from_the_samples():
    """The samples of loglik tasks carry acc / acc_norm, not exact_match (reports used to KeyError on them)."""
    base, new = _loglik([1, 0, 0, 0], [1, 1, 0, 0]), _loglik([1, 1, 0, 0], [1, 1, 1, 1])
    assert score_pairs(base, "t") == [("acc", "none"), ("acc_norm", "none")]
    assert per_item_scores(new, "t", "none", "acc_norm") == {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}
    assert per_item_scores(new, "t", "none") == {0: 1.0, 1: 1.0, 2: 0.0, 3: 0.0}  # the samples' first metric
    _, rows = comparison_table({"base": base, "new": new}, "t", "base", "loglik")
    assert rows[1]["scores"] == {"acc": 0.5, "acc_norm": 1.0}
    assert rows[1]["deltas"]["acc_norm"][0] == pytest.approx(0.5)
    assert rows[1]["no_answer"] is None and rows[1]["changed"] is None  # nothing extracted, nothing generated


def test_generation_only_samples_have_no_scores():
    rows = [
        {
            "doc_id": 0,
            "filter": "none",
            "metrics": ["bypass"],
            "bypass": None,
            "filtered_resps": ["hi"],
            "resps": [["hi"]],
        }
    ]
    assert score_pairs({"samples": {"t": rows}}, "t") == []
