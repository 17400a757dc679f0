"""Recipes: every section's keys checked against its dataclass, values typed from the field types, and the pairs
stage's sampling (the paper's per dataset unless the recipe says otherwise; the eval task's stop strings always)."""

import dataclasses

import pytest

from mipo_bench.data import protocol
from mipo_bench.workflows.recipe import DataSettings, EvalSettings, PairSettings, RecipeError, coerce, load_recipe


@pytest.mark.parametrize(
    "override, message",
    [
        ("pairs.stratgy=missing", r"unknown pairs settings \['stratgy'\] \(did you mean 'strategy'\?\); valid: strat"),
        ("data.n_prompt=5", r"unknown data settings \['n_prompt'\] \(did you mean 'n_prompts'\?\)"),
        ("eval.task=[x]", r"unknown eval settings \['task'\] \(did you mean 'tasks'\?\)"),
        ("train.max_grad=1", r"unknown train settings \['max_grad'\] \(did you mean 'max_grad_norm'\?\)"),
        ("pair.n=2", r"unknown recipe key 'pair' \(did you mean 'pairs'\?\)"),
    ],
)
def test_unknown_keys_are_errors_with_a_suggestion(override, message):
    with pytest.raises(RecipeError, match=message) as err:
        load_recipe("mipo", [override])
    assert "recipes/mipo.yaml" in str(err.value)


def test_values_are_typed_from_the_dataclass_fields():
    recipe = load_recipe(
        "mipo",
        [
            "train.max_grad_norm=1e3",  # YAML reads this as the string '1e3'
            "train.learning_rate=5e-7",
            "train.gradient_checkpointing=true",
            "pairs.temperature=1",
            "pairs.stop=\\nEND",
            "eval.tasks=mipo_gsm8k",
            "data.n_prompts=16",
        ],
    )
    assert recipe.train.max_grad_norm == 1000.0 and isinstance(recipe.train.max_grad_norm, float)
    assert recipe.train.learning_rate == 5e-7 and recipe.train.gradient_checkpointing is True
    assert recipe.pairs.temperature == 1.0 and isinstance(recipe.pairs.temperature, float)
    assert recipe.pairs.stop == ("\\nEND",) and recipe.eval.tasks == ["mipo_gsm8k"] and recipe.data.n_prompts == 16


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.max_grad_norm=abc", r"train\.max_grad_norm='abc': expected float"),
        ("train.gradient_accumulation_steps=2.5", r"train\.gradient_accumulation_steps=2\.5: expected int"),
        ("train.gradient_checkpointing=maybe", r"train\.gradient_checkpointing='maybe': expected bool"),
        ("pairs.batch_size=[1]", r"pairs\.batch_size=\[1\]: expected int"),
        ("data.dataset=3", r"data\.dataset=3: expected str"),
        ("seed=x", r"seed='x': expected int"),
        ("eval.tasks={a: 1}", r"eval\.tasks=\{'a': 1\}: expected list"),
    ],
)
def test_bad_values_name_the_key_the_value_and_the_type(override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe("mipo", [override])


def test_choice_fields_are_checked():
    with pytest.raises(RecipeError, match=r"pairs\.strategy='misssing': choose one of .*did you mean 'missing'"):
        load_recipe("mipo", ["pairs.strategy=misssing"])
    with pytest.raises(RecipeError, match=r"data\.dataset='gsm8': .*did you mean 'gsm8k'"):
        load_recipe("mipo", ["data.dataset=gsm8"])
    with pytest.raises(RecipeError, match=r"pairs\.n=0"):
        load_recipe("mipo", ["pairs.n=0"])


def test_coerce_handles_optional_and_containers():
    assert coerce(None, int | None, "k") is None and coerce("7", int | None, "k") == 7
    assert coerce(["a", "b"], tuple[str, ...], "k") == ("a", "b")
    with pytest.raises(RecipeError, match=r"k\[1\]=2: expected str"):
        coerce(["a", 2], list[str], "k")
    with pytest.raises(RecipeError, match="expected float"):
        coerce(True, float, "k")


def test_every_section_field_is_documented():
    for cls in (DataSettings, PairSettings, EvalSettings):
        for f in dataclasses.fields(cls):
            assert f"{f.name}:" in cls.__doc__, f"{cls.__name__}.{f.name} is not documented"


def test_sections_are_plain_dataclasses_read_by_attribute():
    """One way to read settings: typed dataclass fields (the old mapping shim is gone)."""
    recipe = load_recipe("demo")
    assert recipe.eval.tasks and recipe.pairs.backend == "hf" and recipe.data.dataset == "arc_easy"
    for section in (recipe.data, recipe.pairs, recipe.train, recipe.eval):
        assert dataclasses.is_dataclass(section) and not hasattr(section, "get")


@pytest.mark.parametrize("dataset", ["gsm8k", "arc_easy", "prism"])
def test_pair_sampling_defaults_to_the_papers_and_always_stops_where_the_eval_stops(dataset):
    paper = protocol.pair_sampling(dataset)
    sampling = load_recipe("mipo", [f"data.dataset={dataset}"]).sampling()
    assert (sampling.temperature, sampling.top_p, sampling.max_new_tokens) == (
        paper.temperature,
        paper.top_p,
        paper.max_new_tokens,
    )
    assert sampling.stop == protocol.stop_strings(dataset)
    recipe = load_recipe(
        "mipo", [f"data.dataset={dataset}", "pairs.temperature=0.5", "pairs.max_new_tokens=64", "pairs.stop=[XX]"]
    )
    sampling = recipe.sampling()
    assert sampling.temperature == 0.5 and sampling.max_new_tokens == 64 and sampling.top_p == paper.top_p
    assert sampling.stop == (*protocol.stop_strings(dataset), "XX")  # a recipe adds stop strings, never drops them
    origin = recipe.sampling_origin()
    assert origin["temperature"] == "recipe" and origin["top_p"] == "paper" and origin["stop_recipe"] == ["XX"]


def test_gsm8k_pairs_stop_at_the_math_tasks_stop_strings():
    assert load_recipe("mipo", ["data.dataset=gsm8k"]).sampling().stop[0] == "\nExample "


def test_manifest_records_the_effective_sampling(tmp_path, mirror):
    from mipo_bench.generation import Backend
    from mipo_bench.workflows.pipeline import run_pairs

    class Echo(Backend):
        def generate(self, prompts, params, seeds=None):
            return [[f"answer {s}"] * params.n for s in seeds]

    recipe = load_recipe("mipo", ["data.dataset=gsm8k", "data.n_prompts=3", "pairs.top_p=0.5"])
    manifest = run_pairs(recipe, tmp_path, backend=Echo("echo"))
    assert manifest["sampling"]["temperature"] == 0.1 and manifest["sampling"]["max_new_tokens"] == 1024
    assert manifest["sampling"]["top_p"] == 0.5 and manifest["sampling"]["stop"][0] == "\nExample "
    assert manifest["source"]["sampling_origin"]["temperature"] == "paper"
    assert manifest["source"]["sampling_origin"]["top_p"] == "recipe"
    assert manifest["counts"]["pairs"] == 3


def test_warnings_a_user_cannot_act_on_are_gone(tmp_path, monkeypatch, capfd):
    """Issue 17: `train.beta not used` printed for every SFT row a table or the demo switched to, and lm-eval's
    `git describe` printed "fatal: not a git repository" outside a checkout."""
    import lm_eval.evaluator

    from mipo_bench.evaluation.harness import _quiet_git_hash
    from mipo_bench.workflows.recipe import load_recipe

    load_recipe("demo", ["method=sft"], quiet=True)
    assert "not used" not in capfd.readouterr().err
    load_recipe("demo", ["method=sft"])  # the user switched the method: they are told what was dropped
    told = capfd.readouterr().err
    assert "train.beta" in told and "not used" in told

    monkeypatch.chdir(tmp_path)  # not a git repository
    _quiet_git_hash()
    assert lm_eval.evaluator.get_git_commit_hash() is None
    assert "fatal" not in capfd.readouterr().err
