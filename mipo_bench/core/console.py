"""Where output goes: ``results`` (stdout) carries what a command computed (tables); ``console`` (stderr) carries
progress, stage headings and warnings, so ``mipo-bench reproduce table2 > table.md`` leaves the table in the file."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)
results = Console()
for _stream in (console, results):
    if not _stream.is_terminal:  # piped to a file or a CI log: one line a message, never wrapped at 80 columns
        _stream.soft_wrap = True


def progress_bar() -> Progress:
    """A bar per task: description, done/total, elapsed, remaining."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def show_table(table, out: Console | None = None) -> None:
    """Show a rich ``table``: drawn to the terminal's real width in a terminal; piped to a file or a CI log, a plain
    Markdown table with every cell in full (rich would wrap it into an 80-column grid of ``…`` cells). A table is a
    result: stdout unless ``out`` says otherwise."""
    out = out or results
    if out.is_terminal:
        out.print(table)
        return
    out.file.write(markdown_table(table) + "\n")
    out.file.flush()


def markdown_table(table) -> str:
    """A rich ``Table`` as Markdown: its title, header and cells as plain text, one line a row, pipes escaped."""

    def cell(value) -> str:
        text = value.plain if hasattr(value, "plain") else str(value)
        return " ".join(text.split()).replace("|", "\\|")

    columns = [list(column.cells) for column in table.columns]
    lines = []
    if table.title:
        lines += [f"**{cell(table.title)}**", ""]
    lines.append("| " + " | ".join(cell(column.header) for column in table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in zip(*columns)]
    if table.caption:
        lines += ["", cell(table.caption)]
    return "\n".join(lines)


class StageProgress:
    """ "stage k of n, elapsed, rough ETA" for a run of many stages (``reproduce``): the ETA assumes the stages left
    take as long as the finished ones did on average, so it is rough (one training stage can outlast the rest)."""

    def __init__(self, total: int = 0):
        self.total, self.done, self.started = total, 0, time.time()

    def start(self, name: str) -> str:
        """The heading of the next stage, ``name`` with its number, the elapsed time and the ETA."""
        elapsed = time.time() - self.started
        eta = ""
        if self.done and self.total > self.done:
            eta = f", ETA ~{_clock(elapsed / self.done * (self.total - self.done))}"
        self.done += 1
        of = f"/{self.total}" if self.total >= self.done else ""
        return f"[{self.done}{of}] {name} (elapsed {_clock(elapsed)}{eta})"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
