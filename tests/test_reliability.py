"""Issue 16 §6: what a probe of main found, each fixed: a torn or empty samples file is an error for `judge`, a bad
evaluation is skipped by name while the good ones beside it are added, a corrupt or locked store is one line, and
manifests get the usual file mode."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from mipo_bench.analysis.leaderboard.store import ResultsStore
from mipo_bench.cli.main import main

from .test_results import TASK, generation_samples, write_eval


def _samples_file(path, n=3, torn=False):
    rows = [
        {"doc_id": i, "doc": {"id": f"p/{i}", "prompt": "q", "preferences": ["short answers"]}, "resps": [["r"]]}
        for i in range(n)
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text[: -len(json.dumps(rows[-1])) // 2] if torn else text)
    return path


def test_judge_refuses_a_torn_or_empty_samples_file(tmp_path, capsys):
    """3 samples given, the last one cut mid-line: `judge` judged 2 and exited 0; an empty file also exited 0."""
    from mipo_bench.judging.calls import read_samples

    assert len(read_samples(_samples_file(tmp_path / "ok.jsonl"))) == 3
    torn = _samples_file(tmp_path / "torn.jsonl", torn=True)
    with pytest.raises(ValueError, match=r"torn.jsonl:3: invalid JSON"):
        read_samples(torn)
    (tmp_path / "empty.jsonl").write_text("")
    assert (
        main(["judge", str(tmp_path / "empty.jsonl"), "--judge", str(tmp_path), "--output", str(tmp_path / "j")]) == 2
    )
    assert "no samples in it" in capsys.readouterr().err


def test_one_bad_evaluation_is_skipped_by_name_and_the_good_ones_are_added(tmp_path, capsys):
    good = write_eval(tmp_path / "good" / "eval", "model-1", {TASK: generation_samples([1, 0, 1])})
    no_doc_id = generation_samples([1, 1])
    del no_doc_id[0]["doc_id"]
    write_eval(tmp_path / "no_doc_id" / "eval", "model-1", {TASK: no_doc_id}, inputs_hash="b")
    strings = generation_samples([1, 0])
    for row in strings:
        row["exact_match"] = "1.0"
    write_eval(tmp_path / "strings" / "eval", "model-1", {TASK: strings}, inputs_hash="c")
    db = tmp_path / "board.sqlite"
    assert (
        main(
            [
                "leaderboard",
                "--db",
                str(db),
                str(tmp_path / "good"),
                str(tmp_path / "no_doc_id"),
                str(tmp_path / "strings"),
                "--format",
                "csv",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "no_doc_id/eval: eval_results.json: mipo_arc_easy sample 1 has no doc_id" in " ".join(err.split())
    assert "exact_match is '1.0', a string, not a number" in " ".join(err.split())
    with ResultsStore(db) as store:
        entries = store.entries()
    assert [e.eval_dir for e in entries] == [good] and entries[0].scores["paper"]


def test_a_corrupt_or_locked_store_is_one_line(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    assert main(["leaderboard", "--db", str(corrupt)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt.sqlite" in err[0] and "not a results store" in err[0]

    locked = tmp_path / "locked.sqlite"
    ResultsStore(locked).close()
    holder = sqlite3.connect(locked)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store = ResultsStore.__new__(ResultsStore)
        store.path, store.conn = locked, sqlite3.connect(locked, timeout=0.1)
        with pytest.raises(ValueError, match="locked.sqlite: database is locked .another process holds it"):
            store.entries()
    finally:
        holder.rollback()
        holder.close()


def test_manifests_and_results_get_the_usual_file_mode(tmp_path):
    from mipo_bench.core.runs import write_json, write_jsonl

    umask = os.umask(0o022)
    try:
        write_json(tmp_path / "m.manifest.json", {"a": 1})
        write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
    finally:
        os.umask(umask)
    for name in ("m.manifest.json", "rows.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
