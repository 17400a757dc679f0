"""The results store: one SQLite file holding every evaluation entry, its manifest, its cost and its per-item
scores (so paired statistics can be computed later, against any other run on the same items).

Tables:

- ``runs``: one row per (evaluation, task, label); ``run_id`` is a content hash of the eval manifest's
  ``inputs_hash``, the task and the label, so re-adding the same run changes nothing. An evaluation directory holds
  one evaluation: evaluated again (new inputs), it replaces its earlier row rather than standing beside it as a
  second run of the same row.
- ``metrics``: one row per run × score label (``paper``, ``strict``, ``acc`` …): the mean over items, with the seed.
- ``items``: one row per run × score label × item: the item's score.
- ``judgments``: judged tasks only, one row per run × item × side (``response`` / ``reference``) × preference: the
  judge's 1-5 score of that preference (NULL when the call failed) and whether it failed.

A run is written in one transaction: a crash part-way leaves no trace of it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

from ...core.runs import content_hash
from ..results import EvalEntry, collect, training_costs

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    method TEXT NOT NULL,
    model TEXT NOT NULL,
    seed INTEGER,
    task TEXT NOT NULL,
    headline TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    eval_dir TEXT NOT NULL,
    manifest TEXT NOT NULL,
    generated_tokens INTEGER,
    token_counter TEXT,
    train_seconds REAL,
    judge_calls INTEGER,
    hardware TEXT,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    task TEXT NOT NULL,
    metric TEXT NOT NULL,
    seed INTEGER,
    value REAL NOT NULL,
    PRIMARY KEY (run_id, metric)
);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    task TEXT NOT NULL,
    metric TEXT NOT NULL,
    doc_id INTEGER NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (run_id, metric, doc_id)
);
CREATE TABLE IF NOT EXISTS judgments (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    task TEXT NOT NULL,
    doc_id INTEGER NOT NULL,
    side TEXT NOT NULL,
    preference_index INTEGER NOT NULL,
    score REAL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (run_id, doc_id, side, preference_index)
);
CREATE INDEX IF NOT EXISTS runs_by_task ON runs(task);
"""


@contextlib.contextmanager
def sqlite_errors(path: Path):
    """SQLite's errors as one line naming the store: a corrupt file, a store locked by another writer."""
    try:
        yield
    except sqlite3.DatabaseError as e:  # OperationalError ("database is locked") is one too
        hint = "another process holds it; retry when it is done" if "locked" in str(e) else "not a results store"
        raise ValueError(f"{path}: {e} ({hint})") from None


def run_id(entry: EvalEntry) -> str:
    """The identity of a run: what was evaluated and how (the eval manifest's inputs hash), the task, the label."""
    eval_manifest = entry.manifest.get("eval") or {}
    inputs = eval_manifest.get("inputs_hash") or content_hash(eval_manifest)
    return content_hash({"inputs_hash": inputs, "task": entry.task, "label": entry.label})


class ResultsStore:
    """An SQLite results store at ``path`` (created with its tables when missing)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite_errors(self.path):
            self.conn = sqlite3.connect(self.path, timeout=30)
            with self.conn:
                self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, entry: EvalEntry) -> bool:
        """Write one entry, all of it or nothing; False when the same run is in the store already."""
        with sqlite_errors(self.path):
            return self._add(entry)

    def _add(self, entry: EvalEntry) -> bool:
        rid = run_id(entry)
        cost = entry.cost
        with self.conn:  # one transaction: committed at the end, rolled back on any exception
            self._drop_superseded(rid, entry)
            inserted = self.conn.execute(
                "INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rid,
                    entry.label,
                    entry.method,
                    entry.model,
                    entry.seed,
                    entry.task,
                    entry.headline,
                    len(entry.scores.get(entry.headline, {})),
                    str(entry.eval_dir),
                    json.dumps(entry.manifest, sort_keys=True, default=str),
                    cost.get("generated_tokens"),
                    cost.get("token_counter"),
                    cost.get("train_seconds"),
                    cost.get("judge_calls"),
                    json.dumps(cost.get("hardware")) if cost.get("hardware") is not None else None,
                    time.time(),
                ),
            ).rowcount
            if not inserted:
                return False
            self.conn.executemany(
                "INSERT INTO metrics VALUES (?,?,?,?,?)",
                [
                    (rid, entry.task, metric, entry.seed, sum(items.values()) / len(items))
                    for metric, items in entry.scores.items()
                    if items
                ],
            )
            self.conn.executemany("INSERT INTO items VALUES (?,?,?,?,?)", self._item_rows(rid, entry))
            self.conn.executemany(
                "INSERT OR REPLACE INTO judgments VALUES (?,?,?,?,?,?,?)",
                [
                    (rid, entry.task, j["doc_id"], j["side"], j["preference_index"], j["score"], int(j["failed"]))
                    for j in entry.judgments
                ],
            )
        return True

    def _drop_superseded(self, rid: str, entry: EvalEntry) -> None:
        """Remove the rows of an earlier evaluation in ``entry``'s directory (same task and label, other inputs):
        its files were overwritten, so it is no longer a run anyone can read."""
        old = [
            r
            for (r,) in self.conn.execute(
                "SELECT run_id FROM runs WHERE eval_dir = ? AND task = ? AND label = ? AND run_id != ?",
                (str(entry.eval_dir), entry.task, entry.label, rid),
            )
        ]
        for table in ("judgments", "items", "metrics", "runs"):
            self.conn.executemany(f"DELETE FROM {table} WHERE run_id = ?", [(r,) for r in old])

    @staticmethod
    def _item_rows(rid: str, entry: EvalEntry):
        for metric, items in entry.scores.items():
            for doc_id, score in items.items():
                yield rid, entry.task, metric, int(doc_id), float(score)

    def add_paths(self, paths: list[Path], label: str | None = None) -> tuple[int, list[str]]:
        """Collect the evaluations under ``paths`` and add them: (entries added, lines naming what was skipped,
        runs already in the store included)."""
        entries, skipped = collect(paths, label)
        added = 0
        for entry in entries:
            if self.add(entry):
                added += 1
            else:
                skipped.append(f"{entry.eval_dir} [{entry.task}, {entry.label}]: already in {self.path}")
        return added, skipped

    def entries(self, task: str | None = None) -> list[EvalEntry]:
        """Every stored entry (of ``task`` when given), in the order they were added, with per-item scores."""
        with sqlite_errors(self.path):
            return self._entries(task)

    def _entries(self, task: str | None) -> list[EvalEntry]:
        where, args = ("WHERE task = ?", (task,)) if task else ("", ())
        rows = self.conn.execute(
            "SELECT run_id, eval_dir, task, method, model, seed, label, headline, manifest, generated_tokens, "
            f"token_counter, train_seconds, judge_calls, hardware FROM runs {where} ORDER BY added_at, run_id",
            args,
        ).fetchall()
        out = []
        for rid, eval_dir, task_, method, model, seed, label, headline, manifest, tokens, counter, *rest in rows:
            train_s, calls, hardware = rest
            scores: dict[str, dict[int, float]] = {}
            for metric, doc_id, score in self.conn.execute(
                "SELECT metric, doc_id, score FROM items WHERE run_id = ? ORDER BY rowid", (rid,)
            ):
                scores.setdefault(metric, {})[doc_id] = score
            judgments = [
                {"doc_id": d, "side": side, "preference_index": k, "score": score, "failed": bool(failed)}
                for d, side, k, score, failed in self.conn.execute(
                    "SELECT doc_id, side, preference_index, score, failed FROM judgments WHERE run_id = ? "
                    "ORDER BY doc_id, side, preference_index",
                    (rid,),
                )
            ]
            cost = {
                "generated_tokens": tokens,
                "token_counter": counter,
                "train_seconds": train_s,
                "judge_calls": calls,
                "hardware": json.loads(hardware) if hardware else None,
            }
            manifest = json.loads(manifest)
            cost.update(training_costs(manifest.get("train")))
            out.append(
                EvalEntry(
                    Path(eval_dir),
                    task_,
                    method,
                    model,
                    seed,
                    label,
                    scores,
                    headline,
                    cost,
                    manifest,
                    judgments,
                )
            )
        return out

    def counts(self) -> dict[str, int]:
        """Rows per table (for tests and for the CLI's summary line)."""
        return {
            t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("runs", "metrics", "items", "judgments")
        }
