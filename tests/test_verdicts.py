"""What a table can detect and plain verdicts: each leaderboard column states its minimum detectable effect from its
measured seed spread and run noise, marks the gains below it, and a user's row gets one line per baseline: better,
worse, or cannot tell at this size, with the seeds or items that would tell."""

from __future__ import annotations

import numpy as np
import pytest

from mipo_bench.analysis.leaderboard.rank import leaderboard
from mipo_bench.analysis.leaderboard.render import BELOW, markdown
from mipo_bench.analysis.leaderboard.verdict import verdicts
from mipo_bench.stats.seed_tests import Design, detectable_effect, needed

from .test_leaderboard import entry


def test_the_detectable_effect_is_the_two_t_quantiles_times_the_standard_error():
    from scipy import stats

    assert detectable_effect(0.02, 4) == pytest.approx((stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)) * 0.02)
    design = Design(seed_var=0.02**2, run_noise=0.05, items=200, seeds=3)
    assert design.vs_method(seeds=10) < design.vs_method() < design.vs_method(seeds=2)
    assert design.vs_base(items=800) < design.vs_base()
    more = needed(design, 0.03)
    assert more["seeds"] and design.vs_method(seeds=more["seeds"]) <= 0.03 < design.vs_method(seeds=more["seeds"] - 1)
    spread = Design(seed_var=0.05**2, run_noise=0.001, items=200, seeds=3)  # the seeds, not the items, limit it
    assert needed(spread, 0.01)["items"] is None


def _board(seed_sd: float = 0.02, n: int = 400):
    rng = np.random.default_rng(5)
    p = rng.beta(2, 2, n)

    def run(label, shift, seed=None):
        return entry(label, rng.random(n) < np.clip(p + shift, 0, 1), seed=seed)

    entries = [run("base", 0.0)]
    for label, gain in (("big", 0.15), ("small", 0.005), ("mipo", 0.15)):
        entries += [run(label, gain + rng.normal(0, seed_sd), seed=s) for s in (1, 2, 3)]
    return leaderboard(entries)


def test_each_column_states_what_it_can_detect_and_marks_the_gains_below_it():
    board = _board()
    (tb,) = board["tasks"].values()
    design = tb["design"]
    assert design["seeds"] == 3 and design["items"] == 400 and 0 < design["vs_method"] < design["vs_base"] < 0.2
    rows = {r["label"]: r for r in tb["rows"]}
    assert rows["small"]["below_detectable"] and not rows["big"]["below_detectable"]
    text = markdown(board)
    assert "this column (3 seeds, 400 items) detects with 80% power" in text and f"({BELOW})" in text


def test_a_users_row_gets_one_plain_verdict_per_baseline():
    board = _board()
    lines = verdicts(board, "big")
    task = next(iter(board["tasks"]))
    assert any(line.startswith(f"{task}: big is better than base:") for line in lines)
    assert any(line.startswith(f"{task}: big is better than small:") for line in lines)
    tie = next(line for line in lines if " vs mipo:" in line)
    assert "cannot tell at this size" in tie and "the smallest difference this design detects is" in tie
    small = " ".join(verdicts(board, "small"))
    assert "small vs base: cannot tell at this size" in small and "would be detected with" in small
    with pytest.raises(ValueError, match="no row labelled 'nope'"):
        verdicts(board, "nope")


def test_the_leaderboard_command_prints_the_verdicts_on_stdout(tmp_path, capsys):
    from mipo_bench.analysis.leaderboard.store import ResultsStore
    from mipo_bench.cli.main import main

    from .test_leaderboard import share

    mine = [entry("mine", share(0.8 + d, s), seed=s) for s, d in ((1, 0.0), (2, 0.02))]
    entries = [entry("base", share(0.3, 0)), *mine]
    db = tmp_path / "lb.sqlite"
    with ResultsStore(db) as store:
        assert all(store.add(e) for e in entries)
    assert main(["leaderboard", "--db", str(db), "--format", "markdown", "--row", "mine"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("verdict: ") and "mine is better than base" in line for line in out.splitlines())
