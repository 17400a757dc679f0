"""The ``infonce`` method: Eq. 14 against a hand computation, its tokenization against a direct log-prob computation,
its handling of the pair rows, and a few training steps on the tiny model that write a loadable checkpoint."""

import math

import pytest
import torch

from mipo_bench.training.base import METHODS, PAIRS, TrainContext
from mipo_bench.training.infonce import (
    InfoNCESettings,
    build_infonce_trainer,
    infonce_loss,
    pair_groups,
    truncate_group,
)


def user(text):
    return [{"role": "user", "content": text}]


def assistant(text):
    return [{"role": "assistant", "content": text}]


def pair(i, chosen_prompt, chosen, rejected_prompt, rejected):
    return {
        "id": f"q{i}",
        "prompt": user(chosen_prompt),
        "chosen": assistant(chosen),
        "rejected": assistant(rejected),
        "rejected_prompt": rejected_prompt,
        "strategy": "random_prompt",
    }


PAIRS_ROWS = [
    pair(0, "What is 2 plus 2?", "2 plus 2 is 4.", "Name a colour.", "Blue."),
    pair(1, "Name a colour.", "Red is a colour.", "Tell me about cats.", "Cats like to sleep and climb trees."),
    pair(2, "Tell me about cats.", "Cats are small furry animals.", "What is 3 times 3?", "9"),
    pair(3, "What is 3 times 3?", "3 times 3 is 9, since 3+3+3 = 9.", "What is 2 plus 2?", "Four."),
]


def test_loss_matches_eq14_by_hand():
    logps = torch.tensor([[[-10.0, -12.0], [-15.0, -11.0]]])  # [b, i, j] = log pi(y_i | x_j)
    # Eq. 14 literally at temperature 1: -(1/K) sum_i log( pi_ii / ((1/K) sum_j pi_ij) ), pi = exp(logps)
    eq14 = -0.5 * (
        math.log(math.exp(-10) / ((math.exp(-10) + math.exp(-12)) / 2))
        + math.log(math.exp(-11) / ((math.exp(-15) + math.exp(-11)) / 2))
    )
    assert infonce_loss(logps, 1.0).item() == pytest.approx(eq14, abs=1e-6)
    # the same as cross-entropies minus log 2: response 0 loses by 2 nats to nothing, response 1 by 4
    assert eq14 == pytest.approx((math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-4))) / 2 - math.log(2))
    # temperature 100 (the released code): the differences shrink to 0.02 and 0.04
    at_100 = (math.log(1 + math.exp(-0.02)) + math.log(1 + math.exp(-0.04))) / 2 - math.log(2)
    assert infonce_loss(logps, 100.0).item() == pytest.approx(at_100, abs=1e-6)
    # a batch is the mean over its groups; a group whose responses ignore the context gives 0
    batch = torch.cat([logps, torch.tensor([[[-7.0, -7.0], [-3.0, -3.0]]])])
    assert infonce_loss(batch, 1.0).item() == pytest.approx(eq14 / 2, abs=1e-6)
    with pytest.raises(ValueError, match="K, K"):
        infonce_loss(torch.zeros(1, 2, 3))


def test_pair_rows_become_groups_under_the_chat_each_response_came_from():
    groups = pair_groups(PAIRS_ROWS[:1])
    assert groups[0]["contexts"] == [user("What is 2 plus 2?"), user("Name a colour.")]
    assert groups[0]["responses"] == [assistant("2 plus 2 is 4."), assistant("Blue.")]
    # random_prompt_shuffle stores the reused response under x_i; rejected_prompt is x_j, which it came from
    shuffled = dict(PAIRS_ROWS[0], strategy="random_prompt_shuffle", rejected_from="q1", rejected_reuses_chosen=True)
    assert pair_groups([shuffled])[0]["contexts"][1] == user("Name a colour.")
    # a full rejected chat, when the rows carry one, wins over the text
    with_chat = dict(PAIRS_ROWS[0], rejected_messages=[{"role": "system", "content": "s"}, *user("Name a colour.")])
    assert pair_groups([with_chat])[0]["contexts"][1] == with_chat["rejected_messages"]
    with pytest.raises(ValueError, match=r"row 2 \(id 'q1'\): no 'rejected_prompt'"):
        pair_groups([PAIRS_ROWS[0], {k: v for k, v in PAIRS_ROWS[1].items() if k != "rejected_prompt"}])
    with pytest.raises(ValueError, match="from the same prompt"):
        pair_groups([dict(PAIRS_ROWS[0], rejected_prompt="What is 2 plus 2?")])
    with pytest.raises(ValueError, match="row 1 .*'chosen'"):
        pair_groups([dict(PAIRS_ROWS[0], chosen=[])])


def test_truncation_keeps_prompt_end_and_the_same_response_start_under_every_context():
    prompts = [list(range(100, 106)), list(range(200, 202))]  # 6 and 2 tokens
    responses = [[[1, 2, 3, 4, 5, 6]] * 2, [[7, 8]] * 2]
    assert truncate_group(prompts, responses, None)[0] == (prompts[0], [1, 2, 3, 4, 5, 6])
    cut = truncate_group(prompts, responses, 8)
    # response 0: 8 - min(6, 4) = 4 tokens under both prompts; prompt 0 keeps its last 4, prompt 1 is whole
    assert cut[0] == ([102, 103, 104, 105], [1, 2, 3, 4]) and cut[1] == ([200, 201], [1, 2, 3, 4])
    # response 1 fits beside the whole 6-token prompt: that group member is unchanged
    assert cut[2] == (prompts[0], [7, 8]) and cut[3] == (prompts[1], [7, 8])
    assert all(len(p) + len(r) <= 8 for p, r in cut)


def build(tiny_model_dir, tmp_path, rows, **overrides):
    from mipo_bench.core.models import load_model

    policy, tokenizer = load_model(tiny_model_dir, dtype=torch.float32, device="cpu")
    policy.train()
    settings = InfoNCESettings(**{"gradient_accumulation_steps": 1, "warmup_ratio": 0.0, **overrides})
    ctx = TrainContext(model_spec=tiny_model_dir, out_dir=tmp_path, seed=0, device="cpu")
    return build_infonce_trainer(policy, tokenizer, rows, settings, ctx)


def direct_logp(model, tokenizer, context, response):
    """log pi(response | context) from the rendered chat text, without the method's tokenization or padding."""
    prompt_text = tokenizer.apply_chat_template(context, add_generation_prompt=True, tokenize=False)
    full_text = tokenizer.apply_chat_template(context + response, tokenize=False)
    assert full_text.startswith(prompt_text)
    ids = tokenizer(full_text, add_special_tokens=False, return_tensors="pt").input_ids
    n_prompt = len(tokenizer(prompt_text, add_special_tokens=False).input_ids)
    with torch.no_grad():
        token_logps = model(ids).logits[0, :-1].log_softmax(-1).gather(-1, ids[0, 1:, None])[:, 0]
    return token_logps[n_prompt - 1 :].sum().item()


def test_summed_logps_of_a_padded_batch_equal_a_direct_computation(tiny_model_dir, tmp_path):
    trainer = build(tiny_model_dir, tmp_path, PAIRS_ROWS[:2])
    model = trainer.model.eval()
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    assert (batch["attention_mask"] == 0).any()  # the batch is padded
    with torch.no_grad():
        logps = trainer.group_logps(model, batch)
    assert logps.shape == (2, 2, 2)
    for b, group in enumerate(pair_groups(PAIRS_ROWS[:2])):
        for i, response in enumerate(group["responses"]):
            for j, context in enumerate(group["contexts"]):
                expected = direct_logp(model, trainer.processing_class, context, response)
                assert logps[b, i, j].item() == pytest.approx(expected, abs=1e-3), (b, i, j)


def test_training_raises_the_margin_and_writes_a_checkpoint_that_loads(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from mipo_bench.training.common import save_checkpoint

    assert METHODS.get("infonce").consumes == PAIRS and METHODS.get("infonce").settings is InfoNCESettings
    trainer = build(tiny_model_dir, tmp_path, PAIRS_ROWS, learning_rate=1e-3)
    batch = trainer.data_collator(list(trainer.train_dataset))

    def loss_and_margin(model):
        with torch.no_grad():
            logps = trainer.group_logps(model.eval(), batch)
        diag = logps.diagonal(dim1=-2, dim2=-1)
        return infonce_loss(logps, 100.0).item(), (2 * diag - logps.sum(-1)).mean().item()

    loss_before, margin_before = loss_and_margin(trainer.model)
    trainer.train()
    loss_after, margin_after = loss_and_margin(trainer.model)
    assert trainer.state.global_step == 4  # 4 pairs, batch 1, no accumulation
    assert margin_after > margin_before and loss_after < loss_before
    logged = [row for row in trainer.state.log_history if "loss" in row]
    assert {"infonce/loss", "infonce/margin", "infonce/accuracy"} <= set(logged[0])
    assert 0.0 <= logged[0]["infonce/accuracy"] <= 1.0

    target = save_checkpoint(trainer, tiny_model_dir, tmp_path, {"method": "infonce"})
    loaded = AutoModelForCausalLM.from_pretrained(target)
    assert loss_and_margin(loaded) == pytest.approx((loss_after, margin_after), abs=1e-4)


def test_lora_trains_and_the_checkpoint_is_merged(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from mipo_bench.training.common import save_checkpoint

    trainer = build(tiny_model_dir, tmp_path, PAIRS_ROWS[:2], learning_rate=1e-2, lora_r=4, gradient_checkpointing=True)
    trainer.train()
    target = save_checkpoint(trainer, tiny_model_dir, tmp_path, {"method": "infonce"})
    loaded, base = AutoModelForCausalLM.from_pretrained(target), AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not (target / "adapter_config.json").exists()
    assert not torch.equal(loaded.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight)
