"""Run directories: content hashes, append-only JSONL, atomic JSON, and stage manifests.

Each stage writes its outputs plus ``<stage>.manifest.json`` recording config, model, seed, versions and the
hashes of its inputs. A stage whose manifest matches its current inputs is skipped; JSONL outputs are appended
row by row, so a crash loses at most the batch in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator


def content_hash(obj: Any) -> str:
    """Stable hash of JSON-serializable content (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def write_json(path: str | Path, obj: Any) -> None:
    """Atomic write: the file is either the old one or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, default=str)
    _usual_mode(tmp)
    os.replace(tmp, path)


def _usual_mode(path: str) -> None:
    """A temp file is created 0600; the file it becomes gets the mode any other file gets (0644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def read_jsonl(path: str | Path, torn_ok: bool = True) -> Iterator[dict]:
    """Rows of a JSONL file; a torn last line (a crash mid-write of a cache we append to) is ignored unless
    ``torn_ok`` is False (a file written whole, e.g. lm-eval's samples: a torn line means it was cut), any other bad
    line raises, naming the file and the line."""
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as e:
            if lineno == len(lines) and torn_ok:  # no trailing newline: the write was interrupted
                return
            raise ValueError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None


def repair_tail(path: Path) -> None:
    """Cut a torn last line (a crash mid-write leaves one without its newline), so an append starts a new row
    instead of being glued onto the fragment, which would corrupt the file for every later read."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)


def append_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Append ``rows`` (one JSON object a line, fsynced), after cutting a torn last line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    repair_tail(path)
    with open(path, "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    _usual_mode(tmp)
    os.replace(tmp, path)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("mipo-bench", "torch", "transformers", "trl", "lm_eval", "datasets", "peft"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def hardware() -> dict:
    """Where a stage ran, for cost comparisons: CPU model, cores, and the GPU (name, count) when torch sees one."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu, gpus = None, 0
    try:
        import torch

        if torch.cuda.is_available():
            gpus = torch.cuda.device_count()
            gpu = torch.cuda.get_device_name(0)
    except Exception:  # torch missing or a broken driver: the record says "no GPU seen"
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "gpus": gpus}


def absolute(spec: str | Path) -> str:
    """A local path as an absolute one (a manifest read from another directory still finds it); a hub id or an
    embedded model's name unchanged."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else str(spec)


def manifest_path(run_dir: str | Path, stage: str) -> Path:
    return Path(run_dir) / f"{stage}.manifest.json"


def stage_is_current(run_dir: str | Path, stage: str, inputs_hash: str) -> bool:
    path = manifest_path(run_dir, stage)
    if not path.exists():
        return False
    manifest = json.loads(path.read_text())
    return manifest.get("inputs_hash") == inputs_hash and manifest.get("status") == "complete"


def write_manifest(run_dir: str | Path, stage: str, inputs_hash: str, **fields) -> dict:
    manifest = {
        "stage": stage,
        "status": "complete",
        "inputs_hash": inputs_hash,
        "finished_at": time.time(),
        "versions": versions(),
        "hardware": hardware(),
        **fields,
    }
    write_json(manifest_path(run_dir, stage), manifest)
    return manifest
