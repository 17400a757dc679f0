"""Prefix-shared DPO and InfoNCE: the packed layout by hand, then log-probs, loss, metrics and gradients of the
shared path against TRL's own two-row DPOTrainer (and InfoNCE's unshared rows), with padding and truncation."""

import json
import logging
import math

import datasets
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOTrainer

from mipo_bench.training import MipoSettings, train
from mipo_bench.training.prefix_sharing import (
    PrefixSharedDPOConfig,
    PrefixSharedDPOTrainer,
    SharedPrefixCollator,
    attention_mask_4d,
    pack_shared_prefix,
)


def user(text):
    return [{"role": "user", "content": text}]


def assistant(text):
    return [{"role": "assistant", "content": text}]


# prompts and responses of different lengths, so a batch of them is padded both ways
PAIRS = [
    {"prompt": user("What is 2 plus 2?"), "chosen": assistant("4."), "rejected": assistant("Blue is a colour.")},
    {
        "prompt": user("Tell me about cats and why they like to climb trees so much, in a few words."),
        "chosen": assistant("Cats climb trees to hunt, to hide and to watch their surroundings from above."),
        "rejected": assistant("Nine."),
    },
    {"prompt": user("Name a colour."), "chosen": assistant("Red."), "rejected": assistant("Cats sleep a lot.")},
]


def test_pairs_pack_into_prefix_and_branches_by_hand():
    # chosen row [1 2 3 | 4 5], rejected row [1 2 3 | 6] (| = end of the prompt), right-padded to 5
    input_ids = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 6, 0]])
    attention = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    completion = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 1, 0]])
    packed = pack_shared_prefix(input_ids, attention, completion, [[0, 1]], pad_token_id=0)
    # the prompt's last token (3) opens both branches: it predicts each response's first token
    assert packed["input_ids"].tolist() == [[1, 2, 3, 4, 5, 3, 6]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 4, 2, 3]]
    assert packed["segments"].tolist() == [[0, 0, 1, 1, 1, 2, 2]]
    assert packed["labels"].tolist() == [[-100, -100, -100, 4, 5, -100, 6]]
    # chosen token t+1 is predicted at packed t; rejected token 3 (the 6) at packed 5 (the repeated 3)
    assert packed["index"][0].tolist() == [0, 1, 2, 3] and packed["index"][1].tolist()[2] == 5

    mask = attention_mask_4d(packed["segments"], "sdpa", torch.float32)[0, 0]
    assert mask[5].tolist() == [True, True, False, False, False, True, False]  # the 2nd branch skips the 1st
    assert mask[4].tolist() == [True] * 5 + [False] * 2
    additive = attention_mask_4d(packed["segments"], "eager", torch.float32)[0, 0]
    assert additive[5, 2] == torch.finfo(torch.float32).min and additive[5, 1] == 0


def test_rows_whose_prompts_differ_share_nothing_and_padding_sees_itself():
    # keep_end truncation cut the prompts by different amounts: no common prefix, the rows side by side
    input_ids = torch.tensor([[7, 8, 4, 5], [8, 9, 6, 0]])
    attention = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    completion = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 0]])
    packed = pack_shared_prefix(input_ids, attention, completion, [[0, 1]], pad_token_id=0, pad_to_multiple_of=8)
    assert packed["input_ids"].tolist() == [[7, 8, 4, 5, 8, 9, 6, 0]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2, 0]]
    assert packed["segments"].tolist() == [[1, 1, 1, 1, 2, 2, 2, -1]]
    mask = attention_mask_4d(packed["segments"], "sdpa", torch.float32)[0, 0]
    assert mask[4].tolist() == [False] * 4 + [True] + [False] * 3
    assert mask[7].tolist() == [False] * 7 + [True]


@pytest.fixture
def packed_forwards(monkeypatch):
    """Counts the forwards run on packed rows (a model that never got the packed forward would silently ignore the
    ``shared_prefix`` batch key and compute the unshared rows, so equal numbers alone prove nothing)."""
    import mipo_bench.training.prefix_sharing as prefix_sharing

    calls, original = [], prefix_sharing.shared_forward

    def counted(*args, **kwargs):
        calls.append(args[1]["input_ids"].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(prefix_sharing, "shared_forward", counted)
    return calls


def load(model_dir, attention="sdpa"):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attention)
    return model.train(), AutoTokenizer.from_pretrained(model_dir)


def dpo_trainer(cls, model_dir, tmp_path, attention, reference, pairs=PAIRS, **config):
    model, tokenizer = load(model_dir, attention)
    args = PrefixSharedDPOConfig(
        output_dir=str(tmp_path / cls.__name__),
        per_device_train_batch_size=len(pairs),
        precompute_ref_log_probs=reference == "precompute",
        use_cpu=True,
        bf16=False,  # DPOConfig defaults to bf16 autocast, on CPU too
        report_to=[],
        **config,
    )
    ref_model = load(model_dir, attention)[0].eval() if reference == "frozen" else None
    return cls(model, ref_model, args=args, train_dataset=datasets.Dataset.from_list(pairs), processing_class=tokenizer)


def loss_metrics_grads(trainer):
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    metrics = {key: values[-1] for key, values in trainer._metrics["train"].items()}
    grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.requires_grad}
    return batch, loss.item(), metrics, grads


@pytest.mark.parametrize(
    "attention, reference, truncation",
    [
        ("sdpa", "precompute", {}),
        ("eager", "frozen", {}),
        ("sdpa", "frozen", {"max_length": 56}),  # cuts the longest row (prompts: 34-49 tokens, rows: 38-67)
        ("sdpa", "precompute", {"max_length": 56, "truncation_mode": "keep_end"}),  # cuts one prompt only
    ],
)
def test_dpo_log_probs_loss_metrics_and_gradients_equal_trls_two_rows(
    tiny_model_dir, tmp_path, attention, reference, truncation, packed_forwards
):
    rows = dpo_trainer(DPOTrainer, tiny_model_dir, tmp_path, attention, reference, prefix_sharing=False, **truncation)
    assert not packed_forwards
    shared = dpo_trainer(PrefixSharedDPOTrainer, tiny_model_dir, tmp_path, attention, reference, **truncation)
    assert shared.prefix_sharing and isinstance(shared.data_collator, SharedPrefixCollator)
    assert len(packed_forwards) == (reference == "precompute")
    if reference == "precompute":  # the reference log-probs precomputed on the packed rows
        for column in ("ref_chosen_logps", "ref_rejected_logps"):
            assert shared.train_dataset[column] == pytest.approx(rows.train_dataset[column], abs=1e-4)

    batch, loss, metrics, grads = loss_metrics_grads(shared)
    rows_batch, rows_loss, rows_metrics, rows_grads = loss_metrics_grads(rows)
    assert len(packed_forwards) == 2  # the policy's, and the reference's: precomputed, or from the frozen copy
    assert torch.equal(batch["input_ids"], rows_batch["input_ids"])  # TRL's own rows, truncation and padding
    assert (batch["attention_mask"] == 0).any()
    packed = batch["shared_prefix"]["input_ids"]
    assert packed.shape[0] == len(PAIRS) and packed.numel() < batch["input_ids"].numel()
    if truncation.get("max_length"):
        assert batch["attention_mask"].sum(-1).max() == truncation["max_length"]  # some row was cut

    with torch.no_grad():
        logps = torch.cat(shared.compute_ref_log_probs(shared.model, batch))
        rows_logps = torch.cat(rows.compute_ref_log_probs(rows.model, rows_batch))
    assert (logps - rows_logps).abs().max() < 1e-4 and rows_logps.abs().min() > 1  # real sums, not zeros
    assert_same_loss(loss, metrics, grads, rows_loss, rows_metrics, rows_grads)


def assert_same_loss(loss, metrics, grads, rows_loss, rows_metrics, rows_grads):
    """The shared path's loss, logged metrics and gradients are TRL's two rows' (gradients to 1e-4 of their scale)."""
    assert loss == pytest.approx(rows_loss, abs=1e-5) and math.isfinite(loss)
    assert metrics.keys() == rows_metrics.keys()
    for key, value in rows_metrics.items():
        assert metrics[key] == pytest.approx(value, abs=1e-4), key
    scale = max(g.abs().max().item() for g in rows_grads.values())
    assert scale > 0
    for name, grad in rows_grads.items():
        assert (grads[name] - grad).abs().max().item() <= 1e-4 * scale, name


# every loss TRL 1.16's DPOConfig lists, and MPO's weighted combination; exo_pair needs label smoothing
DPO_LOSSES = [
    ({"loss_type": [loss]}, loss)
    for loss in ("sigmoid", "hinge", "ipo", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_unpaired")
    + ("apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm")
] + [
    ({"loss_type": ["exo_pair"], "label_smoothing": 1e-3}, "exo_pair"),
    ({"loss_type": ["sigmoid", "bco_pair", "sft"], "loss_weights": [0.8, 0.2, 1.0]}, "mpo"),
]


@pytest.mark.slow  # 16 losses, each against TRL's two rows: ~30 s (the sigmoid loss stays in the fast loop above)
@pytest.mark.parametrize("config", [c for c, _ in DPO_LOSSES], ids=[name for _, name in DPO_LOSSES])
def test_every_dpo_loss_under_prefix_sharing_equals_trls_two_rows(tiny_model_dir, tmp_path, config):
    """`train.loss_type` reaches TRL's loss unchanged: shared rows give every loss family TRL's loss and gradients."""
    rows = dpo_trainer(DPOTrainer, tiny_model_dir, tmp_path, "sdpa", "precompute", prefix_sharing=False, **config)
    shared = dpo_trainer(PrefixSharedDPOTrainer, tiny_model_dir, tmp_path, "sdpa", "precompute", **config)
    assert shared.prefix_sharing and shared.loss_types == rows.loss_types == config["loss_type"]
    assert_same_loss(*loss_metrics_grads(shared)[1:], *loss_metrics_grads(rows)[1:])


def test_a_recipe_sets_the_dpo_loss(tmp_path):
    from mipo_bench.training.dpo import MipoSettings
    from mipo_bench.workflows.recipe import load_recipe

    recipe = load_recipe("ipo")
    assert recipe.method == "mipo" and recipe.train.loss_type == ["ipo"] and isinstance(recipe.train, MipoSettings)
    mpo = load_recipe("mipo", ["train.loss_type=[sigmoid, bco_pair, sft]", "train.loss_weights=[0.8, 0.2, 1.0]"])
    assert mpo.train.loss_type == ["sigmoid", "bco_pair", "sft"] and mpo.train.loss_weights == [0.8, 0.2, 1.0]


def test_lora_reference_through_disabled_adapters_is_shared_too(tiny_model_dir, tmp_path, packed_forwards):
    from peft import LoraConfig

    def build(cls, sharing):
        model, tokenizer = load(tiny_model_dir)
        args = PrefixSharedDPOConfig(
            output_dir=str(tmp_path / cls.__name__),
            per_device_train_batch_size=3,
            use_cpu=True,
            bf16=False,
            report_to=[],
            prefix_sharing=sharing,
        )
        # a non-zero adapter from the start (TRL seeds it alike in both), so policy and reference differ
        lora = LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False)
        return cls(
            model,
            args=args,
            train_dataset=datasets.Dataset.from_list(PAIRS),
            processing_class=tokenizer,
            peft_config=lora,
        )

    shared, rows = build(PrefixSharedDPOTrainer, True), build(DPOTrainer, False)
    (_, loss, metrics, _), (_, rows_loss, rows_metrics, _) = loss_metrics_grads(shared), loss_metrics_grads(rows)
    assert len(packed_forwards) == 2  # the policy and its adapter-disabled reference
    assert rows_metrics["rewards/chosen"] != 0  # the adapter-disabled reference differs from the policy
    assert loss == pytest.approx(rows_loss, abs=1e-5)
    assert metrics["rewards/margins"] == pytest.approx(rows_metrics["rewards/margins"], abs=1e-4)


def test_sharing_turns_itself_off_with_a_reason(tiny_model_dir, tmp_path, caplog):
    model, tokenizer = load(tiny_model_dir)
    model.config._attn_implementation = "flash_attention_2"  # set, not loaded: nothing runs here
    args = PrefixSharedDPOConfig(output_dir=str(tmp_path / "a"), use_cpu=True, bf16=False, report_to=[])
    reference = load(tiny_model_dir)[0]  # given, so TRL loads none with flash attention
    with caplog.at_level(logging.WARNING, logger="mipo_bench.training.prefix_sharing"):
        trainer = PrefixSharedDPOTrainer(
            model, reference, args=args, train_dataset=datasets.Dataset.from_list(PAIRS), processing_class=tokenizer
        )
    assert not trainer.prefix_sharing and "flash_attention_2" in trainer.prefix_sharing_off_reason
    assert "prefix sharing is off" in caplog.text and not isinstance(trainer.data_collator, SharedPrefixCollator)
    assert "shared_prefix" not in trainer.data_collator([trainer.train_dataset[0]])


def test_training_run_logs_the_same_first_step_with_sharing_on_and_off(tiny_model_dir, tmp_path, packed_forwards):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in PAIRS * 2))
    first_steps = []
    for sharing in (True, False):
        settings = MipoSettings(
            learning_rate=1e-3, per_device_train_batch_size=3, gradient_accumulation_steps=1, prefix_sharing=sharing
        )
        out = tmp_path / f"sharing_{sharing}"
        before = len(packed_forwards)
        train("mipo", pairs, tiny_model_dir, out, settings, seed=0, device="cpu")
        assert len(packed_forwards) - before == (3 if sharing else 0)  # precompute (8 pairs a batch) + 2 steps
        assert (out / "model" / "model.safetensors").exists()
        first_steps.append(json.loads((out / "train_log.jsonl").read_text().splitlines()[0]))
    on, off = first_steps
    assert on["step"] == off["step"] == 1 and {"loss", "rewards/margins", "logps/chosen"} <= on.keys()
    for key in (
        "loss",
        "grad_norm",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "logps/chosen",
        "logps/rejected",
        "entropy",
        "mean_token_accuracy",
        "num_tokens",
        "logits/chosen",
    ):
        assert on[key] == pytest.approx(off[key], rel=1e-3, abs=1e-4), key


def infonce_trainer(model_dir, tmp_path, attention, **settings):
    from mipo_bench.training.base import TrainContext
    from mipo_bench.training.infonce import InfoNCESettings, build_infonce_trainer

    model, tokenizer = load(model_dir, attention)
    rows = [dict(row, rejected_prompt=other["prompt"][0]["content"]) for row, other in zip(PAIRS, PAIRS[1:] + PAIRS)]
    settings = InfoNCESettings(**{"gradient_accumulation_steps": 1, **settings})
    ctx = TrainContext(model_spec=model_dir, out_dir=tmp_path, seed=0, device="cpu")
    return build_infonce_trainer(model, tokenizer, rows, settings, ctx)


@pytest.mark.parametrize("attention, max_length", [("sdpa", 1024), ("eager", 1024), ("sdpa", 44)])
def test_infonce_group_log_probs_loss_and_gradients_equal_the_unshared_rows(
    tiny_model_dir, tmp_path, attention, max_length, packed_forwards
):
    from mipo_bench.training.infonce import infonce_loss

    shared = infonce_trainer(tiny_model_dir, tmp_path / "a", attention, max_length=max_length)
    rows = infonce_trainer(tiny_model_dir, tmp_path / "b", attention, max_length=max_length, prefix_sharing=False)
    assert shared.prefix_sharing and not rows.prefix_sharing
    batch = shared.data_collator(list(shared.train_dataset))
    rows_batch = rows.data_collator(list(rows.train_dataset))
    assert "shared_prefix" not in rows_batch and torch.equal(batch["input_ids"], rows_batch["input_ids"])
    assert batch["shared_prefix"]["input_ids"].shape[0] == 2 * len(PAIRS)  # one packed row per context
    if max_length < 1024:  # rows cut: prompts of one context cut by different amounts share nothing
        assert batch["attention_mask"].sum(-1).max() == max_length
    results = []
    for trainer, inputs in ((shared, batch), (rows, rows_batch)):
        logps = trainer.group_logps(trainer.model, inputs)
        trainer.model.zero_grad()
        infonce_loss(logps, 1.0).backward()
        results.append((logps.detach(), {n: p.grad.clone() for n, p in trainer.model.named_parameters()}))
    (logps, grads), (rows_logps, rows_grads) = results
    assert len(packed_forwards) == 1
    assert (logps - rows_logps).abs().max() < 1e-4 and rows_logps.abs().min() > 1
    scale = max(g.abs().max().item() for g in rows_grads.values())
    for name, grad in rows_grads.items():
        assert (grads[name] - grad).abs().max().item() <= 1e-4 * scale, name


@pytest.mark.smoke
def test_smollm2_shared_dpo_equals_trls_two_rows_on_an_8_shot_prompt(smollm2_dir, tmp_path):
    """The real model (sdpa) on a ~900-token 8-shot GSM8K prompt, truncated at 1000 tokens, beside a short pair."""
    from mipo_bench.data.prompts import math_prompt

    question = "A baker made 24 rolls and sold 3 bags of 5 rolls. How many rolls are left?"
    long_pair = {
        "prompt": user(math_prompt(question)),
        "chosen": assistant("The baker sold 3 * 5 = 15 rolls. 24 - 15 = 9. #### 9 " + "Done. " * 60),
        "rejected": assistant("Cats sleep a lot. #### 3"),
    }
    pairs = [long_pair, PAIRS[0]]
    rows = dpo_trainer(DPOTrainer, smollm2_dir, tmp_path, "sdpa", "precompute", pairs, max_length=1000)
    shared = dpo_trainer(PrefixSharedDPOTrainer, smollm2_dir, tmp_path, "sdpa", "precompute", pairs, max_length=1000)
    batch, loss, metrics, grads = loss_metrics_grads(shared)
    _, rows_loss, rows_metrics, rows_grads = loss_metrics_grads(rows)
    assert batch["attention_mask"].sum(-1).max() == 1000  # the long chosen row was cut
    for column in ("ref_chosen_logps", "ref_rejected_logps"):
        assert shared.train_dataset[column] == pytest.approx(rows.train_dataset[column], abs=2e-3)
    assert loss == pytest.approx(rows_loss, abs=1e-4)
    for key in ("logps/chosen", "logps/rejected", "rewards/margins", "entropy"):
        assert metrics[key] == pytest.approx(rows_metrics[key], abs=2e-3), key
    scale = max(g.abs().max().item() for g in rows_grads.values())
    for name, grad in rows_grads.items():
        assert (grads[name] - grad).abs().max().item() <= 1e-3 * scale, name


def test_recipes_switch_sharing_off_from_the_command_line():
    from mipo_bench.workflows.recipe import load_recipe

    assert load_recipe("mipo").train.prefix_sharing is True
    assert load_recipe("mipo", ["train.prefix_sharing=false"]).train.prefix_sharing is False
    assert load_recipe("infonce", ["train.prefix_sharing=false"]).train.prefix_sharing is False
