"""Every paper table spec (every YAML in recipes/reproduce/) at every scale it defines: each trained row's recipe
resolves and loads with the overrides `reproduce` gives it, and its method is registered — checked the way
`reproduce` picks them (:func:`mipo_bench.workflows.table_plan.row_recipe`), so a renamed recipe or method fails here,
not hours into a run."""

from __future__ import annotations

import pytest
import yaml

from mipo_bench.analysis.tables import load_table
from mipo_bench.core.resources import recipes_dir
from mipo_bench.training import METHODS
from mipo_bench.workflows.recipe import find_recipe
from mipo_bench.workflows.table_plan import row_recipe, row_recipe_name

SPECS = sorted((recipes_dir() / "reproduce").glob("*.yaml"))


def _cases():
    for path in SPECS:
        raw = yaml.safe_load(path.read_text())
        for scale in raw.get("scales") or {}:
            spec = load_table(str(path)).at_scale(scale)
            for row in spec.rows:
                if row.method is None:  # the untrained model: no recipe
                    continue
                yield pytest.param(path, scale, row.name, id=f"{path.stem}-{scale}-{row.name}")


CASES = list(_cases())


def test_the_specs_have_trained_rows_to_check():
    assert {p.name for p in SPECS} >= {"table1.yaml", "table2.yaml", "table3.yaml", "table5.yaml", "table6.yaml"}
    assert len(CASES) > 20


@pytest.mark.parametrize("path,scale,row_name", CASES)
def test_every_row_recipe_resolves_and_its_method_is_registered(path, scale, row_name):
    full = load_table(str(path))
    spec = full.at_scale(scale)
    row = spec.row(row_name)
    assert row.method in METHODS, f"{path.name} {scale}: row {row_name}: method {row.method!r} is not registered"
    find_recipe(row_recipe_name(full.scales[scale], row))
    for key in spec.tasks:
        _, _, recipe, _ = row_recipe(full.scales[scale], row, "some-model", key, 0)
        assert recipe.method == row.method and recipe.data.dataset == key and recipe.model == "some-model"


def test_every_shipped_table_name_loads_and_every_scale_has_its_tasks():
    for name in ("1", "2", "3", "4", "5", "6"):
        full = load_table(name)
        assert full.scales, name
        for scale in full.scales:
            spec = full.at_scale(scale)
            assert spec.tasks and all(r in full.rows for r in spec.rows), (name, scale)
