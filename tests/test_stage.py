"""The Stage helper every cached stage uses: reuse only what a complete manifest vouches for, and drop the manifest
before the outputs are overwritten, so an interrupted rerun with other inputs is never trusted later."""

from __future__ import annotations

import json

import pytest

from mipo_bench.core.stage import Stage


def test_reuse_needs_a_complete_manifest_for_these_inputs_and_every_output(tmp_path):
    stage = Stage(tmp_path, "pairs", "hash-a", outputs=("pairs.jsonl",))
    assert not stage.is_current()
    stage.start()
    (tmp_path / "pairs.jsonl").write_text("{}\n")
    manifest = stage.finish(counts={"pairs": 1})
    assert stage.is_current() and manifest["inputs_hash"] == "hash-a" and stage.manifest()["counts"] == {"pairs": 1}
    assert not Stage(tmp_path, "pairs", "hash-b", outputs=("pairs.jsonl",)).is_current()  # other inputs
    (tmp_path / "pairs.jsonl").unlink()
    assert not stage.is_current()  # an output is gone
    stage.update(label="x")
    assert stage.manifest()["label"] == "x" and stage.manifest()["inputs_hash"] == "hash-a"


def test_an_interrupted_retrain_is_not_trusted_by_the_next_run(tiny_model_dir, tmp_path, monkeypatch):
    """The probe's worst case: `train` with other settings, killed right after it rewrote the weights, left the old
    train_inputs manifest; the original command then printed "unchanged, reusing" over the interrupted weights."""
    import mipo_bench.training
    from mipo_bench.workflows.pipeline import run_train
    from mipo_bench.workflows.recipe import load_recipe

    pairs = tmp_path / "pairs.jsonl"
    row = {
        "prompt": [{"role": "user", "content": "What is 2 plus 2?"}],
        "chosen": [{"role": "assistant", "content": "4."}],
        "rejected": [{"role": "assistant", "content": "Turtles."}],
    }
    pairs.write_text((json.dumps(row) + "\n") * 4)
    base = [f"model={tiny_model_dir}", "seed=0", "train.max_length=64", "train.learning_rate=1e-4"]
    run_dir = tmp_path / "run"
    run_train(load_recipe("mipo", base), run_dir, pairs)  # the original settings: trained, manifest written

    real_train = mipo_bench.training.train

    def killed(*args, **kwargs):  # the other settings' run dies after overwriting the weights
        (run_dir / "train" / "model" / "model.safetensors").write_bytes(b"half-written")
        raise KeyboardInterrupt

    monkeypatch.setattr(mipo_bench.training, "train", killed)
    with pytest.raises(KeyboardInterrupt):
        run_train(load_recipe("mipo", base + ["train.learning_rate=3e-4"]), run_dir, pairs)
    assert not (run_dir / "train" / "train_inputs.manifest.json").exists()  # dropped before the overwrite

    calls = []
    monkeypatch.setattr(mipo_bench.training, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    run_train(load_recipe("mipo", base), run_dir, pairs)  # the original command again: it must retrain
    assert calls == [1]
    assert (run_dir / "train" / "model" / "model.safetensors").read_bytes() != b"half-written"
