"""The leaderboard: the SQLite store (idempotent, all-or-nothing writes, per-item scores read back), the ranking
(gain over the same base model, paired CIs, Holm, tied groups, seeds, costs) and its renderers and CLI."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from mipo_bench.analysis.leaderboard.rank import leaderboard
from mipo_bench.analysis.leaderboard.render import markdown, rich_tables, to_csv
from mipo_bench.analysis.leaderboard.store import ResultsStore
from mipo_bench.analysis.results import EvalEntry, collect, training_costs
from mipo_bench.cli.main import main

from .test_results import TASK, generation_samples, write_eval, write_trained

N = 200


def entry(
    label: str,
    correct,
    model: str = "model-1",
    seed: int | None = None,
    task: str = TASK,
    train_seconds: float | None = None,
    tokens: int = 100,
) -> EvalEntry:
    """A constructed entry: ``correct`` is the 0/1 score of each item."""
    scores = {doc_id: float(ok) for doc_id, ok in enumerate(correct)}
    method = "base" if label == "base" else label
    train = None
    if label != "base":
        train = {
            "method": method,
            "inputs_hash": f"{label}-{seed}",
            "cpu_seconds": None if train_seconds is None else 2 * train_seconds,  # two busy threads
            "generation": {"rollout_tokens": 300, "critic_calls": 4, "critic_reply_tokens": 20},
            "data_manifest": {"generated": {"tokens": 1000, "counter": "tokenizer"}},
        }
    return EvalEntry(
        eval_dir=Path(f"/runs/{model}/{label}-{seed}/{task}"),
        task=task,
        method=method,
        model=model,
        seed=seed,
        label=label,
        scores={"paper": scores, "strict": dict(scores)},
        headline="paper",
        cost={
            "generated_tokens": tokens,
            "token_counter": "whitespace",
            "train_seconds": train_seconds,
            "judge_calls": 0,
            "hardware": {"cpu": "Test CPU", "cores": 2, "gpu": None, "gpus": 0},
            **training_costs(train),
        },
        manifest={"eval": {"inputs_hash": f"{model}-{label}-{seed}-{task}"}, "train": train},
    )


def share(p: float, seed: int) -> np.ndarray:
    """0/1 scores of N items, a share ``p`` of them correct (at random positions)."""
    out = np.zeros(N, dtype=int)
    out[np.random.default_rng(seed).permutation(N)[: round(p * N)]] = 1
    return out


def flip(scores, n: int, seed: int) -> np.ndarray:
    """``scores`` with ``n`` random items flipped: a method that differs from another on a few items only."""
    out = np.array(scores)
    idx = np.random.default_rng(seed).choice(N, n, replace=False)
    out[idx] = 1 - out[idx]
    return out


@pytest.fixture
def board_entries() -> list[EvalEntry]:
    base = share(0.3, 0)
    a = np.maximum(base, share(0.7, 1))  # clearly better than base, on the same items
    b = np.maximum(base, share(0.3, 2))
    c = flip(b, 6, 3)  # B and C differ on 6 items of 200: not significantly different
    return [
        entry("base", base),
        entry("A", a, seed=1, train_seconds=100.0),
        entry("A", flip(a, 4, 4), seed=2, train_seconds=110.0),
        entry("B", b, seed=1),
        entry("C", c, seed=1),
        # a second base model, far stronger: gains are measured against it only for its own methods
        entry("base", share(0.9, 5), model="model-2"),
        entry("A", share(0.9, 5), model="model-2", seed=1),
        # a model with no base run: no gain, a note
        entry("A", share(0.5, 6), model="model-3", seed=1),
        # a second task where A loses nothing and B is worse
        entry("base", share(0.5, 7), task="mipo_gsm8k"),
        entry("A", share(0.5, 7), task="mipo_gsm8k", seed=1, train_seconds=100.0),
        entry("B", share(0.2, 8), task="mipo_gsm8k", seed=1),
    ]


def test_rank_gain_ci_ties_and_same_base(board_entries):
    board = leaderboard(board_entries)
    rows = {(r["model"], r["label"]): r for r in board["tasks"][TASK]["rows"]}
    a, b, c, base = rows[("model-1", "A")], rows[("model-1", "B")], rows[("model-1", "C")], rows[("model-1", "base")]

    # A: two seeds pooled; its gain is over model-1's base, on the same items, with a CI that excludes 0
    assert a["seeds"] == [1, 2] and a["n_items"] == N
    per_seed = [np.mean(list(e.scores["paper"].values())) for e in board_entries[1:3]]
    assert a["mean"] == pytest.approx(np.mean(per_seed)) and a["std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert a["gain"] == pytest.approx(a["mean"] - base["mean"])
    assert 0 < a["low"] < a["gain"] < a["high"] and a["p_holm"] < 0.001
    assert a["train_seconds"] == 210.0 and a["generated_tokens"] == 200  # costs summed over seeds
    assert a["train_cpu_seconds"] == 420.0  # CPU seconds beside the wall clock, named apart
    assert a["train_generated_tokens"] == 2 * (1000 + 300 + 20)  # pairs + rollouts + critic replies, per seed
    # ranks: A alone first, B and C tied (same rank, marked), the base last
    assert (a["rank"], a["tied"]) == (1, False)
    assert b["rank"] == c["rank"] == 2 and b["tied"] and c["tied"]
    assert base["rank"] == 4 and base["gain"] is None
    # Holm over the task's comparisons: each adjusted p is at least the raw one
    assert all(r["p_holm"] >= r["p"] for r in rows.values() if r["p"] is not None)
    # model-2's A equals model-2's base: gain 0, not measured against model-1's much weaker base
    assert rows[("model-2", "A")]["gain"] == 0.0
    assert rows[("model-3", "A")]["gain"] is None
    assert any("no 'base' entry for model-3" in note for note in board["notes"])

    overall = {(r["model"], r["label"]): r for r in board["overall"]}
    gsm = {r["label"]: r for r in board["tasks"]["mipo_gsm8k"]["rows"]}
    assert overall[("model-1", "A")]["tasks"] == 2
    assert overall[("model-1", "A")]["mean_gain"] == pytest.approx((a["gain"] + gsm["A"]["gain"]) / 2)
    assert overall[("model-1", "A")]["rank"] == 1 and overall[("model-1", "A")]["better"] == 1
    assert overall[("model-1", "B")]["worse"] == 1
    assert overall[("model-1", "A")]["train_seconds"] == 210.0  # seed 1's training counted once over the tasks
    assert overall[("model-1", "A")]["train_cpu_seconds"] == 420.0
    assert overall[("model-1", "A")]["train_generated_tokens"] == 2 * 1320
    assert ("model-3", "A") not in overall


def test_renderers_show_every_row(board_entries):
    board = leaderboard(board_entries)
    n_task_rows = sum(len(t["rows"]) for t in board["tasks"].values())
    parsed = list(csv.DictReader(io.StringIO(to_csv(board))))
    assert len(parsed) == n_task_rows + len(board["overall"])
    a = next(r for r in parsed if (r["scope"], r["model"], r["label"]) == (TASK, "model-1", "A"))
    assert (a["seeds"], a["rank"], a["tied"]) == ("1 2", "1", "False")
    assert float(a["gain"]) == pytest.approx(board["tasks"][TASK]["rows"][0]["gain"])
    md = markdown(board)
    assert md.count("| 2 (tied) | model-1 | B |") == 1 and md.count("| 2 (tied) | model-1 | C |") == 1
    assert "no 'base' entry for model-3" in md
    tables = rich_tables(board)
    assert [t.row_count for t in tables] == [len(t["rows"]) for t in board["tasks"].values()] + [len(board["overall"])]


def test_store_is_idempotent_and_reads_back(tmp_path, board_entries):
    with ResultsStore(tmp_path / "lb.sqlite") as store:
        assert all(store.add(e) for e in board_entries)
        counts = store.counts()
        assert counts["runs"] == len(board_entries)
        assert counts["items"] == 2 * N * len(board_entries)  # two score labels per entry
        assert not any(store.add(e) for e in board_entries)
        assert store.counts() == counts
        back = store.entries()
    assert [(e.model, e.label, e.seed, e.task) for e in back] == [
        (e.model, e.label, e.seed, e.task) for e in board_entries
    ]
    assert back[1].scores == board_entries[1].scores and back[1].cost == board_entries[1].cost
    assert back[1].manifest == board_entries[1].manifest and back[1].headline == "paper"
    assert leaderboard(back)["tasks"][TASK]["rows"] == leaderboard(board_entries)["tasks"][TASK]["rows"]
    with ResultsStore(tmp_path / "lb.sqlite") as store:  # a fresh connection sees the same runs
        assert len(store.entries(task="mipo_gsm8k")) == 3


def test_an_evaluation_run_again_in_its_directory_replaces_its_row(tmp_path):
    """Before: the base evaluation rerun in place (its code changed) stood in the store twice, as two seeds of the
    base row (the item view said "mean of 2 seeds"), the first reading files that no longer held its answers."""
    first, again = entry("base", share(0.5, 1)), entry("base", share(0.6, 2))
    again.manifest = {"eval": {"inputs_hash": "evaluated-again"}, "train": None}
    other = entry("base", share(0.7, 3), model="model-2")  # another directory: a run of its own
    with ResultsStore(tmp_path / "lb.sqlite") as store:
        assert store.add(first) and store.add(other) and store.add(again)
        back = store.entries()
        assert store.counts()["runs"] == 2 and store.counts()["items"] == 2 * 2 * N
    assert [(e.model, e.scores) for e in back] == [("model-2", other.scores), ("model-1", again.scores)]


def test_crash_mid_transaction_leaves_nothing(tmp_path, board_entries, monkeypatch):
    store = ResultsStore(tmp_path / "lb.sqlite")
    store.add(board_entries[0])
    before = store.counts()

    def crashing_rows(rid, entry):
        yield rid, entry.task, "paper", 0, 1.0
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(ResultsStore, "_item_rows", staticmethod(crashing_rows))
    with pytest.raises(RuntimeError, match="killed mid-write"):
        store.add(board_entries[1])
    assert store.counts() == before
    store.close()
    # what another process sees on disk: only the first run
    conn = sqlite3.connect(tmp_path / "lb.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == before["items"]
    conn.close()
    monkeypatch.undo()
    with ResultsStore(tmp_path / "lb.sqlite") as store:  # the crashed run can be added afterwards
        assert store.add(board_entries[1]) and store.counts()["runs"] == 2


def test_cli_adds_run_dirs_once_and_renders(tmp_path, capsys):
    base_scores = [1, 0, 0, 1, 0, 0, 1, 0]
    write_eval(tmp_path / "runs" / "base" / "eval", "someone/base", {TASK: generation_samples(base_scores)})
    model = write_trained(tmp_path / "runs" / "mipo", "mipo", "someone/base", seed=42)
    mipo_scores = [1, 1, 0, 1, 1, 0, 1, 1]
    write_eval(tmp_path / "runs" / "mipo" / "eval", str(model), {TASK: generation_samples(mipo_scores)}, "h2")
    broken = write_eval(tmp_path / "runs" / "broken", "someone/base", {TASK: generation_samples([1])}, "h3")
    (broken / "eval_results.json").write_text("{")
    db = tmp_path / "lb.sqlite"

    assert main(["leaderboard", str(tmp_path / "runs"), "--db", str(db), "--format", "csv"]) == 0
    out = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.out)))
    assert [(r["scope"], r["label"]) for r in rows] == [(TASK, "mipo"), (TASK, "base"), ("overall", "mipo")]
    assert float(rows[0]["gain"]) == pytest.approx(3 / 8)
    assert f"{broken}: eval_results.json is not valid JSON" in out.err.replace("\n", "")
    assert "added 2 entries" in out.err

    assert main(["leaderboard", str(tmp_path / "runs"), "--db", str(db), "--format", "markdown"]) == 0
    out = capsys.readouterr()
    assert "added 0 entries" in out.err and "already in" in out.err
    with ResultsStore(db) as store:
        assert store.counts()["runs"] == 2
    assert "| mipo |" in out.out

    page = tmp_path / "site" / "index.html"
    assert main(["leaderboard", "--db", str(db), "--format", "html", "--output", str(page), "--title", "T"]) == 0
    # grid: header + base + mipo; overall: header + mipo; task: header + mipo + base
    assert page.read_text().count("<tr") == 3 + 2 + 3


def test_collect_then_store_keeps_per_item_scores(tmp_path):
    write_eval(tmp_path / "e", "someone/base", {TASK: generation_samples([1, 0, 1])})
    entries, _ = collect([tmp_path])
    with ResultsStore(tmp_path / "lb.sqlite") as store:
        added, skipped = store.add_paths([tmp_path])
        assert (added, skipped) == (1, [])
        (back,) = store.entries()
    assert (
        back.scores
        == entries[0].scores
        == {
            "paper": {0: 1.0, 1: 0.0, 2: 1.0},
            "strict": {0: 1.0, 1: 0.0, 2: 1.0},
            "flexible": {0: 1.0, 1: 0.0, 2: 1.0},
        }
    )


def test_training_costs_are_unknown_not_zero_when_the_pairs_were_not_counted():
    """A run whose pairs predate the generation count shows no train gen. tokens, rather than 0 (issue 17)."""
    counted = {
        "cpu_seconds": 12.5,
        "generation": {"rollout_tokens": 0, "critic_calls": 0, "critic_reply_tokens": 0},
        "data_manifest": {"stage": "pairs", "generated": {"tokens": 900, "counter": "tokenizer"}},
    }
    assert training_costs(counted) == {"train_cpu_seconds": 12.5, "train_generated_tokens": 900}
    old_pairs = {**counted, "data_manifest": {"stage": "pairs"}}
    assert training_costs(old_pairs)["train_generated_tokens"] is None
    revised = {**counted, "generation": {**counted["generation"], "revision_tokens": 400}}
    assert training_costs(revised)["train_generated_tokens"] == 1300
    online = {
        **counted,
        "generation": {"rollout_tokens": 5000, "critic_calls": 64, "critic_reply_tokens": 320},
        "data_manifest": {"stage": "prompts"},
    }
    assert training_costs(online)["train_generated_tokens"] == 5320  # rollouts + critic replies; calls are not tokens
    assert (
        training_costs(None)
        == training_costs({"method": "sft"})
        == {"train_cpu_seconds": None, "train_generated_tokens": None}
    )
