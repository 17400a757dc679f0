"""Normalized records and strict readers for the original release formats.

Every loader returns a list of plain dicts with the same keys, so lm-eval, the pair builders and the
reports can treat all datasets alike:

    id        stable id from the release (or file/row for MMLU)
    question  the question text as the model should see it (without options)
    choices   list of {"label", "text"} for multiple choice, else None
    answer    the gold answer as a string: a number ("18", "51", "-3.5") or a choice label ("C", "2")
    subject   MMLU subject, ARC subset, else the dataset name
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator


class DataFormatError(ValueError):
    """A data file that is missing or has a malformed row; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


class MalformedRow(DataFormatError):
    """A row the loader skips (an empty response, an unknown label) while the rest of the file loads: the hub sets
    carry a few such rows, and one of them must not cost a user the whole dataset. :func:`keep_good_rows` counts
    them and says so on stderr, naming the file and the rows."""


class LeftOut(Exception):
    """A good row the protocol does not use, for a reason worth counting (e.g. "not English"): reported once per
    file with the count, unlike a plain ``None`` (rows that are out by definition, e.g. no first-turn choice)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def keep_good_rows(rows, convert, path) -> list[dict]:
    """``convert(row, line)`` over ``(line, row)`` pairs; ``None`` leaves a row out by design, :class:`LeftOut` too
    (counted per reason), a :class:`MalformedRow` skips it; both are reported once per file with the counts."""
    import sys
    from collections import Counter

    records, skipped, left_out = [], [], Counter()
    for line, row in rows:
        try:
            record = convert(row, line)
        except MalformedRow as e:
            skipped.append(e)
            continue
        except LeftOut as e:
            left_out[e.reason] += 1
            continue
        if record is not None:
            records.append(record)
    for reason, count in left_out.items():
        print(f"{path}: left out {count} row(s): {reason}", file=sys.stderr)
    if skipped:
        first = "; ".join(f"line {e.line}: {e.problem}" for e in skipped[:3])
        more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        print(f"{path}: skipped {len(skipped)} malformed row(s) ({first}{more})", file=sys.stderr)
    return records


def present(value) -> bool:
    """A field that holds something: not None, not blank (``0`` is a value: hub ids can be numbers)."""
    return value is not None and str(value).strip() != ""


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataFormatError(path, None, "file not found (is MIPO_BENCH_DATA / --data pointing at the mirror?)")
    return path


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; a bad line raises DataFormatError."""
    with open(require_file(path), encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(path, lineno, f"invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise DataFormatError(path, lineno, "expected a JSON object")
            yield lineno, obj


def read_json_array(path: Path) -> list[Any]:
    try:
        data = json.loads(require_file(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(path, e.lineno, f"invalid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise DataFormatError(path, 1, "expected a JSON array")
    return data


def read_csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with open(require_file(path), encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as e:
            raise DataFormatError(path, reader.line_num, f"malformed CSV ({e})") from None


def field(obj: dict, key: str, path: Path, line: int, kind: type | tuple = str):
    """``obj[key]`` checked for presence and type, else a DataFormatError naming file and line."""
    if key not in obj:
        raise DataFormatError(path, line, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        raise DataFormatError(path, line, f"field {key!r} has an unexpected value {value!r}")
    return value


def format_number(value: float | int | str) -> str:
    """Canonical text for a numeric answer: 51.0 -> "51", "1,000" -> "1000", 2.50 -> "2.5"."""
    text = str(value).replace(",", "").replace("$", "").strip().rstrip(".")
    number = float(text)
    if number == int(number):
        return str(int(number))
    return repr(number).rstrip("0").rstrip(".")


def record(id: str, question: str, answer: str, choices: list[dict] | None = None, subject: str = "") -> dict:
    return {"id": id, "question": question.strip(), "choices": choices, "answer": answer, "subject": subject}
