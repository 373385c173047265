# explain.py
# grammarbench: GkmExplain for the kernel tier, the closed form for the linear tier

r"""Per-position importance of a gapped k-mer SVM's decision value.

GkmExplain (Shrikumar, Prakash & Kundaje 2019) writes the decision value
``f(x) = b + Σ_j y_j α_j K(x, z_j)`` as a sum over matching window pairs, and gives each
pair's ``T[m]`` in equal shares to its ``l - m`` matching positions of ``x``; the
normaliser ``1 / sqrt(K_raw(x,x) K_raw(z,z))`` is a per-pair constant. So the scores sum
to ``f(x) - b`` exactly (completeness). For the RBF kernels each support vector's term
``exp(γ(K - 1)) - e^{-γ}`` is split in proportion to its raw per-position shares, as
LS-GKM's ``gkmexplain`` does, and the scores sum to ``f(x) - offset`` with the offset of
:meth:`.svm.GkmSvm.attribution_offset`.

The linear tier's decision value is linear in its gapped k-mer counts, so its attribution
is closed form: each gapped k-mer's weight (times its count, over the norm) is shared
equally by the ``k`` positions it reads, and again the scores sum to ``f(x) - b``.

Both are computed from key tables (:mod:`.tables`) in ``O(windows × subsets)`` per
sequence, not from window pairs with every support vector.

This is LS-GKM's ``gkmexplain`` mode 0 (importance at the observed letter); the scores
are returned as (N, 4, L) maps with the score at the sequence's own letter and zeros at
the other three, the layout every attribution method in grammarbench returns.
"""

from __future__ import annotations

import numpy as np

from .features import ALPHABET_SIZE, check_codes
from .kernel import _bucket_support, _keys
from .svm import GkmSvm
from .tables import join_spread, table_scores


def _pairwise_position_scores(model: GkmSvm, data, self_raw, target) -> np.ndarray:
    """GkmExplain support vector by support vector (RBF kernels, or tables too big)."""
    basis = model._basis()
    raw, kernel = model._pair_kernel(data, self_raw)
    dual = model.dual[:, target].T                                  # (B, S)
    # Each pair's share of y α K per unit of raw kernel: 1 / (norms) without RBF; for the
    # RBF, of y α (exp(γ(K-1)) - e^{-γ}), LS-GKM's reference being no shared window.
    explained = kernel - np.exp(-model.spec.gamma) if model.spec.rbf else kernel
    pair_factor = np.divide(dual * explained, raw, out=np.zeros_like(raw), where=raw > 0)
    out = np.zeros((data.n, data.length))
    support = model._support_windows()
    for index in range(basis.n_subsets):
        positions, size = basis.positions[index], int(basis.sizes[index])
        starts, owner, weight = _bucket_support(_keys(support.forward, positions, size),
                                                _keys(support.reverse, positions, size),
                                                support.forward_weight, support.reverse_weight, 4 ** size)
        join_spread(out, _keys(data.forward, positions, size), data.forward_weight, starts, owner, weight,
                    np.ascontiguousarray(pair_factor), basis.coefficients[index], positions, size)
    return out


def position_scores(model: GkmSvm, codes, target, batch_size: int = 4096) -> np.ndarray:
    """GkmExplain's score of every position, shape=(N, L), float64.

    Parameters
    ----------
    model: GkmSvm
        Trained.
    codes: np.ndarray, shape=(N, L), uint8
    target: int or np.ndarray, shape=(N,)
        The class (output column) explained for each sequence.
    batch_size: int
        Sequences per batch; results do not depend on it.
    """
    model._require_fitted()
    codes = check_codes(codes)
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (len(codes),))
    if target.size and (target.min() < 0 or target.max() >= model.n_classes):
        raise ValueError(f"target must be in [0, {model.n_classes}); got values {np.unique(target)}")
    out = np.zeros(codes.shape)
    for start in range(0, len(codes), batch_size):
        batch = slice(start, start + batch_size)
        data, self_raw = model._query(codes[batch])
        if not model.uses_tables:
            out[batch] = _pairwise_position_scores(model, data, self_raw, target[batch])
            continue
        inverse = np.divide(1.0, np.sqrt(self_raw), out=np.zeros_like(self_raw), where=self_raw > 0)
        columns, table_of_row = np.unique(target[batch], return_inverse=True)
        # One class (the usual case): a view of its table, not a copy.
        tables = (model.table(int(columns[0]))[None, :] if len(columns) == 1
                  else np.stack([model.table(int(c)) for c in columns]))
        _, spread = table_scores(model._basis(), data, tables, table_of_row, with_positions=True)
        out[batch] = spread * inverse[:, None]
    return out


def gkmexplain(model: GkmSvm, codes, target, batch_size: int = 4096) -> np.ndarray:
    """GkmExplain maps, shape=(N, 4, L), float32: the score at each observed letter.

    ``maps.sum((1, 2)) + model.attribution_offset()[target]`` is the decision value of
    ``target`` (to float32 rounding). Unknown letters (padding) get 0.
    """
    codes = check_codes(codes)
    scores = position_scores(model, codes, target, batch_size)
    maps = np.zeros((len(codes), ALPHABET_SIZE, codes.shape[1]), dtype=np.float32)
    rows, columns = np.nonzero(codes < ALPHABET_SIZE)
    maps[rows, codes[rows, columns], columns] = scores[rows, columns]
    return maps
