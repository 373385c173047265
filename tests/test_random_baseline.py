"""The random-ranking baseline of average precision: the exact expectation (closed form)
against enumeration and simulation, and where the recovery table and figures report it."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from grammarbench.metrics import average_precision, harmonic_number, random_average_precision
from grammarbench.scoring import recovery


def ap_of_random_rankings(n: int, k: int, draws: int, rng) -> np.ndarray:
    """Average precision of ``draws`` uniformly random rankings of n items, k positive,
    vectorised: rank r's precision is (positives in the top r) / r."""
    keys = rng.random((draws, n))
    top = np.argsort(keys, axis=1)[:, :k]                  # ranks (0-based) of the positives
    ranks = np.sort(top, axis=1) + 1                       # (draws, k), 1-based, ascending
    return (np.arange(1, k + 1) / ranks).mean(axis=1)


def test_harmonic_numbers_exact_and_asymptotic():
    n = np.arange(0, 3000)
    exact = np.r_[0.0, np.cumsum(1.0 / np.arange(1, 3000))]
    assert np.allclose(harmonic_number(n), exact, rtol=0, atol=1e-13)
    assert harmonic_number(10**9) == pytest.approx(math.log(1e9) + 0.5772156649015329 + 5e-10,
                                                   rel=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_closed_form_equals_enumeration_of_every_ranking(n):
    """Every placement of the k positives among n ranks is equally likely under a random
    ranking: the mean AP over all of them is the expectation, exactly."""
    for k in range(1, n + 1):
        aps = []
        for positives in itertools.combinations(range(n), k):
            labels = np.zeros(n, bool)
            labels[list(positives)] = True
            aps.append(average_precision(labels, -np.arange(n)))  # rank i scores -i
        assert random_average_precision(n, k) == pytest.approx(np.mean(aps), abs=1e-12), (n, k)


@pytest.mark.parametrize("n,k", [(200, 16), (200, 12), (200, 20), (50, 1), (1000, 300)])
def test_closed_form_against_monte_carlo(n, k):
    rng = np.random.default_rng(0)
    aps = ap_of_random_rankings(n, k, 20000, rng)
    # the vectorised simulation is scikit-learn's AP (spot check against the library's)
    labels = np.zeros(n, bool)
    labels[:k] = True
    scores = rng.random(n)
    order = np.argsort(-scores)
    ranks = np.sort(np.flatnonzero(labels[order])) + 1
    assert (np.arange(1, k + 1) / ranks).mean() == pytest.approx(average_precision(labels, scores))
    se = aps.std(ddof=1) / math.sqrt(aps.size)
    expected = random_average_precision(n, k)
    assert abs(aps.mean() - expected) < 4 * se, (aps.mean(), expected, se)
    if k < n / 4:
        assert expected > k / n + 4 * se                   # the positive fraction is biased low


def test_issue_numbers_and_edge_cases():
    assert random_average_precision(200, 16) == pytest.approx(0.10255, abs=5e-5)
    assert 16 / 200 == 0.08
    assert random_average_precision(1, 1) == 1.0
    assert random_average_precision(7, 7) == pytest.approx(1.0)
    assert random_average_precision(10, 1) == pytest.approx(harmonic_number(10) / 10)  # mean 1/rank
    assert math.isnan(random_average_precision(10, 0))
    out = random_average_precision(np.array([[10], [20]]), np.array([1, 2, 3]))
    assert out.shape == (2, 3)
    with pytest.raises(ValueError):
        random_average_precision(5, 6)
    with pytest.raises(ValueError):
        random_average_precision(0, 0)


def random_maps(rng, M=300, L=200, lengths=None):
    """Maps of pure noise, with 12-20 grammar positions per sequence (as in the issue)."""
    mask = np.zeros((M, L), np.uint8)
    for m in range(M):
        k = rng.integers(12, 21)
        start = rng.integers(0, L - k)
        mask[m, start:start + k] = 1
    maps = rng.normal(size=(M, 4, L)).astype(np.float32)
    return maps, mask


def test_recovery_table_reports_the_exact_baseline_per_statistic():
    rng = np.random.default_rng(1)
    maps, mask = random_maps(rng)
    M, _, L = maps.shape
    lengths = np.full(M, L)
    lengths[::3] = 180                                    # some shorter sequences
    mask[:, 180:] *= (lengths[:, None] == L)
    codes = np.zeros((M, L), np.uint8)
    table = recovery.score_maps(maps, codes, mask, lengths, subsets=("all",))
    assert "random_ranking" in recovery.METRIC_COLUMNS
    row = table.set_index(["metric", "statistic"])
    valid = np.arange(L) < lengths[:, None]
    y = mask.astype(bool) & valid
    n_m, k_m = valid.sum(1), y.sum(1)
    scored = (k_m > 0) & (k_m < n_m)                      # maps with both classes only
    assert 0 < scored.sum() < M
    n_m, k_m = n_m[scored], k_m[scored]
    mean_expected = float(np.mean(random_average_precision(n_m, k_m)))
    pooled_expected = float(random_average_precision(valid.sum(), y.sum()))
    assert row.loc[("position_auprc", "mean"), "random_ranking"] == pytest.approx(mean_expected)
    assert row.loc[("position_auprc", "se"), "random_ranking"] == pytest.approx(mean_expected)
    assert row.loc[("position_auprc", "pooled"), "random_ranking"] == pytest.approx(pooled_expected)
    assert row.loc[("position_auroc", "mean"), "random_ranking"] == 0.5
    assert row.loc[("attribution_mass", "mean"), "random_ranking"] == pytest.approx(
        row.loc[("attribution_mass", "mean"), "positive_fraction"])
    # noise maps score what the baseline says, within their standard error; the positive
    # fraction lies far below
    value = row.loc[("position_auprc", "mean"), "value"]
    se = row.loc[("position_auprc", "se"), "value"]
    assert abs(value - mean_expected) < 4 * se
    assert row.loc[("position_auprc", "mean"), "positive_fraction"] < mean_expected - 4 * se


def test_window_auprc_baseline():
    rng = np.random.default_rng(2)
    M, L = 40, 100
    mask = np.zeros((M, L), np.uint8)
    mask[:, 10:18] = 1
    instances = pd.DataFrame({"example": np.arange(M), "element": "E", "start": 10, "end": 18})
    scores = np.abs(rng.normal(size=(M, L)))
    rows = {r["metric"]: r for r in recovery.window_detection(scores, mask, np.full(M, L), instances,
                                                               np.arange(M))}
    n_windows = rows["window_auprc"]["n"]
    assert rows["window_auprc"]["random_ranking"] == pytest.approx(
        float(random_average_precision(n_windows, M)))
    assert rows["window_auroc"]["random_ranking"] == 0.5


def test_figures_draw_the_exact_baseline():
    from grammarbench.aggregate import figures as fg

    rows = []
    for n_train, rr, pf in ((100, 0.12, 0.08), (200, 0.14, 0.09)):
        for arch in ("a", "b"):
            rows.append({"grammar": "g", "seed": 1, "n_train": n_train, "architecture": arch,
                         "model_seed": 1, "run": "saliency", "method": "saliency", "reference": "",
                         "n_references": 0, "subset": "all", "metric": "position_auprc",
                         "statistic": "mean", "element": "", "value": 0.5, "n": 10,
                         "positive_fraction": pf, "random_ranking": rr})
    table = pd.DataFrame(rows)
    fig = fg.recovery_figure(table)
    dotted = [line for line in fig.axes[0].lines if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and np.allclose(dotted[0].get_ydata(), [0.12, 0.14])
    fig = fg.method_heatmap(table)
    assert fig.axes[0].get_title().endswith("random ranking: 0.14")
    # tables from before the column existed fall back to the positive fraction
    fig = fg.recovery_figure(table.drop(columns="random_ranking"))
    dotted = [line for line in fig.axes[0].lines if line.get_linestyle() == ":"]
    assert np.allclose(dotted[0].get_ydata(), [0.08, 0.09])
