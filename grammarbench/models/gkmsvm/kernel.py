# kernel.py
# grammarbench: the gapped k-mer kernel matrix, by joining windows on subset keys

r"""Kernel values between sequences: self-kernels, cross-kernels, Gram matrices.

``K_raw(x, y)`` is computed as ``Σ_s a_s Σ_key c_s(x)[key] · (c_s(y) + c_s(rc y))[key]``
(see :mod:`.features`): for each subset ``s`` the windows of ``y`` (both strands) are
bucketed by key with a counting sort, and every window of ``x`` visits its bucket. Only
window pairs within ``d`` mismatches ever meet, as in LS-GKM's mismatch tree, instead of
all ``W²`` pairs of a pairwise comparison (gkmsvm-lite's approach). The work is spread over
the rows of the result (``prange``), so threads never write the same memory.

The self-kernel ``K_raw(x, x)`` (one number per sequence, the normaliser) is computed
directly from mismatch counts of all ``W × 2W`` window pairs of the sequence, an
independent route that the tests compare with the Gram diagonal.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .features import KernelSpec, SubsetBasis, Windows, subset_basis, subset_key, windows


@njit(cache=True)
def _bucket_support(keys_forward, keys_reverse, weight_forward, weight_reverse, n_keys):
    """Counting sort of the support windows (both strands) by key; rows stay in order."""
    n, n_windows = keys_forward.shape
    counts = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(n):
        for p in range(n_windows):
            if weight_forward[i, p] != 0:
                counts[keys_forward[i, p] + 1] += 1
            if weight_reverse[i, p] != 0:
                counts[keys_reverse[i, p] + 1] += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    owner = np.empty(starts[-1], dtype=np.int32)
    weight = np.empty(starts[-1], dtype=np.float64)
    for i in range(n):
        for p in range(n_windows):
            for strand in range(2):
                w = weight_forward[i, p] if strand == 0 else weight_reverse[i, p]
                if w != 0:
                    key = keys_forward[i, p] if strand == 0 else keys_reverse[i, p]
                    owner[fill[key]] = i
                    weight[fill[key]] = w
                    fill[key] += 1
    return starts, owner, weight


@njit(cache=True, parallel=True)
def _keys(window_codes, positions, size):
    n, n_windows = window_codes.shape
    out = np.empty((n, n_windows), dtype=np.int64)
    for i in prange(n):
        for p in range(n_windows):
            out[i, p] = subset_key(window_codes[i, p], positions, size)
    return out


@njit(cache=True, parallel=True)
def _join_add(out, query_keys, query_weight, starts, owner, weight, coefficient, upper_only):
    """``out[i, j] += coefficient · Σ w_query · w_support`` over windows of equal key.

    With ``upper_only`` (a Gram matrix: query = support) only ``j >= i`` is filled: a
    bucket lists its owners in increasing order, so its walk stops below ``i``. Rows
    are dealt to threads round-robin, because the upper triangle's rows shrink.
    """
    n_query, n_windows = query_keys.shape
    n_chunks = min(n_query, 64)
    for chunk in prange(n_chunks):
        for i in range(chunk, n_query, n_chunks):
            row = out[i]
            for p in range(n_windows):
                wq = query_weight[i, p]
                if wq == 0:
                    continue
                key = query_keys[i, p]
                scale = coefficient * wq
                if upper_only:
                    # Owners ascend within a bucket: walk down from the top and stop below i.
                    for e in range(starts[key + 1] - 1, starts[key] - 1, -1):
                        j = owner[e]
                        if j < i:
                            break
                        row[j] += scale * weight[e]
                else:
                    for e in range(starts[key], starts[key + 1]):
                        row[owner[e]] += scale * weight[e]


def cross_kernel_raw(spec: KernelSpec, query, support=None, basis: SubsetBasis | None = None) -> np.ndarray:
    """``K_raw(query_i, support_j)``, shape=(B, S), float64; ``support=None``: the Gram of ``query``.

    Parameters
    ----------
    query, support: np.ndarray, shape=(B, L) and (S, L'), uint8 codes, or :class:`Windows`
    basis: SubsetBasis, optional
        ``subset_basis(spec)``, if the caller already has it.
    """
    basis = subset_basis(spec) if basis is None else basis
    q = query if isinstance(query, Windows) else windows(spec, query)
    gram = support is None
    s = q if gram else (support if isinstance(support, Windows) else windows(spec, support))
    out = np.zeros((q.n, s.n), dtype=np.float64)
    for index in range(basis.n_subsets):
        positions, size = basis.positions[index], int(basis.sizes[index])
        starts, owner, weight = _bucket_support(
            _keys(s.forward, positions, size), _keys(s.reverse, positions, size),
            s.forward_weight, s.reverse_weight, 4 ** size)
        _join_add(out, _keys(q.forward, positions, size), q.forward_weight, starts, owner, weight,
                  basis.coefficients[index], gram)
    if gram:
        # K_raw is symmetric (both sides sum over both strands), so the lower triangle is
        # the upper one's mirror.
        lower = np.tril_indices(q.n, -1)
        out[lower] = out.T[lower]
    return out


@njit(cache=True, inline="always")
def mismatches(a, b):
    """Mismatching letters of two packed windows (two bits per letter)."""
    x = a ^ b
    x = (x | (x >> 1)) & np.uint32(0x55555555)
    count = 0
    while x:
        x &= x - np.uint32(1)
        count += 1
    return count


@njit(cache=True, parallel=True)
def _self_kernel(forward, reverse, forward_weight, reverse_weight, table, d):
    n, n_windows = forward.shape
    out = np.zeros(n, dtype=np.float64)
    for i in prange(n):
        total = 0.0
        for p in range(n_windows):
            wp = forward_weight[i, p]
            if wp == 0:
                continue
            for q in range(n_windows):
                for strand in range(2):
                    wq = forward_weight[i, q] if strand == 0 else reverse_weight[i, q]
                    if wq == 0:
                        continue
                    other = forward[i, q] if strand == 0 else reverse[i, q]
                    m = mismatches(forward[i, p], other)
                    if m <= d:
                        total += wp * wq * table[m]
        out[i] = total
    return out


def self_kernel_raw(spec: KernelSpec, codes, table: np.ndarray | None = None) -> np.ndarray:
    """``K_raw(x, x)`` per sequence, shape=(N,), from mismatch counts of window pairs."""
    from .features import mismatch_table

    win = codes if isinstance(codes, Windows) else windows(spec, codes)
    table = mismatch_table(spec) if table is None else table
    return _self_kernel(win.forward, win.reverse, win.forward_weight, win.reverse_weight, table, spec.d)


def normalise(raw: np.ndarray, query_self: np.ndarray, support_self: np.ndarray) -> np.ndarray:
    """``K_raw / sqrt(K_raw(x,x) K_raw(y,y))``; 0 where a sequence has no windows."""
    norm = np.sqrt(np.outer(query_self, support_self))
    return np.divide(raw, norm, out=np.zeros_like(raw), where=norm > 0)


def rbf(spec: KernelSpec, normalised: np.ndarray) -> np.ndarray:
    """LS-GKM's RBF on the normalised kernel: ``exp(γ (K - 1))``."""
    return np.exp(spec.gamma * (normalised - 1.0))


def gram_matrix(spec: KernelSpec, data, basis: SubsetBasis | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The training kernel matrix the SVM sees, shape=(N, N), and ``K_raw(x, x)``, shape=(N,).

    Normalised (its diagonal is exactly 1 for every sequence with a window, as in LS-GKM),
    through the RBF for ``*rbf`` kernels. The diagonal of the join is ``K_raw(x, x)``, so
    the normaliser needs no second computation.
    """
    basis = subset_basis(spec) if basis is None else basis
    raw = cross_kernel_raw(spec, data if isinstance(data, Windows) else windows(spec, data), None, basis)
    diagonal = np.diag(raw).copy()
    out = normalise(raw, diagonal, diagonal)
    del raw
    np.fill_diagonal(out, (diagonal > 0).astype(np.float64))
    return (rbf(spec, out) if spec.rbf else out), diagonal


def kernel_matrix(spec: KernelSpec, query, support=None, basis: SubsetBasis | None = None) -> np.ndarray:
    """The kernel the SVM sees (normalised, through the RBF for ``*rbf``), shape=(B, S).

    ``support=None`` gives the Gram matrix of ``query`` (:func:`gram_matrix`).
    """
    basis = subset_basis(spec) if basis is None else basis
    q = query if isinstance(query, Windows) else windows(spec, query)
    if support is None:
        return gram_matrix(spec, q, basis)[0]
    s = support if isinstance(support, Windows) else windows(spec, support)
    out = normalise(cross_kernel_raw(spec, q, s, basis), self_kernel_raw(spec, q, basis.table),
                    self_kernel_raw(spec, s, basis.table))
    return rbf(spec, out) if spec.rbf else out
