"""mipo_bench.analysis.figures: the PNGs are written, readable, and carry the panels, labels and legends they claim."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from mipo_bench.analysis.figures import bar_figure, build_bar_figure, build_entropy_figure, entropy_figure, model_colors


def _models(n: int = 120):
    rng = np.random.default_rng(0)
    entropies = {"base": rng.uniform(0.3, 1.3, n), "MIPO": rng.uniform(0.0, 0.9, n)}
    correct = {"base": rng.random(n) < 0.4, "MIPO": rng.random(n) < 0.6}
    return entropies, correct


def test_entropy_figure_writes_a_png_with_two_panels(tmp_path):
    entropies, correct = _models()
    path = entropy_figure(entropies, correct, tmp_path / "sub" / "fig3.png", "ARC-Easy entropy")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 2 * image.shape[0] * 0.9

    figure = build_entropy_figure(entropies, correct, "ARC-Easy entropy")
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["correctly answered items", "incorrectly answered items"]
    assert figure.get_suptitle() == "ARC-Easy entropy"
    assert axes[0].get_ylabel() == "density" and "mean ± 2 std" in axes[0].get_xlabel()
    for ax, wanted in zip(axes, (True, False)):
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        n_base, n_mipo = int(np.sum(correct["base"] == wanted)), int(np.sum(correct["MIPO"] == wanted))
        assert legend[0].startswith(f"base: n={n_base}, mean ") and legend[1].startswith(f"MIPO: n={n_mipo}, mean ")
        # the x range is the panel's mean ± 2 std (clamped at 0)
        pooled = np.concatenate([entropies[m][correct[m] == wanted] for m in ("base", "MIPO")])
        low, high = ax.get_xlim()
        assert high == pytest.approx(pooled.mean() + 2 * pooled.std())
        assert low == pytest.approx(max(pooled.mean() - 2 * pooled.std(), 0.0))
    # the paper's colours: base orange, MIPO blue, another method something else
    assert model_colors(["base", "SmolLM2 + MIPO", "SFT"]) == {
        "base": "tab:orange",
        "SmolLM2 + MIPO": "tab:blue",
        "SFT": "tab:green",
    }


def test_entropy_figure_handles_constant_values_and_an_empty_panel(tmp_path):
    entropies = {"base": [0.0, 0.0, 0.0], "MIPO": [0.0, 0.0]}
    correct = {"base": [True] * 3, "MIPO": [True] * 2}
    figure = build_entropy_figure(
        entropies, correct, "all sure, all right", clip_std=1, panels=("correct", "incorrect")
    )
    assert figure.axes[0].get_xlim() == pytest.approx((0.0, 0.05))
    assert [t.get_text() for t in figure.axes[1].texts] == ["no items"]
    assert matplotlib.image.imread(entropy_figure(entropies, correct, tmp_path / "f.png", "t")).shape[2] in (3, 4)


def test_entropy_figure_names_bad_input():
    with pytest.raises(ValueError, match="'MIPO' has 2 entropies but 3"):
        build_entropy_figure({"MIPO": [0.1, 0.2]}, {"MIPO": [True, False, True]}, "t")
    with pytest.raises(ValueError, match="'base' has entropies but no correctness"):
        build_entropy_figure({"base": [0.1]}, {}, "t")
    with pytest.raises(ValueError, match="panels"):
        build_entropy_figure({"base": [0.1]}, {"base": [True]}, "t", panels=("wrong",))


def test_bar_figure_draws_one_bar_per_row_with_whiskers(tmp_path):
    rows = [
        {"label": "MIPO", "gain": 3.2, "low": 0.8, "high": 5.6},
        {"label": "SFT", "gain": -0.4, "low": -2.9, "high": 2.0},
        {"label": "new method", "gain": 0.0, "low": float("nan"), "high": float("nan")},
    ]
    path = bar_figure(rows, tmp_path / "bars.png", "ARC-Easy gains")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 150

    figure = build_bar_figure(rows, "ARC-Easy gains", xlabel="accuracy gain (points)")
    ax = figure.axes[0]
    assert ax.get_title() == "ARC-Easy gains" and ax.get_xlabel() == "accuracy gain (points)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["MIPO", "SFT", "new method"]
    assert [patch.get_width() for patch in ax.patches] == pytest.approx([3.2, -0.4, 0.0])
    assert [t.get_text() for t in ax.texts] == ["+3.20", "-0.40", "+0.00 (no CI)"]
    low, high = ax.get_xlim()
    assert low < -2.9 and high > 5.6  # every whisker is inside the axes


def test_bar_figure_names_bad_rows():
    with pytest.raises(ValueError, match=r"row 1 \('SFT'\) lacks low, high"):
        build_bar_figure([{"label": "a", "gain": 1, "low": 0, "high": 2}, {"label": "SFT", "gain": 1}], "t")
    with pytest.raises(ValueError, match="no finite gain"):
        build_bar_figure([{"label": "a", "gain": float("nan"), "low": 0, "high": 2}], "t")


def test_reproduce_figure_shows_every_item_under_the_ln4_ceiling_without_blended_fills(tmp_path):
    """Issue 17: the figure clipped points at ±2 std, blended overlapping fills without saying so, and had no ln 4."""
    import math

    entropies, correct = _models()
    entropies["base"][0] = 1.38  # an outlier a ±2 std range would clip
    correct["base"][0] = True
    figure = build_entropy_figure(entropies, correct, "t", clip_std=None, ceiling=math.log(4))
    ax = figure.axes[0]
    assert ax.get_xlim() == pytest.approx((0.0, 1.04 * math.log(4)))
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert not any("off range" in line for line in legend) and legend[-1].startswith("ln 4 = 1.386")
    assert all(patch.get_fill() is False for patch in ax.patches)  # outlines only
    assert "every item shown" in ax.get_xlabel()
    written = entropy_figure(entropies, correct, tmp_path / "f.png", "t", None, ceiling=1.386)
    assert matplotlib.image.imread(written).size


def test_labels_with_dollars_are_drawn_as_text_not_mathtext(tmp_path):
    """Issue 16 §6: a label `$^$` made matplotlib fail (mathtext), so no leaderboard page was ever written again."""
    rows = [{"label": "$^$ my method", "gain": 0.1, "low": 0.0, "high": 0.2}]
    path = bar_figure(rows, tmp_path / "bars.png", "task $x$")
    assert matplotlib.image.imread(path).size
    figure = build_bar_figure(rows, "task $x$")
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == [r"\$^\$ my method"]
    entropies, correct = {"$^$": [0.1, 0.5, 0.9]}, {"$^$": [True, False, True]}
    assert matplotlib.image.imread(entropy_figure(entropies, correct, tmp_path / "e.png", "$t$")).size
