# test_metrics.py
# Tests for grammarbench.metrics and grammarbench.scoring.recovery on hand-made maps with known answers.

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from grammarbench import metrics
from grammarbench.scoring import recovery

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def value(table, metric, statistic="mean", subset="all", element=""):
    row = table[(table.metric == metric) & (table.statistic == statistic)
                & (table.subset == subset) & (table.element == element)]
    assert len(row) == 1, (metric, statistic, subset, element)
    return float(row["value"].iloc[0])


@pytest.fixture
def data():
    """40 sequences of length 60 (some shorter), a 6-wide element in most of them."""
    rng = np.random.default_rng(0)
    M, A, L, w = 40, 4, 60, 6
    codes = rng.integers(0, 4, (M, L)).astype(np.uint8)
    lengths = np.full(M, L)
    lengths[::5] = 45
    codes[np.arange(L) >= lengths[:, None]] = 4
    mask = np.zeros((M, L), np.uint8)
    rows = []
    for m in range(M):
        if m % 4 == 3:
            continue  # background-only sequences
        start = int(rng.integers(0, lengths[m] - w))
        mask[m, start:start + w] = 1
        rows.append({"example": 100 + m, "element": "E1", "start": start, "end": start + w})
    instances = pd.DataFrame(rows)
    onehot = (codes[:, None, :] == np.arange(A)[None, :, None]).astype(np.float32)
    example = 100 + np.arange(M)
    return dict(codes=codes, lengths=lengths, mask=mask, instances=instances,
                onehot=onehot, example=example, rng=rng)


def project(onehot, per_position):
    return onehot * per_position[:, None, :]


def test_auroc_and_average_precision_match_sklearn():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(5, 200))
        y = rng.random(n) < rng.uniform(0.05, 0.6)
        if y.all() or not y.any():
            continue
        s = np.round(rng.normal(size=n) + y, 1)                              # with ties
        assert math.isclose(metrics.auroc(y, s), sklearn_metrics.roc_auc_score(y, s),
                            abs_tol=1e-12)
        assert math.isclose(metrics.average_precision(y, s),
                            sklearn_metrics.average_precision_score(y, s), abs_tol=1e-12)
    assert math.isnan(metrics.auroc([1, 1], [0.2, 0.3]))
    assert math.isnan(metrics.average_precision([0, 0], [0.2, 0.3]))


def test_perfect_inverted_and_random_maps(data):
    d = data
    mask = d["mask"].astype(float)
    perfect = project(d["onehot"], mask * 2.0)
    inverted = project(d["onehot"], 1.0 - mask)
    random = project(d["onehot"], d["rng"].random(mask.shape))
    kw = dict(codes=d["codes"], mask=d["mask"], lengths=d["lengths"],
              instances=d["instances"], example=d["example"])
    t = recovery.score_maps(perfect, **kw)
    for m in ("position_auroc", "position_auprc"):
        assert value(t, m) == 1.0 and value(t, m, "pooled") == 1.0
        assert value(t, m, "se") == 0.0
    assert value(t, "attribution_mass") == 1.0 and value(t, "attribution_mass", "pooled") == 1.0
    assert value(t, "window_auroc", "pooled", element="E1") == 1.0
    assert value(t, "window_auprc", "pooled", element="E1") == 1.0
    for m in ("precision", "recall", "specificity", "f1"):
        assert value(t, f"agreement_{m}_thresholded") == 1.0
    # smooth: v = 1 on grammar, 0 elsewhere (background-only maps: v = 0 everywhere)
    assert value(t, "agreement_precision_smooth") == pytest.approx(30 / 40)
    assert value(t, "agreement_recall_smooth") == 1.0

    t = recovery.score_maps(inverted, **kw)
    assert value(t, "position_auroc") == 0.0 and value(t, "position_auroc", "pooled") == 0.0
    assert value(t, "attribution_mass") == 0.0
    assert value(t, "window_auroc", "pooled", element="E1") == 0.0

    t = recovery.score_maps(random, **kw)
    pooled = t[(t.metric == "position_auprc") & (t.statistic == "pooled")]
    f_pool = float(pooled["positive_fraction"].iloc[0])
    assert f_pool == pytest.approx(mask[np.arange(60) < d["lengths"][:, None]].mean())
    assert abs(value(t, "position_auroc", "pooled") - 0.5) < 0.08
    assert abs(value(t, "position_auprc", "pooled") - f_pool) < 0.05
    assert abs(value(t, "attribution_mass", "pooled") - f_pool) < 0.03


def test_padding_is_excluded(data):
    d = data
    per = d["mask"].astype(float) + 0.1
    maps = project(d["onehot"], per)
    maps_padded = maps.copy()
    maps_padded[:, 0, :] += (np.arange(60) >= d["lengths"][:, None]) * 100.0
    kw = dict(codes=d["codes"], mask=d["mask"], lengths=d["lengths"],
              instances=d["instances"], example=d["example"])
    a = recovery.score_maps(maps, **kw)
    b = recovery.score_maps(maps_padded, **kw)
    pd.testing.assert_frame_equal(a, b)


def test_position_scores_sum_and_observed():
    codes = np.array([[0, 1, 4]], np.uint8)
    maps = np.array([[[1.0, -3, 5], [-2, 2, 1], [0, 0, 0], [0, 0, 0]]])
    assert_allclose(recovery.position_scores(maps), [[1, 1, 6]])
    assert_allclose(recovery.position_scores(maps, absolute=False), [[-1, -1, 6]])
    assert_allclose(recovery.position_scores(maps, codes, score="observed"), [[1, 2, 0]])
    with pytest.raises(ValueError, match="score must be"):
        recovery.position_scores(maps, score="max")
    with pytest.raises(ValueError, match="needs the sequences"):
        recovery.position_scores(maps, score="observed")


def test_seqgra_agreement_by_hand():
    # one map, 5 positions, grammar at positions 1 and 2
    maps = np.zeros((1, 4, 5))
    maps[0, 0] = [0.5, 1.0, -0.2, 0.0, 0.25]    # clip -> [0.5, 1, 0, 0, 0.25]; max 1
    mask = np.array([[0, 1, 1, 0, 0]])
    rows = {(r["metric"]): r["value"] for r in recovery.grammar_agreement(maps, mask)
            if r["statistic"] == "mean"}
    # smooth: v = [.5, 1, 0, 0, .25]; sum 1.75; grammar 1.0
    assert rows["agreement_precision_smooth"] == pytest.approx(1.0 / 1.75)
    assert rows["agreement_recall_smooth"] == pytest.approx(0.5)
    assert rows["agreement_specificity_smooth"] == pytest.approx((3 - 0.75) / 3)
    p, r = 1.0 / 1.75, 0.5
    assert rows["agreement_f1_smooth"] == pytest.approx(2 * p * r / (p + r))
    # thresholded at 0.01 on max over letters: important = [1, 1, 0, 0, 1]
    assert rows["agreement_precision_thresholded"] == pytest.approx(1 / 3)   # TP=1, FP=2
    assert rows["agreement_recall_thresholded"] == pytest.approx(1 / 2)      # FN=1
    assert rows["agreement_specificity_thresholded"] == pytest.approx(1 / 3)  # TN=1
    # seqgra's edge cases: no grammar position
    none = np.zeros((1, 5))
    rows = {r["metric"]: r["value"] for r in recovery.grammar_agreement(maps, none)
            if r["statistic"] == "mean"}
    assert rows["agreement_recall_smooth"] == 0.0 and rows["agreement_precision_smooth"] == 1.0
    assert rows["agreement_recall_thresholded"] == 0.0
    rows = {r["metric"]: r["value"] for r in recovery.grammar_agreement(np.zeros_like(maps), none)
            if r["statistic"] == "mean"}
    assert rows["agreement_recall_smooth"] == 1.0 and rows["agreement_precision_smooth"] == 0.0
    assert rows["agreement_precision_thresholded"] == 1.0


def test_window_detection_by_hand():
    scores = np.array([[0, 0, 5, 5, 0, 0, 0, 1.0],
                       [0, 3, 0, 0, 0, 0, 0, 0.0]])
    mask = np.array([[0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]])
    inst = pd.DataFrame({"example": [7], "element": ["E"], "start": [2], "end": [4]})
    rows = recovery.window_detection(scores, mask, np.array([8, 8]), inst, np.array([7, 9]))
    roc = next(r for r in rows if r["metric"] == "window_auroc")
    # positive window score 10; clean negatives: map 0 starts 4,5,6 (sums 0,0,1) and
    # map 0 start 0 (0); map 1: 7 windows (3, 3, 0, 0, 0, 0, 0)
    assert roc["n"] == 1 + 4 + 7 and roc["positive_fraction"] == pytest.approx(1 / 12)
    assert roc["value"] == 1.0


def test_score_maps_table(data):
    d = data
    maps = project(d["onehot"], d["mask"] + 0.1 * d["rng"].random(d["mask"].shape))
    correct = np.arange(40) % 2 == 0
    delta = np.linspace(-1e-3, 1e-3, 40)
    t = recovery.score_maps(maps.astype(np.float16), d["codes"], d["mask"], d["lengths"],
                           d["instances"], d["example"], correct, delta,
                           labels={"model": "cnn", "method": "ism", "reference": ""})
    assert list(t.columns) == ["model", "method", "reference"] + recovery.METRIC_COLUMNS
    assert set(t.subset) == {"all", "correct"}
    assert value(t, "maps", "count", "correct") == 20 and value(t, "maps", "count") == 40
    assert value(t, "convergence_delta", "max_abs") == pytest.approx(1e-3)
    assert (t.model == "cnn").all()
    only_correct = recovery.score_maps(maps[correct], d["codes"][correct], d["mask"][correct],
                                      d["lengths"][correct], d["instances"], d["example"][correct],
                                      subsets=("all",))
    assert value(t, "position_auroc", "mean", "correct") == pytest.approx(
        value(only_correct, "position_auroc"), rel=1e-3)


def test_metrics_validation(data):
    d = data
    with pytest.raises(ValueError, match="maps must have shape"):
        recovery.score_maps(d["onehot"][0], d["codes"], d["mask"])
    with pytest.raises(ValueError, match="mask must have shape"):
        recovery.score_maps(d["onehot"], d["codes"], d["mask"][:3])
    with pytest.raises(ValueError, match="lengths must have shape"):
        recovery.score_maps(d["onehot"], d["codes"], d["mask"], d["lengths"] + 100)
    with pytest.raises(ValueError, match="subsets"):
        recovery.score_maps(d["onehot"], d["codes"], d["mask"], subsets=("wrong",))
    with pytest.raises(ValueError, match="instances lacks"):
        recovery.score_maps(d["onehot"], d["codes"], d["mask"],
                           instances=pd.DataFrame({"example": [1]}))
