"""A dataset is one module: a plugin outside the package registers a DatasetSpec (with its own lm-eval task folder),
a recipe's ``plugins:`` imports it, and the pairs and eval stages run on it without any edit of the suite."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from mipo_bench.core.resources import tasks_dir
from mipo_bench.data import DATASETS

PLUGIN = '''
"""toy_math: six arithmetic questions, with its own task folder (tasks/toy_math.yaml)."""
import json
from pathlib import Path

from mipo_bench.data import MATH, DatasetSpec, register_dataset
from mipo_bench.data.records import format_number, record
from mipo_bench.data.spec import Decoding

HERE = Path(__file__).parent


def from_mirror(root, split):
    rows = [json.loads(line) for line in (HERE / f"toy_{split}.jsonl").read_text().splitlines()]
    return [record(f"toy/{split}/{i}", r["q"], format_number(r["a"]), subject="toy") for i, r in enumerate(rows)]


SPEC = register_dataset(
    DatasetSpec(
        name="toy_math",
        kind=MATH,
        eval_task="toy_math",
        pair_sampling=Decoding(0.7, 0.9, 8),
        from_mirror=from_mirror,
        eval_size=3,
        tasks_path=HERE / "tasks",
        reask_prompt="Just the number: ",
    ),
    replace=True,
)
'''


@pytest.fixture
def toy_plugin(tmp_path, monkeypatch):
    """The plugin module, its data and its task folder in a directory outside the package, on sys.path."""
    root = tmp_path / "plugin"
    (root / "tasks").mkdir(parents=True)
    (root / "toy_math_plugin.py").write_text(PLUGIN)
    for split, n in (("train", 6), ("test", 4)):
        rows = [json.dumps({"q": f"What is {i} + {i}?", "a": 2 * i}) for i in range(n)]
        (root / f"toy_{split}.jsonl").write_text("\n".join(rows) + "\n")
    (root / "tasks" / "toy_math.yaml").write_text(
        textwrap.dedent(
            f"""\
            include: {tasks_dir() / "_math_template_yaml"}
            task: toy_math
            dataset_kwargs:
              dataset: toy_math
              protocol: paper
            """
        )
    )
    monkeypatch.syspath_prepend(str(root))
    yield root
    DATASETS.pop("toy_math", None)


def test_a_dataset_registered_from_outside_runs_pairs_and_eval(toy_plugin, tiny_model_dir, mirror, tmp_path):
    from mipo_bench.workflows.pipeline import run_eval_stage, run_pairs
    from mipo_bench.workflows.recipe import load_recipe

    recipe_file = tmp_path / "toy.yaml"
    recipe_file.write_text(
        yaml.safe_dump(
            {
                "name": "toy",
                "model": tiny_model_dir,
                "seed": 1,
                "plugins": ["toy_math_plugin"],
                "data": {"dataset": "toy_math"},
                "pairs": {"batch_size": 4},
                "eval": {"tasks": ["toy_math"]},
            }
        )
    )
    recipe = load_recipe(str(recipe_file))
    assert DATASETS.get("toy_math").kind == "math"
    sampling = recipe.sampling()  # the spec's pair sampling and its own task's stop strings
    assert (sampling.temperature, sampling.max_new_tokens) == (0.7, 8)
    assert "\nNew question:" in sampling.stop

    run_dir = tmp_path / "run"
    manifest = run_pairs(recipe, run_dir)
    assert manifest["source"]["dataset"] == "toy_math" and manifest["counts"]["items"] == 6
    pairs = [json.loads(line) for line in (run_dir / "pairs" / "pairs.jsonl").read_text().splitlines()]
    assert "What is" in pairs[0]["prompt"][0]["content"] and "New question:" in pairs[0]["prompt"][0]["content"]

    out = run_eval_stage(tiny_model_dir, ["toy_math"], run_dir / "eval", batch_size=4, gen_kwargs="max_gen_toks=8")
    assert out["n-samples"]["toy_math"]["effective"] == 3  # the spec's eval_size
    assert {s["filter"] for s in out["samples"]["toy_math"]} >= {"paper", "paper_noreask", "strict"}
