"""`mipo-bench reproduce tableN --plan`: the table's resolved plan (:mod:`.table_plan`, the one ``reproduce`` runs),
checked and costed before anything runs.

For each task the training prompts and reference answers are read and tokenized with the model's own tokenizer (or a
named stand-in when the model is not on this machine). Then, counted once however many rows read it: each input's
generations; per trained row its optimizer steps, trained and forward tokens by method, revisions, rollouts, critic
and MI-reward calls and its memory per training process on the named card (``--gpu``); every evaluation (with the math
re-ask pass, an upper bound), judge call and MI-meter reading. Lengths are the generations' own when a run directory
already holds them, else the reference answers' (capped at the budget), else half the budget, and the plan says which.
GPU-hours come from :mod:`.costs`, whose figures are stated assumptions. The plan is refused (problems) when a row
would be cut by its ``max_length``, cannot fit the card, reads data that is not on this machine at paper scale, or
differs from the paper in a setting the table does not declare.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from .. import data
from ..core import hardware
from ..core.models import DEFAULT_MODEL, ModelSpecError, tokenizer_path
from . import costs
from .table_plan import TablePlan, compare_with_paper, resolve_table


def plan_tokenizer(model: str):
    """``(tokenizer, name)``: the model's own when it resolves on this machine, else the embedded SmolLM2's as a
    named stand-in (token counts then differ from the model's by the vocabularies' difference)."""
    from transformers import AutoTokenizer

    try:  # never a download: a plan runs anywhere, the model's files need not be here yet (nor its weights)
        return AutoTokenizer.from_pretrained(tokenizer_path(model), local_files_only=True), model
    except (ModelSpecError, OSError, ValueError):
        stand_in = tokenizer_path(DEFAULT_MODEL)
        return AutoTokenizer.from_pretrained(stand_in), f"{DEFAULT_MODEL} (stand-in: {model} is not on this machine)"


def quantiles(values: list[int]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(values), "mean": round(sum(values) / len(values), 1), "p50": pick(0.5), "p90": pick(0.9)} | {
        "p99": pick(0.99),
        "max": ordered[-1],
    }


def reference_text(record: dict) -> str:
    """What a good response looks like, to size responses: the worked solution (GSM8K), the equation and answer
    (SVAMP), the answer sentence (multiple choice), the reference response (personalization)."""
    spec = data.dataset_spec(record.get("dataset") or "")
    if spec.personalized:
        return record.get("reference") or record.get("chosen") or ""
    if spec.reference_solution is not None:
        return spec.reference_solution(record)
    if record.get("solution"):
        return record["solution"]
    return f"The answer is: {record['answer']}"


def prompt_text(record: dict) -> str:
    from ..data.prompts import personalized_prompt, task_prompt

    if data.dataset_spec(record["dataset"]).personalized:
        return personalized_prompt(record["prompt"], record.get("context"))
    return task_prompt(record)


def token_lengths(tokenizer, records: list[dict]) -> tuple[list[int], list[int]]:
    """Chat-templated prompt tokens and reference-response tokens of each record."""
    prompts = [
        len(tokenizer.apply_chat_template([{"role": "user", "content": prompt_text(r)}], tokenize=True)["input_ids"])
        for r in records
    ]
    responses = [len(tokenizer(reference_text(r), add_special_tokens=False)["input_ids"]) for r in records]
    return prompts, responses


class Ledger:
    """GPU-seconds and counts by stage kind."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, float] = defaultdict(float)

    def add(self, kind: str, seconds: float, **counts) -> float:
        self.seconds[kind] += seconds
        for key, value in counts.items():
            self.counts[key] += value
        return seconds


def plan_table(
    table: str,
    model: str,
    scale: str = "paper",
    seeds: int = 3,
    tasks: list[str] | None = None,
    processes: int = 1,
    judge: str | None = None,
    allow_truncation: bool = False,
    settings: list[str] | None = None,
    gpu: str | None = None,
    accelerate_config: str | None = None,
    run_dir: str | Path | None = None,
    add_rows: list | None = None,
) -> dict:
    """The costed plan of one table at one scale (see the module docstring); nothing is trained, generated or
    written. ``gpu``: the card (``h100``, ``h200``, ``a100``; default h200); ``accelerate_config``: how training is
    sharded (ddp, zero2, zero3, fsdp2); ``run_dir``: where an earlier run's generations are measured; ``add_rows``:
    rows beside the table's (`mipo-bench compare`)."""
    from ..judging.paper_judge import choose_judge

    plan = resolve_table(table, model, scale, seeds, tasks, run_dir, settings, add_rows)
    card, shape = hardware.gpu(gpu), hardware.shape_of(model)
    tokenizer, tokenizer_name = plan_tokenizer(model)
    choice = choose_judge(model, judge) if plan.spec.table_kind.judged else None
    out = {
        "table": plan.spec.name,
        "title": plan.spec.title,
        "scale": scale,
        "model": model,
        "parameters": shape.parameters if shape else None,
        "tokenizer": tokenizer_name,
        "gpu": {"name": card.name, "memory_gib": card.memory_gib, "bf16_tflops": card.bf16_tflops},
        "processes": processes,
        "accelerate_config": accelerate_config or "ddp",
        "seeds": seeds,
        "judge": choice.judge if choice else None,
        "tasks": {},
        "problems": [],
        "memory_problems": [],  # rows that cannot fit the card: `reproduce` refuses them before anything loads
    }
    if shape is None:
        out["problems"].append(f"{model}: unknown architecture (not on this machine, not one of the paper's models)")
    ledger = Ledger()
    judge_shape = hardware.shape_of(choice.judge) if choice else None
    for key in plan.spec.tasks:
        if plan.spec.table_kind.built_from_runs:
            out["tasks"][key] = _plan_task(plan, key, tokenizer, shape, judge_shape, card, ledger, processes, out)
        else:  # Table 6: the critic (--judge, else the model) scores both sides of each labelled pair
            out["tasks"][key] = _plan_critic(plan, key, hardware.shape_of(judge or model) or shape, card, ledger)
    for entry in compare_with_paper(plan) if scale == "paper" else []:  # the demo cuts counts and lengths on purpose
        if not entry["same"] and not entry["declared"]:
            where = " / ".join(str(x) for x in (entry["task"], entry["row"]) if x)
            out["problems"].append(
                f"{where}: {entry['setting']} is {entry['plan']!r}, the paper's {entry['paper']!r} "
                f"({entry['source']}), and the table declares no difference"
            )
    if not allow_truncation:
        out["problems"] += [p for task in out["tasks"].values() for p in task.pop("cut_problems", [])]
    out["problems"] += out["memory_problems"]
    out["differences"] = plan.differences
    out["cards"] = [c.card() for c in plan.rows]
    hours = {k: round(v / 3600, 2) for k, v in sorted(ledger.seconds.items())}
    out["totals"] = {
        "gpu_hours": round(sum(ledger.seconds.values()) / 3600, 1),
        "gpu_hours_by_stage": hours,
        "wall_hours_at_processes": round(sum(ledger.seconds.values()) / 3600 / max(processes, 1), 1),
        **{k: int(v) for k, v in sorted(ledger.counts.items())},
        "assumptions": costs.ASSUMED,
    }
    return out


def _plan_task(plan: TablePlan, key: str, tokenizer, shape, judge_shape, card, ledger, processes, out) -> dict:
    """One task of the plan: its data, inputs, rows, evaluations, judging and MI readings, costed into ``ledger``."""
    spec = data.dataset_spec(key)
    cards = [c for c in plan.rows if c.task == key]
    limit = plan.eval_settings.get("limit")
    eval_items = spec.eval_size if limit is None or spec.eval_size is None else min(spec.eval_size, limit)
    task = {"dataset": key, "eval_items": eval_items or 0, "rows": {}, "cut_problems": []}
    records = []
    if cards:
        first = cards[0].recipe
        note = None
        try:
            records = data.train_prompts(key, first.data.n_prompts, first.seed, contexts=first.data.contexts)
        except (data.DataFormatError, FileNotFoundError, ValueError, OSError) as e:
            note = f"{key}: training prompts not readable here ({e})"
        if records and spec.personalized and not any(r.get("context") for r in records):
            note = f"{key}: no training item has a user context (run `mipo-bench contexts {key}`)"
        if note:
            (out["problems"] if plan.scale == "paper" else task.setdefault("notes", [])).append(note)
    prompts, responses = token_lengths(tokenizer, records)
    task.update(train_prompts=len(records), prompt_tokens=quantiles(prompts), response_tokens=quantiles(responses))
    measured = _measured_lengths(plan, key, tokenizer)
    mean_prompt = sum(prompts) / len(prompts) if prompts else 0.0

    def expected(budget: int) -> dict:
        if measured:
            return {"tokens": min(measured["mean"], budget), "source": measured["source"]}
        if responses:
            mean = sum(min(r, budget) for r in responses) / len(responses)
            return {"tokens": round(mean, 1), "source": "the reference answers (tokenized), capped at the budget"}
        return {"tokens": budget / 2, "source": "assumed: half the budget (no data here)"}

    if shape is not None:
        for c in plan.inputs().values():
            if c.task == key:
                planned = _plan_input(c, records, mean_prompt, expected, shape, card, ledger)
                task.setdefault("inputs", {})[c.input_dir.name] = planned
        for c in cards:
            config = out["accelerate_config"]
            row = _plan_row(c, records, prompts, responses, expected, shape, card, ledger, processes, config)
            task["rows"].setdefault(c.row, row)
            c.cost = {k: row[k] for k in ("optimizer_steps", "memory", "gpu_hours")}
            cut = row.pop("cut_sequences", 0)
            if cut:
                task["cut_problems"].append(
                    f"{key} / {c.row}: {cut} of {len(records)} prompt + response sequences exceed max_length "
                    f"{c.recipe.train.max_length} (raise train.max_length, or plan with allow_truncation)"
                )
            if not row["memory"]["fits"]:
                out["memory_problems"].append(
                    f"{key} / {c.row}: needs {row['memory']['total_gib']} GiB a training process under "
                    f"{out['accelerate_config']} on {processes} process(es); {card.name} has {card.memory_gib} GiB "
                    "(use --accelerate-config zero2 / zero3, more processes, train.lora_r or gradient checkpointing)"
                )
        _plan_evals(plan, key, eval_items or 0, mean_prompt, expected, shape, card, ledger, task)
    task["cut_problems"] = list(dict.fromkeys(task["cut_problems"]))
    task["detectable"] = detectable_before_a_run(plan, key, eval_items or 0)
    if judge_shape is not None and eval_items:
        _plan_judging(plan, key, eval_items, mean_prompt, expected, judge_shape, card, ledger, task)
    return task


def _measured_lengths(plan: TablePlan, key: str, tokenizer) -> dict | None:
    """Mean tokens of the generations an earlier run of this plan left (its inputs' ``generations.jsonl``)."""
    files = sorted((plan.run_dir / key).glob("seed*/inputs/*/pairs/generations.jsonl"))
    texts = []
    for path in files:
        for line in path.read_text().splitlines()[:200]:
            try:
                texts.append(json.loads(line)["text"])
            except (ValueError, KeyError):
                continue
    if not texts:
        return None
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    return {
        "mean": round(sum(lengths) / len(lengths), 1),
        "source": f"measured: {len(texts)} generations in {files[0].parent.parent.parent}",
    }


def _plan_input(card, records, mean_prompt, expected, shape, gpu, ledger) -> dict:
    """One input's generations (pairs: both sides, or one when the rejected side reuses another chosen one)."""
    if card.online:
        return {"kind": "prompts", "prompts": len(records)}
    pairs = card.recipe.pairs
    sides = 1 if pairs.strategy == "random_prompt_shuffle" else 2
    generations = len(records) * pairs.n * sides
    length = expected(card.recipe.sampling().max_new_tokens)
    tokens = generations * length["tokens"]
    seconds = costs.decode_seconds(shape, gpu, pairs.backend, pairs.batch_size, tokens)
    seconds += costs.train_seconds(shape, gpu, 0, generations * mean_prompt)  # the prompts' prefill
    ledger.add("pairs", seconds, generations=generations, generated_tokens=tokens)
    return {"kind": "pairs", "strategy": pairs.strategy, "generations": generations, "expected_tokens": length}


def _plan_row(card, records, prompts, responses, expected, shape, gpu, ledger, processes, config) -> dict:
    """A trained row's steps, tokens by method, memory and GPU-seconds."""
    recipe, train, method = card.recipe, card.recipe.train, card.method
    n, epochs = len(records), train.num_train_epochs or 1
    p_mean = sum(prompts) / n if n else 0.0
    row = {"recipe": card.recipe_name, "method": method, "input": card.input_dir.name, "epochs": epochs}
    seconds = 0.0
    if card.online:
        g, mu = train.num_generations, getattr(train, "num_iterations", 1)
        completion = expected(train.max_completion_length)["tokens"]
        rollouts = n * g * epochs
        steps = math.ceil(rollouts * mu / train.global_batch_size) if n else None
        backend = "vllm" if getattr(train, "use_vllm", False) else "hf"
        batch = max(train.generation_batch_size // max(processes, 1), 1)
        seconds += ledger.add("rollouts", costs.decode_seconds(shape, gpu, backend, batch, rollouts * completion))
        sequence = rollouts * (p_mean + completion)
        forwards = sequence * ((1 if train.beta else 0) + (1 if mu > 1 else 0))
        seconds += ledger.add(
            "training", costs.train_seconds(shape, gpu, sequence * mu, forwards), trained_tokens=sequence * mu
        )
        rewards = set(train.rewards or []) | set(_method_rewards(method))
        if "mutual_information" in rewards:
            seconds += ledger.add("rewards", costs.train_seconds(shape, gpu, 0, 2 * sequence), mi_reward_calls=rollouts)
        if rewards & {"rlaif_critic", "rlvr_judged"}:
            reply = min(train.judge_max_new_tokens or 1256, 8)
            critic = costs.decode_seconds(shape, gpu, "hf", train.judge_batch_size, rollouts * reply)
            critic += costs.train_seconds(shape, gpu, 0, rollouts * (sequence / max(rollouts, 1) + 80))
            seconds += ledger.add("rewards", critic, critic_calls=rollouts)
        resident = (1.0 if train.beta else 0.0) * 2 + (1.0 if rewards & {"rlaif_critic", "rlvr_judged"} else 0.0)
        longest = (max(prompts) if prompts else 0) + train.max_completion_length
        row.update(rollouts=rollouts, update_passes=mu, completion_tokens=completion)
    else:
        pairs = n * recipe.pairs.n
        steps = math.ceil(pairs * epochs / train.global_batch_size) if n else None
        budget = recipe.sampling().max_new_tokens
        r_mean = expected(budget)["tokens"]
        # tokens through the policy per pair: DPO's packed [x, y_c, y_r], SFT's [x, y], InfoNCE's two contexts
        per_pair = {"sft": p_mean + r_mean, "infonce": 2 * p_mean + 4 * r_mean}.get(method, p_mean + 2 * r_mean)
        reference = per_pair if getattr(train, "reference", None) in ("precompute", "frozen_copy") else 0
        if method.startswith("sft_revision"):
            revisions = pairs
            gen = costs.decode_seconds(shape, gpu, recipe.pairs.backend, recipe.pairs.batch_size, revisions * r_mean)
            gen += costs.train_seconds(shape, gpu, 0, revisions * (p_mean + 2 * r_mean + 60))
            seconds += ledger.add("revisions", gen, revisions=revisions, generated_tokens=revisions * r_mean)
            per_pair = p_mean + r_mean
        trained = pairs * epochs * per_pair
        training = costs.train_seconds(shape, gpu, trained, pairs * reference)
        seconds += ledger.add("training", training, trained_tokens=trained)
        resident = 2.0 if getattr(train, "reference", "") == "frozen_copy" else 0.0
        longest = max((p + 2 * min(r, budget) for p, r in zip(prompts, responses)), default=0)
        if method == "infonce":
            longest = 2 * longest
        row["cut_sequences"] = sum(p + min(r, budget) > train.max_length for p, r in zip(prompts, responses))
    memory = costs.train_memory(
        shape, processes, config, longest, train.per_device_train_batch_size, resident, train.gradient_checkpointing
    )
    memory["fits"] = costs.fits(memory, gpu)
    row.update(
        global_batch=train.effective_batch(processes),
        accumulation=train.accumulation_steps(processes),
        optimizer_steps=steps,
        max_length=None if card.online else train.max_length,
        memory=memory,
        gpu_hours=round(seconds / 3600, 3),
    )
    return row


def _method_rewards(method: str) -> list[str]:
    from ..training.online import METHOD_REWARDS

    return METHOD_REWARDS.get(method, [])


def _plan_evals(plan, key, items, mean_prompt, expected, shape, gpu, ledger, task) -> None:
    """Every evaluation of the task: the untrained rows once, each trained row per seed; the math re-ask pass is
    counted as an upper bound (every item re-asked)."""
    from ..data.protocol import task_config

    evaluations = sum(u["task"] == key for u in plan.untrained) + sum(c.task == key for c in plan.rows)
    name = plan.spec.tasks[key]
    budget = int((task_config(name).get("generation_kwargs") or {}).get("max_gen_toks") or 256)
    gen_kwargs = plan.eval_settings.get("gen_kwargs") or ""
    for part in str(gen_kwargs).split(","):
        if part.strip().startswith("max_gen_toks="):
            budget = int(part.split("=", 1)[1])
    length = expected(budget)
    tokens = evaluations * items * length["tokens"]
    batch = int(plan.eval_settings.get("batch_size", 16))
    seconds = costs.decode_seconds(shape, gpu, "hf", batch, tokens)
    seconds += costs.train_seconds(shape, gpu, 0, evaluations * items * mean_prompt)
    ledger.add("evaluation", seconds, eval_generations=evaluations * items, generated_tokens=tokens)
    reask = data.dataset_spec(key).reask_prompt is not None
    if reask:
        calls = evaluations * items
        seconds = costs.decode_seconds(shape, gpu, "hf", batch, calls * 8)
        seconds += costs.train_seconds(shape, gpu, 0, calls * (length["tokens"] + 30))
        ledger.add("evaluation", seconds, reask_calls_upper_bound=calls)
    task.update(evaluations=evaluations, eval_budget=budget, eval_expected_tokens=length, reask=reask)
    if plan.mi:
        readings = sum(m["task"] == key for m in plan.mi)
        mi = {**plan.scale_settings.get("mi", {})}
        n, k = int(mi.get("n", 32)), int(mi.get("contrasts", 4))
        sampled = readings * n * int(mi.get("samples", 1))
        seconds = costs.decode_seconds(shape, gpu, "hf", 8, sampled * int(mi.get("max_new_tokens", 128)))
        seconds += costs.train_seconds(shape, gpu, 0, sampled * (2 + k) * (mean_prompt + 64))
        ledger.add("mi_meter", seconds, mi_meter_samples=sampled)


def _plan_judging(plan, key, items, mean_prompt, expected, judge_shape, gpu, ledger, task) -> None:
    """Judge calls: one per (response, preference) on each side that is judged — every evaluated row's responses and,
    per row, its reference side (the dataset's reference, or the reference row's samples)."""
    preferences = data.preferences_per_item(key)
    evaluations = task.get("evaluations", 0)
    judged = evaluations - 1 if not data.dataset_spec(key).has_reference else evaluations  # the reference row
    calls = round((judged * 2) * items * preferences)
    judge = plan.scale_settings.get("judge", {})
    reply = 1 if judge.get("scoring") == "logprob" else min(int(judge.get("max_new_tokens") or 8), 8)
    seconds = costs.decode_seconds(judge_shape, gpu, "hf", 8, calls * reply)
    seconds += costs.train_seconds(judge_shape, gpu, 0, calls * (mean_prompt + expected(512)["tokens"] + 120))
    ledger.add("judging", seconds, judge_calls=calls)
    task.update(judge_calls=calls, preferences_per_item=round(preferences, 2))


def _plan_critic(plan: TablePlan, key: str, shape, gpu, ledger) -> dict:
    """Table 6's task: the critic scores the chosen and the rejected response of ``limit`` labelled pairs, one call
    per itemized preference."""
    items = int(plan.scale_settings.get("limit") or data.dataset_spec(key).eval_size or 0)
    calls = round(2 * items * data.preferences_per_item(key))
    if shape is not None:
        seconds = costs.decode_seconds(shape, gpu, "hf", 8, calls * 8) + costs.train_seconds(shape, gpu, 0, calls * 600)
        ledger.add("judging", seconds, judge_calls=calls)
    return {"dataset": key, "eval_items": items, "train_prompts": 0, "rows": {}, "judge_calls": calls} | {
        "prompt_tokens": {"n": 0},
        "response_tokens": {"n": 0},
        "preferences_per_item": 1.0,
    }


def detectable_before_a_run(plan: TablePlan, key: str, items: int) -> dict | None:
    """The smallest gains this design detects (80% power, alpha 0.05) before any run, from the paper's reported seed
    spread of the task (the table YAML's ``paper: seed_std``, cited): a seed mean's variance std^2, a single base
    run's noise assumed as large (:class:`..stats.seed_tests.Design`)."""
    from ..stats.seed_tests import Design

    stated = (plan.full.paper.get("seed_std") or {}).get(key)
    if not stated or not items:
        return None
    std, source = stated
    seed_var = (std / 100) ** 2
    design = Design(seed_var, seed_var * items, items, max(plan.seeds, 1))
    return {"vs_base": 100 * design.vs_base(), "vs_method": 100 * design.vs_method(), "std": std, "source": source}
