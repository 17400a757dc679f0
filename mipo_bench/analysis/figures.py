"""PNG figures: the paper's entropy distributions (Figures 2-3) and a leaderboard bar chart.

Figures are drawn on matplotlib's Agg canvas through the object API (``Figure``, never ``pyplot``), so nothing
needs a display and nothing leaks global state between figures. Each ``*_figure`` function writes a PNG and returns
its path; the matching ``build_*`` function returns the :class:`~matplotlib.figure.Figure` itself (tests read its
axes, and callers can embed it elsewhere).

Colours follow the paper: the base model orange, MIPO blue (a label containing "mipo"; "base" for the base model,
case-insensitive); other labels take the remaining colours of matplotlib's tab10 cycle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BASE_COLOR = "tab:orange"
MIPO_COLOR = "tab:blue"
OTHER_COLORS = ["tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
LOSS_COLOR = "tab:red"
PANEL_TITLES = {"correct": "correctly answered items", "incorrect": "incorrectly answered items"}
MAX_BINS = 30


def plain(text) -> str:
    """User text (a label, a model or task name) as matplotlib shows it literally: a ``$`` would start mathtext
    (``$^$`` fails to parse and no figure is written), so each is escaped."""
    return str(text).replace("$", r"\$")


def model_colors(labels: Sequence[str]) -> dict[str, str]:
    """The paper's colours for base and MIPO labels, the tab10 cycle for the rest."""
    colors, others = {}, iter(OTHER_COLORS * (len(labels) // len(OTHER_COLORS) + 1))
    for label in labels:
        lowered = label.lower()
        colors[label] = MIPO_COLOR if "mipo" in lowered else BASE_COLOR if "base" in lowered else next(others)
    return colors


def _save(figure: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path


def _check_entropy_inputs(entropies: Mapping[str, Sequence[float]], correct: Mapping[str, Sequence[bool]]) -> None:
    if not entropies:
        raise ValueError("entropy_figure: no models given")
    for label, values in entropies.items():
        if label not in correct:
            raise ValueError(f"entropy_figure: model {label!r} has entropies but no correctness list")
        if len(values) != len(correct[label]):
            raise ValueError(
                f"entropy_figure: model {label!r} has {len(values)} entropies "
                f"but {len(correct[label])} correctness flags"
            )


def _panel_range(pooled: np.ndarray, clip_std: float) -> tuple[float, float]:
    """mean ± clip_std·std of the panel's pooled values (never below 0 for entropies; widened when constant)."""
    mean, std = float(pooled.mean()), float(pooled.std())
    low, high = mean - clip_std * std, mean + clip_std * std
    if pooled.min() >= 0:
        low = max(low, 0.0)
    if high - low < 1e-9:
        low, high = max(mean - 0.05, 0.0), mean + 0.05
    return low, high


def _draw_panel(
    ax, panel: str, selected: dict[str, np.ndarray], colors: dict[str, str], clip_std: float | None, ceiling=None
) -> None:
    ax.set_title(PANEL_TITLES[panel], fontsize=11)
    nonempty = [values for values in selected.values() if values.size]
    if not nonempty:
        ax.text(0.5, 0.5, "no items", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    everything = np.concatenate(nonempty)
    if clip_std is None:  # every item shown: 0 up to the ceiling (or the largest value, if above it)
        low, high = 0.0, 1.04 * max(float(everything.max()), ceiling or 0.0) or 0.05  # room to see the ceiling
    else:
        low, high = _panel_range(everything, clip_std)
    in_range = [values[(values >= low) & (values <= high)] for values in nonempty]
    pooled = np.concatenate(in_range)
    edges = np.histogram_bin_edges(pooled, bins="auto" if np.ptp(pooled) > 0 else 10, range=(low, high))
    if len(edges) - 1 > MAX_BINS:
        edges = np.linspace(low, high, MAX_BINS + 1)
    for label, values in selected.items():
        if not values.size:
            continue
        shown = values[(values >= low) & (values <= high)]
        mean = float(values.mean())
        legend = f"{plain(label)}: n={values.size}, mean {mean:.3f}"
        if shown.size < values.size:
            legend += f" ({values.size - shown.size} off range)"
        color = colors[label]  # outlines only: no blended colour where two models overlap
        ax.hist(shown, bins=edges, density=True, histtype="step", linewidth=1.8, color=color, label=legend)
        ax.axvline(mean, color=color, linestyle="--", linewidth=1.5)
    if ceiling is not None and low <= ceiling <= high:
        ax.axvline(ceiling, color="gray", linestyle=":", linewidth=1.5, label=f"ln 4 = {ceiling:.3f}: uniform over 4")
    ax.set_xlim(low, high)
    shown_range = "every item shown" if clip_std is None else f"range mean ± {clip_std:g} std"
    ax.set_xlabel(f"answer entropy (nats); {shown_range}, dashed lines = means", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)  # below: covers nothing


def build_entropy_figure(
    entropies: Mapping[str, Sequence[float]],
    correct: Mapping[str, Sequence[bool]],
    title: str,
    clip_std: float | None = 2.0,
    panels: Sequence[str] = ("correct", "incorrect"),
    ceiling: float | None = None,
) -> Figure:
    """Per-item answer entropy of each model, one panel per correctness group (Figure 3: both panels, ±2 std;
    Figure 2: ``panels=("correct",)``, ``clip_std=1``). Each panel shows the range mean ± ``clip_std``·std of the
    values of all models in it, density histograms on shared bins, and dashed mean lines; the legend gives each
    model's n and mean (and how many of its items fall outside the range). ``clip_std=None`` shows every item, from 0
    to ``ceiling`` (e.g. ln 4, the entropy of a uniform choice among 4 options, drawn dotted) or the largest value."""
    _check_entropy_inputs(entropies, correct)
    unknown = [panel for panel in panels if panel not in PANEL_TITLES]
    if unknown or not panels:
        raise ValueError(f"entropy_figure: panels must be among {list(PANEL_TITLES)}; got {list(panels)}")
    colors = model_colors(list(entropies))
    figure = Figure(figsize=(6.0 * len(panels), 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        wanted = panel == "correct"
        selected = {
            label: np.array([v for v, ok in zip(values, correct[label]) if bool(ok) == wanted], dtype=float)
            for label, values in entropies.items()
        }
        _draw_panel(ax, panel, selected, colors, clip_std, ceiling)
    axes[0].set_ylabel("density")
    figure.suptitle(plain(title), fontsize=12)
    return figure


def entropy_figure(
    entropies: Mapping[str, Sequence[float]],
    correct: Mapping[str, Sequence[bool]],
    path,
    title: str,
    clip_std: float | None = 2.0,
    panels: Sequence[str] = ("correct", "incorrect"),
    ceiling: float | None = None,
) -> Path:
    """Write :func:`build_entropy_figure` as a PNG at ``path``; returns the path."""
    return _save(build_entropy_figure(entropies, correct, title, clip_std, panels, ceiling), path)


def _check_rows(rows: Sequence[Mapping]) -> None:
    if not rows:
        raise ValueError("bar_figure: no rows")
    for index, row in enumerate(rows):
        missing = [key for key in ("label", "gain", "low", "high") if key not in row]
        if missing:
            raise ValueError(f"bar_figure: row {index} ({row.get('label', '?')!r}) lacks {', '.join(missing)}")
        if not math.isfinite(float(row["gain"])):
            raise ValueError(f"bar_figure: row {index} ({row['label']!r}) has no finite gain: {row['gain']!r}")


def build_bar_figure(rows: Sequence[Mapping], title: str, xlabel: str = "gain over the base model") -> Figure:
    """Horizontal bars of each row's ``gain`` with its CI (``low``, ``high``) as a whisker, first row on top.

    Positive gains are blue, negative red; a row whose CI is nan gets no whisker and "(no CI)" after its value.
    """
    _check_rows(rows)
    labels = [plain(row["label"]) for row in rows]
    gains = np.array([float(row["gain"]) for row in rows])
    lows = np.array([float(row["low"]) for row in rows])
    highs = np.array([float(row["high"]) for row in rows])
    figure = Figure(figsize=(7.5, 1.2 + 0.42 * len(rows)), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    positions = np.arange(len(rows))
    ax.barh(positions, gains, color=[MIPO_COLOR if g >= 0 else LOSS_COLOR for g in gains], alpha=0.8, height=0.6)
    has_ci = ~(np.isnan(lows) | np.isnan(highs))
    if has_ci.any():
        ax.errorbar(
            gains[has_ci], positions[has_ci],
            xerr=[gains[has_ci] - lows[has_ci], highs[has_ci] - gains[has_ci]],
            fmt="none", ecolor="black", elinewidth=1.2, capsize=3,
        )  # fmt: skip
    ax.axvline(0.0, color="black", linewidth=0.8)
    ends = np.where(has_ci, np.where(gains >= 0, highs, lows), gains)
    span = float(np.nanmax(np.abs(np.concatenate([ends, gains])))) or 1.0  # all zero: any scale
    for y, gain, end, ci in zip(positions, gains, ends, has_ci):
        offset = 0.02 * span if gain >= 0 else -0.02 * span
        text = f"{gain:+.2f}" + ("" if ci else " (no CI)")
        ax.text(end + offset, y, text, va="center", ha="left" if gain >= 0 else "right", fontsize=8)
    reach = np.concatenate([ends, gains, lows[has_ci], highs[has_ci]])  # both whiskers of every bar stay inside
    low_limit = min(0.0, float(np.nanmin(reach)))
    high_limit = max(0.0, float(np.nanmax(reach)))
    ax.set_xlim(low_limit - 0.15 * span, high_limit + 0.15 * span)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(plain(title), fontsize=12)
    ax.grid(axis="x", alpha=0.3)
    return figure


def bar_figure(rows: Sequence[Mapping], path, title: str, xlabel: str = "gain over the base model") -> Path:
    """Write :func:`build_bar_figure` as a PNG at ``path``; returns the path."""
    return _save(build_bar_figure(rows, title, xlabel), path)
