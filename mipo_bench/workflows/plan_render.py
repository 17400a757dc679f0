"""`reproduce --plan` as a person reads it: the costed plan (:func:`.plan.plan_table`) in Markdown."""

from __future__ import annotations

from pathlib import Path


def _n(value) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


def render_plan(plan: dict) -> str:
    """The costed plan as Markdown: the header, one section per task (its inputs, rows, evaluations and judging),
    the row cards of the first seed, the declared differences from the paper, the totals and any problems."""
    lines = [f"# Plan: {plan['title']} ({plan['scale']} scale)", ""]
    size = f" ({plan['parameters'] / 1e9:.2f}B parameters)" if plan.get("parameters") else ""
    lines.append(
        f"model {plan['model']}{size}; tokenizer {plan['tokenizer']}; {plan['seeds']} seed(s); {plan['processes']} "
        f"training process(es) under {plan['accelerate_config']} on {plan['gpu']['name']} "
        f"({plan['gpu']['memory_gib']} GiB)" + (f"; judge {plan['judge']}" if plan["judge"] else "")
    )
    for key, task in plan["tasks"].items():
        lines += ["", f"## {key}: {task['eval_items']} eval items, {task['train_prompts']} training prompts", ""]
        lines += [f"- {note}" for note in task.get("notes", [])]
        for what, label in (("prompt_tokens", "prompt tokens"), ("response_tokens", "reference response tokens")):
            q = task[what]
            if q.get("n"):
                lines.append(
                    f"- {label}: mean {q['mean']}, p50 {q['p50']}, p90 {q['p90']}, p99 {q['p99']}, max {q['max']}"
                )
        for name, i in (task.get("inputs") or {}).items():
            if i["kind"] == "pairs":
                e = i["expected_tokens"]
                lines.append(
                    f"- input {name}: {_n(i['generations'])} generations, ~{e['tokens']} tokens each ({e['source']})"
                )
        if "evaluations" in task:
            e = task["eval_expected_tokens"]
            reask = f"; re-ask: up to {_n(task['evaluations'] * task['eval_items'])} calls" if task["reask"] else ""
            lines.append(
                f"- evaluations: {task['evaluations']} x {task['eval_items']} items at up to {task['eval_budget']} "
                f"tokens, ~{e['tokens']} expected ({e['source']}){reask}"
            )
        if task.get("detectable"):
            d = task["detectable"]
            lines.append(
                f"- detectable with {plan['seeds']} seed(s) and {task['eval_items']} items (80% power, alpha 0.05): "
                f"a gain of {d['vs_base']:.1f} points over the base model, a difference of {d['vs_method']:.1f} "
                f"between two methods (from the paper's seed std of {d['std']} points: {d['source']})"
            )
        if task.get("judge_calls"):
            lines.append(
                f"- judge calls: {_n(task['judge_calls'])} ({task['preferences_per_item']} preferences an item)"
            )
        if task["rows"]:
            lines += ["", "| row | recipe | input | epochs x passes | global batch (accum.) | steps | max length | "
                      "memory GiB a process | GPU-h a seed |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for name, r in task["rows"].items():
            memory = f"{r['memory']['total_gib']}" + ("" if r["memory"]["fits"] else " (does not fit)")
            passes = r.get("update_passes", 1)
            lines.append(
                f"| {name} | {r['recipe']} | {r['input']} | {r['epochs']:g} x {passes} | {r['global_batch']} "
                f"({r['accumulation']}) | {r['optimizer_steps'] or '?'} | {r['max_length'] or '-'} | {memory} | "
                f"{r['gpu_hours']} |"
            )
    first_seed = min((c["seed"] for c in plan["cards"]), default=None)
    cards = [c for c in plan["cards"] if c["seed"] == first_seed]
    if cards:
        lines += [
            "",
            f"## Row cards (seed {first_seed}; every seed's are in `--plan --json` and the run's plan.json)",
            "",
        ]
        lines += [f"- {_card_line(c)}" for c in cards]
    if plan["differences"]:
        lines += ["", "## Declared differences from the paper", ""]
        for d in plan["differences"]:
            where = " / ".join(str(d[k]) for k in ("task", "row") if d.get(k)) or "every row"
            lines.append(f"- {where}, {d['setting']}: paper {d['paper']}; here {d['suite']}. Why: {d['why']}.")
    t = plan["totals"]
    by_stage = ", ".join(f"{k} {v}" for k, v in t["gpu_hours_by_stage"].items())
    counted = ", ".join(
        f"{k.replace('_', ' ')} {_n(v)}" for k, v in t.items() if isinstance(v, int) and k != "gpu_hours"
    )
    lines += [
        "",
        "## Totals",
        "",
        f"About {t['gpu_hours']} GPU-hours on {plan['gpu']['name']} ({by_stage}); ~{t['wall_hours_at_processes']} h "
        f"of wall time on {plan['processes']} process(es). Counted: {counted}.",
        "Assumed, not measured (mipo_bench/workflows/costs.py; benchmarks/gpu_check.py measures them): "
        + ", ".join(f"{k} {v}" for k, v in t["assumptions"].items())
        + ".",
    ]
    lines += [f"PROBLEM: {p}" for p in plan["problems"]]
    return "\n".join(lines) + "\n"


def _card_line(c: dict) -> str:
    i, t = c["input"], c["training"]
    s = i["sampling"]
    sampling = " / ".join(str(s[k]["value"]) for k in ("temperature", "top_p", "max_new_tokens"))
    origin = s["temperature"]["source"]
    what = f"{i['strategy']} pairs" if i["kind"] == "pairs" else "prompts"
    beta = f", beta {t['beta']}" if t["beta"] is not None else ""
    length = f", max length {t['max_length']}" if t["max_length"] else ""
    src = t["sources"]
    return (
        f"{c['task']} / {c['row']} ({c['method']}, recipe {c['recipe']['name']}): {what} of {i['prompts']} prompts, "
        f"{i['samples_per_prompt']} sample(s) a prompt, T / top-p / tokens {sampling} ({origin}); "
        f"{t['epochs']:g} epoch(s) x {t['update_passes']} pass(es) ({src.get('epochs')}), lr {t['learning_rate']:g} "
        f"({src.get('learning_rate')}){beta}, {t['global_batch_prompts']} prompts a step{length}; "
        f"input {Path(i['dir']).name}"
    )
