# figures.py
# grammarbench.discovery: recovered-motif logos and recall/precision vs training-set size.

"""The motif-discovery figures.

:func:`logo_figure`
    For one model and attribution run: each grammar element's logo (information
    content of its PPM) beside the logo of the discovered pattern assigned to it, turned
    to the element's strand, with its Tomtom q-value; then the spurious patterns (assigned
    to no element) with their best decoy match.
:func:`discovery_figure`
    Motif recall and precision vs training-set size from ``discovery.tsv``: one line per
    architecture (mean ± SD over data and model seeds), one row per attribution run, one
    column per grammar and metric.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # figures are written to files; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .matching import TRIM_THRESHOLD  # noqa: E402
from .scores import ALPHA, assign_patterns  # noqa: E402

__all__ = ["logo_figure", "discovery_figure", "logos_from_files", "MAX_SPURIOUS"]

# Spurious patterns drawn below the elements; more would make the figure unreadable.
MAX_SPURIOUS = 4
METRIC_LABELS = {"motif_recall": "motif recall", "motif_precision": "motif precision",
                 "seqlet_recall": "seqlet recall", "seqlet_precision": "seqlet precision",
                 "redundancy": "patterns per recovered motif"}


def _logo(ax, ppm: np.ndarray, title: str) -> None:
    """Information-content logo of a PPM, shape=(W, 4), columns A C G T."""
    import logomaker

    frame = pd.DataFrame(np.asarray(ppm, float), columns=list("ACGT"))
    information = logomaker.transform_matrix(frame, from_type="probability",
                                             to_type="information", pseudocount=0)
    logomaker.Logo(information, ax=ax, color_scheme="classic", show_spines=False)
    ax.set_ylim(0, 2)
    ax.set_yticks([0, 1, 2])
    ax.set_xticks([])
    ax.set_title(title, fontsize=9, loc="left")


def _blank(ax, text: str) -> None:
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            color="grey")


def logo_figure(discovery, matches: pd.DataFrame, elements: dict, *, alpha: float = ALPHA,
                title: str = "", trim_threshold: float = TRIM_THRESHOLD) -> plt.Figure:
    """Each grammar element's logo beside the discovered pattern assigned to it.

    Parameters
    ----------
    discovery: grammarbench.discovery.Discovery
    matches: pandas.DataFrame
        Its Tomtom matches (:func:`grammarbench.discovery.match_patterns`).
    elements: dict
        Element name -> PPM, shape=(W, 4) (:func:`grammarbench.discovery.element_motifs`).
    alpha: float
        q-value threshold of a match. Default is 0.05.
    title: str
        Figure title (e.g. the model and run).
    """
    assignment = assign_patterns(matches, list(elements), alpha).set_index("pattern")
    patterns = {p.name: p.trimmed(trim_threshold) for p in discovery.patterns}
    # per element: its best-matching assigned pattern
    best = (assignment[assignment["assigned"] != ""].sort_values("best_q")
            .reset_index().groupby("assigned").head(1).set_index("assigned"))
    spurious = [name for name in assignment.index if assignment.loc[name, "assigned"] == ""]
    rows = len(elements) + min(len(spurious), MAX_SPURIOUS)
    fig, axes = plt.subplots(max(rows, 1), 2, squeeze=False, layout="constrained",
                             figsize=(9, 1.5 * max(rows, 1) + 0.6))
    strands = matches.set_index(["pattern", "target"])["strand"]
    for i, (element, ppm) in enumerate(elements.items()):
        _logo(axes[i, 0], ppm, f"grammar: {element}")
        if element in best.index:
            name = best.loc[element, "pattern"]
            pattern = patterns[name].ppm
            if strands.get((name, element)) == "-":
                pattern = pattern[::-1, ::-1]  # reverse complement, to the element's strand
            n = len(patterns[name].seqlets)
            _logo(axes[i, 1], pattern, f"{name} ({n} seqlets), q = {best.loc[element, 'best_q']:.1e}")
        else:
            _blank(axes[i, 1], f"not recovered (q ≥ {alpha:g})")
    for i, name in enumerate(spurious[:MAX_SPURIOUS], start=len(elements)):
        row = assignment.loc[name]
        _blank(axes[i, 0], f"spurious: best match {row['best_target']}\n(q = {row['target_q']:.1e})")
        _logo(axes[i, 1], patterns[name].ppm, f"{name} ({len(patterns[name].seqlets)} seqlets)")
    if not rows:
        _blank(axes[0, 0], "no grammar element")
        _blank(axes[0, 1], "")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def logos_from_files(discovery: str | os.PathLike, matches: str | os.PathLike,
                     grammar: str | os.PathLike, downloads=(), motif_summary=None,
                     **options) -> plt.Figure:
    """:func:`logo_figure` of a stored discovery (``.json``), its matches (``.tsv``) and
    the grammar file (with the config's downloads and, for a realistic grammar, its
    ``motifs.json``: :func:`~grammarbench.discovery.matching.load_element_motifs`)."""
    from .matching import load_element_motifs
    from .modisco import Discovery

    found = Discovery.load(discovery)
    table = pd.read_csv(matches, sep="\t", keep_default_na=False, na_values=["nan", "NaN"])
    options.setdefault("title", f"{found.info.get('run', '')}: {len(found)} pattern(s)")
    return logo_figure(found, table, load_element_motifs(grammar, downloads, motif_summary), **options)


def discovery_figure(table: pd.DataFrame, metrics=("motif_recall", "motif_precision"),
                     runs=None, grammars=None) -> plt.Figure:
    """Motif recall and precision vs training-set size.

    Parameters
    ----------
    table: pandas.DataFrame
        ``discovery.tsv`` (grid columns, ``run``, ``element``, ``metric``, ``value``).
    metrics: sequence of str
        Run-level metrics (``element`` = ``all``), one column each per grammar.
    runs, grammars: sequence of str or None
        Rows and column groups in order. Default: all, in order of appearance.
    """
    from ..aggregate.figures import _size_axis  # the other figures' training-size axis

    rows = table[(table["element"].astype(str) == "all") & table["metric"].isin(metrics)]
    if rows.empty:
        raise ValueError(f"discovery figure: no rows of {', '.join(metrics)}")
    runs = list(runs or dict.fromkeys(rows["run"]))
    grammars = list(grammars or dict.fromkeys(rows["grammar"]))
    architectures = list(dict.fromkeys(rows["architecture"]))
    palette = sns.color_palette("colorblind")
    colour = {a: palette[i % len(palette)] for i, a in enumerate(architectures)}
    columns = [(g, m) for g in grammars for m in metrics]
    with sns.axes_style("ticks"):
        fig, axes = plt.subplots(len(runs), len(columns), squeeze=False, sharey=True,
                                 layout="constrained",
                                 figsize=(3.2 * len(columns) + 2, 2.6 * len(runs)))
        for i, run in enumerate(runs):
            for j, (grammar, metric) in enumerate(columns):
                ax = axes[i, j]
                part = rows[(rows["run"] == run) & (rows["grammar"] == grammar)
                            & (rows["metric"] == metric)]
                for arch in architectures:
                    spread = (part[part["architecture"] == arch].groupby("n_train")["value"]
                              .agg(["mean", "std"]).fillna(0.0).sort_index())
                    if spread.empty:
                        continue
                    x = spread.index.to_numpy(float)
                    ax.plot(x, spread["mean"], marker="o", ms=4, color=colour[arch], label=arch)
                    ax.fill_between(x, spread["mean"] - spread["std"],
                                    spread["mean"] + spread["std"], color=colour[arch],
                                    alpha=0.2, lw=0)
                if len(part):
                    _size_axis(ax, part["n_train"])
                ax.set_ylim(-0.05, 1.05)
                if i == 0:
                    ax.set_title(f"{grammar}\n{METRIC_LABELS.get(metric, metric)}", fontsize=10)
                if j == 0:
                    ax.set_ylabel(run)
                if i == len(runs) - 1:
                    ax.set_xlabel("training-set size")
                sns.despine(ax=ax)
        handles = [plt.Line2D([], [], color=colour[a], marker="o", label=a) for a in architectures]
        fig.legend(handles=handles, loc="outside right upper", title="architecture",
                   frameon=False)
    return fig
