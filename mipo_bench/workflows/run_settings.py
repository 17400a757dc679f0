"""`reproduce --set SECTION.KEY=VALUE`: which values go to the trained rows' recipes and which to the table's own
evaluation, MI meter and judge."""

from __future__ import annotations

import yaml


def for_method(method: str, settings) -> list[str]:
    """The ``--set`` recipe values that apply to ``method``'s rows: every data./pairs. key, and the train. keys its
    settings have (``train.max_completion_length`` reaches the online methods only)."""
    from dataclasses import fields

    from ..training import METHODS

    valid = {f.name for f in fields(METHODS.get(method).settings)}
    return [item for item in settings if not item.startswith("train.") or _train_field(item) in valid]


def _train_field(item: str) -> str:
    """``train.extra.max_steps=3`` -> ``extra``: the settings field a ``--set train.`` value lands in."""
    return item.split("=", 1)[0].removeprefix("train.").split(".", 1)[0]


# What `reproduce --set SECTION.KEY=VALUE` may change besides the recipes (data., pairs., train. keys go to every
# trained row's recipe): the table's evaluation, its MI meter and its judge.
RUN_SETTINGS = {
    "eval": ("limit", "batch_size", "gen_kwargs"),
    "mi": ("n", "max_new_tokens", "contrasts", "batch_size", "samples", "per_token", "prompts"),
    "judge": ("max_new_tokens", "batch_size", "scoring"),
}


def split_settings(settings: list[str] | None) -> tuple[list[str], dict[str, dict]]:
    """``--set`` values -> (recipe overrides for every trained row, ``{eval|mi|judge: {key: value}}``)."""
    recipe, run = [], {section: {} for section in RUN_SETTINGS}
    for item in settings or []:
        key, sep, value = item.partition("=")
        section, _, leaf = key.partition(".")
        if not sep or not leaf:
            raise ValueError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. train.learning_rate=1e-6")
        if section not in RUN_SETTINGS:
            recipe.append(item)  # a recipe key: checked when the recipes load (train.: see for_method)
            continue
        if leaf not in RUN_SETTINGS[section]:
            raise ValueError(f"--set {item!r}: {section}. takes {', '.join(RUN_SETTINGS[section])}")
        run[section][leaf] = yaml.safe_load(value)
    _check_train_keys(recipe)
    return recipe, run


def _check_train_keys(recipe_settings: list[str]) -> None:
    """A ``--set train.KEY`` that no method has is a typo: one line naming it (a key some methods lack is fine)."""
    from dataclasses import fields

    from ..training import METHODS

    known = {f.name for _, method in METHODS.items() for f in fields(method.settings)}
    for item in recipe_settings:
        key = item.split("=", 1)[0]
        if key.startswith("train.") and _train_field(item) not in known:
            raise ValueError(f"--set {item!r}: no training method has a setting {_train_field(item)!r}")
