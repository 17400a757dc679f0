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
