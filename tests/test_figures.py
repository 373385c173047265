"""Every figure, drawn from real tables (the tiny grid of tests/test_aggregate.py, written by
the real writers) and real simulated data: PNG and PDF written and non-empty, one legend
per figure, the oracle and the random-ranking baseline drawn, the logo's glyphs as tall
as the attribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import PathPatch

from grammarbench.aggregate import tables as ag
from grammarbench.aggregate import figures as fg
from grammarbench.simulation.dataset import load_split
from test_aggregate import RUNS


@pytest.fixture(scope="module")
def grid(aggregate_grid):
    return aggregate_grid


@pytest.fixture(scope="module")
def tables(grid, tmp_path_factory):
    """The four tables, written and read back as a figure rule reads them."""
    out = tmp_path_factory.mktemp("tables")
    paths = {}
    for kind, jobs in grid["jobs"].items():
        paths[kind] = out / f"{kind}.tsv"
        ag.aggregate(kind, jobs, paths[kind])
    return paths


def legends(fig) -> int:
    return len(fig.legends) + sum(ax.get_legend() is not None for ax in fig.axes)


def check_saved(fig, stem):
    paths = fg.save(fig, stem)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    for p in paths:
        assert p.is_file() and p.stat().st_size > 1000, p
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    return paths


def test_predictive_figure(tables, tmp_path):
    table = ag.read_table(tables["predictive"])
    fig = fg.predictive_figure(table)
    assert legends(fig) == 1
    axes = np.array(fig.axes).reshape(2, 2)                 # metrics × grammars
    assert [ax.get_title() for ax in axes[0]] == ["one-motif", "spacing"]
    dashed = [line for line in axes[0, 0].lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1                                 # the oracle's ceiling
    oracle = table.query("architecture == 'oracle' and split == 'test' and metric == 'auroc' "
                         "and `class` == 'macro' and grammar == 'one-motif'")
    assert np.allclose(dashed[0].get_ydata(), oracle.groupby("n_train")["value"].mean())
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["conv10-gmp-fc10", "fc10", "oracle (Bayes-optimal)"]
    check_saved(fig, tmp_path / "predictive")
    # one training size: the oracle is still drawn, level across the panel (a line through
    # one point would not show)
    one_size = table[table["n_train"] == table["n_train"].max()]
    ax = fg.predictive_figure(one_size).axes[0]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_xdata()) == [0, 1]
    assert dashed[0].get_ydata()[0] == pytest.approx(oracle.query("n_train == @one_size.n_train.max()")["value"].mean())


def test_recovery_heatmap_and_reference_sweep(tables, tmp_path):
    table = ag.read_table(tables["recovery"])
    fig = fg.recovery_figure(table)
    assert legends(fig) == 1 and len(fig.axes) == 4 * 2        # runs × grammars
    assert "random ranking" in [t.get_text() for t in fig.legends[0].get_texts()]
    check_saved(fig, tmp_path / "recovery")

    fig = fg.method_heatmap(table)
    titles = [ax.get_title() for ax in fig.axes[:2]]
    base = table.query("metric == 'position_auprc' and statistic == 'mean' and subset == 'all' "
                       "and grammar == 'one-motif' and n_train == 400")["random_ranking"].mean()
    assert titles[0] == f"one-motif\nn_train 400\nrandom ranking: {base:.3g}"
    assert len(fig.axes) == 3                                   # two panels, one colour bar
    check_saved(fig, tmp_path / "methods")
    # one architecture per panel: each panel still makes room for its title
    fig = fg.method_heatmap(table[table["architecture"] == table["architecture"].iloc[0]])
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes[:2]]
    assert boxes[0].x1 <= boxes[1].x0

    fig = fg.reference_sweep(table)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["zeros", "shuffle ×10", "shuffle ×20"]     # runs without a reference left out
    assert legends(fig) == 1
    check_saved(fig, tmp_path / "references")


def test_methods_by_grammar(tables, tmp_path):
    """The realistic ENCODE figure: per run, per-position AUROC and AUPRC, one colour per
    grammar (cell type), one column per architecture, each grammar's random ranking."""
    table = ag.read_table(tables["recovery"])
    fig = fg.methods_by_grammar(table)
    assert legends(fig) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["one-motif", "spacing", "random ranking"]
    architectures = list(dict.fromkeys(table["architecture"]))
    axes = np.array(fig.axes).reshape(2, len(architectures))    # metrics × architectures
    runs = list(dict.fromkeys(table["run"]))
    assert [t.get_text() for t in axes[1, 0].get_xticklabels()] == runs
    dotted = [line.get_ydata()[0] for line in axes[0, 0].lines if line.get_linestyle() == ":"]
    assert dotted == [0.5, 0.5]                                 # AUROC's random ranking
    check_saved(fig, tmp_path / "methods_by_grammar")


def test_learning_curves_and_runtime(tables, tmp_path):
    fig = fg.learning_curves(ag.read_table(tables["training"]))
    assert legends(fig) == 1 and len(fig.axes) == 2 * 2          # grammars × sizes
    check_saved(fig, tmp_path / "learning_curves")
    fig = fg.runtime_figure(ag.read_table(tables["runtime"]))
    assert legends(fig) == 1
    check_saved(fig, tmp_path / "runtime")


def test_tracks_on_simulated_data(grid, tmp_path):
    sim = grid["sim"]
    result = sim["result"]
    split = load_split(sim["test"])
    codes = np.asarray(split.sequences)[result.example]
    fig = fg.attribution_tracks(result.maps, codes, split.instances, result.example, title="grad × input")
    assert legends(fig) == 1
    # every shown example's instances are drawn under its track, in the element's colour
    shown = [int(ax.get_ylabel().split()[1]) for ax in fig.axes if ax.get_ylabel().startswith("example")]
    assert len(shown) == 3
    inst = split.instances
    strips = [ax for ax in fig.axes if ax.get_ylabel() == "truth"]
    for example, strip in zip(shown, strips):
        starts = sorted(p.get_x() + 0.5 for p in strip.patches)
        assert starts == sorted(inst.loc[inst["example"] == example, "start"].tolist())
    check_saved(fig, tmp_path / "tracks")


def test_logo_glyph_heights_follow_the_attribution():
    import matplotlib.pyplot as plt

    matrix = np.array([[0.5, 0.0, -0.2],
                       [0.0, 1.0, -0.1],
                       [0.25, 0.0, 0.0],
                       [0.0, 0.0, 0.3]])
    fig, ax = plt.subplots()
    fg.draw_logo(ax, matrix)
    boxes = [p.get_path().get_extents() for p in ax.patches if isinstance(p, PathPatch)]
    assert len(boxes) == 6                                      # one glyph per non-zero value
    heights = sorted(round(b.height, 6) for b in boxes)
    assert heights == sorted([0.5, 1.0, 0.2, 0.1, 0.25, 0.3])
    col0 = sorted((b for b in boxes if b.x0 < 0.5), key=lambda b: b.y0)
    assert [round(b.y0, 6) for b in col0] == [0.0, 0.25]        # smaller below, stacked
    col2 = sorted((b for b in boxes if b.x0 > 1.5), key=lambda b: b.y0)
    assert [round(b.y0, 6) for b in col2] == [-0.3, -0.1, 0.0]  # -0.1 next to zero, -0.2 below it
    plt.close(fig)
    with pytest.raises(ValueError, match="shape"):
        fg.draw_logo(ax, matrix[:3])


def test_positional_heatmaps_from_the_simulator(grid, tmp_path):
    table = fg.read_positional(grid["sim"]["test"])
    assert list(table.index) == ["ctcf", "background"] and table.shape[1] == 200
    fig = fg.positional_heatmaps({"one-motif": table, "one-motif (again)": table}, bins=50)
    assert [ax.get_title() for ax in fig.axes[1:]] == ["one-motif", "one-motif (again)"]
    check_saved(fig, tmp_path / "positional")


def test_render_is_one_call(grid, tables, tmp_path):
    paths = fg.render("predictive", {"predictive": tables["predictive"]}, tmp_path / "figs/predictive.png",
                      metrics=("auroc",))
    assert [p.name for p in paths] == ["predictive.png", "predictive.pdf"]
    result = grid["sim"]["result"]
    result.save(tmp_path / "maps.npz")
    paths = fg.render("attribution_tracks", {"attribution": tmp_path / "maps.npz", "split": grid["sim"]["test"]},
                      tmp_path / "figs/tracks")
    assert all(p.stat().st_size > 1000 for p in paths)
    paths = fg.render("positional_heatmaps", {"splits": {"one-motif": grid["sim"]["test"]}}, tmp_path / "figs/pos")
    assert [p.name for p in paths] == ["pos.png", "pos.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[0].stat().st_size > 1000
    paths = fg.render("positional_heatmaps", {"splits": [grid["sim"]["test"]]}, tmp_path / "figs/pos2", names=["one-motif"])
    assert paths[1].stat().st_size > 1000
    with pytest.raises(ValueError, match="needs input"):
        fg.render("methods_heatmap", {}, tmp_path / "x")
    with pytest.raises(ValueError, match="no rows with"):
        fg.predictive_figure(ag.read_table(tables["predictive"]), split="train")
    recovery = ag.read_table(tables["recovery"])
    assert isinstance(recovery, pd.DataFrame) and list(recovery.columns) == list(ag.RECOVERY_COLUMNS)
    assert len(recovery) and set(recovery["run"]) == {run for run, *_ in RUNS}
