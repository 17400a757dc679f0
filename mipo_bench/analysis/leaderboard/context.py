"""What a leaderboard reader needs beside the rankings: the model × task grid with an average (the view every
leaderboard opens on), and the context its numbers hold in — per task the item limit, the output token budget, the
chat template and the seeds — read from the stored runs' eval manifests.
"""

from __future__ import annotations

from collections import Counter


def task_context(entries_by_task: dict[str, list]) -> dict[str, dict]:
    """Per leaderboard column: ``{"limits", "budgets", "chat", "seeds", "recorded"}``, each the distinct values its
    runs had (more than one value means the rows were not evaluated alike); ``recorded``: whether any run's manifest
    has the task settings (runs evaluated before mipo-bench recorded them have not)."""
    out = {}
    for task, entries in entries_by_task.items():
        settings = [((e.manifest.get("eval") or {}).get("task_settings") or {}).get(e.task) or {} for e in entries]
        distinct = {(e.model, e.label, e.seed) for e in entries if e.seed is not None}  # a repeated seed counts once
        seeds = Counter((model, label) for model, label, _ in distinct)
        out[task] = {
            "limits": sorted({str((e.manifest.get("eval") or {}).get("limit") or "all") for e in entries}),
            "budgets": sorted({str(s.get("max_gen_toks")) for s in settings if s.get("max_gen_toks") is not None}),
            "chat": sorted({"on" if s["chat_template"] else "off" for s in settings if "chat_template" in s}),
            "seeds": sorted(set(seeds.values())),
            "recorded": any(settings),
        }
    return out


def context_lines(board: dict) -> list[str]:
    """One line per column: ``mipo_gsm8k: items: limit 12 (n 12), ≤ 256 new tokens, chat template on, seeds per
    trained row: 1``."""
    lines = []
    for task, ctx in (board.get("context") or {}).items():
        rows = board["tasks"].get(task, {}).get("rows") or []
        n = sorted({r["n_items"] for r in rows})
        parts = [f"items: {_values(ctx['limits'], 'limit ')} (n {_values([str(x) for x in n])})"]
        if ctx["recorded"]:
            parts.append(f"≤ {_values(ctx['budgets'])} new tokens" if ctx["budgets"] else "the task's token budget")
            parts.append(f"chat template {_values(ctx['chat'])}" if ctx["chat"] else "chat template not recorded")
        else:
            parts.append("token budget and chat template not recorded (evaluated by an older mipo-bench)")
        parts.append(
            f"seeds per trained row: {_values([str(s) for s in ctx['seeds']])}" if ctx["seeds"] else "no trained row"
        )
        lines.append(f"{task}: " + ", ".join(parts))
    return lines


def _values(values: list[str], prefix: str = "") -> str:
    return f"{prefix}{values[0]}" if len(values) == 1 else "mixed " + " / ".join(values)


def grid(board: dict) -> tuple[list[str], list[list[str]]]:
    """The model × task grid: one row per (model, method), its headline score per task (mean ± std over seeds; the
    base row first, then by overall rank) and the average over the tasks it has (``of k`` when not all)."""
    tasks = list(board["tasks"])
    cells: dict[tuple[str, str], dict[str, tuple[float, float, int]]] = {}
    for task, tb in board["tasks"].items():
        k = 100 if tb["percent"] else 1
        for row in tb["rows"]:
            score = (k * row["mean"], k * row["std"], len(row["seeds"]))
            cells.setdefault((row["model"], row["label"]), {})[task] = score
    order = {(r["model"], r["label"]): i for i, r in enumerate(board["overall"])}
    keys = sorted(cells, key=lambda key: (key[1] != board["base"], order.get(key, len(order)), key))
    rows = []
    for model, label in keys:
        mine = cells[(model, label)]
        row = [model, label]
        for task in tasks:
            if task not in mine:
                row.append("-")
                continue
            mean, std, seeds = mine[task]
            row.append(f"{mean:.1f}" + (f" ± {std:.1f}" if seeds > 1 else ""))
        if len({board["tasks"][t]["percent"] for t in mine}) > 1:
            row.append("- (mixed scales)")  # points and raw scores do not average
            rows.append(row)
            continue
        average = sum(v[0] for v in mine.values()) / len(mine)
        row.append(f"{average:.1f}" + ("" if len(mine) == len(tasks) else f" (of {len(mine)})"))
        rows.append(row)
    return ["model", "method", *tasks, "average"], rows


def table_lines(full, spec, seeds: int, eval_settings: dict) -> list[str]:
    """What a ``reproduce`` page shows of its table: the scale, the tasks and rows run out of the table's own (named),
    the seeds, the item limit and the token budget."""
    scale = spec.scale or "paper"
    run_tasks, all_tasks = list(spec.tasks), list(full.tasks)
    run_rows, all_rows = [r.name for r in spec.rows], [r.name for r in full.rows]
    lines = [f"{full.title}, {scale} scale: {seeds} seed{'s' if seeds != 1 else ''} per trained row."]
    for what, shown, every in (("tasks", run_tasks, all_tasks), ("rows", run_rows, all_rows)):
        left_out = [x for x in every if x not in shown]
        line = f"{what}: {len(shown)} of the table's {len(every)} ({', '.join(shown)})"
        lines.append(line + (f"; not run at this scale: {', '.join(left_out)}" if left_out else ""))
    limit = eval_settings.get("limit")
    gen = eval_settings.get("gen_kwargs")
    lines.append(
        f"evaluation: {'the first ' + str(limit) + ' items' if limit else 'every item'} of each task"
        + (f", {gen}" if gen else ", each task's own token budget")
    )
    return lines
