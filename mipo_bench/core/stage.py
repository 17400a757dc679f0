"""The cached-stage pattern, written once: hash the inputs, reuse the outputs when the manifest says they were made
from the same inputs, otherwise drop the manifest, compute, and write the manifest last.

    stage = Stage(out_dir, "pairs", content_hash(inputs), outputs=("pairs.jsonl",))
    if stage.is_current():
        return stage.manifest()
    stage.start()                        # no manifest vouches for outputs that are about to be overwritten
    ...                                  # compute, write the outputs
    return stage.finish(counts=counts)   # <out_dir>/pairs.manifest.json, written last

A crash between ``start`` and ``finish`` leaves no manifest, so the next run recomputes instead of trusting
half-written outputs; resumable caches beside the outputs (``generations.jsonl``) keep what was generated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .runs import manifest_path, stage_is_current, write_json, write_manifest

# How many stages this process found current ("reused") or started computing ("started"): a caller timing a step
# made of stages (``reproduce``) tells a reused step from a computed one by the difference.
ACTIVITY = {"reused": 0, "checked": 0, "started": 0}


def computed_since(before: dict) -> bool:
    """Did any stage start computing since ``before`` (a copy of :data:`ACTIVITY`)? A step with no stage at all
    counts as computed."""
    if ACTIVITY["started"] > before["started"]:
        return True
    return ACTIVITY["reused"] == before["reused"]


@dataclass
class Stage:
    """One stage's outputs in ``directory`` and their manifest ``<directory>/<name>.manifest.json``.

    Args:
        directory: where the stage writes its outputs and manifest.
        name: the manifest's name (``pairs``, ``eval``, ``train_inputs``, ...).
        inputs_hash: the content hash of everything the outputs depend on.
        outputs: files (relative to ``directory``) that must exist for the outputs to be reused.
    """

    directory: Path
    name: str
    inputs_hash: str
    outputs: tuple[str, ...] = ()

    def __post_init__(self):
        self.directory = Path(self.directory)

    @property
    def manifest_file(self) -> Path:
        return manifest_path(self.directory, self.name)

    def is_current(self) -> bool:
        """The manifest is complete, was written for these inputs, and every output is there."""
        current = stage_is_current(self.directory, self.name, self.inputs_hash) and all(
            (self.directory / output).exists() for output in self.outputs
        )
        ACTIVITY["reused" if current else "checked"] += 1
        return current

    def manifest(self) -> dict:
        return json.loads(self.manifest_file.read_text())

    def start(self) -> None:
        """Drop the manifest before the outputs are overwritten (safe to call from every process)."""
        ACTIVITY["started"] += 1
        self.manifest_file.unlink(missing_ok=True)

    def finish(self, **fields) -> dict:
        """Write the manifest (status complete, the inputs hash, versions, hardware and ``fields``); returns it."""
        return write_manifest(self.directory, self.name, self.inputs_hash, **fields)

    def update(self, **fields) -> dict:
        """Add ``fields`` to a complete manifest without touching its inputs hash (e.g. a new display label)."""
        manifest = {**self.manifest(), **fields}
        write_json(self.manifest_file, manifest)
        return manifest
