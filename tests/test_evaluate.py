"""Predictive metrics against hand-computed values and scikit-learn; the tables' columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from grammarbench.models.evaluate import CURVE_COLUMNS, METRIC_COLUMNS, curves_table, mean_loss, predictions_table, predictive_metrics, probabilities

CLASSES = ["a", "b", "c"]


def values(table: pd.DataFrame) -> pd.Series:
    return table.set_index(["metric", "class"])["value"]


def test_perfect_reversed_and_constant_logits():
    labels = np.array([0, 1, 2, 0, 1, 2])
    perfect = np.eye(3)[labels] * 10
    v = values(predictive_metrics(perfect, labels, "multi-class", CLASSES))
    assert v[("accuracy", "all")] == 1 and v[("auroc", "macro")] == 1 and v[("auprc", "micro")] == 1
    assert v[("n", "all")] == 6
    v = values(predictive_metrics(-perfect, labels, "multi-class", CLASSES))
    assert v[("accuracy", "all")] == 0 and v[("auroc", "macro")] == 0
    v = values(predictive_metrics(np.zeros((6, 3)), labels, "multi-class", CLASSES))
    assert v[("auroc", "a")] == 0.5 and v[("loss", "all")] == pytest.approx(np.log(3))
    assert v[("positive_fraction", "b")] == pytest.approx(1 / 3)


def test_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3)) + 1.5 * np.eye(3)[labels]
    table = predictive_metrics(logits, labels, "multi-class", CLASSES)
    assert list(table.columns) == list(METRIC_COLUMNS)
    v = values(table)
    p = probabilities(logits, "multi-class")
    np.testing.assert_allclose(p.sum(1), 1)
    y = np.eye(3)[labels]
    per = [roc_auc_score(y[:, c], p[:, c]) for c in range(3)]
    assert [v[("auroc", c)] for c in CLASSES] == pytest.approx(per)
    assert v[("auroc", "macro")] == pytest.approx(np.mean(per))
    assert v[("auroc", "micro")] == pytest.approx(roc_auc_score(y.ravel(), p.ravel()))
    assert v[("auprc", "b")] == pytest.approx(average_precision_score(y[:, 1], p[:, 1]))
    expected_loss = -np.mean(np.log(p[np.arange(500), labels]))
    assert v[("loss", "all")] == pytest.approx(expected_loss)
    assert v[("accuracy", "all")] == pytest.approx(np.mean(p.argmax(1) == labels))


def test_multi_label_metrics():
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.uint8)
    logits = np.array([[3.0, -3.0], [-3.0, 3.0], [3.0, -3.0], [-3.0, -3.0]])
    v = values(predictive_metrics(logits, labels, "multi-label", ["x", "y"]))
    assert v[("accuracy", "all")] == pytest.approx(7 / 8)   # one (example, class) pair wrong
    assert v[("subset_accuracy", "all")] == pytest.approx(3 / 4)
    assert v[("auroc", "x")] == 1
    expected = np.mean(np.logaddexp(0, -np.where(labels == 1, logits, -logits)))
    assert mean_loss(logits, labels, "multi-label") == pytest.approx(expected)


def test_absent_class_gives_nan_and_macro_skips_it():
    labels = np.array([0, 1, 0, 1])
    logits = np.array([[2.0, 0, 0], [0, 2, 0], [1, 0, 0], [0, 1, 0]])
    v = values(predictive_metrics(logits, labels, "multi-class", CLASSES))
    assert np.isnan(v[("auroc", "c")])
    assert v[("auroc", "macro")] == pytest.approx(np.mean([v[("auroc", "a")], v[("auroc", "b")]]))


def test_predictions_and_curves_tables():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 50)
    logits = rng.normal(size=(50, 3))
    pred = predictions_table(logits, labels, "multi-class", CLASSES)
    assert list(pred.columns) == ["example", "label", "predicted", "p_a", "p_b", "p_c"]
    assert pred["label"].tolist() == [CLASSES[i] for i in labels]
    np.testing.assert_allclose(pred[["p_a", "p_b", "p_c"]].sum(axis=1), 1)
    curves = curves_table(logits, labels, "multi-class", CLASSES, max_points=20)
    assert list(curves.columns) == list(CURVE_COLUMNS)
    assert set(curves["class"]) == {"a", "b", "c", "micro"} and set(curves["curve"]) == {"roc", "pr"}
    assert curves.groupby(["curve", "class"]).size().max() <= 20
    roc = curves[(curves["curve"] == "roc") & (curves["class"] == "a")]
    assert roc["x"].iloc[0] == 0 and roc["x"].iloc[-1] == 1 and roc["y"].is_monotonic_increasing
