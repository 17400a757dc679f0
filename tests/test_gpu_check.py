"""The GPU check (benchmarks/gpu_check.py, run on the lent device machine by benchmarks/gpu_check.sh) dry-run on CPU
against the device's limits: it runs with only what that machine has (its image's packages, listed below from the
device tool's KINDS.md of 2026-11-17, plus the wheels gpu_check.sh carries: every other import fails, as it would
there), its checks pass with thresholds, and what one call carries stays under 64 MiB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# The device image's Python distributions, as the device tool's KINDS.md listed them on 2026-11-17 (their own
# dependencies are installed there with them), and the wheels benchmarks/gpu_check.sh carries for what it lacks.
DEVICE = """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs certifi
charset-normalizer click cloudpickle colorama contourpy cycler einops filelock fonttools frozenlist fsspec h11 h5py
hf-xet httpcore httpx huggingface-hub idna jinja2 joblib kiwisolver markdown markdown-it-py markupsafe matplotlib mdurl
mpmath msgpack multidict networkx numpy packaging pandas peft pillow pluggy propcache protobuf psutil pyarrow pygments
pyparsing python-dateutil pyyaml regex requests rich sacrebleu safetensors scipy six scikit-learn sortedcontainers
sympy tabulate tensorboard threadpoolctl tokenizers torch tqdm transformers triton typing-extensions urllib3 wrapt
xxhash yarl zipp""".split()
CARRIED = ["trl", "datasets", "dill", "multiprocess"]
WHEELS = ["trl==1.16.0", "datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19"]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def device_modules() -> set[str]:
    """Top-level modules on the device: its distributions with their installed dependencies, and the carried wheels
    alone (their dependencies must be the device's or carried too)."""
    import importlib.metadata as md
    import re

    seen, todo = set(), [_normal(d) for d in DEVICE]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        todo += [_normal(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]) for r in requires if "extra ==" not in r]
    seen |= {_normal(c) for c in CARRIED}
    return {top for top, dists in md.packages_distributions().items() if any(_normal(d) in seen for d in dists)}


def device_site(tmp_path: Path) -> Path:
    """A site-packages holding only the device's modules (links into this one): any other module is absent, for
    imports and availability probes alike, as on the device machine."""
    import sysconfig

    allowed = device_modules()
    site = tmp_path / "site"
    site.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        top = entry.name.split(".")[0] if entry.suffix != ".dist-info" else None
        if entry.suffix == ".dist-info" or top in allowed or entry.name.startswith("_"):
            (site / entry.name).symlink_to(entry)
    return site


@pytest.mark.slow  # the GPU script's dry run on CPU
def test_the_gpu_check_runs_with_only_what_the_device_has_and_its_checks_pass(tmp_path):
    out, site = tmp_path / "out", device_site(tmp_path)
    boot = f"import sys, runpy; sys.path[:0] = [{str(site)!r}, {str(REPO)!r}]; sys.argv = sys.argv[1:]; "
    boot += "runpy.run_path(sys.argv[0], run_name='__main__')"
    command = [sys.executable, "-S", "-c", boot, "benchmarks/gpu_check.py", "--out", str(out), "--device", "cpu"]
    done = subprocess.run(command + ["--tiny", "--steps", "2"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["passed"] and report["checks"]["note"].startswith("CPU dry run")
    for name in ("shared_vs_rows_fp32_max_abs", "bf16_vs_fp32_logp_max_rel", "bf16_vs_fp32_loss_max_abs"):
        check = report["checks"][name]
        assert check["pass"] and 0 <= check["value"] <= check["threshold"]
    assert (
        report["training"]["trained_tokens_per_s"] > 0
        and report["training"]["packed_tokens_per_step"] < (report["training"]["unshared_tokens_per_step"])
    )  # the prompt encoded once per pair
    assert set(report["generation"]) == {"8", "16"} and report["measured"]["hf_step_ms_per_layer"] > 0


def test_a_failed_threshold_fails_the_check(monkeypatch, tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    monkeypatch.setitem(gpu_check.THRESHOLDS, "shared_vs_rows_fp32_max_abs", -1.0)
    assert gpu_check.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--steps", "1"]) == 1
    assert json.loads((tmp_path / "gpu_check.json").read_text())["passed"] is False


def test_one_device_call_carries_wheels_only_and_under_64_mib():
    """Before: the check asked for langdetect, sqlitedict and word2number as wheels (sdists only: the download
    aborts), and its second call carried ~75 MB."""
    script = (REPO / "benchmarks" / "gpu_check.sh").read_text()
    assert all(wheel in script for wheel in WHEELS) and "--only-binary=:all:" in script
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    size = sum((REPO / f).stat().st_size for f in tracked.decode().split("\0") if f and (REPO / f).is_file())
    assert size + 3 * 2**20 < 64 * 2**20  # the working tree and the 2.3 MB of wheels, in one call
    assert "carry" in script and ".gpu_whl" in script and "langdetect" not in script
