"""Ranking metrics shared by predictive evaluation and grammar recovery: AUROC and
average precision, exact and without scikit-learn (tested against it)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["auroc", "average_precision"]


def auroc(labels, scores) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n+ n-), ties count 1/2); NaN if only
    one class is present.

    Parameters
    ----------
    labels: np.ndarray, shape=(n,), bool or 0/1
    scores: np.ndarray, shape=(n,)
    """
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    # midranks of tied scores
    first = np.r_[True, ss[1:] != ss[:-1]]
    group = np.cumsum(first) - 1
    starts = np.nonzero(first)[0]
    ends = np.r_[starts[1:], ss.size]
    mid = (starts + ends + 1) / 2.0                                         # 1-based midranks
    ranks = np.empty(s.size)
    ranks[order] = mid[group]
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(labels, scores) -> float:
    """Average precision, :math:`\\sum_k (R_k - R_{k-1}) P_k` over distinct thresholds
    (scikit-learn's definition); NaN if there is no positive.

    Parameters
    ----------
    labels: np.ndarray, shape=(n,), bool or 0/1
    scores: np.ndarray, shape=(n,)
    """
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(y.sum())
    if n_pos == 0:
        return math.nan
    order = np.argsort(-s, kind="mergesort")
    ss, yy = s[order], y[order]
    last = np.r_[ss[1:] != ss[:-1], True]                                   # end of a tie group
    tp = np.cumsum(yy)[last]
    fp = np.cumsum(~yy)[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
