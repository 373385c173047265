r"""Grammar-recovery metrics of attribution maps against the simulated ground truth.

Every definition used in the benchmark tables lives here, and only here.

Inputs
------
maps: float, shape=(M, A, L)
    Attribution maps (see :mod:`grammarbench.attribution`); map m explains split row
    ``example[m]``.
codes: uint8, shape=(M, L)
    The sequences the maps explain (code ``A`` = unknown letter or padding).
mask: uint8 or bool, shape=(M, L)
    Ground truth: 1 where an inserted element instance sits (the split's ``mask``).
lengths: int, shape=(M,)
    Sequence lengths. Positions :math:`l \ge` ``lengths[m]`` (padding) are excluded
    from every metric.
instances: DataFrame
    The split's ``instances.tsv`` (columns ``example``, ``element``, ``start``,
    ``end``; 0-based, half-open), for window detection.

Position score
--------------
The score of position l in map m is
:math:`s_{ml} = |\sum_a M_{mal}|` (``score="sum"``, the default) or
:math:`s_{ml} = |M_{m,x_l,l}|`, the attribution at the observed letter
(``score="observed"``, the one to use with hypothetical maps, whose letters sum to
zero for ISM and corrected gradients); ``absolute=False`` keeps the sign. Positives
(:math:`y_{ml} = 1`) are the positions inside any element instance (``mask``).

Definitions
-----------
position_auroc, position_auprc
    Per map: the area under the ROC curve (the probability that a random positive
    position scores above a random negative one, ties counting one half) and the
    average precision :math:`AP = \sum_k (R_k - R_{k-1}) P_k` over the distinct score
    thresholds, descending (scikit-learn's ``average_precision_score``), of
    :math:`s_{m\cdot}` against :math:`y_{m\cdot}` over the map's valid positions.
    Defined only for maps with at least one positive and one negative position.
    ``mean``/``se``: the mean over those maps and its standard error
    (sample standard deviation / :math:`\sqrt n`). ``pooled``: one curve over every
    valid position of every map (scores are not normalised per map, so this also
    rewards maps whose scale is comparable across sequences; maps without positives
    contribute negatives). ``positive_fraction``: the share of positive positions
    (mean over the maps for ``mean``/``se``, pooled for ``pooled``) -- the AUPRC of a
    random ranking.
attribution_mass
    :math:`\sum_{l: y=1} s_{ml} / \sum_l s_{ml}`: the share of the map's total
    score on grammar positions; a random map scores ``positive_fraction``. Per map
    (maps with a positive position and a non-zero total; ``mean``/``se``) and pooled
    (sums over all maps).
window_auroc, window_auprc (per element)
    For element e with instance width :math:`w_e` (its most common width): positives
    are the windows of its instances, scored :math:`\sum_{l=start}^{end-1} s_{ml}`;
    negatives are every window of :math:`w_e` consecutive valid positions, in every
    map, that overlaps no instance of any element (``mask`` all zero). AUROC and
    average precision of the pooled window scores; ``positive_fraction`` = positives /
    windows. Instances past the sequence's length are ignored.
agreement_{precision,recall,specificity,f1}_{smooth,thresholded}
    seqgra's grammar agreement (Krismer et al. 2022), per map, then ``mean``/``se``
    over maps. Smooth: :math:`v_l = \sum_a \max(M_{al}, 0)`, divided by
    :math:`\max_l v_l` when positive (seqgra's normalised feature importance);
    with G the grammar positions and B the others, precision :math:`= \sum_G v /
    \sum v`, recall :math:`= \sum_G v / |G|`, specificity :math:`= (|B| - \sum_B v) /
    |B|`, F1 their harmonic mean of precision and recall. Thresholded: position l is
    important when :math:`\max_a M_{al} \ge` ``agreement_threshold`` (seqgra's rule, on
    the raw map; ``threshold_on="normalized"`` applies it to :math:`v` instead), giving
    TP/FP/FN/TN counts and the usual precision, recall, specificity, F1. Edge cases
    follow seqgra exactly: e.g. with no grammar position, smooth recall is 1 if
    :math:`\sum_B v = 0` else 0 and smooth precision 1 if :math:`\sum_B v \neq 0` else
    0; thresholded precision is 1 when TP = FP = FN = 0 and 0 when only FN > 0.
convergence_delta
    ``mean_abs``/``max_abs`` of the maps' convergence deltas (methods with
    completeness only).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from grammarbench.metrics import auroc, average_precision

__all__ = [
    "position_scores",
    "position_metrics",
    "attribution_mass",
    "window_detection",
    "grammar_agreement",
    "score_maps",
    "METRIC_COLUMNS",
]

#: Columns of the tables :func:`score_maps` returns (after any label columns).
METRIC_COLUMNS = ["subset", "metric", "statistic", "element", "value", "n",
                  "positive_fraction"]


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def _check(maps, codes, mask, lengths):
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (M, A, L); got {maps.shape}")
    M, A, L = maps.shape
    mask = np.asarray(mask)
    if mask.shape != (M, L):
        raise ValueError(f"mask must have shape ({M}, {L}) like the maps; got {mask.shape}")
    if codes is not None:
        codes = np.asarray(codes)
        if codes.shape != (M, L):
            raise ValueError(f"codes must have shape ({M}, {L}); got {codes.shape}")
    if lengths is None:
        lengths = np.full(M, L, dtype=np.int64)
    lengths = np.asarray(lengths)
    if lengths.shape != (M,) or (M and (lengths.min() < 0 or lengths.max() > L)):
        raise ValueError(f"lengths must have shape ({M},) with values in 0..{L}")
    valid = np.arange(L) < lengths[:, None]                                 # (M, L)
    return maps.astype(np.float64), codes, mask.astype(bool) & valid, valid, lengths


# ---------------------------------------------------------------------------------------
# scores and curves
# ---------------------------------------------------------------------------------------


def position_scores(maps, codes=None, *, score: str = "sum", absolute: bool = True
                    ) -> np.ndarray:
    """Score of every position, shape=(M, L), float64 (see the module docstring).

    Parameters
    ----------
    maps: np.ndarray, shape=(M, A, L)
    codes: np.ndarray or None, shape=(M, L)
        Letter codes; needed for ``score="observed"`` (unknown letters score 0).
    score: str
        ``"sum"`` (sum over letters) or ``"observed"`` (the observed letter's value).
        Default is ``"sum"``.
    absolute: bool
        Take the absolute value. Default is True.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if score == "sum":
        s = maps.sum(axis=1)
    elif score == "observed":
        if codes is None:
            raise ValueError("score='observed' needs the sequences' codes")
        codes = np.asarray(codes)
        A = maps.shape[1]
        known = codes < A
        s = np.take_along_axis(maps, np.minimum(codes, A - 1)[:, None, :].astype(np.int64),
                               axis=1)[:, 0] * known
    else:
        raise ValueError(f"score must be 'sum' or 'observed'; got {score!r}")
    return np.abs(s) if absolute else s


def _mean_se(values) -> tuple[float, float, int]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return math.nan, math.nan, 0
    se = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(v.mean()), se, n


# ---------------------------------------------------------------------------------------
# metric families (each returns rows: dicts with metric, statistic, element, value, n,
# positive_fraction)
# ---------------------------------------------------------------------------------------


def _row(metric, statistic, value, n, positive_fraction, element=""):
    return {"metric": metric, "statistic": statistic, "element": element,
            "value": float(value), "n": int(n), "positive_fraction": float(positive_fraction)}


def position_metrics(scores, mask, lengths=None) -> list[dict]:
    """Per-position AUROC and AUPRC, per map (mean, se) and pooled.

    Parameters
    ----------
    scores: np.ndarray, shape=(M, L)
        Position scores (:func:`position_scores`).
    mask: np.ndarray, shape=(M, L)
        Ground truth.
    lengths: np.ndarray or None, shape=(M,)

    Returns
    -------
    rows: list of dict
        ``position_auroc`` and ``position_auprc`` with statistics ``mean``, ``se`` and
        ``pooled``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    _, _, y, valid, _ = _check(scores[:, None, :], None, mask, lengths)
    roc, ap, frac = [], [], []
    for m in range(scores.shape[0]):
        yy, ss = y[m][valid[m]], scores[m][valid[m]]
        if 0 < yy.sum() < yy.size:
            roc.append(auroc(yy, ss))
            ap.append(average_precision(yy, ss))
            frac.append(yy.mean())
    rows = []
    f_seq = float(np.mean(frac)) if frac else math.nan
    f_pool = float(y[valid].mean()) if valid.any() else math.nan
    pooled_y, pooled_s = y[valid], scores[valid]
    for name, per_map, fn in (("position_auroc", roc, auroc),
                              ("position_auprc", ap, average_precision)):
        mean, se, n = _mean_se(per_map)
        rows.append(_row(name, "mean", mean, n, f_seq))
        rows.append(_row(name, "se", se, n, f_seq))
        rows.append(_row(name, "pooled", fn(pooled_y, pooled_s), pooled_y.size, f_pool))
    return rows


def attribution_mass(scores, mask, lengths=None) -> list[dict]:
    """Share of the total position score on grammar positions (mean, se, pooled).

    Parameters and returns as :func:`position_metrics`; metric ``attribution_mass``.
    """
    scores = np.abs(np.asarray(scores, dtype=np.float64))
    _, _, y, valid, _ = _check(scores[:, None, :], None, mask, lengths)
    on = np.where(y, scores, 0.0).sum(axis=1)
    total = np.where(valid, scores, 0.0).sum(axis=1)
    has = (y.sum(axis=1) > 0) & (total > 0)
    per_map = on[has] / total[has]
    frac = (y.sum(axis=1) / np.maximum(valid.sum(axis=1), 1))[has]
    mean, se, n = _mean_se(per_map)
    f_seq = float(frac.mean()) if frac.size else math.nan
    pooled = on.sum() / total.sum() if total.sum() > 0 else math.nan
    f_pool = float(y[valid].mean()) if valid.any() else math.nan
    return [_row("attribution_mass", "mean", mean, n, f_seq),
            _row("attribution_mass", "se", se, n, f_seq),
            _row("attribution_mass", "pooled", pooled, int(valid.sum()), f_pool)]


def window_detection(scores, mask, lengths, instances: pd.DataFrame, example) -> list[dict]:
    """Per-element window detection AUROC and AUPRC (pooled over maps).

    Parameters
    ----------
    scores: np.ndarray, shape=(M, L)
    mask: np.ndarray, shape=(M, L)
    lengths: np.ndarray, shape=(M,)
    instances: pandas.DataFrame
        Columns ``example``, ``element``, ``start``, ``end`` (split rows, 0-based,
        half-open).
    example: np.ndarray, shape=(M,)
        The split row each map explains.

    Returns
    -------
    rows: list of dict
        ``window_auroc`` and ``window_auprc``, statistic ``pooled``, one pair per element
        that has an instance in the scored maps.
    """
    scores = np.abs(np.asarray(scores, dtype=np.float64))
    _, _, y, valid, lengths = _check(scores[:, None, :], None, mask, lengths)
    M, L = scores.shape
    example = np.asarray(example)
    if example.shape != (M,):
        raise ValueError(f"example must have shape ({M},), the split row of each map")
    missing = {"example", "element", "start", "end"} - set(instances.columns)
    if missing:
        raise ValueError(f"instances lacks column(s) {sorted(missing)}")
    # instances of the explained examples, one row per (map, instance)
    rows_of = pd.DataFrame({"map": np.arange(M), "example": example})
    inst = instances.merge(rows_of, on="example")
    inst = inst[inst["end"] <= lengths[inst["map"].to_numpy()]]
    cs = np.concatenate([np.zeros((M, 1)), np.cumsum(np.where(valid, scores, 0.0), axis=1)],
                        axis=1)                                             # (M, L+1)
    cm = np.concatenate([np.zeros((M, 1)), np.cumsum(y | ~valid, axis=1)], axis=1)
    out = []
    for element, group in inst.groupby("element", sort=True):
        width = int(pd.Series(group["end"] - group["start"]).mode().iloc[0])
        mi = group["map"].to_numpy()
        pos = cs[mi, group["end"].to_numpy()] - cs[mi, group["start"].to_numpy()]
        if width > L:
            continue
        starts = np.arange(L - width + 1)
        wsum = cs[:, starts + width] - cs[:, starts]                        # (M, n_windows)
        clean = (cm[:, starts + width] - cm[:, starts]) == 0  # no instance, no padding
        neg = wsum[clean]
        labels = np.r_[np.ones(pos.size, bool), np.zeros(neg.size, bool)]
        values = np.r_[pos, neg]
        frac = pos.size / labels.size
        out.append(_row("window_auroc", "pooled", auroc(labels, values), labels.size, frac,
                        element))
        out.append(_row("window_auprc", "pooled", average_precision(labels, values),
                        labels.size, frac, element))
    return out


def _ratio(num, den):
    return num / den if den else math.nan


def _smooth_agreement(v, g):
    """seqgra's smooth precision, recall, specificity and F1 of one map (v normalised)."""
    G, B = v[g], v[~g]
    total, g_fi, b_fi = v.sum(), G.sum(), B.sum()
    if not g.any():
        precision = 1.0 if not math.isclose(b_fi, 0.0) else 0.0
        recall = 1.0 if math.isclose(b_fi, 0.0) else 0.0
    else:
        precision = _ratio(g_fi, total)
        recall = g_fi / g.sum()
    tn = B.size - b_fi
    fn = g.sum() - g_fi
    if math.isclose(tn, 0.0) and math.isclose(b_fi, 0.0) and math.isclose(fn, 0.0):
        specificity = 1.0
    elif math.isclose(tn, 0.0) and math.isclose(b_fi, 0.0):
        specificity = 0.0
    else:
        specificity = _ratio(tn, B.size)
    return precision, recall, specificity, _f1(precision, recall)


def _f1(precision, recall):
    if not precision and not recall:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def _thresholded_agreement(important, g):
    """seqgra's thresholded precision, recall, specificity and F1 from TP/FP/FN/TN."""
    tp = int((important & g).sum())
    fp = int((important & ~g).sum())
    fn = int((~important & g).sum())
    tn = int((~important & ~g).sum())
    if not tp and not fp and not fn:
        precision = recall = 1.0
    else:
        precision = 0.0 if not tp and not fp else tp / (tp + fp)
        recall = 0.0 if not tp and not fn else tp / (tp + fn)
    if not tn and not fp and not fn:
        specificity = 1.0
    elif not tn and not fp:
        specificity = 0.0
    else:
        specificity = tn / (tn + fp)
    return precision, recall, specificity, _f1(precision, recall)


def grammar_agreement(maps, mask, lengths=None, *, agreement_threshold: float = 0.01,
                      threshold_on: str = "raw") -> list[dict]:
    """seqgra's grammar-agreement precision, recall, specificity and F1 (smooth and
    thresholded), mean and se over maps.

    Parameters
    ----------
    maps: np.ndarray, shape=(M, A, L)
    mask: np.ndarray, shape=(M, L)
    lengths: np.ndarray or None, shape=(M,)
    agreement_threshold: float
        Importance threshold of the thresholded variant. Default 0.01 (seqgra's).
    threshold_on: str
        ``"raw"`` (max over letters of the map, as seqgra) or ``"normalized"`` (seqgra's
        normalised vector v, scale-free). Default ``"raw"``.

    Returns
    -------
    rows: list of dict
        ``agreement_<measure>_<smooth|thresholded>``, statistics ``mean`` and ``se``.
    """
    if threshold_on not in ("raw", "normalized"):
        raise ValueError(f"threshold_on must be 'raw' or 'normalized'; got {threshold_on!r}")
    maps, _, y, valid, _ = _check(maps, None, mask, lengths)
    smooth, hard = [], []
    for m in range(maps.shape[0]):
        mm = maps[m][:, valid[m]]                                           # (A, n)
        g = y[m][valid[m]]
        v = np.clip(mm, 0.0, None).sum(axis=0)
        top = v.max() if v.size else 0.0
        if top > 0:
            v = v / top
        smooth.append(_smooth_agreement(v, g))
        imp = (mm.max(axis=0) if threshold_on == "raw" else v) >= agreement_threshold
        hard.append(_thresholded_agreement(imp, g))
    f = float(y[valid].mean()) if valid.any() else math.nan
    rows = []
    for variant, values in (("smooth", smooth), ("thresholded", hard)):
        values = np.array(values, dtype=np.float64).reshape(-1, 4)
        for j, measure in enumerate(("precision", "recall", "specificity", "f1")):
            mean, se, n = _mean_se(values[:, j])
            name = f"agreement_{measure}_{variant}"
            rows.append(_row(name, "mean", mean, n, f))
            rows.append(_row(name, "se", se, n, f))
    return rows


# ---------------------------------------------------------------------------------------
# everything for one (model, method, reference)
# ---------------------------------------------------------------------------------------


def score_maps(maps, codes, mask, lengths=None, instances: pd.DataFrame | None = None,
               example=None, correct=None, delta=None, *, score: str = "sum",
               absolute: bool = True, agreement_threshold: float = 0.01,
               threshold_on: str = "raw", subsets=("all", "correct"),
               labels: dict | None = None) -> pd.DataFrame:
    """Every grammar-recovery metric of one (model, method, reference), as a tidy table.

    Parameters
    ----------
    maps: np.ndarray, shape=(M, A, L)
        Attribution maps (float16 is fine).
    codes: np.ndarray, shape=(M, L)
        The sequences the maps explain.
    mask: np.ndarray, shape=(M, L)
        Their ground truth.
    lengths: np.ndarray or None, shape=(M,)
        Their lengths. Default None (full width).
    instances: pandas.DataFrame or None
        The split's instances (for window detection); None skips it.
    example: np.ndarray or None, shape=(M,)
        Split row of each map (joins ``instances``). Default ``arange(M)``.
    correct: np.ndarray or None, shape=(M,), bool
        Whether the model classified each map's (example, target) correctly; the
        ``correct`` subset uses these maps. None: every map counts as correct.
    delta: np.ndarray or None, shape=(M,)
        Convergence deltas, summarised as ``convergence_delta``.
    score, absolute:
        Position score, see :func:`position_scores`.
    agreement_threshold, threshold_on:
        See :func:`grammar_agreement`.
    subsets: tuple of str
        Which of ``all`` and ``correct`` to score. Default both.
    labels: dict or None
        Constant columns put first on every row (e.g. model, method, reference).

    Returns
    -------
    table: pandas.DataFrame
        Long format: label columns, then ``subset``, ``metric``, ``statistic``,
        ``element``, ``value``, ``n`` (maps, positions or windows behind the value) and
        ``positive_fraction``. Includes a ``maps`` row (the number of maps scored).
    """
    maps_arr, codes, mask_b, valid, lengths = _check(maps, codes, mask, lengths)
    M = maps_arr.shape[0]
    example = np.arange(M) if example is None else np.asarray(example)
    correct = np.ones(M, bool) if correct is None else np.asarray(correct, dtype=bool)
    if correct.shape != (M,):
        raise ValueError(f"correct must have shape ({M},)")
    if delta is not None:
        delta = np.asarray(delta, dtype=np.float64)
        if delta.shape != (M,):
            raise ValueError(f"delta must have shape ({M},)")
    for name in subsets:
        if name not in ("all", "correct"):
            raise ValueError(f"subsets must hold 'all' and/or 'correct'; got {name!r}")
    scores = position_scores(maps_arr, codes, score=score, absolute=absolute)
    mask_u = np.asarray(mask)
    rows = []
    for name in subsets:
        keep = np.ones(M, bool) if name == "all" else correct
        part = []
        if keep.any():
            s, mk, ln = scores[keep], mask_u[keep], lengths[keep]
            part += position_metrics(s, mk, ln)
            part += attribution_mass(s, mk, ln)
            if instances is not None:
                part += window_detection(s, mk, ln, instances, example[keep])
            part += grammar_agreement(maps_arr[keep], mk, ln,
                                      agreement_threshold=agreement_threshold,
                                      threshold_on=threshold_on)
            if delta is not None:
                d = np.abs(delta[keep])
                part.append(_row("convergence_delta", "mean_abs", d.mean(), d.size, math.nan))
                part.append(_row("convergence_delta", "max_abs", d.max(), d.size, math.nan))
        part.append(_row("maps", "count", int(keep.sum()), int(keep.sum()), math.nan))
        for r in part:
            r["subset"] = name
        rows += part
    table = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    for i, (key, value) in enumerate((labels or {}).items()):
        table.insert(i, key, value)
    return table
