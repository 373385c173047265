"""Figures. Each function takes tidy tables and returns a matplotlib Figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

sns.set_theme(context="paper", style="ticks", font_scale=1.2)


def read_positional(split_dir: str | Path) -> pd.DataFrame:
    """The positional table of a simulated split (classes × positions, fractions)."""
    table = pd.read_csv(Path(split_dir) / "positional.tsv", sep="\t", index_col="class")
    return table.drop(columns="examples")


def positional_heatmap(table: pd.DataFrame, bins: int = 100) -> plt.Figure:
    """Heatmap of where grammar positions fall, per class.

    Parameters
    ----------
    table: pd.DataFrame, shape=(n_classes, length)
        Fraction of a class's examples with a grammar position at each position.
    bins: int, optional
        Positions are averaged into at most this many bins so long sequences stay
        readable. Default is 100.
    """
    length = table.shape[1]
    width = max(1, -(-length // bins))
    binned = table.T.groupby(pd.RangeIndex(length) // width).mean().T
    binned.columns = [f"{i * width}" for i in binned.columns]
    height = 1.2 + 0.35 * len(binned)
    fig, ax = plt.subplots(figsize=(10, height))
    sns.heatmap(binned, ax=ax, cmap="viridis", vmin=0, cbar_kws={"label": "fraction of examples"},
                xticklabels=max(1, len(binned.columns) // 10))
    ax.tick_params(axis="y", rotation=0)  # class names read left to right
    ax.set_xlabel("position (start of bin)")
    ax.set_ylabel("class")
    ax.set_title("grammar positions per class")
    return fig


def curves_figure(curves: pd.DataFrame, title: str = "") -> plt.Figure:
    """ROC and precision-recall curves side by side, one line per class (and ``micro``).

    Parameters
    ----------
    curves: pd.DataFrame
        Columns curve (roc | pr), class, x, y: :func:`grammarbench.models.evaluate.curves_table`.
    """
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
