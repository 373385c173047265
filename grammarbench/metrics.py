"""Ranking metrics shared by predictive evaluation and grammar recovery: AUROC and
average precision, exact and without scikit-learn (tested against it), and the exact
expectation of average precision under a uniformly random ranking (the baseline a method
that finds nothing scores)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["auroc", "average_precision", "harmonic_number", "random_average_precision"]


def _flat(labels, scores) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels as a flat bool array, scores as flat float64, and the number of positives."""
    y = np.asarray(labels).astype(bool).ravel()
    return y, np.asarray(scores, dtype=np.float64).ravel(), int(y.sum())


def auroc(labels, scores) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n+ n-), ties count 1/2); NaN if only
    one class is present.

    Parameters
    ----------
    labels: np.ndarray, shape=(n,), bool or 0/1
    scores: np.ndarray, shape=(n,)
    """
    y, s, n_pos = _flat(labels, scores)
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
    y, s, n_pos = _flat(labels, scores)
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


#: H_1 .. H_63 exactly (as float sums); larger n use the asymptotic series.
_HARMONIC = np.cumsum(1.0 / np.arange(1, 64))
_EULER_GAMMA = 0.57721566490153286061


def harmonic_number(n) -> np.ndarray:
    r"""The harmonic number :math:`H_n = \sum_{i=1}^n 1/i`, elementwise (:math:`H_0 = 0`).

    Exact sums for n < 64; above, :math:`\ln n + \gamma + 1/(2n) - 1/(12n^2) + 1/(120n^4)
    - 1/(252n^6)`, whose error is below :math:`1/(240 n^8)` (< 1e-16 there).

    Parameters
    ----------
    n: int or np.ndarray of int, any shape, >= 0

    Returns
    -------
    h: np.ndarray, float64, the shape of ``n``
    """
    n = np.asarray(n, dtype=np.float64)
    small = n < len(_HARMONIC) + 1
    out = np.empty_like(n)
    idx = n[small].astype(np.int64)
    out[small] = np.where(idx > 0, _HARMONIC[np.maximum(idx, 1) - 1], 0.0)
    m = n[~small]
    inv2 = 1.0 / (m * m)
    out[~small] = (np.log(m) + _EULER_GAMMA + 0.5 / m
                   - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 / 252)))
    return out


def random_average_precision(n_items, n_positives) -> np.ndarray:
    r"""The exact expected average precision of a uniformly random ranking of ``n_items``
    items of which ``n_positives`` are positive (no ties), elementwise.

    Average precision is :math:`AP = \frac1k \sum_{r: y_r = 1} P@r`. The item at rank r
    is positive with chance k/n, and then the other r - 1 items above it hold on average
    (r - 1)(k - 1)/(n - 1) positives, so

    .. math::

        E[AP] = \frac1k \sum_{r=1}^{n} \frac kn \cdot \frac{1 + (r-1)\frac{k-1}{n-1}}{r}
              = \frac{k-1}{n-1} + \frac{(n-k)\,H_n}{n(n-1)}

    with :math:`H_n` the n-th harmonic number (Bestgen 2015, "Exact expected average
    precision of the random baseline for system evaluation", Prague Bull. Math.
    Linguist. 103:131). It exceeds the positive fraction k/n, which is the AUPRC of a
    random ranking only as n grows with k/n fixed: with 16 positives in 200 positions it
    is 0.103 against 0.080.

    Parameters
    ----------
    n_items: int or np.ndarray of int
        Items ranked, n >= 1.
    n_positives: int or np.ndarray of int
        Positives among them, 0 <= k <= n (broadcast against ``n_items``).

    Returns
    -------
    expected: np.ndarray, float64, the broadcast shape
        NaN where k = 0 (average precision is undefined without a positive).
    """
    n, k = np.broadcast_arrays(np.asarray(n_items, dtype=np.float64),
                               np.asarray(n_positives, dtype=np.float64))
    if np.any((n < 1) | (k < 0) | (k > n)):
        raise ValueError("random_average_precision needs 1 <= n_items and 0 <= n_positives <= n_items")
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = (k - 1) / (n - 1) + (n - k) * harmonic_number(n) / (n * (n - 1))
    expected = np.where(n == 1, 1.0, expected)          # one item, the positive: AP = 1
    return np.where(k == 0, np.nan, expected)
