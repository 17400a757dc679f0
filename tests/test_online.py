"""The online methods (training/online.py): each trains a few GRPO steps on the tiny model and saves a checkpoint."""

import pytest
import torch

from mipo_bench.training import common
from mipo_bench.training.base import METHODS, PROMPTS, TrainContext
from mipo_bench.training.online import OnlineSettings, grpo_config, method_rewards

ONLINE = ("rlvr", "rlvr_judged", "rlaif", "mi_rl", "rlaif_mi")


def chat(text):
    return [{"role": "user", "content": text}]


def arc_rows():
    rows = []
    for i, gold in enumerate("ABCD"):
        question = f"Which option is number {i}?"
        options = "\n".join(f"{x}: option {x}" for x in "ABCD")
        prompt = f'{question}\n\n{options}\n\nYour response should end with "The answer is: <X>".'
        rows.append(
            {
                "prompt": chat(prompt),
                "id": f"arc_easy/{i}",
                "dataset": "arc_easy",
                "answer": gold,
                "query": question,
                "context": None,
                "base_prompt": chat(f"Which option is number {(i + 1) % 4}?"),
            }
        )
    return rows


def prefeval_rows():
    contexts = ["I am vegan.", "I hate long answers.", "I love cats.", "I live in Norway."]
    rows = []
    for i, context in enumerate(contexts):
        query = f"Give me an idea for a weekend number {i}."
        rows.append(
            {
                "prompt": chat(f"{query} Please respect the following requirements made by the user: {context}"),
                "id": f"prefeval/{i}",
                "dataset": "prefeval",
                "answer": None,
                "query": query,
                "context": context,
                "base_prompt": chat(query),
            }
        )
    return rows


def build(method, model_dir, tmp_path, rows=None, **overrides):
    from mipo_bench.core.models import load_model

    policy, tokenizer = load_model(model_dir, dtype=torch.float32, device="cpu")
    policy.train()
    settings = OnlineSettings(
        max_completion_length=8,
        num_generations=2,
        generation_batch_size=2,
        gradient_accumulation_steps=1,
        judge_max_new_tokens=4,
        extra={"max_steps": 2},
        **overrides,
    )
    rows = rows if rows is not None else (arc_rows() if method.startswith("rlvr") else prefeval_rows())
    ctx = TrainContext(model_spec=model_dir, out_dir=tmp_path, seed=0, device="cpu")
    return METHODS[method].build(policy, tokenizer, rows, settings, ctx), policy


def test_every_online_method_is_registered_for_prompts():
    for name in ONLINE:
        assert METHODS[name].consumes == PROMPTS and METHODS[name].settings is OnlineSettings


@pytest.mark.parametrize("method", ONLINE)
def test_method_trains_two_steps_and_saves_a_checkpoint_that_loads(method, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    trainer, _ = build(method, tiny_model_dir, tmp_path)
    trainer.train()
    assert trainer.state.global_step == 2
    for reward in trainer.reward_funcs:
        assert reward.calls == 2 and 0 <= reward.failures <= reward.calls and reward.seconds > 0
    logged = trainer.state.log_history[0]
    assert all(f"rewards/{reward.__name__}/mean" in logged for reward in trainer.reward_funcs)
    from mipo_bench.training.cost import training_cost  # the generation cost the leaderboard's column counts

    cost = training_cost(trainer, 1.5, tmp_path)
    generation = cost["generation"]
    assert cost["cpu_seconds"] == 1.5 and generation["rollout_tokens"] == trainer.reward_funcs[0].completion_tokens
    assert 2 <= generation["rollout_tokens"] <= 2 * 256  # 2 completions of 1 to max_completion_length tokens
    critics = [r for r in trainer.reward_funcs if hasattr(r, "judge_calls")]
    assert generation["critic_calls"] == sum(r.judge_calls for r in critics) >= (2 if critics else 0)
    saved = common.save_checkpoint(trainer, tiny_model_dir, tmp_path, {"method": method})
    reloaded = AutoModelForCausalLM.from_pretrained(saved)
    assert reloaded.config.num_hidden_layers == 2 and (saved / "README.md").read_text().startswith(f"# {method}")
    if method == "mi_rl":  # a nonzero MI reward moves the weights
        initial = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        moved = max((a - b).abs().max().item() for a, b in zip(reloaded.parameters(), initial.parameters()))
        assert moved > 0


def test_grpo_config_maps_the_paper_settings(tmp_path):
    settings = OnlineSettings()
    ctx = TrainContext(model_spec="m", out_dir=tmp_path, seed=3, device="cpu")
    config = grpo_config(settings, ctx, [1.0, 0.1])
    assert (config.learning_rate, config.beta, config.temperature, config.top_p) == (5e-7, 0.001, 1.0, 1.0)
    assert (config.num_generations, config.generation_batch_size, config.max_completion_length) == (2, 16, 256)
    # the paper's 8 prompts a rollout and 4 a step, at G = 2: 16 completions a rollout, 8 per optimizer step (micro
    # batch 1 x accumulation 8), two steps per rollout and update pass (num_iterations, 1 unless RLVR's 2)
    assert config.per_device_train_batch_size * config.gradient_accumulation_steps == 8
    assert config.steps_per_generation == 16 and config.num_iterations == 1 and config.reward_weights == [1.0, 0.1]
    assert config.scale_rewards == "batch" and config.loss_type == "grpo" and not config.use_vllm
    assert method_rewards("rlaif_mi", OnlineSettings()) == (["rlaif_critic", "mutual_information"], [1.0, 0.1])
    assert method_rewards("rlaif_mi", OnlineSettings(rewards=["mutual_information"])) == (["mutual_information"], [1.0])
    overridden = grpo_config(OnlineSettings(loss_type="dapo", extra={"max_steps": 3}), ctx, [1.0])
    assert overridden.loss_type == "dapo" and overridden.max_steps == 3
    with pytest.raises(ValueError, match="train.extra.loss_type: use train.loss_type instead"):
        OnlineSettings(extra={"loss_type": "dapo"})  # a field of the settings is set there, not through extra


def test_mi_scorer_is_bound_to_the_policy_or_a_frozen_reference(tiny_model_dir, tmp_path):
    trainer, _ = build("mi_rl", tiny_model_dir, tmp_path / "a")
    assert trainer.reward_funcs[0].scorer.model is trainer.model
    trainer, _ = build("mi_rl", tiny_model_dir, tmp_path / "b", scorer="reference")
    assert trainer.reward_funcs[0].scorer.model is trainer.ref_model is not None
    trainer, policy = build("mi_rl", tiny_model_dir, tmp_path / "c", scorer="reference", beta=0.0)
    frozen = trainer.reward_funcs[0].scorer.model
    assert trainer.ref_model is None and frozen is not trainer.model
    assert not any(p.requires_grad for p in frozen.parameters())
    assert all(torch.equal(a, b) for a, b in zip(frozen.parameters(), policy.parameters()))


def test_bad_rows_and_settings_fail_naming_the_row_or_key(tiny_model_dir, tmp_path):
    rows = prefeval_rows()
    rows[2]["context"] = "  "
    with pytest.raises(ValueError, match=r"rlaif: PROMPTS row 3 \(id 'prefeval/2'\): no 'context'.*rlaif_critic"):
        build("rlaif", tiny_model_dir, tmp_path, rows=rows)
    rows = arc_rows()
    rows[0]["prompt"] = "not a chat"
    with pytest.raises(ValueError, match="row 1 .*'prompt' is not a non-empty message list"):
        build("rlvr", tiny_model_dir, tmp_path, rows=rows)
    rows = prefeval_rows()
    del rows[1]["base_prompt"]
    with pytest.raises(ValueError, match="row 2 .*no 'base_prompt'"):
        build("rlaif_mi", tiny_model_dir, tmp_path, rows=rows)
    with pytest.raises(ValueError, match="train.scorer"):
        build("mi_rl", tiny_model_dir, tmp_path, scorer="actor")
    with pytest.raises(ValueError, match="1 train.reward_weights for 2 rewards"):
        build("rlaif_mi", tiny_model_dir, tmp_path, reward_weights=[1.0])
    with pytest.raises(ValueError, match="did you mean 'mutual_information'"):
        build("mi_rl", tiny_model_dir, tmp_path, rewards=["mutual_informaton"])


def test_rollouts_end_at_the_tasks_stop_strings(tiny_model_dir, tmp_path):
    """Fix 12 (issue 15): GRPO rollouts ran to max_completion_length past the task's stop strings (TRL's generate
    gets no tokenizer, so stop_strings could not apply). Now they end there, finished rows filled with EOS (TRL keeps
    a completion up to its first EOS)."""
    from types import SimpleNamespace

    from mipo_bench.data.protocol import stop_strings

    recipe = SimpleNamespace(data=SimpleNamespace(dataset="gsm8k"))
    policy_rows = arc_rows()
    from mipo_bench.core.models import load_model

    policy, tokenizer = load_model(tiny_model_dir, dtype=torch.float32, device="cpu")
    settings = OnlineSettings(max_completion_length=12, num_generations=2, generation_batch_size=2)
    settings.gradient_accumulation_steps = 1
    ctx = TrainContext(model_spec=tiny_model_dir, out_dir=tmp_path, seed=0, device="cpu", recipe=recipe)
    trainer = METHODS["rlvr"].build(policy, tokenizer, policy_rows, settings, ctx)
    config = trainer.generation_config
    assert list(config.stop_strings) == list(stop_strings("gsm8k"))
    assert config.pad_token_id == tokenizer.eos_token_id

    inputs = tokenizer(["What is 2 plus 2?"], return_tensors="pt")
    greedy = config.to_dict() | {"do_sample": False, "stop_strings": None, "max_new_tokens": 12}
    from transformers import GenerationConfig

    free = trainer.model.generate(**inputs, generation_config=GenerationConfig(**greedy))[
        0, inputs.input_ids.shape[1] :
    ]
    stop = tokenizer.decode(free[3:5])  # a stop string the greedy continuation is known to reach at its 5th token
    assert stop.strip(), "the tiny model's continuation decodes to text"
    cut_config = GenerationConfig(**(greedy | {"stop_strings": [stop]}))
    cut = trainer.model.generate(**inputs, generation_config=cut_config)[0, inputs.input_ids.shape[1] :]
    assert len(cut) < len(free) and tokenizer.decode(cut).endswith(stop)
