"""The training layer takes any method: chosen by name in the recipe or on the command line, registered from outside
the package, each consuming the input it declares (pairs, SFT rows, prompts)."""

import json
import sys
import textwrap

import pytest

from mipo_bench.training import METHODS, PAIRS, PROMPTS
from mipo_bench.workflows.recipe import RecipeError, load_recipe

PLUGIN = '''
"""A method from outside the package: SFT on the chosen responses, with one extra documented setting."""
from dataclasses import dataclass

from mipo_bench.training import SFT, TrainSettings, register_method
from mipo_bench.training.sft import build_sft


@dataclass
class ShoutSettings(TrainSettings):
    """Args:
        shout: upper-case every completion before training on it.
    """

    shout: bool = True


@register_method("shout_sft", consumes=SFT, settings=ShoutSettings)
def build(policy, tokenizer, rows, settings, ctx):
    if settings.shout:
        rows = [{**r, "completion": [{"role": "assistant", "content": r["completion"][0]["content"].upper()}]}
                for r in rows]
    return build_sft(policy, tokenizer, rows, settings, ctx)
'''


def _recipe(tmp_path, model_dir, **fields):
    body = {
        "name": "t",
        "model": model_dir,
        "seed": 0,
        "data": {"dataset": "arc_easy", "n_prompts": 4},
        "pairs": {"max_new_tokens": 6, "batch_size": 4},
        "train": {"learning_rate": 1e-3, "gradient_accumulation_steps": 2, "max_length": 256},
        "eval": {"tasks": []},
        **fields,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(json.dumps(body))  # JSON is YAML
    return path


def test_every_paper_method_is_registered_with_its_input():
    from mipo_bench.training import online  # noqa: F401  (registration)

    assert {m: METHODS[m].consumes for m in ("mipo", "sft", "infonce", "sft_revision")} == {
        "mipo": PAIRS,
        "sft": "sft",
        "infonce": PAIRS,
        "sft_revision": PAIRS,
    }
    assert all(METHODS[m].consumes == PROMPTS for m in ("rlvr", "rlaif", "mi_rl", "rlaif_mi"))


def test_unknown_method_is_one_clear_error(tmp_path, tiny_model_dir):
    with pytest.raises(RecipeError, match="unknown training method 'mipoo' \\(did you mean 'mipo'\\?\\)"):
        load_recipe(str(_recipe(tmp_path, tiny_model_dir, method="mipoo")))


def test_method_switched_on_the_command_line_keeps_only_its_own_settings(capsys):
    recipe = load_recipe("mipo", ["method=infonce", "train.temperature=10"])
    assert type(recipe.train).__name__ == "InfoNCESettings" and recipe.train.temperature == 10
    assert "train.beta, train.reference of the recipe's own method not used" in capsys.readouterr().err
    rlvr = load_recipe("mipo", ["method=rlvr"])  # DPO's beta 0.1 must not become GRPO's KL weight (paper: 0.001)
    assert rlvr.train.beta == type(rlvr.train)().beta
    with pytest.raises(RecipeError, match="unknown train settings \\['beta'\\]"):
        load_recipe("sft", ["method=infonce", "train.beta=0.2"])  # a key typed by the user stays an error


def test_a_method_registered_from_outside_the_package_runs_end_to_end(tmp_path, tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM

    from mipo_bench.workflows.pipeline import run_recipe

    (tmp_path / "shout_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _recipe(tmp_path, tiny_model_dir, method="shout_sft", plugins=["shout_plugin"])
    recipe = load_recipe(str(path), ["train.shout=true"])
    assert type(recipe.train).__name__ == "ShoutSettings" and recipe.train.shout is True
    run_recipe(recipe, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "train" / "train.manifest.json").read_text())
    assert manifest["method"] == "shout_sft" and manifest["data"].endswith("pairs.jsonl")
    AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "train" / "model")
    METHODS.pop("shout_sft")
    sys.modules.pop("shout_plugin", None)


def test_cli_trains_a_recipe_with_another_method_on_the_same_pairs(tmp_path, tiny_model_dir):
    from mipo_bench.cli.main import main
    from mipo_bench.workflows.pipeline import run_pairs

    path = _recipe(tmp_path, tiny_model_dir, method="mipo")
    run_pairs(load_recipe(str(path)), tmp_path / "run")
    code = main(["train", str(path), "method=infonce", "--run-dir", str(tmp_path / "run")])
    assert code == 0
    manifest = json.loads((tmp_path / "run" / "train-infonce" / "train.manifest.json").read_text())
    assert manifest["method"] == "infonce" and "temperature" in manifest["settings"]
    assert not (tmp_path / "run" / "train").exists()  # the recipe's own (mipo) checkpoint is not overwritten


def test_online_method_trains_from_the_prompt_stage(tmp_path, tiny_model_dir):
    """rlvr consumes prompts: `run` writes prompts.jsonl (no generation stage) and trains on it."""
    from mipo_bench.core.runs import read_jsonl
    from mipo_bench.workflows.pipeline import run_recipe

    path = _recipe(
        tmp_path,
        tiny_model_dir,
        method="rlvr",
        train={"learning_rate": 1e-3, "num_generations": 2, "max_completion_length": 6, "extra": {"max_steps": 2}},
    )
    run_recipe(load_recipe(str(path)), tmp_path / "run")
    rows = list(read_jsonl(tmp_path / "run" / "prompts" / "prompts.jsonl"))
    assert len(rows) == 4 and all(r["answer"] in "ABCDE" and r["base_prompt"] != r["prompt"] for r in rows)
    assert not (tmp_path / "run" / "pairs").exists()
    assert (tmp_path / "run" / "train" / "model" / "config.json").exists()


@pytest.mark.parametrize(
    "method, overrides",
    [
        ("mipo", ["train.loss_type=ipo"]),
        ("cpo", []),
        ("simpo", []),
        ("orpo", []),
        ("kto", ["train.per_device_train_batch_size=2"]),
    ],
)
def test_dpo_family_methods_train_on_the_same_pairs(tmp_path, tiny_model_dir, method, overrides):
    """TRL's DPO losses as values, and its reference-free / unpaired trainers (CPO, SimPO, ORPO, KTO) as methods: each
    trains on one pairs file, its TRL settings recorded in the manifest, the checkpoint loadable and changed."""
    import torch
    from transformers import AutoModelForCausalLM

    from mipo_bench.workflows.pipeline import run_pairs

    path = _recipe(tmp_path, tiny_model_dir, method="mipo")
    run_pairs(load_recipe(str(path)), tmp_path / "run")
    args = ["train", str(path), f"method={method}", *overrides, "train.learning_rate=1e-2", "--run-dir"]
    from mipo_bench.cli.main import main

    assert main([*args, str(tmp_path / "run")]) == 0
    folder = f"train-{method}"  # a method named on the command line trains beside the recipe's own checkpoint
    manifest = json.loads((tmp_path / "run" / folder / "train.manifest.json").read_text())
    assert manifest["method"] == method and manifest["status"] == "complete"
    assert manifest["data"].endswith("pairs.jsonl") and manifest["optimizer_steps"] >= 1
    settings = manifest["settings"]
    expected = {"mipo": ("loss_type", ["ipo"]), "cpo": ("cpo_alpha", 1.0), "simpo": ("loss_type", "simpo")}
    expected |= {"orpo": ("beta", 0.1), "kto": ("desirable_weight", 1.0)}
    key, value = expected[method]
    assert settings[key] == value
    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / folder / "model")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    changed = any(not torch.equal(a, b) for a, b in zip(trained.parameters(), base.parameters()))
    assert changed
