"""The PROMPTS input of online methods and of the MI meter: one row per training prompt of a dataset."""

from __future__ import annotations

from ..core.chat import user_chat
from ..core.runs import content_hash
from .prompts import personalized_prompt, task_prompt
from .sampling import draw_others
from .spec import dataset_spec

SPLITS = ("train", "eval")


def prompt_rows(
    dataset: str, n: int | None, seed: int, contexts: str | None = None, split: str = "train"
) -> tuple[list[dict], dict]:
    """The PROMPTS input of online methods (see ``training.base``): one row per training prompt (``split="eval"``:
    per held-out evaluation item, what the MI meter reads).

    ``prompt`` is the chat the policy answers (the eval task's prompt; personalization: the paper's personalized
    prompt); ``base_prompt`` is what an MI reward compares against: the same query without the user's context
    (personalization) or another training prompt x' drawn per item under ``seed`` (general tasks, as the
    ``random_prompt`` pairs do). ``answer`` (and GSM8K's ``paper_answer``) carry the gold for verifiable rewards.
    """
    from . import eval_prompts, train_prompts

    if split not in SPLITS:
        raise ValueError(f"prompt rows come from one of {SPLITS}, not {split!r}")
    personal = dataset_spec(dataset).personalized
    select = train_prompts if split == "train" else eval_prompts
    records = select(dataset, n, seed, contexts=contexts, needs_context=personal)
    if not personal and len(records) < 2:
        raise ValueError(f"{dataset}: an online method needs at least two training prompts (x' for the MI reward)")
    others = {} if personal else draw_others(records, 1, seed, key=task_prompt)
    rows = []
    for r in records:
        if personal:
            prompt, base = personalized_prompt(r["prompt"], r["context"]), personalized_prompt(r["prompt"], None)
            extra = {"query": r["prompt"], "context": r["context"], "preferences": r.get("preferences") or []}
        else:
            if not others[r["id"]]:
                raise ValueError(f"{dataset}: an MI reward needs two distinct training prompts (x' is another prompt)")
            prompt, base = task_prompt(r), task_prompt(others[r["id"]][0])
            extra = {"query": r["question"], "answer": r["answer"], "paper_answer": r.get("paper_answer", r["answer"])}
            extra.update({k: r[k] for k in ("choices", "solution", "equation") if r.get(k) is not None})
        chats = {"prompt": user_chat(prompt), "base_prompt": user_chat(base)}
        rows.append({"id": r["id"], "dataset": r["dataset"], **chats, **extra})
    columns = list(dict.fromkeys(k for row in rows for k in row))  # every row every column: datasets.Dataset
    rows = [{k: row.get(k) for k in columns} for row in rows]  # takes its columns from the first row
    return rows, {"dataset": dataset, "split": split, "n": len(rows), "hash": content_hash(rows)}
