"""The wheel is what users install: build it from a clean copy of the repo, install it into a fresh virtual
environment, and use it from a directory outside the repo (the editable install must not stand in for it)."""

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mipo_bench.cli.main import main
from tests.conftest import REPO

# Build outputs are left out of the copy: a stale build/lib would put files into the wheel that the config misses.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "runs", "out", "__pycache__", ".pytest_cache", ".ruff_cache"
)
# every package under mipo_bench/, derived from the tree: a new layer is checked without editing this test
SUBPACKAGES = sorted(
    p.parent.relative_to(REPO / "mipo_bench").as_posix().replace("/", ".")
    for p in (REPO / "mipo_bench").rglob("__init__.py")
    if p.parent != REPO / "mipo_bench"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source") / "mipo-bench"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheelhouse")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    subprocess.run([*pip_wheel, str(source)], check=True, cwd=out)
    return next(out.glob("mipo_bench-*.whl"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh venv that sees this interpreter's torch / transformers / lm-eval but has its own mipo_bench from the
    wheel. ``--system-site-packages`` alone is not enough when the tests run in a venv: a venv made from a venv's python
    sees the *base* interpreter's site-packages, not the running one's, so a ``.pth`` adds the running interpreter's
    own site directories (after the new venv's, so the wheel answers first)."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)], check=True)
    site_dir = next((root / "lib").glob("python3*/site-packages"))
    parents = "; ".join(f"site.addsitedir({d!r})" for d in site.getsitepackages())
    (site_dir / "running_interpreter.pth").write_text(f"import site; {parents}\n")
    pip_install = [str(root / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--force-reinstall", "--no-index"]
    subprocess.run([*pip_install, "-q", str(wheel)], check=True, cwd=root, env=_outside_env())
    return root


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """The working directory for the installed commands: not the repo, so `import mipo_bench` cannot find it."""
    return tmp_path_factory.mktemp("elsewhere")


def _outside_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run_in(venv: Path, cwd: Path, program: str, *args: str) -> str:
    proc = subprocess.run(
        [str(venv / "bin" / program), *args], cwd=cwd, env=_outside_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, f"{program} {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.wheel
def test_wheel_ships_every_package_and_the_yaml(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = [p.parent.relative_to(REPO).as_posix() for p in (REPO / "mipo_bench").rglob("__init__.py")]
    assert {"mipo_bench/generation", "mipo_bench/training"} <= set(packages)
    missing = [p for p in packages if f"{p}/__init__.py" not in names]
    assert not missing, f"packages under mipo_bench/ missing from the wheel: {missing}"
    assert {"mipo_bench/tasks/__init__.py", "mipo_bench/tasks/utils.py", "mipo_bench/judges/__init__.py"} <= names
    assert {"mipo_bench/tasks/mipo_gsm8k.yaml", "mipo_bench/tasks/_math_template_yaml"} <= names
    assert "mipo_bench/tasks/_mcq_template_yaml" in names and "mipo_bench/tasks/mipo_mmlu.yaml" in names
    shipped_yaml = {n for n in names if n.startswith("mipo_bench/tasks/") and n.endswith(".yaml")}
    assert len(shipped_yaml) == len(list((REPO / "tasks").rglob("*.yaml")))
    assert "mipo_bench/judges/personalization_score.yaml" in names
    assert {"mipo_bench/recipes/mipo.yaml", "mipo_bench/recipes/sft.yaml"} <= names


@pytest.mark.wheel
def test_installed_wheel_is_what_python_imports(venv, outside):
    # The system's editable install still answers for submodules the wheel lacks, so every file is checked.
    modules = ["mipo_bench", *(f"mipo_bench.{s}" for s in SUBPACKAGES)]
    script = (
        "import importlib\n"
        "from mipo_bench.core.resources import recipes_dir, resource_dir, tasks_dir\n"
        f"for name in {modules!r}: print(importlib.import_module(name).__file__)\n"
        "print(tasks_dir()); print(resource_dir('judges')); print(recipes_dir())\n"
    )
    site = next((venv / "lib").glob("python3*/site-packages")).resolve()
    printed = run_in(venv, outside, "python", "-c", script).splitlines()
    assert len(printed) == len(modules) + 3
    for line in printed:
        assert Path(line).resolve().is_relative_to(site), f"{line} is not from the venv's wheel install"


@pytest.mark.wheel
def test_installed_cli_runs_outside_the_repo(venv, outside):
    assert "recipe" in run_in(venv, outside, "mipo-bench", "pairs", "--help")
    assert "--run-dir" in run_in(venv, outside, "mipo-bench", "demo", "--help")
    tasks = Path(run_in(venv, outside, "mipo-bench", "tasks-path").strip())
    assert tasks.resolve().is_relative_to(venv.resolve()) and (tasks / "mipo_arc_easy.yaml").is_file()


@pytest.mark.wheel
def test_lm_eval_loads_a_task_from_the_installed_tasks_path(venv, outside):
    script = (
        "from lm_eval.tasks import TaskManager, get_task_dict\n"
        "from mipo_bench.core.resources import tasks_dir\n"
        "tasks = get_task_dict(['mipo_arc_easy'], TaskManager(include_path=str(tasks_dir()), include_defaults=False))\n"
        "task = tasks['mipo_arc_easy']\n"
        "docs = list(task.eval_docs)\n"
        "assert docs, 'no docs'\n"
        "print(len(docs)); print(task.doc_to_text(docs[0]))\n"
    )
    count, prompt = run_in(venv, outside, "python", "-c", script).split("\n", 1)
    assert int(count) > 0 and prompt.strip()


def test_tasks_path_prints_the_yaml_folder(capsys):
    assert main(["tasks-path"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "mipo_gsm8k.yaml").is_file() and (folder / "mipo_mmlu.yaml").is_file()
