# figures.py
# grammarbench: the benchmark's figures, from the aggregate tables

"""The benchmark's figures: each function takes tidy tables (:mod:`grammarbench.aggregate.tables`)
or arrays and returns a matplotlib Figure; :func:`save` writes it as PNG and PDF, and
:func:`render` reads the inputs, draws one figure and saves it (the one call of a figure
rule).

Every figure uses seaborn's colour-blind-safe ``colorblind`` palette (architectures,
methods and elements keep their colour across panels) or the perceptually uniform
``viridis`` map for heatmaps, fonts readable at print size, and one legend (or one
colour bar) for the whole figure. Spread across seeds is the mean ± one standard
deviation over data seeds × model seeds, drawn as a band or error bar.

=========================  ====================================================  ==========
function                   what                                                  input
=========================  ====================================================  ==========
:func:`predictive_figure`  test AUROC and accuracy vs training-set size, one     predictive
                           line per architecture, the oracle dashed, one
                           column per grammar
:func:`recovery_figure`    grammar recovery (per-position AUPRC) vs              recovery
                           training-set size, one line per architecture, the
                           random ranking dotted; a row per attribution run
:func:`method_heatmap`     attribution runs × architectures heatmap at one       recovery
                           training-set size, the random ranking in the title
:func:`reference_sweep`    recovery per reference (zeros, uniform, mean          recovery
                           composition, shuffles × n), one colour per method
:func:`methods_by_grammar` per-position AUROC and AUPRC per attribution run,  recovery
                           one colour per grammar (cell type), one column per
                           architecture (grids with realistic grammars)
:func:`attribution_tracks` attribution along a few test sequences, the inserted  maps,
                           instances drawn under each, and a sequence logo of    codes,
                           the attribution at one instance                       instances
:func:`learning_curves`    loss (or accuracy, AUROC) per epoch, train solid,     training
                           validation dashed
:func:`positional_heatmaps` where grammar positions fall, per class, one panel   positional
                           per grammar                                           tables
:func:`runtime_figure`     wall time and peak memory per rule; training time     runtime
                           vs training-set size
:func:`curves_figure`      one model's ROC and precision-recall curves           curves
=========================  ====================================================  ==========

:data:`FIGURES` is the one registry of the report's figures (what each draws from, its
report category and caption, and when a grid has it): the workflow's ``figure`` rule, its
targets, the report and the tests all read it. Importing this module changes no plotting
state: each function sets its style inside (:func:`_style`), and the backend is
matplotlib's own choice (Agg where there is no display).
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from grammarbench.io import atomic_path


class _OnFirstUse:
    """A module (or one of its names) imported when first used. The workflow reads
    :data:`FIGURES` while it plans, and matplotlib with seaborn (and scipy under it) would
    add seconds to every plan; only drawing needs them."""

    def __init__(self, module: str, name: str | None = None):
        self._module, self._name = module, name

    def _target(self):
        target = importlib.import_module(self._module)
        return getattr(target, self._name) if self._name else target

    def __getattr__(self, attr):
        return getattr(self._target(), attr)

    def __call__(self, *args, **kwargs):
        return self._target()(*args, **kwargs)


matplotlib = _OnFirstUse("matplotlib")
plt = _OnFirstUse("matplotlib.pyplot")
sns = _OnFirstUse("seaborn")
FontProperties = _OnFirstUse("matplotlib.font_manager", "FontProperties")
Line2D = _OnFirstUse("matplotlib.lines", "Line2D")
PathPatch = _OnFirstUse("matplotlib.patches", "PathPatch")
Patch = _OnFirstUse("matplotlib.patches", "Patch")
Rectangle = _OnFirstUse("matplotlib.patches", "Rectangle")
TextPath = _OnFirstUse("matplotlib.textpath", "TextPath")
Affine2D = _OnFirstUse("matplotlib.transforms", "Affine2D")

__all__ = [
    "predictive_figure",
    "recovery_figure",
    "method_heatmap",
    "reference_sweep",
    "attribution_tracks",
    "draw_logo",
    "learning_curves",
    "positional_heatmaps",
    "runtime_figure",
    "curves_figure",
    "tracks_from_files",
    "read_positional",
    "save",
    "render",
    "render_caption",
    "Figure",
    "FIGURES",
    "applicable",
]

PALETTE = "colorblind"
HEATMAP_CMAP = "viridis"
#: Letter colours of logos (DNA A, C, G, T), from the colour-blind-safe palette: green,
#: blue, orange, vermillion, as in the classic logo colours.
# seaborn's "colorblind" palette, its first four colours (as its color_palette gives them)
_CB = [tuple(int(h[i: i + 2], 16) / 255 for i in (1, 3, 5)) for h in ("#0173B2", "#DE8F05", "#029E73", "#D55E00")]
LETTER_COLOURS = {"A": _CB[2], "C": _CB[0], "G": _CB[1], "T": _CB[3], "U": _CB[3]}
#: The class each predictive metric is read at by default.
DEFAULT_CLASS = {"auroc": "macro", "auprc": "macro", "accuracy": "all", "loss": "all",
                 "subset_accuracy": "all", "n": "all"}
METRIC_LABELS = {
    "auroc": "AUROC (macro)", "auprc": "AUPRC (macro)", "accuracy": "accuracy",
    "loss": "loss", "subset_accuracy": "subset accuracy",
    "position_auroc": "per-position AUROC", "position_auprc": "per-position AUPRC",
    "attribution_mass": "attribution mass on grammar", "window_auroc": "window AUROC",
    "window_auprc": "window AUPRC",
}
REFERENCE_ORDER = ("zeros", "uniform", "mean_composition", "shuffle")
ORACLE = "oracle"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


@contextmanager
def _style():
    with sns.axes_style("ticks"), sns.plotting_context("notebook", font_scale=1.05):
        yield


def _text_width_inches(text: str, fontsize: str = "medium") -> float:
    """Width of ``text``'s longest line at ``fontsize`` in the current style, measured by
    matplotlib's own text layout (so figure sizes can make room for titles)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    font = FontProperties(size=fontsize)
    points = max(TextPath((0, 0), line, prop=font).get_extents().width for line in text.splitlines())
    return points / 72


def _figure(nrows: int, ncols: int, panel=(3.6, 2.9), extra_width: float = 2.2, **kw):
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(panel[0] * ncols + extra_width, panel[1] * nrows), **kw)
    return fig, axes


def _colours(names: Sequence) -> dict:
    """Name → colour, in the order given (the colour-blind palette cycles past 10)."""
    cols = sns.color_palette(PALETTE)
    return {name: cols[i % len(cols)] for i, name in enumerate(names)}


def _ordered(values) -> list:
    """Unique values in order of first appearance."""
    return list(dict.fromkeys(v for v in values if not _missing(v)))


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _size_label(n) -> str:
    n = int(n)
    for div, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % (div // 10) == 0:
            return f"{n / div:g}{unit}"
    return str(n)


def _random_ranking_handle() -> Line2D:
    """The legend entry of the dotted grey line drawn at the random ranking's score."""
    return Line2D([], [], color="grey", ls=":", lw=1.5, label="random ranking")


def _label_panel(ax, i: int, j: int, n_rows: int, title: str, ylabel: str, xlabel: str) -> None:
    """Label panel (i, j) of a grid: the column's title on the top row, the row's label in
    the first column, the x label on the bottom row; no top or right spine."""
    if i == 0:
        ax.set_title(title)
    if j == 0:
        ax.set_ylabel(ylabel)
    if i == n_rows - 1:
        ax.set_xlabel(xlabel)
    sns.despine(ax=ax)


def _size_axis(ax, sizes) -> None:
    sizes = sorted({int(s) for s in sizes})
    if len(sizes) > 1 and sizes[-1] / max(sizes[0], 1) >= 10:
        ax.set_xscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([_size_label(s) for s in sizes], rotation=45 if len(sizes) > 5 else 0)
    ax.minorticks_off()


def _spread(data: pd.DataFrame, x: str, value: str = "value") -> pd.DataFrame:
    """Mean, standard deviation and count of ``value`` per ``x``, over the replicates."""
    out = data.groupby(x)[value].agg(["mean", "std", "count"]).reset_index().sort_values(x)
    out["std"] = out["std"].fillna(0.0)
    return out


def _line(ax, data: pd.DataFrame, x: str, colour, label=None, **kw):
    s = _spread(data, x)
    xs = s[x].to_numpy(dtype=float)
    ax.plot(xs, s["mean"], color=colour, marker=kw.pop("marker", "o"), ms=4, lw=1.8, label=label, **kw)
    if (s["count"] > 1).any():
        ax.fill_between(xs, s["mean"] - s["std"], s["mean"] + s["std"], color=colour, alpha=0.2,
                        lw=0)


def _reference_line(ax, sizes, values, **style) -> None:
    """A reference score (oracle, random ranking) across training-set sizes. With one size a
    line through one point would not show, so it is drawn level across the panel: both are
    scored on the held-out test set, which every training size shares."""
    if len(values) == 1:
        ax.axhline(float(values[0]), **style)
    else:
        ax.plot(np.asarray(sizes, dtype=float), values, **style)


def _select(table: pd.DataFrame, what: str, **where) -> pd.DataFrame:
    rows = table
    for col, value in where.items():
        if value is None:
            continue
        rows = rows[rows[col].astype(str) == str(value)]
    if rows.empty:
        described = ", ".join(f"{k} {v!r}" for k, v in where.items() if v is not None)
        raise ValueError(f"{what}: no rows with {described}")
    return rows


def _run_column(table: pd.DataFrame) -> str:
    return "run" if "run" in table.columns else "method"


def _baseline_column(rows: pd.DataFrame) -> str | None:
    """The column holding a random ranking's expected value: ``random_ranking`` (exact),
    or in tables written before it existed ``positive_fraction``."""
    for column in ("random_ranking", "positive_fraction"):
        if column in rows and pd.to_numeric(rows[column], errors="coerce").notna().any():
            return column
    return None


def _baseline(metric: str, rows: pd.DataFrame) -> float | None:
    """The expected value of a random ranking: 0.5 for an AUROC; for an AUPRC the exact
    expected average precision (``random_ranking``), for the attribution mass the
    positive fraction, averaged over the rows."""
    if metric.endswith("auroc"):
        return 0.5
    column = _baseline_column(rows)
    if (metric.endswith("auprc") or metric == "attribution_mass") and column is not None:
        values = pd.to_numeric(rows[column], errors="coerce").dropna()
        return float(values.mean()) if len(values) else None
    return None


def _largest_size(rows: pd.DataFrame, n_train) -> int:
    return int(rows["n_train"].max()) if n_train is None else int(n_train)


# ---------------------------------------------------------------------------------------
# predictive performance
# ---------------------------------------------------------------------------------------


def predictive_figure(predictive: pd.DataFrame, metrics: Sequence[str] = ("auroc", "accuracy"),
                      split: str = "test", classes: Mapping[str, str] | None = None,
                      grammars: Sequence[str] | None = None) -> plt.Figure:
    """Predictive performance vs training-set size: one line per architecture (mean ± SD
    over data and model seeds), the grammar's oracle as a dashed ceiling; one column per
    grammar, one row per metric.

    Parameters
    ----------
    predictive: pandas.DataFrame
        The predictive table (:func:`grammarbench.aggregate.tables.predictive_table`).
    metrics: sequence of str
        Metrics to draw, one row each. Default AUROC and accuracy.
    split: str
        Default ``test``.
    classes: mapping or None
        Metric → class to read it at; default :data:`DEFAULT_CLASS` (``macro`` AUROC).
    grammars: sequence of str or None
        Grammars (columns) in order. Default: all, in table order.
    """
    classes = {**DEFAULT_CLASS, **(classes or {})}
    table = _select(predictive, "predictive figure", split=split)
    grammars = list(grammars or _ordered(table["grammar"]))
    architectures = _ordered(a for a in table["architecture"] if a != ORACLE)
    colour = _colours(architectures)
    has_oracle = (table["architecture"] == ORACLE).any()
    with _style():
        fig, axes = _figure(len(metrics), len(grammars), sharex="col")
        for i, metric in enumerate(metrics):
            rows = _select(table, "predictive figure", metric=metric, **{"class": classes.get(metric, "all")})
            for j, grammar in enumerate(grammars):
                ax = axes[i, j]
                d = rows[rows["grammar"] == grammar]
                for arch in architectures:
                    part = d[d["architecture"] == arch]
                    if len(part):
                        _line(ax, part, "n_train", colour[arch])
                oracle = d[d["architecture"] == ORACLE]
                if len(oracle):
                    s = _spread(oracle, "n_train")
                    _reference_line(ax, s["n_train"], s["mean"].to_numpy(), color="black", ls="--", lw=1.5)
                _size_axis(ax, d["n_train"] if len(d) else table["n_train"])
                if metric in ("auroc", "auprc", "accuracy", "subset_accuracy"):
                    ax.set_ylim(top=1.02)
                _label_panel(ax, i, j, len(metrics), grammar, f"{split} {METRIC_LABELS.get(metric, metric)}",
                             "training-set size")
        handles = [Line2D([], [], color=colour[a], marker="o", lw=1.8, label=a) for a in architectures]
        if has_oracle:
            handles.append(Line2D([], [], color="black", ls="--", lw=1.5, label="oracle (Bayes-optimal)"))
        fig.legend(handles=handles, loc="outside right upper", title="architecture", frameon=False)
    return fig


# ---------------------------------------------------------------------------------------
# grammar recovery
# ---------------------------------------------------------------------------------------


def recovery_figure(recovery: pd.DataFrame, metric: str = "position_auprc",
                    statistic: str = "mean", subset: str = "all",
                    runs: Sequence[str] | None = None,
                    grammars: Sequence[str] | None = None) -> plt.Figure:
    """Grammar recovery vs training-set size: one line per architecture (mean ± SD over
    seeds of the per-sequence mean), the random ranking (its exact expected value: the
    expected average precision of a random ranking for an AUPRC, 0.5 for an AUROC) dotted; one column per grammar, one row per attribution run.

    Parameters
    ----------
    recovery: pandas.DataFrame
        The recovery table (:func:`grammarbench.aggregate.tables.recovery_table`).
    metric, statistic, subset: str
        Which rows: default per-position AUPRC, mean over maps, all maps.
    runs: sequence of str or None
        Attribution runs (rows) in order. Default: all.
    grammars: sequence of str or None
        Grammars (columns) in order. Default: all.
    """
    table = _select(recovery, "recovery figure", metric=metric, statistic=statistic, subset=subset)
    table = table[table["element"].astype(str) == ""] if "element" in table else table
    run_col = _run_column(table)
    runs = list(runs or _ordered(table[run_col]))
    grammars = list(grammars or _ordered(table["grammar"]))
    architectures = _ordered(table["architecture"])
    colour = _colours(architectures)
    with _style():
        fig, axes = _figure(len(runs), len(grammars), sharex="col", sharey=True)
        for i, run in enumerate(runs):
            for j, grammar in enumerate(grammars):
                ax = axes[i, j]
                d = table[(table[run_col] == run) & (table["grammar"] == grammar)]
                for arch in architectures:
                    part = d[d["architecture"] == arch]
                    if len(part):
                        _line(ax, part, "n_train", colour[arch])
                if len(d):
                    if metric.endswith("auroc"):
                        ax.axhline(0.5, color="grey", ls=":", lw=1.5)
                    elif _baseline_column(d) is not None:
                        base = d.groupby("n_train")[_baseline_column(d)].mean().sort_index()
                        _reference_line(ax, base.index, base.to_numpy(), color="grey", ls=":", lw=1.5)
                    _size_axis(ax, d["n_train"])
                _label_panel(ax, i, j, len(runs), grammar, f"{run}\n{METRIC_LABELS.get(metric, metric)}",
                             "training-set size")
        handles = [Line2D([], [], color=colour[a], marker="o", lw=1.8, label=a) for a in architectures]
        handles.append(_random_ranking_handle())
        fig.legend(handles=handles, loc="outside right upper", title="architecture", frameon=False)
    return fig


def method_heatmap(recovery: pd.DataFrame, metric: str = "position_auprc", statistic: str = "mean",
                   subset: str = "all", n_train: int | None = None,
                   grammars: Sequence[str] | None = None) -> plt.Figure:
    """Attribution runs × architectures heatmap of grammar recovery (mean over data and
    model seeds) at one training-set size (default: each grammar's largest), one panel
    per grammar; each panel's title states the random ranking's value, and the colour
    bar is shared.

    Parameters
    ----------
    recovery: pandas.DataFrame
        The recovery table.
    metric, statistic, subset: str
        Which rows: default per-position AUPRC, mean over maps, all maps.
    n_train: int or None
        Training-set size. Default None: each grammar's largest.
    grammars: sequence of str or None
        Grammars (panels) in order. Default: all.
    """
    table = _select(recovery, "method heatmap", metric=metric, statistic=statistic, subset=subset)
    table = table[table["element"].astype(str) == ""] if "element" in table else table
    run_col = _run_column(table)
    grammars = list(grammars or _ordered(table["grammar"]))
    runs = _ordered(table[run_col])
    architectures = _ordered(table["architecture"])
    panels = []
    for grammar in grammars:
        rows = table[table["grammar"] == grammar]
        size = _largest_size(rows, n_train)
        rows = rows[rows["n_train"].astype(int) == size]
        grid = (rows.groupby([run_col, "architecture"])["value"].mean().unstack("architecture")
                .reindex(index=runs, columns=architectures))
        panels.append((grammar, size, grid, _baseline(metric, rows)))
    values = np.concatenate([g.to_numpy(dtype=float).ravel() for _, _, g, _ in panels])
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if metric.endswith(("auroc", "auprc")) or metric == "attribution_mass":
        vmin, vmax = min(vmin, 0.0 if not metric.endswith("auroc") else 0.5), max(vmax, 1e-9)
    titles = [f"{grammar}\nn_train {_size_label(size)}"
              + (f"\nrandom ranking: {base:.3g}" if base is not None else "")
              for grammar, size, _, base in panels]
    with _style():
        # a panel is as wide as its columns or its title, whichever is wider: with one
        # architecture the titles of neighbouring panels would otherwise run into each other
        width = max(1.0 + 0.75 * len(architectures), max(map(_text_width_inches, titles)) + 0.3)
        height = 2.0 + 0.45 * len(runs)
        # the method names, the axis label and the colour bar with its label
        extra = max(map(_text_width_inches, map(str, runs)), default=0.0) + 2.2
        fig, axes = plt.subplots(1, len(panels), squeeze=False, layout="constrained",
                                 figsize=(width * len(panels) + extra, height))
        for j, (grammar, size, grid, base) in enumerate(panels):
            ax = axes[0, j]
            sns.heatmap(grid.astype(float), ax=ax, cmap=HEATMAP_CMAP, vmin=vmin, vmax=vmax,
                        annot=len(runs) * len(architectures) <= 300, fmt=".2f",
                        annot_kws={"fontsize": 8}, linewidths=0.5, linecolor="white",
                        cbar=j == len(panels) - 1,
                        cbar_kws={"label": f"{METRIC_LABELS.get(metric, metric)} ({statistic})"})
            ax.set_title(titles[j], fontsize="medium")
            ax.set_xlabel("architecture")
            ax.set_ylabel("attribution method" if j == 0 else "")
            ax.tick_params(axis="x", rotation=45)
            ax.tick_params(axis="y", rotation=0)
            if j:
                ax.set_yticklabels([])
    return fig


def methods_by_grammar(recovery: pd.DataFrame,
                       metrics: Sequence[str] = ("position_auroc", "position_auprc"),
                       statistic: str = "mean", subset: str = "all", n_train: int | None = None,
                       grammars: Sequence[str] | None = None) -> plt.Figure:
    """Per-method grammar recovery across grammars (e.g. the five cell types of the
    realistic ENCODE benchmark): one point per attribution run and grammar (mean ± SD over
    data and model seeds) at each grammar's largest training-set size (or ``n_train``); one
    row per metric (per-position AUROC and AUPRC), one column per architecture; each
    grammar's random ranking as a dotted line in its colour.

    Parameters
    ----------
    recovery: pandas.DataFrame
        The recovery table.
    metrics: sequence of str
        Rows, in order. Default per-position AUROC and AUPRC.
    statistic, subset: str
        Which rows: default the mean over maps, all maps.
    n_train: int or None
        Training-set size. Default None: each grammar's largest.
    grammars: sequence of str or None
        Grammars (colours) in order. Default: all.
    """
    table = _select(recovery, "methods by grammar", statistic=statistic, subset=subset)
    table = table[table["element"].astype(str) == ""] if "element" in table else table
    table = table[table["metric"].isin(metrics)]
    if table.empty:
        raise ValueError(f"methods by grammar: no rows with metric in {list(metrics)}")
    run_col = _run_column(table)
    grammars = list(grammars or _ordered(table["grammar"]))
    runs = _ordered(table[run_col])
    architectures = _ordered(table["architecture"])
    largest = {g: _largest_size(table[table["grammar"] == g], n_train) for g in grammars}
    table = table[[int(n) == largest.get(g, -1) for g, n in zip(table["grammar"], table["n_train"])]]
    colour = _colours(grammars)
    offsets = np.linspace(-0.3, 0.3, len(grammars)) if len(grammars) > 1 else np.zeros(1)
    with _style():
        fig, axes = _figure(len(metrics), len(architectures),
                            panel=(max(3.6, 0.55 * len(runs) * max(1, len(grammars)) ** 0.5), 3.2),
                            sharex=True, sharey="row")
        for i, metric in enumerate(metrics):
            for j, architecture in enumerate(architectures):
                ax = axes[i, j]
                here = table[(table["metric"] == metric) & (table["architecture"] == architecture)]
                for k, grammar in enumerate(grammars):
                    rows = here[here["grammar"] == grammar]
                    if rows.empty:
                        continue
                    s = rows.groupby(run_col)["value"].agg(["mean", "std"]).reindex(runs)
                    xs = np.arange(len(runs)) + offsets[k]
                    ax.errorbar(xs, s["mean"], yerr=s["std"].fillna(0.0), fmt="o", ms=4,
                                color=colour[grammar], capsize=2, lw=1)
                    base = _baseline(metric, rows)
                    if base is not None:
                        ax.axhline(base, color=colour[grammar], ls=":", lw=1)
                ax.set_xticks(np.arange(len(runs)))
                ax.set_xticklabels(runs, rotation=60, ha="right")
                ax.set_title(architecture if i == 0 else "", fontsize="medium")
                ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} ({statistic})" if j == 0 else "")
                ax.grid(axis="y", alpha=0.3)
        handles = [Line2D([], [], color=colour[g], marker="o", ls="", label=g) for g in grammars]
        handles.append(Line2D([], [], color="grey", ls=":", lw=1.5, label="random ranking"))
        fig.legend(handles=handles, loc="outside right upper", frameon=False, title="grammar")
    return fig


def _reference_label(reference, n_references) -> str:
    reference = "" if _missing(reference) else str(reference)
    if reference == "shuffle" and not _missing(n_references) and str(n_references) != "":
        return f"shuffle ×{int(n_references)}"
    return reference


def _reference_order(labels) -> list[str]:
    def key(label):
        base, _, n = label.partition(" ×")
        rank = REFERENCE_ORDER.index(base) if base in REFERENCE_ORDER else len(REFERENCE_ORDER)
        return rank, int(n) if n.isdigit() else 0, label
    return sorted(set(labels), key=key)


def reference_sweep(recovery: pd.DataFrame, metric: str = "position_auprc", statistic: str = "mean",
                    subset: str = "all", n_train: int | None = None,
                    architectures: Sequence[str] | None = None,
                    grammars: Sequence[str] | None = None) -> plt.Figure:
    """Grammar recovery per reference — zeros, uniform, the mean composition, and
    dinucleotide shuffles × n — one colour per method (mean ± SD over seeds), at one
    training-set size (default: the largest); one column per architecture, one row per
    grammar; the random ranking dotted. Runs without a reference are left out.

    Parameters
    ----------
    recovery: pandas.DataFrame
        The recovery table (needs ``method``, ``reference``; ``n_references`` labels the
        shuffles).
    metric, statistic, subset: str
        Which rows. Default per-position AUPRC, mean over maps, all maps.
    n_train: int or None
        Default None: each grammar's largest.
    architectures, grammars: sequence of str or None
        Columns and rows in order. Default: all.
    """
    table = _select(recovery, "reference sweep", metric=metric, statistic=statistic, subset=subset)
    table = table[table["element"].astype(str) == ""] if "element" in table else table
    table = table[table["reference"].map(lambda r: not _missing(r) and str(r) != "")].copy()
    if table.empty:
        raise ValueError("reference sweep: no run with a reference in the table")
    n_refs = table["n_references"] if "n_references" in table else pd.Series("", index=table.index)
    table["reference_label"] = [_reference_label(r, n) for r, n in zip(table["reference"], n_refs)]
    grammars = list(grammars or _ordered(table["grammar"]))
    architectures = list(architectures or _ordered(table["architecture"]))
    methods = _ordered(table["method"])
    colour = _colours(methods)
    labels = _reference_order(table["reference_label"])
    xpos = {label: i for i, label in enumerate(labels)}
    dodge = 0.6 / max(len(methods), 1)
    with _style():
        fig, axes = _figure(len(grammars), len(architectures),
                            panel=(max(3.4, 0.8 * len(labels) + 1.2), 3.0), sharey=True)
        for i, grammar in enumerate(grammars):
            rows = table[table["grammar"] == grammar]
            size = _largest_size(rows, n_train)
            rows = rows[rows["n_train"].astype(int) == size]
            base = _baseline(metric, rows)
            for j, arch in enumerate(architectures):
                ax = axes[i, j]
                d = rows[rows["architecture"] == arch]
                for k, method in enumerate(methods):
                    s = _spread(d[d["method"] == method], "reference_label")
                    if s.empty:
                        continue
                    xs = np.array([xpos[lab] for lab in s["reference_label"]]) + (k - (len(methods) - 1) / 2) * dodge
                    order = np.argsort(xs)
                    ax.errorbar(xs[order], s["mean"].to_numpy()[order], yerr=s["std"].to_numpy()[order],
                                color=colour[method], marker="o", ms=5, lw=1.2, capsize=2)
                if base is not None:
                    ax.axhline(base, color="grey", ls=":", lw=1.5)
                ax.set_xticks(range(len(labels)))
                ax.set_xticklabels(labels, rotation=45, ha="right")
                ax.set_xlim(-0.6, len(labels) - 0.4)
                _label_panel(ax, i, j, len(grammars), arch,
                             f"{grammar} (n_train {_size_label(size)})\n{METRIC_LABELS.get(metric, metric)}",
                             "reference")
        handles = [Line2D([], [], color=colour[m], marker="o", lw=1.2, label=m) for m in methods]
        handles.append(_random_ranking_handle())
        fig.legend(handles=handles, loc="outside right upper", title="method", frameon=False)
    return fig


# ---------------------------------------------------------------------------------------
# attribution tracks and logos
# ---------------------------------------------------------------------------------------


@cache
def _glyph(letter: str):
    path = TextPath((0, 0), letter, size=1, prop=FontProperties(family="DejaVu Sans", weight="bold"))
    return path, path.get_extents()


def draw_logo(ax, matrix, letters: str = "ACGT", x0: int = 0, colours: Mapping | None = None,
              width: float = 0.9) -> None:
    """Draw a sequence logo of an attribution matrix: at each position each letter is a
    glyph as tall as its value, positives stacked above zero (largest on top), negatives
    below (largest at the bottom).

    Parameters
    ----------
    ax: matplotlib Axes
    matrix: np.ndarray, shape=(A, W)
        Heights: the attribution at the observed letter (zero elsewhere) or a
        hypothetical map (every letter).
    letters: str
        The alphabet, length A. Default ``ACGT``.
    x0: int
        Position of the first column on the x axis. Default 0.
    colours: mapping or None
        Letter → colour. Default :data:`LETTER_COLOURS` (other letters: the palette).
    width: float
        Glyph width in positions. Default 0.9.
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != len(letters):
        raise ValueError(f"matrix must have shape ({len(letters)}, W); got {matrix.shape}")
    palette = sns.color_palette(PALETTE, len(letters))
    colours = {**{a: palette[i] for i, a in enumerate(letters)}, **LETTER_COLOURS, **(colours or {})}
    low = high = 0.0
    for j in range(matrix.shape[1]):
        column = matrix[:, j]
        above = [a for a in np.argsort(column, kind="stable") if column[a] > 0]   # smallest lowest
        below = [a for a in np.argsort(-column, kind="stable") if column[a] < 0]  # nearest zero first
        for stack, sign in ((above, 1.0), (below, -1.0)):
            y = 0.0
            for a in stack:
                h = abs(column[a])
                path, ext = _glyph(letters[a])
                bottom = y if sign > 0 else y - h
                t = (Affine2D().translate(-ext.x0, -ext.y0)
                     .scale(width / max(ext.width, 1e-9), h / max(ext.height, 1e-9))
                     .translate(x0 + j - width / 2, bottom))
                ax.add_patch(PathPatch(t.transform_path(path), color=colours[letters[a]], lw=0))
                y += sign * h
            high, low = max(high, y), min(low, y)
    pad = 0.05 * max(high - low, 1e-12)
    ax.set_xlim(x0 - 0.5, x0 + matrix.shape[1] - 0.5)
    ax.set_ylim(low - pad, high + pad)
    ax.axhline(0, color="black", lw=0.6)


def _position_scores(m: np.ndarray, c: np.ndarray, score: str) -> np.ndarray:
    if score == "sum":
        return m.sum(axis=0)
    if score == "observed":
        A = m.shape[0]
        known = c < A
        return np.where(known, m[np.minimum(c, A - 1), np.arange(m.shape[1])], 0.0)
    raise ValueError(f"score must be 'sum' or 'observed'; got {score!r}")


def attribution_tracks(maps, codes, instances: pd.DataFrame, example_ids=None, show=None, *,
                       letters: str = "ACGT", score: str = "sum", logo=None,
                       logo_mode: str = "observed", flank: int = 5, n_show: int = 3,
                       title: str | None = None) -> plt.Figure:
    """Attribution along a few sequences, the ground truth under each, and a sequence
    logo of the attribution at one instance.

    Each shown map gets a track (the position score: the sum over letters, or the value
    at the observed letter; inserted instances shaded in their element's colour) and
    under it a strip with the instances (element name and strand). The last panel is a
    logo of the attribution over one instance and ``flank`` letters either side.

    Parameters
    ----------
    maps: np.ndarray, shape=(M, A, L)
        Attribution maps.
    codes: np.ndarray, dtype=uint8, shape=(M, L)
        The sequences they explain (letter codes; A = unknown).
    instances: pandas.DataFrame
        The split's instances (``example``, ``element``, ``start``, ``end``, ``strand``).
    example_ids: np.ndarray or None, shape=(M,)
        The split row of each map (``AttributionResult.example``). Default ``arange(M)``.
    show: sequence of int or None
        Which maps to draw. Default: the first ``n_show`` whose example has an instance.
    letters: str
        The alphabet. Default ``ACGT``.
    score: str
        Track height: ``sum`` over letters or the ``observed`` letter's value.
    logo: tuple or None
        ``(map index, start, end)`` of the logo's instance. Default: the first instance
        of the first shown map (no logo if it has none).
    logo_mode: str
        ``observed`` (only the observed letter, the attribution × input view) or
        ``hypothetical`` (every letter's value, for hypothetical maps).
    flank: int
        Letters shown either side of the logo's instance. Default 5.
    n_show: int
        Maps drawn when ``show`` is None. Default 3.
    title: str or None
        Figure title.
    """
    maps = np.asarray(maps, dtype=float)
    codes = np.asarray(codes)
    if maps.ndim != 3 or codes.shape != (maps.shape[0], maps.shape[2]):
        raise ValueError(f"maps must have shape (M, A, L) and codes (M, L); got {maps.shape} "
                         f"and {codes.shape}")
    if maps.shape[1] != len(letters):
        raise ValueError(f"maps have {maps.shape[1]} letters, the alphabet {letters!r} {len(letters)}")
    if logo_mode not in ("observed", "hypothetical"):
        raise ValueError(f"logo_mode must be 'observed' or 'hypothetical'; got {logo_mode!r}")
    M, A, L = maps.shape
    example_ids = np.arange(M) if example_ids is None else np.asarray(example_ids)
    by_example = {e: g for e, g in instances.groupby("example")} if len(instances) else {}
    if show is None:
        with_instances = [i for i in range(M) if example_ids[i] in by_example]
        show = (with_instances or list(range(M)))[:n_show]
    show = list(show)
    if not show:
        raise ValueError("attribution tracks: no map to show")
    elements = sorted(set(instances["element"])) if len(instances) else []
    colour = _colours(elements)
    if logo is None:
        first = by_example.get(example_ids[show[0]])
        if first is not None and len(first):
            row = first.sort_values("start").iloc[0]
            logo = (show[0], int(row["start"]), int(row["end"]))
    with _style():
        ratios = []
        for _ in show:
            ratios += [1.0, 0.28]
        if logo is not None:
            ratios.append(1.5)
        fig = plt.figure(layout="constrained", figsize=(11, sum(ratios) * 1.35 + 0.6))
        gs = fig.add_gridspec(len(ratios), 1, height_ratios=ratios)
        k = 0
        positions = np.arange(L)
        for i in show:
            ax = fig.add_subplot(gs[k])
            strip = fig.add_subplot(gs[k + 1], sharex=ax)
            k += 2
            s = _position_scores(maps[i], codes[i], score)
            ax.fill_between(positions, 0, s, step="mid", color="0.25", lw=0)
            ax.axhline(0, color="black", lw=0.5)
            inst = by_example.get(example_ids[i], pd.DataFrame(columns=["element", "start", "end", "strand"]))
            for _, r in inst.iterrows():
                ax.axvspan(r["start"] - 0.5, r["end"] - 0.5, color=colour[r["element"]], alpha=0.25, lw=0)
                strip.add_patch(Rectangle((r["start"] - 0.5, 0.1), r["end"] - r["start"], 0.8,
                                          color=colour[r["element"]], lw=0))
                strand = r.get("strand", "")
                strip.text((r["start"] + r["end"]) / 2 - 0.5, 0.5,
                           f"{r['element']} {'→' if strand == '+' else '←' if strand == '-' else ''}",
                           ha="center", va="center", fontsize="x-small", color="black")
            ax.set_ylabel(f"example {example_ids[i]}\n{'Σ letters' if score == 'sum' else 'observed'}",
                          fontsize="small")
            ax.set_xlim(-0.5, L - 0.5)
            ax.tick_params(labelbottom=False)
            sns.despine(ax=ax, bottom=True)
            strip.set_ylim(0, 1)
            strip.set_yticks([])
            strip.set_ylabel("truth", rotation=0, ha="right", va="center", fontsize="small")
            sns.despine(ax=strip, left=True)
            strip.tick_params(labelbottom=(i == show[-1]))
            if i == show[-1]:
                strip.set_xlabel("position")
        if logo is not None:
            i, start, end = logo
            lo, hi = max(0, start - flank), min(L, end + flank)
            window = maps[i][:, lo:hi]
            if logo_mode == "observed":
                onehot = (np.arange(A)[:, None] == codes[i, lo:hi][None, :])
                window = window * onehot
            ax = fig.add_subplot(gs[k])
            ax.axvspan(start - 0.5, end - 0.5, color="0.9", lw=0, zorder=0)
            draw_logo(ax, window, letters=letters, x0=lo)
            ticks = np.arange(lo, hi, max(1, (hi - lo) // 12))
            ax.set_xticks(ticks)
            ax.set_xlabel("position")
            ax.set_ylabel("attribution")
            # half-open and 0-based, said so: "23–42" would read as inclusive
            ax.set_title(f"example {example_ids[i]}, instance at [{start}, {end}) "
                         f"(0-based, end excluded: {end - start} letters; "
                         f"{'observed letter' if logo_mode == 'observed' else 'hypothetical'})",
                         fontsize="medium")
            sns.despine(ax=ax)
        if elements:
            fig.legend(handles=[Patch(color=colour[e], label=e) for e in elements], title="element",
                       loc="outside right upper", frameon=False)
        if title:
            fig.suptitle(title)
    return fig


def tracks_from_files(attribution: str | os.PathLike, split: str | os.PathLike, run: str | None = None,
                      **options) -> plt.Figure:
    """:func:`attribution_tracks` of a stored attribution result (``.npz``,
    :meth:`grammarbench.attribution.AttributionResult.save`) and the split it explains.

    ``attribution`` is the ``.npz`` file, or a model's folder of runs (the ``attribute``
    rule's output) with ``run`` naming the one to draw."""
    from grammarbench.attribution.results import AttributionResult
    from grammarbench.simulation.dataset import load_split

    if Path(attribution).is_dir():
        if run is None:
            raise ValueError(f"tracks: {attribution} is a folder of runs; name one with run=")
        attribution = Path(attribution) / f"{run}.npz"
    result = AttributionResult.load(attribution)
    data = load_split(split)
    codes = np.asarray(data.sequences)[result.example]
    letters = "".join(data.manifest["letters"])
    reference = f", reference {result.reference}" if result.reference else ""
    options.setdefault("title", f"{result.method}{reference}")
    options.setdefault("logo_mode", "hypothetical" if result.settings.get("hypothetical") else "observed")
    return attribution_tracks(result.maps, codes, data.instances, result.example, letters=letters,
                              **options)


# ---------------------------------------------------------------------------------------
# training, data, runtime
# ---------------------------------------------------------------------------------------


def learning_curves(training: pd.DataFrame, metric: str = "loss",
                    grammars: Sequence[str] | None = None) -> plt.Figure:
    """Learning curves: ``metric`` per epoch, one colour per architecture, training solid
    and validation dashed (mean ± SD over data and model seeds); one row per grammar,
    one column per training-set size.

    Parameters
    ----------
    training: pandas.DataFrame
        The training table (:func:`grammarbench.aggregate.tables.training_table`).
    metric: str
        ``loss``, ``accuracy`` or ``auroc``. Default ``loss``.
    grammars: sequence of str or None
        Rows in order. Default: all.
    """
    table = _select(training, "learning curves", metric=metric)
    table = table[table["split"].isin(["train", "validation"])]
    grammars = list(grammars or _ordered(table["grammar"]))
    sizes = sorted({int(n) for n in table["n_train"]})
    architectures = _ordered(table["architecture"])
    colour = _colours(architectures)
    styles = {"train": "-", "validation": "--"}
    with _style():
        fig, axes = _figure(len(grammars), len(sizes), panel=(3.3, 2.6), sharey="row")
        for i, grammar in enumerate(grammars):
            for j, size in enumerate(sizes):
                ax = axes[i, j]
                d = table[(table["grammar"] == grammar) & (table["n_train"].astype(int) == size)]
                for arch in architectures:
                    for split, ls in styles.items():
                        part = d[(d["architecture"] == arch) & (d["split"] == split)]
                        if len(part):
                            _line(ax, part, "epoch", colour[arch], ls=ls, marker="")
                _label_panel(ax, i, j, len(grammars), f"n_train {_size_label(size)}", f"{grammar}\n{metric}", "epoch")
        handles = [Line2D([], [], color=colour[a], lw=1.8, label=a) for a in architectures]
        handles += [Line2D([], [], color="black", ls=ls, lw=1.5, label=split) for split, ls in styles.items()]
        fig.legend(handles=handles, loc="outside right upper", frameon=False)
    return fig


def curves_figure(curves: pd.DataFrame, title: str = "") -> plt.Figure:
    """ROC and precision-recall curves side by side, one line per class (and ``micro``).

    Parameters
    ----------
    curves: pd.DataFrame
        Columns curve (roc | pr), class, x, y: :func:`grammarbench.models.evaluate.curves_table`.
    title: str
        Default none.
    """
    with _style():
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
        for ax, (kind, xlabel, ylabel) in zip(axes, (("roc", "false positive rate", "true positive rate"),
                                                     ("pr", "recall", "precision"))):
            part = curves[curves["curve"] == kind]
            sns.lineplot(part, x="x", y="y", hue="class", ax=ax, estimator=None, sort=False, errorbar=None)
            if kind == "roc":
                ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
            ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.02))
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def read_positional(split_dir: str | os.PathLike) -> pd.DataFrame:
    """A split's ``positional.tsv`` as a classes × positions table of fractions."""
    table = pd.read_csv(Path(split_dir) / "positional.tsv", sep="\t", index_col="class")
    return table.drop(columns="examples", errors="ignore")


def positional_heatmaps(tables: Mapping[str, pd.DataFrame], bins: int = 100) -> plt.Figure:
    """Where grammar positions fall: per grammar, a classes × positions heatmap of the
    fraction of each class's examples with an inserted element there (the simulator's
    diagnostics), positions averaged into at most ``bins`` bins; one shared colour bar.

    Parameters
    ----------
    tables: mapping
        Grammar → positional table (:func:`read_positional`; classes × positions).
    bins: int
        Default 100.
    """
    if not tables:
        raise ValueError("positional heatmaps: no table")
    binned = {}
    for name, table in tables.items():
        length = table.shape[1]
        width = max(1, -(-length // bins))
        b = table.T.groupby(np.arange(length) // width).mean().T
        b.columns = [i * width for i in b.columns]
        binned[name] = b
    vmax = max(float(np.nanmax(b.to_numpy())) for b in binned.values()) or 1.0
    heights = [1.0 + 0.22 * len(b) for b in binned.values()]
    with _style():
        fig = plt.figure(layout="constrained", figsize=(11, sum(heights) + 0.4))
        gs = fig.add_gridspec(len(binned), 2, height_ratios=heights, width_ratios=[40, 1])
        cax = fig.add_subplot(gs[:, 1])
        for i, (name, b) in enumerate(binned.items()):
            ax = fig.add_subplot(gs[i, 0])
            step = max(1, len(b) // 25)
            sns.heatmap(b, ax=ax, cmap=HEATMAP_CMAP, vmin=0, vmax=vmax, cbar=i == 0, cbar_ax=cax if i == 0 else None,
                        cbar_kws={"label": "fraction of the class's examples"},
                        xticklabels=max(1, len(b.columns) // 10), yticklabels=step)
            ax.tick_params(axis="y", rotation=0)
            ax.set_title(name, fontsize="medium")
            ax.set_ylabel("class")
            ax.set_xlabel("position (start of bin)" if i == len(binned) - 1 else "")
    return fig


def runtime_figure(runtime: pd.DataFrame, train_rule: str = "train") -> plt.Figure:
    """Wall time and peak memory (RSS) of every benchmarked job per rule, and the
    training wall time vs training-set size per architecture (mean ± SD over seeds).

    Parameters
    ----------
    runtime: pandas.DataFrame
        The runtime table (:func:`grammarbench.aggregate.tables.runtime_table`).
    train_rule: str
        The rule whose time is drawn against training-set size. Default ``train``.
    """
    table = runtime.copy()
    if table.empty:
        raise ValueError("runtime figure: empty table")
    table["value"] = pd.to_numeric(table["value"], errors="coerce")
    rules = _ordered(table["rule"])
    train = table[(table["rule"] == train_rule) & (table["metric"] == "s")]
    has_train = "n_train" in table and "architecture" in table and len(train) > 0
    with _style():
        fig, axes = _figure(1, 3 if has_train else 2, panel=(max(3.6, 0.5 * len(rules) + 1.5), 3.4))
        for ax, (metric, label) in zip(axes[0], (("s", "wall time (s)"), ("max_rss", "peak memory, RSS (MB)"))):
            d = table[(table["metric"] == metric)].dropna(subset=["value"])
            if len(d):
                with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated vert=
                    warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
                    sns.boxplot(d, x="rule", y="value", order=rules, ax=ax, color="0.85", fliersize=0,
                                width=0.6)
                sns.stripplot(d, x="rule", y="value", order=rules, ax=ax, color="0.2", size=3, jitter=0.2)
                if d["value"].min() > 0 and d["value"].max() / d["value"].min() > 50:
                    ax.set_yscale("log")
            ax.set_ylabel(label)
            ax.set_xlabel("rule")
            ax.tick_params(axis="x", rotation=45)
            sns.despine(ax=ax)
        if has_train:
            ax = axes[0, 2]
            architectures = _ordered(train["architecture"])
            colour = _colours(architectures)
            for arch in architectures:
                _line(ax, train[train["architecture"] == arch], "n_train", colour[arch])
            _size_axis(ax, train["n_train"])
            ax.set_xlabel("training-set size")
            ax.set_ylabel(f"{train_rule} wall time (s)")
            sns.despine(ax=ax)
            fig.legend(handles=[Line2D([], [], color=colour[a], marker="o", label=a) for a in architectures],
                       title="architecture", loc="outside right upper", frameon=False)
    return fig


# ---------------------------------------------------------------------------------------
# saving and the one call of a figure rule
# ---------------------------------------------------------------------------------------


def save(fig: plt.Figure, stem: str | os.PathLike, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` (each atomically) and close it.

    ``stem`` may end in ``.png`` or ``.pdf``; the suffix is replaced. Returns the paths.
    """
    stem = Path(stem)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for ext in ("png", "pdf"):
            path = stem.with_name(f"{stem.name}.{ext}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=dpi, format=ext)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def _table(value) -> pd.DataFrame:
    if isinstance(value, pd.DataFrame):
        return value
    from grammarbench.aggregate.tables import read_table

    return read_table(value)


def _named(splits, names) -> dict:
    """Grammar → split folder, from a mapping or from a list of folders and their names."""
    if isinstance(splits, Mapping):
        return dict(splits)
    splits = [splits] if isinstance(splits, (str, os.PathLike)) else list(splits)
    if names is None or len(names) != len(splits):
        raise ValueError("positional: give the splits as grammar -> folder, or names= (one per folder)")
    return dict(zip(names, splits))


def _table_figure(function, table: str) -> Callable:
    return lambda inputs, **options: function(_table(inputs[table]), **options)


def _positional(inputs, names=None, **options) -> plt.Figure:
    splits = _named(inputs["splits"], names)
    return positional_heatmaps({name: read_positional(path) for name, path in splits.items()}, **options)


def _tracks(inputs, **options) -> plt.Figure:
    return tracks_from_files(inputs["attribution"], inputs["split"], **options)


def _has_models(grid) -> bool:
    return bool(grid.architectures)


def _has_attribution(grid) -> bool:
    return bool(grid.architectures) and grid.attribution is not None


def _has_reference_sweep(grid) -> bool:
    """A sweep needs one method run with two or more reference settings; otherwise the
    figure would repeat one point per method."""
    from grammarbench.attribution.settings import has_reference_sweep

    return _has_attribution(grid) and has_reference_sweep(grid.attribution.runs)


def _has_realistic_recovery(grid) -> bool:
    """Realistic grammars (real windows, as the cell types of the ENCODE benchmark) that
    attribution runs are scored on."""
    return _has_attribution(grid) and any(getattr(g, "kind", "") == "realistic"
                                          for g in grid.grammars.values())


def _has_discovery(grid) -> bool:
    return bool(getattr(grid, "discovery", None) and grid.discovery["runs"])


def _discovery_table(inputs, **options):
    from grammarbench.discovery import figures

    return figures.discovery_figure(_table(inputs["discovery"]), **options)


def _discovery_logos(inputs, **options):
    from grammarbench.discovery import figures

    return figures.logos_from_files(inputs["patterns"], inputs["matches"], inputs["grammar"],
                                    motif_summary=inputs.get("motifs"), **options)


@dataclass(frozen=True)
class Figure:
    """One figure of the report: a row of :data:`FIGURES`.

    Attributes
    ----------
    draw: callable
        ``draw(inputs, **options) -> matplotlib Figure``; ``inputs`` maps each name of
        ``inputs`` to a path (or a DataFrame, for a table).
    inputs: tuple of str
        What it is drawn from: a table of :data:`grammarbench.aggregate.tables.BUILDERS`
        (its ``.tsv``), ``splits`` (held-out test splits, one per grammar), ``attribution``
        (one model's folder of runs) and ``split`` (the split those maps explain).
    category: str
        The report section it is filed under, beside its stage's table.
    caption: str
        Its caption, a Jinja template under ``report/`` (:func:`render_caption`).
    applies: callable
        ``applies(grid) -> bool``: whether a :class:`grammarbench.grid.Grid` has it.
    options: callable
        ``options(grid) -> dict``: keyword arguments of ``draw`` that the grid decides.
    """

    draw: Callable
    inputs: tuple[str, ...]
    category: str
    caption: str
    applies: Callable = _has_models
    options: Callable = field(default=lambda grid: {})


#: The report's figures, name (the file stem under ``<results>/figures/``) → :class:`Figure`.
FIGURES = {
    "predictive": Figure(_table_figure(predictive_figure, "predictive"), ("predictive",),
                         "2. Predictive performance", "figures/predictive.rst"),
    "learning_curves": Figure(_table_figure(learning_curves, "training"), ("training",),
                              "2. Predictive performance", "figures/learning_curves.rst"),
    "runtime": Figure(_table_figure(runtime_figure, "runtime"), ("runtime",), "4. Runtime",
                      "figures/runtime.rst"),
    "positional_heatmaps": Figure(_positional, ("splits",), "1. Simulated data",
                                  "figures/positional_heatmaps.rst",
                                  options=lambda grid: {"names": list(grid.grammars)}),
    "recovery": Figure(_table_figure(recovery_figure, "recovery"), ("recovery",), "3. Grammar recovery",
                       "figures/recovery.rst", _has_attribution),
    "methods_heatmap": Figure(_table_figure(method_heatmap, "recovery"), ("recovery",),
                              "3. Grammar recovery", "figures/methods_heatmap.rst", _has_attribution),
    "attribution_tracks": Figure(_tracks, ("attribution", "split"), "3. Grammar recovery",
                                 "figures/attribution_tracks.rst", _has_attribution,
                                 options=lambda grid: {"run": grid.attribution.runs[0].name}),
    "reference_sweep": Figure(_table_figure(reference_sweep, "recovery"), ("recovery",),
                              "3. Grammar recovery", "figures/reference_sweep.rst", _has_reference_sweep),
    "methods_by_grammar": Figure(_table_figure(methods_by_grammar, "recovery"), ("recovery",),
                                 "3. Grammar recovery", "figures/methods_by_grammar.rst",
                                 _has_realistic_recovery),
    # motif discovery (grammarbench.discovery.figures: logomaker is imported only there)
    "discovery": Figure(_discovery_table, ("discovery",), "5. Motif discovery", "figures/discovery.rst",
                        _has_discovery),
    "discovery_logos": Figure(_discovery_logos, ("patterns", "matches", "grammar"), "5. Motif discovery",
                              "figures/discovery_logos.rst", _has_discovery,
                              options=lambda grid: {"downloads": sorted(grid.config.get("downloads") or {})}),
}


def applicable(grid) -> list[str]:
    """The names of the figures a grid (:class:`grammarbench.grid.Grid`) has, in
    :data:`FIGURES` order."""
    return [name for name, figure in FIGURES.items() if figure.applies(grid)]


def render_caption(path: str | os.PathLike, **context) -> str:
    """A report caption: the Jinja template at ``path`` rendered with ``context`` (e.g.
    ``config=``, the run's config)."""
    import jinja2

    return jinja2.Template(Path(path).read_text(), trim_blocks=True, lstrip_blocks=True).render(**context)


def render(name: str, inputs: Mapping, output: str | os.PathLike, **options) -> list[Path]:
    """Draw figure ``name`` from ``inputs`` and save it as PNG and PDF: the one call of a
    figure rule.

    Parameters
    ----------
    name: str
        A key of :data:`FIGURES`.
    inputs: mapping
        The figure's inputs: table paths (or DataFrames) under ``predictive``,
        ``recovery``, ``training``, ``runtime``; ``splits`` (grammar → split folder, or a
        list of folders with ``names=[grammar, ...]``) for ``positional_heatmaps``;
        ``attribution`` (``.npz``, or a folder of runs with ``run=``) and ``split``
        (folder) for ``attribution_tracks``.
        ``discovery`` (the table) for ``discovery``; ``patterns`` (a discover job's ``.json``),
        ``matches`` (its ``.tsv``), ``grammar`` and, for a realistic grammar, ``motifs``
        (its ``motifs.json``: the kept motifs are its elements) for ``discovery_logos``.
    output: str or path
        ``<stem>.png`` or the stem; ``<stem>.pdf`` is written beside.
    **options:
        Passed to the figure function (e.g. ``metric="position_auroc"``).
    """
    if name not in FIGURES:
        raise ValueError(f"figure must be one of {', '.join(FIGURES)}; got {name!r}")
    figure = FIGURES[name]
    missing = [k for k in figure.inputs if k not in inputs]
    if missing:
        raise ValueError(f"figure {name!r} needs input(s) {missing}")
    return save(figure.draw(inputs, **options), output)
