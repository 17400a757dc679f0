"""The hf backend and the mipo / sft recipes on a tiny random model."""

import json

import pytest
import torch

from mipo_bench.generation import SamplingParams, get_backend
from mipo_bench.pairs.build import build_pairs
from mipo_bench.training import MipoSettings, TrainSettings, train
from mipo_bench.workflows.recipe import load_recipe

CHATS = [
    [{"role": "user", "content": text}]
    for text in ["Hi", "Tell me a long story about a cat who likes to climb trees", "2+2?", "Name a colour", "Why?"]
]


def test_hf_backend_batches_keep_prompt_order(tiny_model_dir):
    backend = get_backend("hf", tiny_model_dir, batch_size=2, device="cpu")
    greedy = SamplingParams(temperature=0, max_new_tokens=8)
    batched = backend.generate(CHATS, greedy)
    single = [backend.generate([chat], greedy)[0] for chat in CHATS]
    assert batched == single and all(len(out) == 1 for out in batched)


def test_hf_backend_sampling_is_explicit_and_seeded(tiny_model_dir):
    backend = get_backend("hf", tiny_model_dir, batch_size=8, device="cpu")
    params = SamplingParams(n=3, temperature=1.0, top_p=1.0, max_new_tokens=6, seed=7)
    first = backend.generate(CHATS[:2], params, seeds=[1, 1])
    assert first == backend.generate(CHATS[:2], params, seeds=[1, 1])
    assert len(first[0]) == 3 and len(set(first[0])) > 1  # three different samples
    config = backend._generation_config(params, 3)
    assert config.do_sample and config.temperature == 1.0 and config.max_new_tokens == 6


def test_stop_strings_cut_the_text(tiny_model_dir):
    from mipo_bench.generation.base import truncate_at_stop

    assert truncate_at_stop("answer\nQuestion: next", ["\nQuestion:"]) == "answer"
    assert truncate_at_stop("no stop here", ["\nQuestion:"]) == "no stop here"


@pytest.fixture(scope="module")
def tiny_pairs(tmp_path_factory, tiny_model_dir):
    out = tmp_path_factory.mktemp("pairs")
    items = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?"} for i in range(8)]
    backend = get_backend("hf", tiny_model_dir, batch_size=8, device="cpu")
    build_pairs(items, "random_prompt", backend, SamplingParams(temperature=1.0, max_new_tokens=12), out, seed=0)
    return out / "pairs.jsonl"


@pytest.mark.parametrize("method", ["mipo", "sft"])
def test_recipe_trains_and_writes_a_loadable_checkpoint(method, tiny_pairs, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    recipe = load_recipe(method, ["train.learning_rate=1e-3", "train.gradient_accumulation_steps=2"])
    manifest = train(
        method, tiny_pairs, tiny_model_dir, tmp_path, recipe.train, seed=0, device="cpu", recipe=recipe.source
    )
    log = [json.loads(line) for line in open(tmp_path / "train_log.jsonl")]
    steps = [row for row in log if "loss" in row]
    assert len(steps) == 4  # 8 pairs / global batch 2
    if method == "mipo":
        assert {"rewards/margins", "rewards/accuracies"} <= set(steps[0])
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(model.model.layers[0].mlp.up_proj.weight, before.model.layers[0].mlp.up_proj.weight)
    card = (tmp_path / "model" / "README.md").read_text()
    assert f"**method**: {method}" in card and "data_hash" in card
    assert manifest["method"] == method and manifest["data_manifest"]["strategy"] == "random_prompt"


def test_mipo_margins_rise_when_training_works(tiny_pairs, tiny_model_dir, tmp_path):
    settings = TrainSettings(
        learning_rate=5e-3,
        gradient_accumulation_steps=1,
        num_train_epochs=3,
        lr_scheduler_type="constant",
        warmup_ratio=0.0,
    )
    train("mipo", tiny_pairs, tiny_model_dir, tmp_path, settings, seed=0, device="cpu")
    margins = [
        row["rewards/margins"]
        for row in map(json.loads, open(tmp_path / "train_log.jsonl"))
        if "rewards/margins" in row
    ]
    assert sum(margins[-8:]) / 8 > sum(margins[:8]) / 8 and margins[-1] > 0


def test_lora_option_trains_and_merges(tiny_pairs, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    settings = TrainSettings(learning_rate=1e-3, gradient_accumulation_steps=4, lora_r=4)
    train("mipo", tiny_pairs, tiny_model_dir, tmp_path, settings, seed=0, device="cpu")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model")  # merged: a plain model, no adapter
    assert not any("lora" in name for name, _ in model.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)  # and the trained adapter is folded in
    assert not torch.equal(model.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight)


def test_frozen_copy_reference_and_bad_reference(tiny_pairs, tiny_model_dir, tmp_path):
    train(
        "mipo",
        tiny_pairs,
        tiny_model_dir,
        tmp_path / "a",
        MipoSettings(reference="frozen_copy", gradient_accumulation_steps=4),
        device="cpu",
    )
    assert (tmp_path / "a" / "model" / "model.safetensors").exists()
    with pytest.raises(ValueError, match="reference must be"):
        train("mipo", tiny_pairs, tiny_model_dir, tmp_path / "b", MipoSettings(reference="disk"), device="cpu")


def test_recipe_overrides_and_errors(tmp_path):
    recipe = load_recipe("mipo", ["train.learning_rate=1e-6", "data.n_prompts=16", "pairs.strategy=random_prompt"])
    assert recipe.train.learning_rate == 1e-6 and recipe.data.n_prompts == 16
    with pytest.raises(ValueError, match="unknown train settings"):
        load_recipe("mipo", ["train.lr=1"])
    with pytest.raises(FileNotFoundError, match="no recipe"):
        load_recipe("does-not-exist")


def tiny_pairs_file(path, n=4):
    rows = [
        {
            "prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}],
            "chosen": [{"role": "assistant", "content": f"It is {2 * i}."}],
            "rejected": [{"role": "assistant", "content": "Turtles."}],
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_training_precision_fp32_master_weights_bf16_autocast_only_on_gpu(tmp_path):
    from mipo_bench.training.processes import training_precision

    assert training_precision("cuda") == (torch.float32, True)
    assert training_precision("cuda:1") == (torch.float32, True)
    assert training_precision("cpu") == (torch.float32, False)
    gpu, cpu = (TrainSettings().trl_kwargs(device, 0, tmp_path) for device in ("cuda", "cpu"))
    assert (gpu["bf16"], gpu["fp16"], gpu["use_cpu"]) == (True, False, False)
    assert (cpu["bf16"], cpu["fp16"], cpu["use_cpu"]) == (False, False, True)


@pytest.mark.parametrize("method", ["mipo", "sft"])
def test_trainer_built_for_gpu_holds_fp32_weights_and_autocasts(method, tiny_model_dir, tmp_path, monkeypatch):
    """The GPU settings, built on this CPU machine: fp32 weights in the trainer, bf16 autocast in its args."""
    import transformers.training_args

    from mipo_bench.training.common import build_trainer

    # TrainingArguments refuses bf16 without a bf16 GPU; nothing here computes (no precompute, no step), so the
    # check is lifted to build the GPU trainer on CPU. bf16 compute itself would die with SIGILL on this CPU.
    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)
    pairs = tiny_pairs_file(tmp_path / "pairs.jsonl")
    settings = MipoSettings(reference="frozen_copy", max_length=64)
    trainer = build_trainer(method, pairs, tiny_model_dir, tmp_path / "gpu", settings, 0, "cuda")
    assert trainer.args.bf16 and not trainer.args.use_cpu and not trainer.args.fp16
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}
    if method == "mipo":  # the frozen reference copy stays in the policy's fp32
        assert {p.dtype for p in trainer.ref_model.parameters()} == {torch.float32}
    monkeypatch.undo()
    trainer = build_trainer(method, pairs, tiny_model_dir, tmp_path / "cpu", settings, 0, "cpu")
    assert not trainer.args.bf16 and trainer.args.use_cpu
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}


def test_one_step_at_paper_lr_moves_fp32_weights_but_rounds_away_in_bf16(tiny_model_dir, tmp_path):
    """Why the policy trains in fp32: one Adam step at lr 5e-7 changes the fp32 weights; the same update added to a
    bf16 copy of the weights is lost to rounding (a bf16 add only: bf16 matmuls crash on this CPU)."""
    from mipo_bench.training.common import build_trainer

    pairs = tiny_pairs_file(tmp_path / "pairs.jsonl")
    settings = TrainSettings(
        learning_rate=5e-7,
        lr_scheduler_type="constant",
        warmup_ratio=0.0,
        gradient_accumulation_steps=1,
        max_length=64,
        extra={"max_steps": 1},
    )
    trainer = build_trainer("mipo", pairs, tiny_model_dir, tmp_path, settings, 0, "cpu")
    layers = trainer.model.model.layers
    before = torch.cat([p.detach().flatten().clone() for p in layers.parameters()])
    trainer.train()
    after = torch.cat([p.detach().flatten() for p in layers.parameters()])
    assert trainer.state.global_step == 1 and after.dtype == torch.float32
    moved_fp32 = (after != before).float().mean().item()
    update = after - before
    assert update.abs().max().item() == pytest.approx(5e-7, rel=0.05)  # Adam's first step: about lr per weight
    in_bf16 = before.bfloat16()
    moved_bf16 = ((in_bf16 + update.bfloat16()) != in_bf16).float().mean().item()
    # all fp32 weights move; in bf16 only those within ~2.6e-4 of zero (whose ulp is small enough) do: ~1% here
    assert moved_fp32 > 0.9 and moved_bf16 < 0.05, (moved_fp32, moved_bf16)


def test_a_methods_settings_are_the_single_source_of_its_trl_config(tmp_path):
    """Fields of a method's settings that its TRL config has under the same name reach it without being listed
    in the builder; the method's pinned values and the shared optimizer keywords are there too."""
    from trl import GRPOConfig, SFTConfig

    from mipo_bench.training import MipoSettings, TrainContext
    from mipo_bench.training.infonce import InfoNCEConfig, InfoNCESettings
    from mipo_bench.training.online import OnlineSettings
    from mipo_bench.training.prefix_sharing import PrefixSharedDPOConfig

    ctx = TrainContext("tiny", tmp_path, 7, "cpu")
    dpo = MipoSettings(beta=0.37, prefix_sharing=False, learning_rate=3e-6).trl_config(
        PrefixSharedDPOConfig, ctx, loss_type=["sigmoid"]
    )
    assert (dpo.beta, dpo.prefix_sharing, dpo.learning_rate, dpo.seed) == (0.37, False, 3e-6, 7)
    nce = InfoNCESettings(temperature=2.5).trl_config(InfoNCEConfig, ctx)
    assert nce.temperature == 2.5
    grpo = OnlineSettings(num_generations=4, generation_batch_size=8, beta=0.0, top_p=0.8).trl_config(
        GRPOConfig, ctx, top_k=0, reward_weights=[1.0]
    )
    assert (grpo.num_generations, grpo.generation_batch_size, grpo.beta, grpo.top_p, grpo.top_k) == (4, 8, 0.0, 0.8, 0)
    assert grpo.reward_weights == [1.0]
    sft = TrainSettings(max_length=2048, extra={"weight_decay": 0.05}).trl_config(SFTConfig, ctx)
    assert (sft.max_length, sft.weight_decay) == (2048, 0.05)


def test_the_global_batch_is_divided_over_processes_not_multiplied():
    """The paper's batch of 4 on 1, 2 or 4 processes (OpenRLHF's train_batch_size); pinning the accumulation keeps
    the old meaning; a batch that does not divide is an error naming both settings."""
    paper = TrainSettings()
    assert [paper.accumulation_steps(n) for n in (1, 2, 4)] == [4, 2, 1]
    assert [paper.effective_batch(n) for n in (1, 2, 4)] == [4, 4, 4]
    pinned = TrainSettings(gradient_accumulation_steps=4)
    assert pinned.effective_batch(4) == 16
    with pytest.raises(ValueError, match=r"global_batch_size=4 is not a multiple .* 3 processes"):
        paper.accumulation_steps(3)
    with pytest.raises(ValueError, match="global_batch_size=4"):
        TrainSettings(per_device_train_batch_size=8).accumulation_steps(1)


def test_report_to_tensorboard_writes_the_training_curves_offline(tiny_pairs, tiny_model_dir, tmp_path):
    """Issue 16: train.report_to reaches TRL's report_to (none by default); TensorBoard's event files hold the loss
    of every logged step, written offline under <run>/train/trainer/runs/."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    settings = MipoSettings(learning_rate=1e-4, global_batch_size=2, num_train_epochs=1, report_to="tensorboard")
    train("mipo", tiny_pairs, tiny_model_dir, tmp_path, settings, seed=0, device="cpu")
    events = sorted((tmp_path / "trainer" / "runs").rglob("events.out.tfevents.*"))
    assert events
    scalars = EventAccumulator(str(events[0].parent)).Reload()
    loss = scalars.Scalars("train/loss")
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [e.step for e in loss] == [row["step"] for row in log if "loss" in row]
    assert [round(e.value, 4) for e in loss] == [round(row["loss"], 4) for row in log if "loss" in row]

    quiet = TrainSettings().trl_kwargs("cpu", 0, tmp_path)["report_to"]
    assert quiet == []  # none by default: nothing is written or sent anywhere
    with pytest.raises(ValueError, match="use train.report_to instead"):
        TrainSettings(extra={"report_to": "wandb"})


def test_one_checkpoint_by_default_and_save_steps_keeps_more(tiny_pairs, tiny_model_dir, tmp_path):
    """Issue 17: a trained row keeps one loadable checkpoint (the final model) by default; train.save_steps keeps
    resumable ones along the way (the newest save_total_limit), without changing the training's cache key."""
    from dataclasses import replace

    from mipo_bench.workflows.pipeline import train_stage
    from mipo_bench.workflows.recipe import load_recipe

    settings = MipoSettings(learning_rate=1e-4, global_batch_size=1, num_train_epochs=1)
    train("mipo", tiny_pairs, tiny_model_dir, tmp_path / "default", settings, seed=0, device="cpu")
    assert not list((tmp_path / "default" / "trainer").glob("checkpoint-*"))
    assert (tmp_path / "default" / "model" / "model.safetensors").is_file()

    kept = replace(settings, save_steps=1, save_total_limit=2)
    train("mipo", tiny_pairs, tiny_model_dir, tmp_path / "kept", kept, seed=0, device="cpu")
    steps = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "kept" / "trainer").glob("checkpoint-*"))
    n_steps = sum(1 for _ in open(tiny_pairs))
    assert steps == [n_steps - 1, n_steps] and n_steps > 2  # the newest two of one per step
    assert (tmp_path / "kept" / "trainer" / f"checkpoint-{n_steps}" / "optimizer.pt").is_file()  # resumable

    recipe = load_recipe("mipo", [f"model={tiny_model_dir}"], quiet=True)
    keys = {
        train_stage(replace(recipe, train=replace(recipe.train, **extra)), tiny_pairs, tmp_path / "k").inputs_hash
        for extra in ({}, {"save_steps": 5, "save_total_limit": 1})
    }
    assert len(keys) == 1  # keeping checkpoints does not make the trained weights stale
    with pytest.raises(ValueError, match="use train.save_steps"):
        TrainSettings(extra={"save_strategy": "steps"})
