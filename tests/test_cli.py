"""The command line takes its choices from the registries and lists them in its help, stays a set of small verb
modules, and leaves the drawing of results to the analysis layer."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from rich.console import Console

from mipo_bench.cli import build_parser, main
from mipo_bench.cli.evaluate import LM_EVAL_BACKENDS
from mipo_bench.generation import BACKENDS
from tests.conftest import REPO

# verbs whose --backend is not a generation backend: what they accept instead, and why
RESTRICTED_BACKENDS = {"eval": LM_EVAL_BACKENDS}  # lm-eval runs the model itself (its HFLM / VLLM)


def verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def backend_choices(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    """verb -> the choices of its --backend, for every verb that has one."""
    return {
        name: set(action.choices)
        for name, verb in verbs(parser).items()
        for action in verb._actions
        if "--backend" in action.option_strings
    }


def test_every_backend_choice_is_the_registry_or_its_documented_subset():
    choices = backend_choices(build_parser())
    assert {"eval", "judge", "contexts", "critic-accuracy", "mi"} <= set(choices)
    for verb, names in choices.items():
        assert names == set(RESTRICTED_BACKENDS.get(verb, BACKENDS)), verb
    assert set(LM_EVAL_BACKENDS) <= set(BACKENDS)


def test_a_backend_registered_from_outside_is_a_choice(monkeypatch):
    monkeypatch.setitem(BACKENDS, "echo", lambda: object)
    choices = backend_choices(build_parser())
    assert all("echo" in names for verb, names in choices.items() if verb not in RESTRICTED_BACKENDS)
    assert "echo" not in choices["eval"]


def test_an_unknown_backend_gets_the_registrys_did_you_mean(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["judge", "samples.jsonl", "--backend", "vlm"])
    assert exit_.value.code == 2
    assert "unknown generation backend 'vlm' (did you mean 'vllm'?); known: hf, openai, ray, vllm" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("verb", ["train", "pairs", "run"])
def test_recipe_verb_help_lists_every_method_recipe_strategy_and_backend(verb, capsys):
    from mipo_bench.core.resources import recipes_dir
    from mipo_bench.pairs import STRATEGIES
    from mipo_bench.training import METHODS

    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    recipes = [p.stem for p in recipes_dir().glob("*.yaml")]
    assert {"mipo", "sft", "demo"} <= set(recipes)
    for name in [*METHODS, *recipes, *STRATEGIES, *BACKENDS]:
        assert f" {name}," in help_text or f" {name}\n" in help_text, name


def test_top_level_help_does_not_import_the_training_layer():
    """The recipe verbs' epilog lists the methods only when their help is shown: plain --help stays fast."""
    code = (
        "import sys; from mipo_bench.cli import build_parser; build_parser().format_help(); "
        "assert 'mipo_bench.training' not in sys.modules and 'torch' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_the_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "mipo_bench.cli", "tasks-path"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("tasks")


def test_contexts_offers_the_datasets_that_need_written_contexts():
    from mipo_bench.cli.judge import contexts_datasets

    (dataset,) = [a for a in verbs(build_parser())["contexts"]._actions if a.dest == "dataset"]
    assert set(dataset.choices) == {"prism", "community_alignment", "multibench"}
    assert contexts_datasets()["multibench"] == "rewrite_system_message"
    assert contexts_datasets()["prism"] == contexts_datasets()["community_alignment"] == "extract_preferences"


def test_each_cli_module_stays_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (REPO / "mipo_bench" / "cli").glob("*.py")}
    assert {"main.py", "evaluate.py", "train.py", "judge.py", "report.py", "mi.py", "leaderboard.py"} <= set(sizes)
    assert all(n < 400 for n in sizes.values()), sizes


def rendered(renderables) -> str:
    console = Console(record=True, width=200)
    for r in renderables:
        console.print(r)
    return console.export_text()


def side(items: int, mean: float | None, failed_items: int = 0) -> dict:
    return {"items": items, "mean_score": mean, "failed_items": failed_items, "failed": failed_items}


def test_judge_tables_show_the_scores_and_the_win_rate_rows():
    from mipo_bench.analysis.judge_summary import judge_tables
    from mipo_bench.judging.winrate import compare

    ours = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 5.0, "x": 1.0}
    reference = {"a": 3.0, "b": 3.0, "c": 4.0, "d": None, "y": 2.0}
    report = {**side(5, 3.0), "reference": {**side(5, 3.0, failed_items=1)}, "win_rate": compare(ours, reference)}
    shown = judge_tables(report, "judge-model", "paper")
    assert len(shown) == 3  # scores, win-rate, the unmatched ids
    text = rendered(shown)
    assert "judged by judge-model (template paper)" in text
    assert "samples" in text and "reference" in text and "3.00" in text
    rows = {
        "items (n)": "6",
        "wins / ties / losses": "1 / 1 / 1",
        "unjudged (a side failed)": "1",
        "unmatched: samples only": "1",
        "unmatched: reference only": "1",
        "win-rate, ties as wins (paper) [95% CI]": "66.7 [",
        "win-rate, ties as 1/2 [95% CI]": "50.0 [",
        "ties as wins, of all n (unjudged/unmatched lose)": "33.3",
    }
    for label, value in rows.items():
        (line,) = [line for line in text.splitlines() if label in line]
        assert value in line, (label, line)
    assert "unmatched ids, samples only: ['x'], reference only: ['y']" in text


def test_judge_tables_without_a_reference_are_the_scores_only():
    from mipo_bench.analysis.judge_summary import judge_tables

    (table,) = judge_tables(side(2, None, failed_items=2), "j", "personalization_score")
    text = rendered([table])
    assert "n/a" in text and "win-rate" not in text


def test_version_flag(capsys):
    from mipo_bench.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("mipo-bench 0.")


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    import importlib

    cli_main = importlib.import_module("mipo_bench.cli.main")  # the module (the package exports the function)

    def interrupted(args):
        raise KeyboardInterrupt

    parser = cli_main.build_parser()
    args = parser.parse_args(["tasks-path"])
    monkeypatch.setattr(cli_main, "build_parser", lambda: _FixedParser(args, interrupted))
    assert cli_main.main(["tasks-path"]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["mipo-bench: interrupted; rerun `mipo-bench tasks-path ...` to resume"]


class _FixedParser:
    def __init__(self, args, func):
        self.args, self.args.func = args, func

    def parse_args(self, argv):
        return self.args


def test_recipe_mistakes_are_one_line_naming_the_file(tmp_path, capsys):
    """A YAML syntax error (a 52-line traceback), a run name outside runs/, n_prompts=-1 ("Sample larger than
    population") and a train.extra key the suite sets (a raw TypeError later) are one line each, before any work."""
    from mipo_bench.cli.main import main

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ndata: {dataset: arc_easy\ntrain: {}\n")
    assert main(["pairs", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"mipo-bench: {broken}:") and "not valid YAML" in err[0]

    for override, expected in (
        ("name=../../x", "name='../../x': use letters, digits"),
        ("data.n_prompts=-1", "data.n_prompts=-1: need at least one prompt"),
        ("train.extra={seed: 3}", "train.extra.seed: set by mipo-bench; use the recipe's top-level seed"),
        ("train.extra={beta: 0.2}", "train.extra.beta: use train.beta instead"),
    ):
        assert main(["pairs", "mipo", override]) == 2, override
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0] and "mipo.yaml" in err[0], (override, err)


def test_tables_outside_a_terminal_are_plain_markdown_with_every_cell_in_full():
    """Issue 16: piped to a file or a CI log, rich wrapped the tables into an 80-column grid of '…' cells."""
    import io

    from rich.console import Console
    from rich.table import Table

    from mipo_bench.core.console import show_table

    table = Table(title="mipo-bench results [not markup]")
    for name in ("task", "n", "paper exact match", "no answer (strict-match)", "re-asked"):
        table.add_column(name)
    table.add_row("mipo_arc_easy_with_a_long_name", "100", "12.000 ± 3.266", "88", "a|b\nc")
    piped = io.StringIO()
    show_table(table, Console(file=piped, width=80))
    lines = piped.getvalue().splitlines()
    assert lines[0] == "**mipo-bench results [not markup]**"
    assert lines[2] == "| task | n | paper exact match | no answer (strict-match) | re-asked |"
    assert lines[4] == "| mipo_arc_easy_with_a_long_name | 100 | 12.000 ± 3.266 | 88 | a\\|b c |"
    assert "…" not in piped.getvalue()
    terminal = io.StringIO()
    show_table(table, Console(file=terminal, width=200, force_terminal=True))
    assert "┏" in terminal.getvalue()  # a terminal gets the drawn table, at its own width


def test_messages_outside_a_terminal_are_one_line_each():
    """Issue 17: piped, rich wrapped every long message (the MI meter's reading, the stage times) at 80 columns."""
    import subprocess
    import sys

    code = "from mipo_bench.core.console import console; console.print('MI meter ' + 'word ' * 40 + '(n=32)')"
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert err.splitlines() == ["MI meter " + "word " * 40 + "(n=32)"]


def test_unknown_task_and_unreachable_server_are_one_line(monkeypatch, capsys):
    """Issue 16 §6: an unknown task and an OpenAI-compatible server that never answers printed tracebacks."""
    import mipo_bench.cli.judge as judge
    from mipo_bench.cli.main import main
    from mipo_bench.generation.openai_compat import EndpointUnavailable

    assert main(["eval", "--model", "smollm2-135m-instruct", "--tasks", "mipo_arc_eazy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown task 'mipo_arc_eazy' (did you mean 'mipo_arc_easy'?)" in err[0]

    def unreachable(args):
        raise EndpointUnavailable("http://127.0.0.1:9/v1 (model m) failed 4 time(s) in a row: Connection refused")

    monkeypatch.setattr(judge, "cmd_judge", unreachable)  # what the openai backend raises out of its retries
    assert main(["judge", "samples.jsonl", "--judge", "m", "--backend", "openai"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mipo-bench: http://127.0.0.1:9/v1 (model m) failed 4 time(s) in a row: Connection refused"]


def test_eval_output_is_keyed_by_the_weights_not_only_the_arguments(tiny_model_dir, tmp_path):
    """A checkpoint retrained in place and evaluated with the same arguments was skipped as "already in"."""
    import argparse
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    from mipo_bench.cli.evaluate import output_key

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    args = argparse.Namespace(model=str(model), tasks="mipo_arc_easy", limit=4, output=str(tmp_path / "out"))
    before = output_key(args)
    assert output_key(args) == before
    retrained = AutoModelForCausalLM.from_pretrained(model)
    with torch.no_grad():
        retrained.model.norm.weight.add_(1.0)
    retrained.save_pretrained(model)
    assert output_key(args) != before
