# tables.py
# grammarbench: a gapped k-mer SVM as one key table per subset (prediction and attribution)

r"""Scoring sequences through subset key tables, and the same sum spread over positions.

Both tiers of :class:`~.svm.GkmSvm` (without RBF) are, after training, the function

    f(x) = b + (1 / sqrt(K_raw(x, x))) · Σ_s a_s Σ_p w_p V_s[key_s(x_p)]

over the forward windows ``p`` of ``x``: for the kernel tier
``V_s = Σ_j (y_j α_j / sqrt(K_raw(z_j, z_j))) (c_s(z_j) + c_s(rc z_j))`` over the support
vectors ``z_j`` (the kernel expansion, regrouped by key); for the linear tier the learned
weights. Spreading each term equally over the ``|s|`` positions its subset reads gives
GkmExplain's per-position scores (see :mod:`.features`), which sum to ``f(x) - b``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .features import SubsetBasis, Windows, subset_key


@njit(cache=True, parallel=True)
def _add_support_counts(table, forward, reverse, forward_weight, reverse_weight, scale,
                        positions, sizes, offsets):
    """``table[s, key] += scale_j · w`` for every window (both strands) of every support j."""
    n, n_windows = forward.shape
    for s in prange(sizes.shape[0]):        # subsets own disjoint slices of the table
        base = offsets[s]
        for j in range(n):
            if scale[j] == 0:
                continue
            for p in range(n_windows):
                if forward_weight[j, p] != 0:
                    table[base + subset_key(forward[j, p], positions[s], sizes[s])] += scale[j] * forward_weight[j, p]
                if reverse_weight[j, p] != 0:
                    table[base + subset_key(reverse[j, p], positions[s], sizes[s])] += scale[j] * reverse_weight[j, p]


def support_table(basis: SubsetBasis, support: Windows, scale: np.ndarray) -> np.ndarray:
    """``V_s[key] = Σ_j scale_j (c_s(z_j) + c_s(rc z_j))[key]``, flat, shape=(n_keys,)."""
    table = np.zeros(basis.n_keys, dtype=np.float64)
    _add_support_counts(table, support.forward, support.reverse, support.forward_weight,
                        support.reverse_weight, np.ascontiguousarray(scale, dtype=np.float64),
                        basis.positions, basis.sizes, basis.offsets)
    return table


@njit(cache=True, parallel=True)
def _score(forward, forward_weight, tables, table_of_row, positions, sizes, offsets, coefficients,
           with_positions, n_positions):
    n, n_windows = forward.shape
    totals = np.zeros(n, dtype=np.float64)
    spread = np.zeros((n, n_positions if with_positions else 1), dtype=np.float64)
    for i in prange(n):
        table = tables[table_of_row[i]]
        total = 0.0
        for p in range(n_windows):
            w = forward_weight[i, p]
            if w == 0:
                continue
            for s in range(sizes.shape[0]):
                term = coefficients[s] * w * table[offsets[s] + subset_key(forward[i, p], positions[s], sizes[s])]
                total += term
                if with_positions:
                    share = term / sizes[s]
                    for u in range(sizes[s]):
                        spread[i, p + positions[s, u]] += share
        totals[i] = total
    return totals, spread


def table_scores(basis: SubsetBasis, query: Windows, tables: np.ndarray, table_of_row=None,
                 with_positions: bool = False):
    """``Σ_s a_s Σ_p w_p V_s[key_s(x_p)]`` per sequence, and optionally its per-position split.

    Parameters
    ----------
    tables: np.ndarray, shape=(T, n_keys)
    table_of_row: np.ndarray, shape=(N,), optional
        Which table scores each sequence. Default is table 0 for all.

    Returns
    -------
    totals: np.ndarray, shape=(N,)
    positions: np.ndarray, shape=(N, L), or None
        Each window-subset term split equally over the positions it reads; sums to ``totals``.
    """
    table_of_row = (np.zeros(query.n, dtype=np.int64) if table_of_row is None
                    else np.ascontiguousarray(table_of_row, dtype=np.int64))
    totals, spread = _score(query.forward, query.forward_weight, np.ascontiguousarray(tables),
                            table_of_row, basis.positions, basis.sizes, basis.offsets,
                            basis.coefficients, with_positions, query.length)
    return totals, (spread if with_positions else None)


@njit(cache=True, parallel=True)
def join_spread(out, query_keys, query_weight, starts, owner, weight, pair_factor, coefficient,
                positions, size):
    """Per-position split of ``Σ_j pair_factor[i, j] K_raw,s(x_i, z_j)`` for one subset.

    For the RBF kernels the support vectors do not collapse into one table (each pair has
    its own factor), so the windows are joined on keys as for the Gram matrix.
    """
    n_query, n_windows = query_keys.shape
    for i in prange(n_query):
        factors = pair_factor[i]
        for p in range(n_windows):
            wq = query_weight[i, p]
            if wq == 0:
                continue
            key = query_keys[i, p]
            total = 0.0
            for e in range(starts[key], starts[key + 1]):
                total += factors[owner[e]] * weight[e]
            share = coefficient * wq * total / size
            for u in range(size):
                out[i, p + positions[u]] += share
