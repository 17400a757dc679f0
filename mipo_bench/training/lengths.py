"""How long the training sequences are against ``max_length``: TRL keeps a sequence's start and cuts the rest
silently, so an 8-shot math prompt under a short ``max_length`` loses its response's final ``#### N``. The count goes
into the train manifest (``lengths``) and, when something is cut, onto stderr (:func:`cut_warning`)."""

from __future__ import annotations

RESPONSE_KEYS = ("chosen", "rejected", "completion")


def length_report(rows: list[dict], tokenizer, max_length: int | None) -> dict:
    """Tokens of each prompt + response sequence (the chat template applied, as TRL tokenizes it) against
    ``max_length``: how many sequences, and rows, the trainer cuts, and the longest. TRL keeps a sequence's start, so
    a cut math response loses its final ``#### N``; the train manifest records this and the console says it."""
    lengths, cut_rows = [], 0
    for row in rows:
        row_lengths = [
            len(tokenizer.apply_chat_template(row["prompt"] + row[key], tokenize=True)["input_ids"])
            for key in RESPONSE_KEYS
            if isinstance(row.get(key), list) and row[key]
        ]
        lengths.extend(row_lengths)
        cut_rows += max_length is not None and any(n > max_length for n in row_lengths)
    cut = sum(max_length is not None and n > max_length for n in lengths)
    report = {"max_length": max_length, "rows": len(rows), "sequences": len(lengths), "truncated_sequences": cut}
    report.update(truncated_rows=cut_rows, longest=max(lengths, default=0))
    return report


def cut_warning(report: dict) -> str | None:
    """The line a user sees when rows are cut, or None."""
    if not report or not report["truncated_sequences"]:
        return None
    return (
        f"train: {report['truncated_rows']} of {report['rows']} rows exceed max_length={report['max_length']} tokens "
        f"and are cut (longest {report['longest']}); raise train.max_length to keep whole responses"
    )
