"""Answer entropy over multiple-choice answers (the paper's Figures 2-3), in nats, measured two ways.

The paper does not say which distribution its figures use (PROTOCOL.md §7.1, §8: AMBIGUOUS), so both are here and
named:

- **sampled** (:func:`entropy_from_samples`): the empirical distribution of the k answers extracted from k sampled
  responses to one question. A response without an answer (``None``) is its own category, "no answer": a model that
  answers A twice and nothing twice is as uncertain as one that answers A twice and B twice.
- **next-token** (:func:`option_distribution`): the model's next-token probabilities over the item's option letters
  right after the paper's answer marker, renormalised over the options. The marker is the paper's extraction rule
  (``choice_paper`` in ``mipo_bench/extract.py``: the letter after the FIRST case-insensitive "the answer is"), and
  :func:`answer_prefix` cuts a response there. With SmolLM2's tokenizer the letter after "The answer is:" is the
  single token " A" (space + letter), while "A" without the space is another single token (seen after "(" or
  "**"); a letter's probability is the sum of both forms (:func:`letter_token_ids`), so the choice does not depend on
  how the model spaces it.

Entropies are natural-log (nats); ``normalized=True`` divides by log K (K options), giving a value in [0, 1].
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.sampling import LETTERS

MARKER = re.compile(r"the answer is(?:\s*:)?", re.IGNORECASE)
APPENDED_MARKER = "\n\nThe answer is:"  # the instruction's own form ("The answer is: <X>"), for unmarked responses


def entropy(probs: Sequence[float], normalized: bool = False) -> float:
    """Shannon entropy (nats) of a distribution given as probabilities or counts (renormalised to sum 1; 0·log 0 = 0).

    ``normalized=True`` divides by log K, K = len(probs) (a one-option distribution has entropy 0).
    """
    p = np.asarray(probs, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"entropy needs a non-empty 1-d distribution; got shape {p.shape}")
    if np.any(p < 0) or not np.all(np.isfinite(p)) or p.sum() <= 0:
        raise ValueError(f"entropy needs finite non-negative probabilities with a positive sum; got {p.tolist()}")
    p = p / p.sum()
    nonzero = p[p > 0]
    value = float(-(nonzero * np.log(nonzero)).sum())
    if normalized:
        return value / math.log(p.size) if p.size > 1 else 0.0
    return max(value, 0.0)


def entropy_from_samples(answers: Sequence[str | None], options: Sequence[str] | None = None) -> float:
    """Entropy (nats) of the empirical distribution of k sampled answers to one question; ``None`` (no answer) is
    its own category. With ``options`` given, an answer that is not one of them is a ValueError naming it."""
    if not answers:
        raise ValueError("entropy_from_samples needs at least one sampled answer")
    if options is not None:
        unknown = sorted({a for a in answers if a is not None and a not in options})
        if unknown:
            raise ValueError(f"answers {unknown} are not among the options {list(options)}")
    return entropy(list(Counter(answers).values()))


def answer_prefix(response: str) -> str:
    """The response cut right after its first answer marker ("the answer is", any case, with the colon of the
    instruction's "The answer is: <X>" when present), where the next token is the answer letter.

    A response without the marker gets ``"\\n\\nThe answer is:"`` appended to its stripped text, so every item has a
    distribution (the model is asked for its answer after its own reasoning).
    """
    match = MARKER.search(response)
    if match:
        return response[: match.end()]
    return response.rstrip() + APPENDED_MARKER


def answer_context(tokenizer, user_message: str, response: str) -> str:
    """The full text whose next token is the answer: the chat-templated user message (with the generation prompt)
    followed by :func:`answer_prefix` of the model's response. Without a chat template: message + blank line."""
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message}], tokenize=False, add_generation_prompt=True
        )
    else:
        prompt = user_message + "\n\n"
    return prompt + answer_prefix(response)


def letter_token_ids(tokenizer, letter: str) -> list[int]:
    """Token ids of ``letter`` as it can follow the marker: "A" and " A", each kept when it is a single token."""
    ids = []
    for form in (letter, " " + letter):
        encoded = tokenizer(form, add_special_tokens=False)["input_ids"]
        if len(encoded) == 1 and encoded[0] not in ids:
            ids.append(encoded[0])
    if not ids:
        raise ValueError(f"option letter {letter!r} is not a single token (with or without a leading space)")
    return ids


def option_distribution(
    model, tokenizer, prompts: Sequence[str], options: Sequence[Sequence[str]], batch_size: int = 8
) -> list[np.ndarray]:
    """Next-token probability of each item's option letters after its prompt, renormalised over the options.

    ``prompts`` are complete texts ending at the answer marker (see :func:`answer_context`), tokenized without
    special tokens (the chat template already has them); ``options[i]`` are item i's letters (e.g. A-D). Batched with
    left padding and explicit position ids, so a padded prompt scores as it would alone; no gradients; the logits
    are read in fp32 (the model runs in the dtype it was loaded in — fp32 on CPU in this suite).
    """
    import torch

    if len(prompts) != len(options):
        raise ValueError(f"option_distribution: {len(prompts)} prompts but {len(options)} option lists")
    letter_ids = {letter: letter_token_ids(tokenizer, letter) for item in options for letter in item}
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in prompts]
    for index, ids in enumerate(encoded):
        if not ids:
            raise ValueError(f"option_distribution: prompt {index} is empty")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id or 0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    distributions = []
    try:
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            width = max(len(ids) for ids in batch)
            input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in batch], device=device)
            mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.no_grad():
                logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits
            probs = torch.softmax(logits[:, -1, :].float(), dim=-1).cpu().numpy()
            for row, item_options in zip(probs, options[start : start + batch_size]):
                mass = np.array([row[letter_ids[letter]].sum() for letter in item_options], dtype=np.float64)
                distributions.append(mass / mass.sum())
    finally:
        model.train(was_training)
    return distributions


def samples_rows(samples_file: Path, filt: str = "paper") -> list[dict]:
    """One row per item of an lm-eval samples file: ``prompt`` (the rendered text), ``response``, ``options``
    (letters), ``correct``."""
    rows = []
    for line_no, line in enumerate(samples_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        s = json.loads(line)
        if s.get("filter") != filt:
            continue
        try:
            prompt = s["arguments"]["gen_args_0"]["arg_0"]
            response = s["resps"][0][0]
            choices = s["doc"]["choices"]
        except (KeyError, IndexError, TypeError) as e:
            raise ValueError(f"{samples_file}:{line_no}: not a multiple-choice generation sample ({e!r})") from None
        if isinstance(choices, dict):  # ARC's raw {"text": [...], "label": [...]}
            choices = choices.get("text", [])
        rows.append(
            {
                "prompt": prompt,
                "response": response,
                "options": list(LETTERS[: len(choices)]),
                "correct": bool(s.get("exact_match")),
            }
        )
    return rows


def item_entropies(model_path: str, samples_file: Path, batch_size: int = 8) -> tuple[list[float], list[bool]]:
    """Entropy (nats) over the option letters after the answer marker, and correctness, for each item."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = samples_rows(samples_file)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    texts = [r["prompt"] + answer_prefix(r["response"]) for r in rows]
    dists = option_distribution(model, tokenizer, texts, [r["options"] for r in rows], batch_size=batch_size)
    return [entropy(d) for d in dists], [r["correct"] for r in rows]
