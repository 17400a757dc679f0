"""`mipo-bench report --table N`: the paper's tables built from run directories the test writes (known per-item
scores, so every mean, std, delta and highlight is checked against a hand computation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mipo_bench.analysis.results import collect
from mipo_bench.analysis.tables import build_table, load_table, render
from mipo_bench.cli.main import main

MODEL = "tiny-base"


def write_eval(
    root: Path,
    task: str,
    scores: list[int],
    method: str | None = None,
    seed: int | None = None,
    responses: list[str] | None = None,
    label: str | None = None,
) -> Path:
    """One evaluation directory as the eval stage writes it (slim samples, paper filter), and the train manifest of
    the evaluated model when ``method`` is given."""
    name = method or "base"
    if method:
        model_dir = root / f"{name}-{seed}" / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir.parent / "train.manifest.json").write_text(
            json.dumps({"stage": "train", "status": "complete", "method": method, "base_model": MODEL, "seed": seed})
        )
    else:
        model_dir = Path(MODEL)
    out = root / "eval" / f"{name}-{seed}-{task}"
    out.mkdir(parents=True)
    texts = responses or [f"response {i} of {name}" for i in range(len(scores))]
    samples = [
        {
            "doc_id": i,
            "filter": "paper",
            "metrics": ["exact_match"],
            "exact_match": float(s),
            "filtered_resps": ["A"],
            "resps": [[texts[i]]],
        }
        for i, s in enumerate(scores)
    ]
    (out / "eval_results.json").write_text(
        json.dumps({"results": {task: {}}, "mipo_bench": {"model_spec": str(model_dir)}, "samples": {task: samples}})
    )
    manifest = {"stage": "eval", "status": "complete", "model": str(model_dir), "tasks": [task], "label": label}
    (out / "eval.manifest.json").write_text(json.dumps(manifest))
    return out


def _scores(k: int, n: int = 20) -> list[int]:
    """k correct answers out of n."""
    return [1] * k + [0] * (n - k)


@pytest.fixture
def table2_runs(tmp_path) -> Path:
    write_eval(tmp_path, "mipo_arc_easy", _scores(10))  # base 50.0
    write_eval(tmp_path, "mipo_arc_challenge", _scores(4))  # base 20.0
    for seed, k in ((1, 12), (2, 14)):  # MIPO arc_easy 60, 70 -> 65 ± 7.07
        write_eval(tmp_path, "mipo_arc_easy", _scores(k), "mipo", seed)
    for seed, k in ((1, 5), (2, 5)):  # MIPO arc_challenge 25, 25 -> 25 ± 0
        write_eval(tmp_path, "mipo_arc_challenge", _scores(k), "mipo", seed)
    write_eval(tmp_path, "mipo_arc_easy", _scores(10), "sft", 1)  # one seed: no ±, delta 0
    write_eval(tmp_path, "mipo_arc_easy", _scores(2), "unknown_method", 1)  # not a row of Table 2
    return tmp_path


def test_table2_cells_deltas_and_highlights(table2_runs):
    spec = load_table("2").at_scale("demo")
    entries, skipped = collect([table2_runs])
    assert not skipped
    built = build_table(spec, entries)
    rows = {label: cells for _, label, cells in built.rows}
    assert list(rows) == [MODEL, "+ SFT", "+ MIPO (Ours)"]  # the spec's row order, untrained model first
    assert rows[MODEL]["arc_easy"].mean == pytest.approx(50.0) and rows[MODEL]["arc_easy"].std is None
    mipo = rows["+ MIPO (Ours)"]
    assert mipo["arc_easy"].mean == pytest.approx(65.0)
    assert mipo["arc_easy"].std == pytest.approx(7.0710678, rel=1e-6)  # sample std (ddof=1) of 60 and 70
    assert mipo["arc_easy"].delta == pytest.approx(15.0) and mipo["arc_challenge"].delta == pytest.approx(5.0)
    assert mipo["avg"].mean == pytest.approx(45.0) and mipo["avg"].delta == pytest.approx(10.0)
    assert "avg" not in rows["+ SFT"]  # no average over a task the row does not have
    assert rows["+ SFT"]["arc_easy"].delta == pytest.approx(0.0)
    assert any("unknown_method" in line for line in built.missing)

    markdown = render(built, "markdown")
    assert "| + MIPO (Ours) | 65.00 ± 7.07 **+15.00** | 25.00 ± 0.00 **+5.00** | 45.00 **+10.00** |" in markdown
    # SFT has one seed where MIPO has two: marked and noted (defect 12c); its delta is 0, so none is printed
    assert "| + SFT | 50.00\u2021 | - | - |" in markdown
    assert "\n\u2021 + SFT / arc_easy: n=1 of 2 seeds\n" in markdown  # the notes, before the legend
    latex = render(built, "latex")
    assert "65.00 $\\pm$ 7.07 \\textcolor{blue}{+15.00}" in latex and "\\begin{tabular}{lrrr}" in latex
    csv_rows = render(built, "csv").splitlines()
    assert csv_rows[0] == "model,row,column,mean,std,seeds,delta"
    assert f"{MODEL},+ MIPO (Ours),arc_easy,65.0,7.0710678118654755,2,15.0" in csv_rows


def test_a_drop_is_red_and_self_bleu_reads_lower_as_better(tmp_path):
    write_eval(tmp_path, "mipo_arc_easy", _scores(10))
    write_eval(tmp_path, "mipo_arc_easy", _scores(5), "mipo", 1)  # 25.0: -25 points
    built = build_table(load_table("2").at_scale("demo"), collect([tmp_path])[0])
    assert "\\textcolor{red}{-25.00}" in render(built, "latex")

    same = ["the cat sat on the mat today"] * 6
    varied = [
        "the cat sat on the mat",
        "a dog ran in the park",
        "birds fly south in winter",
        "rain falls on the city",
        "we ate bread and cheese",
        "stars shine over the sea",
    ]
    root = tmp_path / "bleu"
    write_eval(root, "mipo_prefeval", [0] * 6, responses=same)
    write_eval(root, "mipo_prefeval", [0] * 6, "mipo", 1, responses=varied)
    spec = load_table("3").at_scale("demo")
    built = build_table(spec, collect([root])[0])
    rows = {label: cells for _, label, cells in built.rows}
    assert rows[f"{MODEL} (Personalized-Prompting)"]["prefeval"].mean == pytest.approx(1.0)
    assert rows["+ MIPO-Personalized"]["prefeval"].mean < 0.2
    assert "\\textcolor{blue}" in render(built, "latex")  # lower self-BLEU = more diverse = the paper's blue


def test_report_command_writes_every_format(table2_runs, tmp_path, capsys):
    for fmt, ext in (("markdown", "md"), ("csv", "csv"), ("latex", "tex")):
        out = tmp_path / f"t.{ext}"
        assert main(["report", str(table2_runs), "--table", "2", "--format", fmt, "--output", str(out)]) == 0
        assert "MIPO" in out.read_text()
    capsys.readouterr()
    assert main(["report", str(table2_runs), "--table", "2"]) == 0
    assert "MIPO" in capsys.readouterr().out  # the table is the result: stdout (progress and notes: stderr)
    assert main(["report", str(tmp_path / "nothing"), "--table", "2"]) == 2
    assert main(["report", str(table2_runs), "--table", "7"]) == 2  # unknown table: one line, not a traceback
    err = capsys.readouterr().err
    assert "unknown table '7'" in err


# ------------------------------------------------------------------------------------- kinds, formats, spec loading
def test_table_kinds_carry_what_the_code_used_to_read_off_kind_names():
    from mipo_bench.analysis.table_kinds import KINDS

    assert sorted(KINDS) == ["accuracy", "critic", "self_bleu", "win_rate"]
    assert load_table("2").table_kind is KINDS.get("accuracy")
    bleu = load_table("3").table_kind
    assert bleu.lower_is_better and bleu.digits == 3 and bleu.points == 100 and bleu.built_from_runs
    assert load_table("1").table_kind.judged and not load_table("2").table_kind.judged
    critic = load_table("6").table_kind
    assert not critic.built_from_runs and critic.value is None and critic.runner is not None
    with pytest.raises(ValueError, match="unknown table kind 'self_bleuu' \\(did you mean 'self_bleu'\\?\\)"):
        KINDS.get("self_bleuu")


def test_a_spec_with_an_unknown_kind_is_a_one_line_error(tmp_path):
    raw = (Path(load_table("2").path)).read_text().replace("kind: accuracy", "kind: acuracy")
    (tmp_path / "t.yaml").write_text(raw)
    with pytest.raises(ValueError, match="kind: unknown table kind 'acuracy' \\(did you mean 'accuracy'\\?\\)"):
        load_table(str(tmp_path / "t.yaml"))


def test_every_format_is_registered_and_a_typo_names_the_known_ones(table2_runs):
    from mipo_bench.analysis.tables import FORMATS

    assert sorted(FORMATS) == ["csv", "latex", "markdown", "rich"]
    built = build_table(load_table("2").at_scale("demo"), collect([table2_runs])[0])
    assert render(built, "markdown") == FORMATS.get("markdown")(built)
    with pytest.raises(ValueError, match="unknown table format 'latx' \\(did you mean 'latex'\\?\\)"):
        render(built, "latx")


def test_table4_is_table3_under_its_own_title():
    """Table 4 is Table 3 per task: the same rows, tasks, runs (name "3": `reproduce table4` uses table 3's run
    directory) and cells, with Table 4's title."""
    three, four = load_table("3"), load_table("table4")
    assert four.title == "Table 4: self-BLEU-4 per task (lower = more diverse)" and load_table("4").title == four.title
    assert three.title.startswith("Tables 3-4")
    assert four.name == "3" and four.rows == three.rows and four.tasks == three.tasks and four.scales == three.scales


def test_load_table_hands_out_copies():
    """Callers change their spec (the CLI narrows the critic table's tasks): the next load must not see it."""
    spec = load_table("6")
    spec.tasks = {"prism": "prism"}
    spec.title = "changed"
    assert load_table("6").title != "changed" and "community_alignment" in load_table("6").tasks


def test_importing_the_tables_module_reads_no_yaml():
    import subprocess
    import sys

    code = (
        "import yaml\n"
        "calls = []\n"
        "real = yaml.safe_load\n"
        "yaml.safe_load = lambda *a, **k: calls.append(a) or real(*a, **k)\n"
        "import mipo_bench.analysis.tables as t\n"
        "assert not calls, calls\n"
        "t.load_table('2')\n"
        "assert calls\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.slow  # three CLI processes
def test_piped_stdout_is_the_result_alone(table2_runs, tmp_path):
    """Run as a user pipes them (`> file`), `report`, `leaderboard` and `reproduce --plan --json` leave on stdout
    what parses as the CSV or JSON it is; their notes ("not a row", "added N entries") go to stderr."""
    import csv
    import io
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    def piped(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "mipo_bench.cli", *args]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    report = piped("report", str(table2_runs), "--table", "2", "--format", "csv")
    rows = list(csv.reader(io.StringIO(report.stdout)))
    # the header, then one line a cell (base 2 tasks, SFT 1, MIPO 2), nothing else
    assert rows[0][:3] == ["model", "row", "column"] and len(rows) == 6 and {len(r) for r in rows} == {len(rows[0])}
    assert "not a row" in report.stderr and "not a row" not in report.stdout
    db = str(tmp_path / "lb.sqlite")
    board = piped("leaderboard", str(table2_runs), "--db", db, "--format", "csv")
    records = list(csv.DictReader(io.StringIO(board.stdout)))
    assert {r["label"] for r in records} >= {"base", "mipo", "sft"} and "added" in board.stderr
    plan = piped("reproduce", "table2", "--scale", "demo", "--plan", "--json")
    assert {c["row"] for c in json.loads(plan.stdout)["cards"]} == {"sft", "mipo"}
