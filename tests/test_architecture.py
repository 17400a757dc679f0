"""The shape of the package: imports only go down the layers (pyproject's import-linter contract), every module
stays small, and a move cannot silently stop invalidating the eval cache."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "mipo_bench"
LINT = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))",
]


def test_imports_only_go_down_the_layers():
    """`lint-imports` on pyproject.toml's contract (docs/ARCHITECTURE.md draws the layers)."""
    proc = subprocess.run(
        LINT,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


def test_the_contract_catches_an_upward_import(tmp_path):
    """The check is live: a copy of the package where the data layer imports a workflow breaks the contract."""
    import shutil

    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "mipo_bench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    records = copy / "mipo_bench" / "data" / "records.py"
    records.write_text(records.read_text() + "\nfrom ..workflows import recipe  # noqa\n")
    proc = subprocess.run(
        LINT,
        cwd=copy,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode != 0
    assert "mipo_bench.data is not allowed to import mipo_bench.workflows" in proc.stdout


def test_every_layer_is_a_package_the_root_holds_no_modules():
    """`ls mipo_bench` shows the flow: the root has only the package marker, every layer is a folder."""
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py"]
    layers = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert layers == {name for layer in _contract_layers() for name in layer}  # every folder is in the contract


def test_modules_stay_small():
    sizes = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    too_long = {name: n for name, n in sizes.items() if n > 420}
    assert not too_long, f"modules over ~400 lines: {too_long}"


def test_eval_cache_key_covers_whole_packages_and_fails_on_a_missing_one(monkeypatch):
    from mipo_bench.workflows import pipeline

    files = {p.relative_to(PACKAGE).as_posix() for p in pipeline.eval_code_files()}
    assert {"evaluation/hooks.py", "evaluation/reask.py", "data/prompts.py", "data/extract.py"} <= files
    assert {"data/spec.py", "data/gsm8k.py"} <= files
    monkeypatch.setattr(pipeline, "EVAL_CODE", (*pipeline.EVAL_CODE, "moved_away"))
    with pytest.raises(FileNotFoundError, match="no package moved_away"):
        pipeline._task_files_hash()


def _contract_layers() -> list[list[str]]:
    import tomllib

    contract = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def test_the_docs_name_the_contracts_layers_in_its_order():
    """docs/ARCHITECTURE.md's diagram and README's package table list the contract's layers, top to bottom: a layer
    added, removed or moved in pyproject.toml without the docs fails here."""
    import re

    layers = _contract_layers()
    diagram = (REPO / "docs" / "ARCHITECTURE.md").read_text().split("```")[1]
    heads = [re.match(r"^\w+/(?:\s+\w+/)*", line) for line in diagram.splitlines()]  # the names opening a line
    drawn = [re.findall(r"(\w+)/", head.group(0)) for head in heads if head]
    assert drawn == layers
    readme = (REPO / "README.md").read_text()
    rows = [re.findall(r"`(\w+)/`", line) for line in readme.splitlines() if re.match(r"^\| `\w+/`", line)]
    assert rows == layers
