"""Every code block of README.md and the guides in docs/ runs, or says why it does not.

pytest-codeblocks reads the blocks and their markers. A block is run unless a
``<!--pytest.mark.skip(reason="...")-->`` line stands before it, and such a marker must give its reason. The blocks
of one document run in order in one fresh directory, as a reader would type them: a block whose first line is a
comment naming a file (``# my_methods/shout.py``, ``# shout.yaml``) is written to that file; ``bash`` blocks run
under ``bash -e``, ``python`` blocks under the interpreter; blocks with no language are printed output. A renamed
flag or a changed API then fails here, not in a reader's terminal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_codeblocks import extract_from_file

from tests.conftest import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUNNABLE = {"bash", "sh", "python", "yaml"}
FILE_LINE = re.compile(r"^# ([\w./-]+\.(?:py|yaml|yml))\s*$")


def language(block) -> str:
    return (block.syntax or "").split(" ")[0]


def code_blocks(document: Path) -> list:
    """The document's code blocks (printed output, a block with no language, is not code)."""
    return [b for b in extract_from_file(document) if language(b) in RUNNABLE]


def not_run_reason(block) -> str | None:
    """The reason of the block's skip marker, None when it is run; a marker without a reason is an error."""
    for mark in block.marks:
        if mark.startswith("pytest.mark.skip"):
            found = re.search(r"reason=(['\"])(.+?)\1", mark)
            assert found, f"a code block marked not run must say why: {mark}"
            return found.group(2)
    return None


def test_every_block_not_run_gives_its_reason():
    """The list of blocks not run, with their reasons, printed for the record (pytest -s shows it)."""
    listed = []
    for document in DOCUMENTS:
        for block in code_blocks(document):
            reason = not_run_reason(block)
            if reason is not None:
                listed.append(f"{document.relative_to(REPO)}:{block.lineno}: {reason}")
    print("\n".join(listed))
    assert listed and all(line.split(": ", 1)[1].strip() for line in listed)
    assert len({*map(str, DOCUMENTS)}) >= 8  # README and the seven guides at least


def _environment(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONPATH=f"{workdir}{os.pathsep}{REPO}")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_the_documents_code_blocks_run(document, mirror, tmp_path):
    env = _environment(tmp_path)
    for block in code_blocks(document):
        if not_run_reason(block) is not None:
            continue
        where = f"{document.relative_to(REPO)}:{block.lineno}"
        first = block.code.splitlines()[0] if block.code.strip() else ""
        if (named := FILE_LINE.match(first)) is not None:
            target = tmp_path / named.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code)
            if target.suffix == ".py" and target.parent != tmp_path:  # a package the recipe's plugins: imports
                (target.parent / "__init__.py").touch()
            continue
        syntax = language(block)
        assert syntax in {"bash", "sh", "python"}, f"{where}: a {syntax} block names no file to be written to"
        command = ["bash", "-e", "-c", block.code] if syntax != "python" else [sys.executable, "-c", block.code]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        output = f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert done.returncode == 0, f"{where} failed ({done.returncode}):\n{output}"
        assert done.stdout.strip(), f"{where} printed nothing on stdout"
