"""`mipo-bench compare RECIPE --table tableN`: a new method beside a table's rows on the table's own pairs, seeds and
items (paired comparisons), its verdicts printed; a row is named by its recipe, and runs of one name with other
settings are other rows; the page says what each row changes against the MIPO row."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mipo_bench.analysis.leaderboard.rank import distinct_rows, leaderboard
from mipo_bench.analysis.leaderboard.render import settings_lines
from mipo_bench.analysis.results import recipe_label
from mipo_bench.cli.compare import compare_row
from tests.test_leaderboard import entry
from tests.test_pipeline import _forbid_every_stage
from tests.test_reproduce import tiny_spec


def test_a_row_is_its_recipe(tmp_path):
    ipo = compare_row("ipo")  # MIPO's recipe but for the loss: only the loss is carried over
    assert (ipo.name, ipo.label, ipo.method, ipo.overrides) == ("ipo", "ipo", "mipo", ["train.loss_type=[ipo]"])
    assert compare_row("simpo").method == "simpo"
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("name: mine\nmethod: mipo\ntrain: {beta: 0.3}\n")
    assert recipe_label({"recipe": str(recipe), "method": "mipo"}) == "mine"
    assert recipe_label({"recipe": str(recipe), "method": "infonce"}) is None  # run with method=infonce: not "mine"
    assert recipe_label({"recipe": "/gone.yaml", "method": "mipo"}) is None


def _trained(label, correct, seed, **settings):
    e = entry(label, correct, seed=seed)
    train = {**e.manifest["train"], "settings": {"learning_rate": 5e-7, "loss_type": ["sigmoid"], **settings}}
    return dataclasses.replace(e, manifest={**e.manifest, "train": train})


def test_two_recipes_of_one_name_are_two_rows_and_the_page_says_what_differs():
    entries = [
        entry("base", [0, 1] * 20),
        _trained("mipo", [1, 1] * 20, seed=1),
        _trained("mipo", [1, 0] * 20, seed=2),
        _trained("ipo", [1, 1, 0, 1] * 10, seed=1, loss_type=["ipo"]),
        _trained("ipo", [1, 0, 1, 1] * 10, seed=1, loss_type=["ipo"], learning_rate=1e-6),
    ]
    labels = {e.label for e in distinct_rows(entries)}
    ipo = sorted(lab for lab in labels if lab.startswith("ipo·"))  # the two ipo recipes: two rows
    assert labels - set(ipo) == {"base", "mipo"} and len(ipo) == 2  # two seeds of one mipo recipe: one row
    (tb,) = leaderboard(entries)["tasks"].values()
    lines = settings_lines(tb)
    assert len(lines) == 2 and all("loss_type ['ipo'] (mipo: ['sigmoid'])" in line for line in lines)
    assert sum("learning_rate 1e-06 (mipo: 5e-07)" in line for line in lines) == 1


@pytest.mark.slow  # a whole table and compare run on a tiny model
def test_compare_trains_only_the_new_row_on_the_tables_pairs_seeds_and_items(
    tmp_path, tiny_model_dir, monkeypatch, capsys
):
    from mipo_bench.cli.main import main
    from mipo_bench.generation.hf import HFBackend
    from mipo_bench.workflows.reproduce import reproduce

    spec = tiny_spec(tmp_path, tiny_model_dir)
    out = tmp_path / "run"
    reproduce(spec, tiny_model_dir, seeds=1, scale="tiny", run_dir=out)
    inputs = sorted((out / "arc_easy" / "seed42" / "inputs").iterdir())
    pairs_manifest = next(inputs[0].glob("pairs/pairs.manifest.json")).read_text()
    monkeypatch.setattr(HFBackend, "generate", lambda *a, **k: pytest.fail("compare generated new pairs"))
    command = ["compare", "ipo", "--table", spec, "--scale", "tiny", "--model", tiny_model_dir, "--run-dir", str(out)]
    capsys.readouterr()
    assert main(command) == 0
    verdicts = capsys.readouterr().out.strip().splitlines()[-2:]  # one line per baseline: base and the table's rows
    assert verdicts and all(line.startswith("mipo_arc_easy: ipo ") for line in verdicts), verdicts
    assert not any("nan" in line for line in verdicts)
    assert sorted((out / "arc_easy" / "seed42" / "inputs").iterdir()) == inputs  # no new input
    assert next(inputs[0].glob("pairs/pairs.manifest.json")).read_text() == pairs_manifest
    mipo = json.loads((out / "arc_easy" / "seed42" / "mipo" / "train.manifest.json").read_text())
    ipo = json.loads((out / "arc_easy" / "seed42" / "ipo" / "train.manifest.json").read_text())
    assert ipo["data"] == mipo["data"] and ipo["data_hash"] == mipo["data_hash"] and ipo["seed"] == mipo["seed"]
    assert ipo["settings"]["loss_type"] == ["ipo"] and mipo["settings"]["loss_type"] == ["sigmoid"]
    assert {k: v for k, v in ipo["settings"].items() if k != "loss_type"} == {
        k: v for k, v in mipo["settings"].items() if k != "loss_type"
    }
    docs = {
        row: [s["doc_id"] for s in json.loads((out / "arc_easy" / "seed42" / "eval" / row / "eval_results.json")
              .read_text())["samples"]["mipo_arc_easy"]]
        for row in ("mipo", "ipo")
    }  # fmt: skip
    assert docs["ipo"] == docs["mipo"] and docs["ipo"]
    assert "ipo" in (out / "table.md").read_text()
    page = (out / "leaderboard.html").read_text()
    assert "ipo (mipo): loss_type [&#x27;ipo&#x27;] (mipo: [&#x27;sigmoid&#x27;])" in page
    _forbid_every_stage(monkeypatch)  # a rerun does nothing new
    assert main(command) == 0
