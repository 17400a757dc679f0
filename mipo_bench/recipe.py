"""Recipe YAML -> a validated Recipe, with ``key.sub=value`` overrides from the command line."""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from .generation import SamplingParams
from .resources import recipes_dir
from .training import TrainSettings

SECTIONS = ("data", "pairs", "train", "eval")


@dataclass
class Recipe:
    """One experiment: which prompts, how pairs are built, how the model is trained and evaluated."""

    name: str
    method: str
    model: str
    seed: int
    data: dict
    pairs: dict
    train: TrainSettings
    eval: dict
    source: str = ""

    def sampling(self) -> SamplingParams:
        keys = {f.name for f in fields(SamplingParams)}
        opts = {k: v for k, v in self.pairs.items() if k in keys}
        opts["stop"] = tuple(opts.get("stop", ()))
        return SamplingParams(seed=self.seed, **{k: v for k, v in opts.items() if k != "seed"})


def find_recipe(spec: str) -> Path:
    path = Path(spec)
    if path.is_file():
        return path
    shipped = recipes_dir() / (spec if spec.endswith(".yaml") else f"{spec}.yaml")
    if shipped.is_file():
        return shipped
    known = sorted(p.stem for p in recipes_dir().glob("*.yaml"))
    raise FileNotFoundError(f"no recipe {spec!r} (a path, or one of: {', '.join(known)})")


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value (e.g. train.learning_rate=1e-6)")
        key, value = item.split("=", 1)
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return raw


def load_recipe(spec: str, overrides: list[str] | None = None) -> Recipe:
    path = find_recipe(spec)
    raw = apply_overrides(yaml.safe_load(path.read_text()) or {}, overrides or [])
    unknown = set(raw) - {"name", "method", "model", "seed", *SECTIONS}
    if unknown:
        raise ValueError(f"{path}: unknown recipe keys {sorted(unknown)}")
    train_raw = dict(raw.get("train") or {})
    valid = {f.name for f in fields(TrainSettings)}
    bad = set(train_raw) - valid
    if bad:
        raise ValueError(f"{path}: unknown train settings {sorted(bad)}; valid: {sorted(valid)}")
    for key in ("learning_rate", "beta", "min_lr_rate", "warmup_ratio", "num_train_epochs"):
        if key in train_raw:
            train_raw[key] = float(train_raw[key])
    return Recipe(
        name=raw.get("name", path.stem),
        method=raw.get("method", "mipo"),
        model=raw.get("model", "smollm2-135m-instruct"),
        seed=int(raw.get("seed", 42)),
        data=raw.get("data") or {},
        pairs=raw.get("pairs") or {},
        train=TrainSettings(**train_raw),
        eval=raw.get("eval") or {},
        source=str(path),
    )
