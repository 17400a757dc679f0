"""What a paper-scale rehearsal needs that is not on this machine: tiny random-weight models of the paper's two
families (with the embedded SmolLM2 tokenizer), and the three hub personalization datasets written as the hub
publishes them today, at the paper's item counts (200 evaluation items + training prompts), with the defects the real
files have: a malformed row (skipped and counted), PRISM's ``"EMPTY STRING"`` texts, a prompt asked by several
annotators. Used by ``tests/test_rehearsal.py`` and ``benchmarks/rehearse_paper_scale.py``.

The files go where ``MIPO_BENCH_DATA`` mirrors put them; each is the hub's own file: Community Alignment's one
``community_alignment.csv`` (the hub's split ``train``), PRISM's ``conversations.jsonl`` (config ``conversations``),
Multifaceted-Bench's JSON list (the Janus release). Contexts files stand in for the GPT-4o-verbalized user contexts
(`mipo-bench contexts` output rows).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

# The two families of the paper, shrunk to 2 layers (every other architectural choice kept): Qwen2.5-1.5B-Instruct
# (q/k/v bias, tied embeddings, rope theta 1e6) and Meta-Llama-3-8B-Instruct (untied, rope theta 5e5).
FAMILIES = {
    "smollm2": {  # the unit tests' tiny model (tests/conftest.py): SmolLM2's own family, its default generation
        "config": "LlamaConfig",
        "model": "LlamaForCausalLM",
        "kwargs": {"tie_word_embeddings": True, "max_position_embeddings": 2048},
        "generation": None,
    },
    "qwen2": {
        "config": "Qwen2Config",
        "model": "Qwen2ForCausalLM",
        "kwargs": {
            "rope_theta": 1_000_000.0,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": True,
            "use_sliding_window": False,
        },
        "generation": {"top_k": 20, "top_p": 0.8, "temperature": 0.7, "repetition_penalty": 1.05, "do_sample": True},
    },
    "llama": {
        "config": "LlamaConfig",
        "model": "LlamaForCausalLM",
        "kwargs": {"rope_theta": 500_000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": False},
        "generation": {"top_p": 0.9, "temperature": 0.6, "do_sample": True},
    },
}


def tiny_model(family: str, tokenizer_dir: str, path: Path) -> str:
    """A 2-layer, hidden-64 random model of ``family``'s architecture with ``tokenizer_dir``'s tokenizer and chat
    template, and the family's ``generation_config`` defaults (what ``model.generate`` would apply)."""
    import torch
    import transformers
    from transformers import AutoTokenizer, GenerationConfig

    spec = FAMILIES[family]
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = getattr(transformers, spec["config"])(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **{"max_position_embeddings": 16384, **spec["kwargs"]},
    )
    model = getattr(transformers, spec["model"])(config)
    if spec["generation"] is not None:
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **spec["generation"]
        )
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


TOPICS = ["cooking", "travel", "fitness", "gardening", "history", "music", "coding", "finance", "poetry", "chess"]


def _query(i: int) -> str:
    return f"Give me advice on {TOPICS[i % len(TOPICS)]}, question {i}."


def write_community_alignment(root: Path, n: int = 230) -> dict:
    """``community_alignment.csv`` as the hub serves it: ``n`` English rows (numeric ids from 0), a French row (not
    used), one malformed row (its preferred response is empty), and a prompt asked again by another annotator."""
    path = root / "personalization" / "community_alignment" / "community_alignment.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ["conversation_id", "annotator_id", "assigned_lang", "annotator_country", "first_turn_prompt"]
    header += [f"first_turn_response_{c}" for c in "abcd"] + ["first_turn_preferred_response", "first_turn_feedback"]
    rows = []
    for i in range(n):
        answers = [f"Answer {c} to question {i}: {'short' if c == 'a' else 'a longer, warmer reply'}." for c in "abcd"]
        rows.append([i, f"a{i}", "en", "US", _query(i), *answers, f"response_{'abcd'[i % 4]}", ""])
    rows.append([n, "a-fr", "fr", "FR", "Comment cuire le riz ?", "a", "b", "c", "d", "response_a", ""])
    rows.append([n + 1, "a-bad", "en", "US", "Name a color.", "", "Red.", "Blue.", "", "response_a", ""])  # malformed
    rows.append([n + 2, "a-again", "en", "US", _query(3), "w", "x", "y", "z", "response_b", ""])  # asked again
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return {"path": path, "malformed": 1, "ids": [f"ca/{i}" for i in range(n)] + [f"ca/{n + 2}"]}


def write_prism(root: Path, n: int = 230) -> dict:
    """``conversations.jsonl`` as the hub's ``conversations`` config: ``n`` usable conversations, some with an
    ``"EMPTY STRING"`` among the rejected candidates, and one whose chosen response is ``"EMPTY STRING"``
    (malformed: skipped and counted)."""

    def turn(content, chosen, score, k):
        return {
            "turn": 0,
            "role": "model",
            "content": content,
            "model_provider": "p",
            "model_name": f"m{k}",
            "score": score,
            "if_chosen": chosen,
            "within_turn_id": k,
        }

    rows = []
    for i in range(n + 1):
        empty_chosen = i == n
        history = [
            {"turn": 0, "role": "user", "content": _query(i), "within_turn_id": 0},
            turn("EMPTY STRING" if empty_chosen else f"A friendly, detailed answer {i}.", True, 90, 0),
            turn("EMPTY STRING" if i % 5 == 0 else f"A curt answer {i}.", False, 10, 1),
            turn(f"A middling answer {i}.", False, 40, 2),
        ]
        rows.append(
            {
                "conversation_id": f"c{i}",
                "user_id": f"user{i % 50}",
                "generated_datetime": "2023-11-22 15:00:00",
                "opening_prompt": _query(i),
                "conversation_mode": "unguided",
                "conversation_history": history,
                "performance_attributes": {"values": 80},
                "choice_attributes": {"values": 70},
                "open_feedback": "fine",
                "included_in_balanced_subset": True,
            }
        )
    path = root / "personalization" / "prism" / "conversations.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"path": path, "malformed": 1, "ids": [f"prism/c{i}" for i in range(n)]}


DIMENSIONS = ("style", "background_knowledge", "informativeness", "harmlessness")


def write_multibench(root: Path, n: int = 300) -> dict:
    """The Multifaceted-Bench JSON list: ``n`` prompts, one preference per dimension each (4 variants a prompt; the
    252 evaluation variants are drawn at random, and training keeps the prompts none of them asks)."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "source": "koala",
                "system": f"You are an assistant who tailors answers to user {i}.",
                "prompt": _query(i),
                "reference_answer": f"A reference answer to question {i}.",
                "preference_set": [
                    {"dimension": d, "subdimension": "s", "preference": f"{d} pref", "description": f"I want {d} {i}."}
                    for d in DIMENSIONS
                ],
                "rubrics": [
                    {"criteria": f"{d} criteria", "score_descriptions": {str(k): f"level {k}" for k in range(1, 6)}}
                    for d in DIMENSIONS
                ],
            }
        )
    path = root / "personalization" / "multifaceted_bench" / "multifaceted_bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))
    return {"path": path}


def write_contexts(path: Path, ids: list[str]) -> Path:
    """`mipo-bench contexts` output rows for ``ids``: a JSON object of instructions each (GPT-4o's, in the paper)."""
    rows = []
    for k, rid in enumerate(ids):
        value = {"tone": f"Use a {'warm' if k % 2 else 'formal'} tone.", "length": f"Keep it under {k % 5 + 2} lines."}
        rows.append({"id": rid, "template": "extract_preferences", "value": value, "replies": [], "failed": False})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_hub_datasets(root: Path) -> dict[str, str]:
    """All three datasets under ``root`` and their contexts files; returns the environment to set
    (``MIPO_BENCH_DATA`` and the ``MIPO_BENCH_CONTEXTS_*`` variables)."""
    ca = write_community_alignment(root)
    prism = write_prism(root)
    write_multibench(root)
    return {
        "MIPO_BENCH_DATA": str(root),
        "MIPO_BENCH_CONTEXTS_COMMUNITY_ALIGNMENT": str(write_contexts(root / "contexts" / "ca.jsonl", ca["ids"])),
        "MIPO_BENCH_CONTEXTS_PRISM": str(write_contexts(root / "contexts" / "prism.jsonl", prism["ids"])),
    }
