# features.py
# grammarbench: gapped k-mer kernels as sums over position subsets (LS-GKM's kernels, exactly)

r"""Gapped k-mer kernels written as weighted sums of exact subset matches.

LS-GKM (Lee 2016) defines every one of its kernels from a *mismatch table* ``T[m]``: for
two sequences ``x`` and ``y``,

    K_raw(x, y) = Σ_{p ∈ windows(x)} Σ_{q ∈ windows(y) ∪ windows(rc y)} w_p w_q T[m(x_p, y_q)]

over all pairs of length-``l`` windows, where ``m`` is their number of mismatching
positions, only pairs with ``m <= d`` count (its mismatch tree stops at depth ``d``), and
``w`` are window weights (1, or LS-GKM's centre weights for ``wgkm``). The kernel the SVM
sees is the normalised ``K_raw(x, y) / sqrt(K_raw(x, x) K_raw(y, y))``, optionally through
LS-GKM's RBF ``exp(γ (K - 1))``.

The subset identity
-------------------
Two windows with ``m`` mismatches agree on exactly ``C(l - m, j)`` subsets of ``j``
positions. The functions ``m ↦ C(l - m, j)`` for ``j = l - d .. l`` vanish for ``m > d``
and form a triangular basis of the functions of ``m = 0..d``, so any table truncated at
``d`` is ``T[m] = Σ_j a_j C(l - m, j)`` for unique coefficients ``a_j``, and

    K_raw(x, y) = Σ_{subsets s, |s| >= l - d} a_{|s|} Σ_key c_s(x)[key] · (c_s(y) + c_s(rc y))[key]

where ``c_s(x)[key]`` is the weighted count of windows of ``x`` whose letters at the
positions ``s`` spell ``key``. (The plain gapped k-mer kernel with ``d >= l - k`` is the
special case ``a_k = 1``, all others 0: the count of shared gapped k-mers.) This turns the
kernel into exact key matches, which is what makes everything here fast:

* the Gram matrix joins windows on equal keys (``kernel.py``), touching only pairs within
  ``d`` mismatches, as LS-GKM's tree does, instead of all window pairs;
* a trained (non-RBF) SVM collapses to one table ``V_s[key]`` per subset (the SVs' weighted
  counts times their coefficients), so prediction and GkmExplain cost
  ``O(windows × subsets)`` per sequence whatever the number of support vectors;
* the linear tier learns the ``V_s`` directly, on explicit features.

GkmExplain splits a window pair's ``T[m]`` equally over its ``l - m`` matching positions
(Shrikumar et al. 2019). Splitting each subset term ``a_j`` equally over its ``j``
positions gives the same thing, since ``Σ_j a_j C(l-m-1, j-1)/j = T[m]/(l - m)``.

Window codes
------------
A window is packed into an integer, two bits per letter, letter ``u`` (0-based from the
window's left end) in bits ``2u, 2u+1``; DNA codes A=0, C=1, G=2, T=3, so the complement of
a letter ``c`` is ``3 - c``. A window holding an unknown letter (code >= 4, also the padding
past a shorter sequence's end) is no window: its weight is 0.

References
----------
Ghandi, M., Lee, D., Mohammad-Noori, M. & Beer, M. A. (2014). Enhanced regulatory sequence
    prediction using gapped k-mer features. PLoS Comput. Biol. 10:e1003711.
Lee, D. (2016). LS-GKM: a new gkm-SVM for large-scale datasets. Bioinformatics 32:2196.
Shrikumar, A., Prakash, E. & Kundaje, A. (2019). GkmExplain: fast and accurate
    interpretation of nonlinear gapped k-mer SVMs. Bioinformatics 35:i173-i182.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

#: LS-GKM's kernel names (``gkmtrain -t``), as (mismatch table, centre-weighted, RBF).
KERNELS = {
    "gkm": ("gkm", False, False),              # -t 0
    "estfull": ("estfull", False, False),      # -t 1
    "esttrunc": ("esttrunc", False, False),    # -t 2
    "gkmrbf": ("esttrunc", False, True),       # -t 3
    "wgkm": ("esttrunc", True, False),         # -t 4 (LS-GKM's default)
    "wgkmrbf": ("esttrunc", True, True),       # -t 5
    "gkm-rbf": ("gkm", False, True),           # -t 6
    # Not one of LS-GKM's: gapped k-mer counts with centre-weighted windows (the linear
    # tier's features for the wgkm kernels).
    "wgkm-count": ("gkm", True, False),
}
LSGKM_KERNEL_TYPES = {0: "gkm", 1: "estfull", 2: "esttrunc", 3: "gkmrbf", 4: "wgkm",
                      5: "wgkmrbf", 6: "gkm-rbf"}
#: LS-GKM's model-file names of the kernels.
LSGKM_KERNEL_NAMES = {"gkm": "gkm", "estfull": "gkm_estfull", "esttrunc": "gkm_esttrunc",
                      "gkmrbf": "gkm_esttrunc_rbf", "wgkm": "gkm_esttrunc_pw",
                      "wgkmrbf": "gkm_esttrunc_pw_rbf", "gkm-rbf": "gkm_rbf"}
ALPHABET_SIZE = 4
#: Key tables (``V``, float64) are used while all subsets hold at most this many keys in
#: total (512 MB); beyond, prediction and GkmExplain go support vector by support vector.
MAX_TABLE_ENTRIES = 64_000_000


@dataclass(frozen=True)
class KernelSpec:
    """A gapped k-mer kernel, as LS-GKM's ``gkmtrain`` options define it.

    Parameters
    ----------
    l: int
        Word (window) length, 3 <= l <= 12 (LS-GKM's ``-l``).
    k: int
        Informative columns, 1 <= k <= l (``-k``).
    d: int
        Maximum mismatches between two windows that still count, 0 <= d <= l - 1 (``-d``).
    kernel: str
        One of :data:`KERNELS`. Default is ``"esttrunc"``.
    gamma: float
        RBF width for the ``*rbf`` kernels (``-g``). Default is 1.0.
    M, H: int, float
        Centre weighting of ``wgkm`` kernels: window ``i`` of ``W`` weighs
        ``min(M, floor(M · 2^(-|W//2 - i| / H) + 1))`` (``-M``, ``-H``). Defaults 50, 50.
    """

    l: int = 10
    k: int = 6
    d: int = 3
    kernel: str = "esttrunc"
    gamma: float = 1.0
    M: int = 50
    H: float = 50.0

    def __post_init__(self):
        for name in ("l", "k", "d", "M"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be an integer; got {value!r}")
        if not 3 <= self.l <= 12:
            raise ValueError(f"l must be between 3 and 12 (LS-GKM's range); got {self.l}")
        if not 1 <= self.k <= self.l:
            raise ValueError(f"k must be between 1 and l={self.l}; got {self.k}")
        if not 0 <= self.d <= self.l - 1:
            raise ValueError(f"d must be between 0 and l-1={self.l - 1}; got {self.d}")
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}; got {self.kernel!r}")
        if not (isinstance(self.gamma, (int, float)) and self.gamma > 0):
            raise ValueError(f"gamma must be a positive number; got {self.gamma!r}")
        if not 1 <= self.M <= 255:
            raise ValueError(f"M must be between 1 and 255 (LS-GKM stores weights in a byte); got {self.M}")
        if not (isinstance(self.H, (int, float)) and self.H > 0):
            raise ValueError(f"H must be a positive number; got {self.H!r}")

    @property
    def table_kind(self) -> str:
        return KERNELS[self.kernel][0]

    @property
    def centre_weighted(self) -> bool:
        return KERNELS[self.kernel][1]

    @property
    def rbf(self) -> bool:
        return KERNELS[self.kernel][2]

    def as_dict(self) -> dict:
        return {"l": self.l, "k": self.k, "d": self.d, "kernel": self.kernel,
                "gamma": float(self.gamma), "M": int(self.M), "H": float(self.H)}


# --------------------------------------------------------------------------- mismatch tables


def _choose(n: int, r: int) -> float:
    return float(math.comb(n, r)) if 0 <= r <= n else 0.0


def _estimated_lmer_table(l: int, k: int, truncated: bool) -> np.ndarray:
    """The estimated l-mer kernel's table (Ghandi et al. 2014, as LS-GKM computes it).

    Three steps: ``wm[i]`` weighs a gapped k-mer match with ``i`` mismatching informative
    columns in the estimate of full l-mer counts (a recursion over l and k); ``h[m]``
    is the estimated-count filter for two l-mers ``m`` apart, optionally truncated where it
    first becomes negligible (< 1e-50); ``T`` is the filter applied on both sides, summed
    over every l-mer pair at the two distances (``t`` shared mismatches, ``r`` positions
    mismatching both differently).
    """
    b = ALPHABET_SIZE
    previous = np.ones((k + 1, k + 1))
    current = np.ones((k + 1, k + 1))
    for length in range(1, l + 1):
        for informative in range(1, k + 1):
            current[informative, 0] = previous[informative, 0] + (b - 1) * previous[informative - 1, 0]
            for mismatched in range(1, informative + 1):
                current[informative, mismatched] = (current[informative - 1, mismatched - 1]
                                                    * (informative - length) / informative)
        previous, current = current, previous
    wm = previous[k] / (_choose(l, k) * float(b) ** l)

    h = np.array([sum(wm[i] * _choose(l - m, k - i) * _choose(m, i) for i in range(min(m, k) + 1))
                  for m in range(l + 1)])
    if truncated:
        negligible = np.flatnonzero(h < 1e-50)
        if negligible.size:
            h[negligible[0]:] = 0.0

    table = np.zeros(l + 1)
    for matches in range(l + 1):
        total = 0.0
        for m1, m2, t in itertools.product(range(l + 1), range(l + 1), range(l + 1)):
            r = m1 + m2 - 2 * t - l + matches
            if t <= matches and m1 - t <= l - matches and 0 <= r <= m1 - t:
                total += (_choose(matches, t) * _choose(l - matches, m1 - t) * _choose(m1 - t, r)
                          * (b - 1) ** t * (b - 2) ** r * h[m1] * h[m2])
        table[l - matches] = total
    return table


def mismatch_table(spec: KernelSpec) -> np.ndarray:
    """``T[m]`` for ``m = 0..l`` mismatches, zero past ``d`` (LS-GKM's ``g_weights``)."""
    if spec.table_kind == "gkm":
        table = np.array([_choose(spec.l - m, spec.k) for m in range(spec.l + 1)])
    else:
        table = _estimated_lmer_table(spec.l, spec.k, truncated=spec.table_kind == "esttrunc")
    table[spec.d + 1:] = 0.0
    return table


# --------------------------------------------------------------------------- subset basis


@dataclass
class SubsetBasis:
    """The kernel as position subsets with coefficients (see the module docstring).

    Attributes
    ----------
    l: int
    positions: np.ndarray, shape=(S, l), int64
        Each subset's positions in increasing order, padded with -1.
    sizes: np.ndarray, shape=(S,), int64
    coefficients: np.ndarray, shape=(S,), float64
        ``a_{|s|}`` of each subset.
    mirror: np.ndarray, shape=(S,), int64
        Index of the subset ``{l-1-u : u in s}`` (what ``s`` reads on the other strand).
    offsets: np.ndarray, shape=(S+1,), int64
        Start of each subset's ``4**|s|`` keys in a flat table.
    table: np.ndarray, shape=(l+1,)
        The mismatch table the basis reproduces.
    """

    l: int
    positions: np.ndarray
    sizes: np.ndarray
    coefficients: np.ndarray
    mirror: np.ndarray
    offsets: np.ndarray
    table: np.ndarray = field(repr=False)

    @property
    def n_subsets(self) -> int:
        return len(self.sizes)

    @property
    def n_keys(self) -> int:
        return int(self.offsets[-1])


def subset_basis(spec: KernelSpec) -> SubsetBasis:
    """Decompose ``mismatch_table(spec)`` over subsets of sizes ``l - m_max .. l``.

    ``m_max`` is the last mismatch count with a non-zero table entry; coefficients come
    from the triangular system ``T[m] = Σ_j a_j C(l - m, j)``, solved from ``j = l - m_max``
    upwards, and coefficients that vanish (to rounding) are dropped with their subsets.
    """
    l = spec.l
    table = mismatch_table(spec)
    nonzero = np.flatnonzero(table != 0)
    m_max = int(nonzero[-1])
    sizes_used = list(range(l - m_max, l + 1))
    # Row m of the system reads T[m] = Σ_j a_j C(l-m, j); for m = m_max .. 0 each row adds
    # one unknown (j = l - m), so forward substitution solves it exactly.
    coefficient_of_size = {}
    for m in range(m_max, -1, -1):
        j_new = l - m
        known = sum(coefficient_of_size[j] * _choose(l - m, j) for j in coefficient_of_size)
        coefficient_of_size[j_new] = (table[m] - known) / _choose(l - m, j_new)
    scale = np.abs(table).max()
    subsets, coefficients = [], []
    for size in sizes_used:
        a = coefficient_of_size[size]
        if abs(a) * _choose(l, size) <= 1e-12 * scale:
            continue
        for subset in itertools.combinations(range(l), size):
            subsets.append(subset)
            coefficients.append(a)
    positions = np.full((len(subsets), l), -1, dtype=np.int64)
    for i, subset in enumerate(subsets):
        positions[i, :len(subset)] = subset
    sizes = np.array([len(s) for s in subsets], dtype=np.int64)
    index = {s: i for i, s in enumerate(subsets)}
    mirror = np.array([index[tuple(sorted(l - 1 - u for u in s))] for s in subsets], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(ALPHABET_SIZE ** sizes)]).astype(np.int64)
    return SubsetBasis(l=l, positions=positions, sizes=sizes,
                       coefficients=np.array(coefficients, dtype=np.float64), mirror=mirror,
                       offsets=offsets, table=table)


# --------------------------------------------------------------------------- windows


def check_codes(codes, name: str = "codes") -> np.ndarray:
    """``codes`` as a C-contiguous (N, L) uint8 array of DNA codes (>= 4: unknown)."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (N, L); got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer letter codes; got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must hold non-negative letter codes")
    return np.ascontiguousarray(np.minimum(arr, ALPHABET_SIZE).astype(np.uint8))


@njit(cache=True, parallel=True)
def _pack_windows(codes, l):
    n, length = codes.shape
    n_windows = length - l + 1
    packed = np.zeros((n, n_windows), dtype=np.uint32)
    valid = np.zeros((n, n_windows), dtype=np.bool_)
    for i in prange(n):
        for p in range(n_windows):
            value = 0
            ok = True
            for u in range(l):
                c = codes[i, p + u]
                if c >= 4:
                    ok = False
                    break
                value |= np.uint32(c) << np.uint32(2 * u)
            packed[i, p] = value
            valid[i, p] = ok
    return packed, valid


def sequence_lengths(codes: np.ndarray) -> np.ndarray:
    """Letters before each row's first unknown code (the padding of shorter sequences)."""
    unknown = codes >= ALPHABET_SIZE
    return np.where(unknown.any(axis=1), unknown.argmax(axis=1), codes.shape[1]).astype(np.int64)


def window_weights(spec: KernelSpec, codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Weight of each forward window, shape=(N, W): 0 for no window, 1, or LS-GKM's centre weight.

    LS-GKM weighs window ``i`` of a sequence with ``W`` windows by
    ``min(M, floor(M · exp(-ln 2 · |W//2 - i| / H) + 1))``; ``W`` is the sequence's own
    number of windows, so a shorter (padded) sequence is centred on itself.
    """
    weights = valid.astype(np.float64)
    if not spec.centre_weighted or not weights.size:
        return weights
    n_windows = np.maximum(sequence_lengths(codes) - spec.l + 1, 0)
    distance = np.abs(n_windows[:, None] // 2 - np.arange(valid.shape[1])[None, :])
    centre = np.floor(spec.M * np.exp(-math.log(2) * distance / spec.H) + 1)
    return weights * np.minimum(centre, spec.M)


@dataclass
class Windows:
    """Both strands' windows of a batch of sequences.

    ``forward[i, p]`` is the window at position ``p``; ``reverse[i, p]`` the window at
    ``p`` of the reverse complement, i.e. the reverse complement of forward window
    ``W-1-p`` (LS-GKM gives it that window's weight). Weights are 0 for no window.
    """

    forward: np.ndarray          # (N, W) uint32
    reverse: np.ndarray          # (N, W) uint32
    forward_weight: np.ndarray   # (N, W) float64
    reverse_weight: np.ndarray   # (N, W) float64
    length: int                  # L

    @property
    def n(self) -> int:
        return self.forward.shape[0]


def windows(spec: KernelSpec, codes) -> Windows:
    """Pack ``codes`` (N, L) into :class:`Windows` for ``spec``."""
    codes = check_codes(codes)
    n, length = codes.shape
    if length < spec.l:
        raise ValueError(f"sequences of length {length} are shorter than the word length l={spec.l}")
    forward, valid = _pack_windows(codes, spec.l)
    # Complement A<->T, C<->G is 3 - c; unknown letters stay unknown.
    reverse_codes = np.where(codes < ALPHABET_SIZE, 3 - codes.astype(np.int16), ALPHABET_SIZE)
    reverse_codes = np.ascontiguousarray(reverse_codes[:, ::-1].astype(np.uint8))
    reverse, _ = _pack_windows(reverse_codes, spec.l)
    weight = window_weights(spec, codes, valid)
    return Windows(forward=forward, reverse=reverse, forward_weight=weight,
                   reverse_weight=np.ascontiguousarray(weight[:, ::-1]), length=length)


@njit(cache=True, inline="always")
def subset_key(window, positions, size):
    """The letters of ``window`` at ``positions[:size]`` as a base-4 number (first = lowest)."""
    key = 0
    for i in range(size):
        key |= ((window >> (2 * positions[i])) & 3) << (2 * i)
    return key


def reverse_complement_keys(size: int) -> np.ndarray:
    """``rc[key]``: the key of the reverse complement of every ``size``-letter key."""
    keys = np.arange(ALPHABET_SIZE ** size, dtype=np.int64)
    digits = (keys[:, None] >> (2 * np.arange(size))) & 3          # (4**size, size)
    flipped = (3 - digits)[:, ::-1]
    return (flipped << (2 * np.arange(size))).sum(axis=1)


def symmetrise_over_strands(basis: SubsetBasis, table: np.ndarray) -> np.ndarray:
    """``V_s[key] + V_mirror(s)[rc key]``: a flat table that reads the same on both strands.

    A window's reverse complement, read through subset ``s``, spells the reverse
    complement of what the window spells through ``mirror(s)``; so summing a table over
    both strands' windows equals summing the symmetrised table over the forward ones.
    """
    out = np.empty_like(table)
    rc_cache = {}
    for s in range(basis.n_subsets):
        size = int(basis.sizes[s])
        if size not in rc_cache:
            rc_cache[size] = reverse_complement_keys(size)
        m = basis.mirror[s]
        own = table[basis.offsets[s]:basis.offsets[s + 1]]
        other = table[basis.offsets[m]:basis.offsets[m + 1]]
        out[basis.offsets[s]:basis.offsets[s + 1]] = own + other[rc_cache[size]]
    return out


def explicit_features(spec: KernelSpec, codes, basis: SubsetBasis | None = None):
    """The explicit feature matrix ``ψ(x) = sqrt(a_s) (c_s(x) + c_s(rc x))``, scipy CSR.

    ``ψ(x)·ψ(y) = 2 K_raw(x, y)``. Meant for small inputs (tests, tiny linear problems):
    it holds ``N × W × S`` entries. Needs every coefficient ``a_s >= 0``.
    """
    import scipy.sparse as sp

    basis = subset_basis(spec) if basis is None else basis
    if (basis.coefficients < 0).any():
        raise ValueError(f"kernel {spec.kernel} with l={spec.l}, k={spec.k}, d={spec.d} has negative "
                         "subset coefficients, so no real explicit feature map")
    win = windows(spec, codes)
    rows, cols, vals = _feature_triplets(win.forward, win.forward_weight, win.reverse, win.reverse_weight,
                                         basis.positions, basis.sizes, basis.offsets,
                                         np.sqrt(basis.coefficients))
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(win.n, basis.n_keys))
    matrix.sum_duplicates()
    return matrix


@njit(cache=True)
def _feature_triplets(fwd, fwd_w, rev, rev_w, positions, sizes, offsets, root_coef):
    n, n_windows = fwd.shape
    n_subsets = sizes.shape[0]
    total = 2 * n * n_windows * n_subsets
    rows = np.empty(total, dtype=np.int64)
    cols = np.empty(total, dtype=np.int64)
    vals = np.empty(total, dtype=np.float64)
    e = 0
    for i in range(n):
        for p in range(n_windows):
            for s in range(n_subsets):
                for strand in range(2):
                    w = fwd_w[i, p] if strand == 0 else rev_w[i, p]
                    window = fwd[i, p] if strand == 0 else rev[i, p]
                    rows[e] = i
                    cols[e] = offsets[s] + subset_key(window, positions[s], sizes[s])
                    vals[e] = root_coef[s] * w
                    e += 1
    return rows, cols, vals
