"""i.i.d. letters from per-row xoshiro256** generators, in numpy alone.

The same numbers as :func:`grammarbench.sequences.kernels.iid_letters` (the numba kernel),
letter for letter, without numba. A simulate job is a fresh process: importing numba and
loading even a cached kernel costs it about 0.7 s of CPU (numba's target context imports
its typing and lowering registries, and scipy.linalg with them), more than drawing the
100 million letters of a seqgra-sized dataset takes here. Only the i.i.d. background is
drawn this way; Markov backgrounds and k-let shuffles keep their numba kernels.

The generators run side by side, one per row: each of the few operations of a xoshiro256**
step is one numpy call over every row's state (a few thousand rows per call), so the Python
loop is over the words of a row (``width / 4``), never over rows or letters.
"""

from __future__ import annotations

import numpy as np

__all__ = ["iid_letters", "splitmix64"]

_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_MUL2 = np.uint64(0x94D049BB133111EB)


def splitmix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's output function, elementwise on uint64 (wraps modulo 2**64)."""
    z = z.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= _SM_MUL1
    z ^= z >> np.uint64(27)
    z *= _SM_MUL2
    z ^= z >> np.uint64(31)
    return z


def _words(seeds: np.ndarray, n_words: int) -> np.ndarray:
    """The first ``n_words`` outputs of each row's xoshiro256**, shape=(N, n_words) uint64
    (each step writes one column: cheaper than transposing afterwards)."""
    n = len(seeds)
    # state filled from the seed by splitmix64, as kernels._rng_seed does
    s0, s1, s2, s3 = (splitmix64(seeds + np.uint64(int(_SM_GAMMA) * (i + 1) % 2**64)) for i in range(4))
    out = np.empty((n, n_words), dtype=np.uint64)
    t = np.empty(n, dtype=np.uint64)
    r = np.empty(n, dtype=np.uint64)
    five, nine = np.uint64(5), np.uint64(9)
    k7, k57, k17, k45, k19 = (np.uint64(k) for k in (7, 57, 17, 45, 19))
    for w in range(n_words):
        # result = rotl(s1 * 5, 7) * 9
        np.multiply(s1, five, out=r)
        np.left_shift(r, k7, out=t)
        np.right_shift(r, k57, out=r)
        np.bitwise_or(r, t, out=r)
        np.multiply(r, nine, out=out[:, w])
        # state update
        np.left_shift(s1, k17, out=t)
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        np.left_shift(s3, k45, out=r)
        np.right_shift(s3, k19, out=s3)
        s3 |= r
    return out


def iid_letters(table: np.ndarray, seeds: np.ndarray, width: int) -> np.ndarray:
    """i.i.d. letters through a 16-bit lookup table, one row per seed; equal to
    :func:`grammarbench.sequences.kernels.iid_letters`.

    Row i's xoshiro256** generator (seeded from ``seeds[i]`` with splitmix64) gives four
    letters per 64-bit word, from its 16-bit slices, lowest first. A table that is sorted
    (``np.repeat(arange(A), counts)``, as the simulator builds it) is applied as A - 1
    comparisons with its steps, not as a gather: the gather would cast every 16-bit index to
    a 64-bit one first.

    Parameters and result as :func:`grammarbench.sequences.kernels.iid_letters`: ``table``
    shape=(65536,) uint8, ``seeds`` shape=(N,) uint64, ``width`` letters per row; returns
    shape=(N, width) uint8.
    """
    table = np.ascontiguousarray(table, dtype=np.uint8)
    if table.shape != (65536,):
        raise ValueError(f"table must have shape (65536,), got {table.shape}")
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    if seeds.ndim != 1:
        raise ValueError(f"seeds must be one-dimensional, got shape {seeds.shape}")
    width = int(width)
    if width < 0:
        raise ValueError(f"width must be >= 0, got {width}")
    n, n_words = len(seeds), -(-width // 4)
    if n == 0 or width == 0:
        return np.empty((n, width), dtype=np.uint8)
    words = _words(seeds, n_words)
    # 16-bit slices, slice b of word w = letter 4w + b (bits 16b.., little-endian view)
    if np.little_endian:
        slices = words.view(np.uint16)
    else:
        slices = np.stack([((words >> np.uint64(16 * b)) & np.uint64(0xFFFF)).astype(np.uint16)
                           for b in range(4)], axis=-1).reshape(n, 4 * n_words)
    slices = slices[:, :width]
    step = np.diff(table.astype(np.int16))
    edges = np.flatnonzero(step)  # the last value before each change of letter
    if (step >= 0).all() and len(edges) < 32:
        # a sorted table (the simulator's): letter = table[0] + the steps at or below the value
        codes = np.full(slices.shape, table[0], dtype=np.uint8)
        for edge in edges.tolist():  # Python ints: compared as uint16, not cast up to int64
            above = (slices > edge).view(np.uint8)
            codes += above if step[edge] == 1 else above * np.uint8(step[edge])
    else:
        codes = table[slices]
    return codes
