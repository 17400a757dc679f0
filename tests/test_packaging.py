"""The wheel carries the YAML (tasks/, judges/, recipes/) and the CLI finds it."""

import subprocess
import sys
import zipfile

from mipo_bench.cli import main
from tests.conftest import REPO


def test_wheel_ships_task_yaml(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("mipo_bench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mipo_bench/tasks/mipo_gsm8k.yaml" in names
    assert "mipo_bench/tasks/_math_template_yaml" in names
    assert "mipo_bench/tasks/utils.py" in names
    assert "mipo_bench/tasks/mmlu/paper/mipo_mmlu_anatomy.yaml" in names
    assert {"mipo_bench/recipes/mipo.yaml", "mipo_bench/recipes/sft.yaml"} <= names


def test_tasks_path_prints_the_yaml_folder(capsys):
    assert main(["tasks-path"]) == 0
    from pathlib import Path

    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "mipo_gsm8k.yaml").is_file() and (folder / "mmlu" / "mipo_mmlu.yaml").is_file()
