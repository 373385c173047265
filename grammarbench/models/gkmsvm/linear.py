# linear.py
# grammarbench: the linear tier, a linear SVM on explicit gapped k-mer counts

r"""A linear SVM on normalised, strand-merged gapped k-mer counts, for data too big for N².

Features: ``ψ(x) = (c_s(x) + c_s(rc x))_s / ||·||``, the counts of every gapped k-mer
(every ``k`` of the ``l`` positions of every window, i.e. the ``gkm`` kernel with
``d = l - k``) on both strands, so ``ψ(x)·ψ(y)`` is LS-GKM's normalised ``gkm`` kernel.
The features are never stored (``N × W × C(l, k)`` entries): each pass computes the keys
of an example's windows on the fly and reads or writes the weight vector there.

Solver: dual coordinate descent for the L1-loss (hinge) SVM (Hsieh et al. 2008, the
algorithm of liblinear's ``-s 3``), with the bias as an extra constant feature of value 1
as liblinear does (so, unlike libsvm's, the bias is regularised). The stopping rule is
liblinear's: the spread of projected gradients over an epoch falls below ``tol``. The
visiting order is a seeded permutation per epoch.

Reference
---------
Hsieh, C.-J., Chang, K.-W., Lin, C.-J., Keerthi, S. S. & Sundararajan, S. (2008). A dual
    coordinate descent method for large-scale linear SVM. ICML 2008, 408-415.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .features import Windows, subset_key


@njit(cache=True)
def _dot(weights, forward, reverse, forward_weight, reverse_weight, i, positions, sizes, offsets):
    total = 0.0
    for p in range(forward.shape[1]):
        wf, wr = forward_weight[i, p], reverse_weight[i, p]
        for s in range(sizes.shape[0]):
            if wf != 0:
                total += wf * weights[offsets[s] + subset_key(forward[i, p], positions[s], sizes[s])]
            if wr != 0:
                total += wr * weights[offsets[s] + subset_key(reverse[i, p], positions[s], sizes[s])]
    return total


@njit(cache=True)
def _axpy(weights, step, forward, reverse, forward_weight, reverse_weight, i, positions, sizes, offsets):
    for p in range(forward.shape[1]):
        wf, wr = forward_weight[i, p], reverse_weight[i, p]
        for s in range(sizes.shape[0]):
            if wf != 0:
                weights[offsets[s] + subset_key(forward[i, p], positions[s], sizes[s])] += step * wf
            if wr != 0:
                weights[offsets[s] + subset_key(reverse[i, p], positions[s], sizes[s])] += step * wr


@njit(cache=True)
def _dual_coordinate_descent(forward, reverse, forward_weight, reverse_weight, inverse_norm, signs,
                             upper, positions, sizes, offsets, n_keys, tol, max_epochs, seed):
    n = forward.shape[0]
    weights = np.zeros(n_keys, dtype=np.float64)
    bias = 0.0
    alpha = np.zeros(n, dtype=np.float64)
    # ||ψ(x_i)|| = 1 after normalisation, plus the bias feature's 1.
    diagonal = 2.0
    np.random.seed(seed)
    epoch = 0
    for epoch in range(max_epochs):
        order = np.random.permutation(n)
        largest, smallest = -np.inf, np.inf
        for i in order:
            if inverse_norm[i] == 0:
                continue
            y = signs[i]
            margin = inverse_norm[i] * _dot(weights, forward, reverse, forward_weight, reverse_weight, i,
                                            positions, sizes, offsets) + bias
            gradient = y * margin - 1.0
            projected = gradient
            if alpha[i] == 0.0 and gradient > 0.0:
                projected = 0.0
            elif alpha[i] == upper[i] and gradient < 0.0:
                projected = 0.0
            largest = max(largest, projected)
            smallest = min(smallest, projected)
            if abs(projected) > 1e-12:
                previous = alpha[i]
                alpha[i] = min(max(previous - gradient / diagonal, 0.0), upper[i])
                step = (alpha[i] - previous) * y
                if step != 0.0:
                    _axpy(weights, step * inverse_norm[i], forward, reverse, forward_weight, reverse_weight,
                          i, positions, sizes, offsets)
                    bias += step
        if largest - smallest <= tol:
            break
    return weights, bias, alpha, epoch + 1


def fit_linear(basis, data: Windows, inverse_norm: np.ndarray, signs: np.ndarray, upper: np.ndarray,
               tol: float, max_epochs: int, seed: int):
    """Train one binary linear SVM.

    Parameters
    ----------
    basis: SubsetBasis
        Of the ``gkm`` kernel with ``d = l - k`` (all coefficients 1).
    data: Windows
    inverse_norm: np.ndarray, shape=(N,)
        ``1 / ||c(x) + c(rc x)||`` (0 for a sequence without windows: it is skipped).
    signs: np.ndarray, shape=(N,)
        +1 / -1.
    upper: np.ndarray, shape=(N,)
        ``C`` times the example's class weight.

    Returns
    -------
    weights: np.ndarray, shape=(n_keys,)
        On ``c_s(x) + c_s(rc x)`` (before normalisation).
    bias: float
    alpha: np.ndarray, shape=(N,)
    epochs: int
    """
    return _dual_coordinate_descent(
        data.forward, data.reverse, data.forward_weight, data.reverse_weight,
        np.ascontiguousarray(inverse_norm, dtype=np.float64), np.ascontiguousarray(signs, dtype=np.float64),
        np.ascontiguousarray(upper, dtype=np.float64), basis.positions, basis.sizes, basis.offsets,
        basis.n_keys, float(tol), int(max_epochs), int(seed))
