"""`mipo-bench reproduce tableN --plan`: the work a table needs, resolved and counted before anything runs.

Every row, recipe, dataset, judge and seed is resolved the way `reproduce` resolves them; the training prompts and
the reference answers are rendered and tokenized with the model's own tokenizer (or a named stand-in when the model is
not on this machine); the plan counts items, generations, optimizer steps and judge calls, compares the token
lengths with each row's ``max_length`` (a row that would be cut is an error unless ``allow_truncation``), and turns
the token counts into GPU hours with :data:`THROUGHPUT`, whose figures are rough and say where they come from.
"""

from __future__ import annotations

import math
from pathlib import Path

from .. import data
from ..core.models import DEFAULT_MODEL, ModelSpecError, resolve_model_path
from ..training import METHODS, PROMPTS

# Rough H200 throughput per GPU, to size a run, not to promise one. Training: 6 x parameters FLOPs per token for the
# policy (forward + backward) plus 2 x for DPO's reference forward, at 40% of the H200's 989 dense bf16 TFLOPS (the
# spec sheet; 40% MFU is a typical full fine-tune under DeepSpeed ZeRO-2). Generation: decode-bound, tokens per second
# per GPU at large batch under vLLM, assumed 30000 for a 1.5B and scaled with 1 / parameters; replace both with your
# own numbers (benchmarks/) once measured.
THROUGHPUT = {"h200_bf16_flops": 989e12, "mfu": 0.40, "decode_tokens_per_s_1p5b": 30000.0}
PARAMETERS = {"0.5b": 0.5e9, "1b": 1.2e9, "1.5b": 1.5e9, "3b": 3.1e9, "7b": 7.6e9, "8b": 8.0e9, "135m": 0.135e9}


def parameters_of(model: str) -> float:
    """The model's parameter count from its name (``Qwen2.5-1.5B-Instruct`` -> 1.5e9); 1.5e9 when it says none."""
    name = model.lower().replace("_", "-")
    for tag, count in sorted(PARAMETERS.items(), key=lambda kv: -len(kv[0])):
        if f"-{tag}" in name or name.startswith(tag):
            return count
    return 1.5e9


def plan_tokenizer(model: str):
    """``(tokenizer, name)``: the model's own when it resolves on this machine, else the embedded SmolLM2's as a
    named stand-in (token counts then differ from the model's by the vocabularies' difference)."""
    from transformers import AutoTokenizer

    try:  # never a download: a plan runs anywhere, the model's files need not be here yet
        return AutoTokenizer.from_pretrained(resolve_model_path(model), local_files_only=True), model
    except (ModelSpecError, OSError, ValueError):
        stand_in = resolve_model_path(DEFAULT_MODEL)
        return AutoTokenizer.from_pretrained(stand_in), f"{DEFAULT_MODEL} (stand-in: {model} is not on this machine)"


def quantiles(values: list[int]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(values), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": ordered[-1]}


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
) -> dict:
    """The plan of one table at one scale: per task, the items and token lengths; per trained row, its recipe,
    global batch, optimizer steps and generations; the judge calls; the GPU-hour estimate. Raises when a row's
    sequences would be cut by its ``max_length`` (unless ``allow_truncation``). ``settings``: ``reproduce --set``
    values, as the run would apply them."""
    from ..analysis.tables import load_table
    from .pipeline import with_dataset_defaults
    from .reproduce import row_recipe
    from .run_settings import split_settings

    full = load_table(table)
    spec = full.at_scale(scale)
    s = full.scales[scale]
    recipe_settings, run_settings = split_settings(settings)
    tokenizer, tokenizer_name = plan_tokenizer(model)
    kind = spec.table_kind
    params = parameters_of(model)
    plan = {"table": spec.name, "title": spec.title, "scale": scale, "model": model, "tokenizer": tokenizer_name}
    judge = (judge or model) if kind.judged else None
    plan.update(processes=processes, seeds=seeds, judge=judge, tasks={}, problems=[])
    eval_limit = {**(s.get("eval") or {}), **run_settings["eval"]}.get("limit")
    generated = trained = judge_calls = 0
    not_counted = []
    for key in tasks or list(spec.tasks):
        ds = data.dataset_spec(key)
        eval_items = min(ds.eval_size or 0, eval_limit or ds.eval_size or 0)
        task = {"dataset": key, "eval_items": eval_items, "rows": {}}
        trained_rows = [r for r in spec.rows if r.method]
        recipes = {
            r.name: with_dataset_defaults(row_recipe(spec, s, r, model, key, 0, recipe_settings)) for r in trained_rows
        }
        first = next(iter(recipes.values()), None)
        try:
            n = first.data.n_prompts if first else None
            records = data.train_prompts(key, n, contexts=first.data.contexts if first else None)
        except (data.DataFormatError, FileNotFoundError, ValueError, OSError) as e:
            records = []
            not_counted.append(key)
            task["data_note"] = f"training prompts not readable here ({e}): training not counted"
        prompts, responses = token_lengths(tokenizer, records)
        task.update(train_prompts=len(records), prompt_tokens=quantiles(prompts), response_tokens=quantiles(responses))
        for row in trained_rows:
            recipe = recipes[row.name]
            online = METHODS.get(recipe.method).consumes == PROMPTS
            budget = recipe.train.max_completion_length if online else recipe.sampling().max_new_tokens
            max_length = recipe.train.max_length
            cut = 0 if online else sum(p + min(r, budget) > max_length for p, r in zip(prompts, responses))
            if cut and not allow_truncation:
                plan["problems"].append(
                    f"{key} / {row.name}: {cut} of {len(prompts)} prompt + response sequences exceed max_length "
                    f"{max_length} (raise train.max_length, or plan with allow_truncation)"
                )
            batch = recipe.train.effective_batch(processes)
            epochs = recipe.train.num_train_epochs
            # offline: one pair per prompt and sample; online: every rollout completion is a training sequence
            per_prompt = recipe.train.num_generations if online else recipe.pairs.n
            steps = math.ceil(len(records) * per_prompt * epochs / batch) if records else None
            generations = len(records) * (per_prompt * epochs if online else 2 * per_prompt)
            mean_prompt = sum(prompts) / len(prompts) if prompts else 0
            task["rows"][row.name] = {
                "recipe": Path(recipe.source).stem,
                "method": recipe.method,
                "max_length": None if online else max_length,
                "cut_sequences": cut,
                "global_batch": batch,
                "accumulation": recipe.train.accumulation_steps(processes),
                "epochs": epochs,
                "optimizer_steps": steps,
                "generations": int(generations),
                "new_tokens_per_generation": budget,
            }
            generated += seeds * generations * budget
            trained += seeds * len(records) * per_prompt * epochs * 2 * (mean_prompt + budget)
        rows_evaluated = len(trained_rows) * seeds + len(spec.rows) - len(trained_rows)  # untrained rows: one run
        eval_budget = ds.pair_sampling.max_new_tokens
        generated += rows_evaluated * eval_items * eval_budget
        if kind.judged:
            task["judge_calls"] = rows_evaluated * eval_items * 2  # each response and its reference (one call each)
            judge_calls += task["judge_calls"]
        plan["tasks"][key] = task
    train_flops_per_token = 8 * params  # policy 6N + reference 2N
    train_s = trained * train_flops_per_token / (THROUGHPUT["h200_bf16_flops"] * THROUGHPUT["mfu"] * processes)
    decode_s = generated / (THROUGHPUT["decode_tokens_per_s_1p5b"] * 1.5e9 / params) / processes
    plan["totals"] = {
        "generated_tokens_upper_bound": int(generated),
        "trained_tokens": int(trained),
        "judge_calls": judge_calls,
        "training_not_counted": not_counted,
        "gpu_hours_estimate": round((train_s + decode_s) * processes / 3600, 1),
        "throughput_assumptions": THROUGHPUT,
    }
    return plan


def render_plan(plan: dict) -> str:
    """The plan as Markdown: a header naming the tokenizer, one table per task, the totals and any problems."""
    lines = [f"# Plan: {plan['title']} ({plan['scale']} scale)", ""]
    lines.append(
        f"model {plan['model']}; tokenizer {plan['tokenizer']}; {plan['seeds']} seed(s); "
        f"{plan['processes']} training process(es)" + (f"; judge {plan['judge']}" if plan["judge"] else "")
    )
    for key, task in plan["tasks"].items():
        lines += ["", f"## {key}: {task['eval_items']} eval items, {task['train_prompts']} training prompts", ""]
        if task.get("data_note"):
            lines += [task["data_note"], ""]
        for what in ("prompt_tokens", "response_tokens"):
            q = task[what]
            if q.get("n"):
                spread = f"p50 {q['p50']}, p90 {q['p90']}, p99 {q['p99']}, max {q['max']}"
                lines.append(f"- {what.replace('_', ' ')}: {spread}")
        if task.get("judge_calls"):
            lines.append(f"- judge calls: {task['judge_calls']}")
        header = "| row | recipe | max length | cut | global batch (accumulation) | epochs | steps | generations |"
        lines += ["", header]
        lines.append("|---|---|---|---|---|---|---|---|")
        for name, r in task["rows"].items():
            lines.append(
                f"| {name} | {r['recipe']} | {r['max_length'] or '-'} | {r['cut_sequences']} | "
                f"{r['global_batch']} ({r['accumulation']}) | {r['epochs']:g} | {r['optimizer_steps'] or '?'} | "
                f"{r['generations']} x {r['new_tokens_per_generation']} tokens |"
            )
    totals = plan["totals"]
    lines += [
        "",
        f"Totals: <= {totals['generated_tokens_upper_bound']:,} generated tokens, {totals['trained_tokens']:,} "
        f"trained tokens, {totals['judge_calls']:,} judge calls; about {totals['gpu_hours_estimate']} H200 GPU-hours "
        "(rough: THROUGHPUT in mipo_bench/workflows/plan.py says where each figure comes from).",
    ]
    if totals["training_not_counted"]:
        missing = ", ".join(totals["training_not_counted"])
        lines.append(f"Training of {missing} is not in these totals: its data is not on this machine.")
    lines += [f"PROBLEM: {p}" for p in plan["problems"]]
    return "\n".join(lines) + "\n"
