"""Comparison tables: paired deltas with bootstrap CIs and changed-response shares."""

import pytest

from mipo_bench.report import changed_share, comparison_table, paired_delta


def _res(correct, texts):
    samples = [
        {
            "doc_id": i,
            "filter": f,
            "exact_match": float(c),
            "filtered_resps": ["A" if c else "[invalid]"],
            "resps": [[t]],
        }
        for i, (c, t) in enumerate(zip(correct, texts))
        for f in ("strict", "flexible")
    ]
    return {"samples": {"t": samples}}


def test_paired_delta_and_table():
    base = _res([1, 0, 0, 0, 1, 0, 0, 0], list("abcdefgh"))
    new = _res([1, 1, 1, 0, 1, 1, 0, 0], list("abXdeYZh"))
    d, lo, hi = paired_delta(
        {i: x for i, x in enumerate([1, 0, 0, 0, 1, 0, 0, 0])}, {i: x for i, x in enumerate([1, 1, 1, 0, 1, 1, 0, 0])}
    )
    assert d == pytest.approx(3 / 8) and 0 < lo <= d <= hi <= 1
    assert changed_share(base, new, "t") == pytest.approx(3 / 8)
    _, rows = comparison_table({"base": base, "new": new}, "t", "base", "demo")
    assert rows[0]["acc_strict"] == pytest.approx(0.25) and rows[1]["acc_strict"] == pytest.approx(5 / 8)
    assert rows[0]["no_answer"] == 6 and rows[1]["no_answer"] == 3 and rows[1]["changed"] == pytest.approx(3 / 8)
