# implant.py
# grammarbench: dinucleotide shuffle of real windows and re-implanting of their motif hits

"""Shuffle real windows and put their retained motif hits back (Prakash et al. 2021).

A simulated example is a k-let shuffle (k=2: dinucleotide, the default) of one window,
with the letters of retained motif hits copied back in from another (or the same)
window at the same positions. Copying the letters keeps each hit's strand and its exact
sequence, so the re-scan finds every implanted hit again (tests check it). The shuffle is
:func:`grammarbench.sequences.kernels.kshuffle`: uniform among sequences with the same k-let counts,
one seed per example, numba-parallel over examples.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["shuffle_and_implant", "hit_mask", "paired_controls"]


@njit(cache=True, nogil=True)
def _copy_hits(source, target, rows, starts, ends):
    for h in range(len(rows)):
        for column in range(max(starts[h], 0), min(ends[h], target.shape[1])):
            target[rows[h], column] = source[rows[h], column]


@njit(cache=True, nogil=True)
def _paint_hits(target, rows, starts, ends):
    for h in range(len(rows)):
        for column in range(max(starts[h], 0), min(ends[h], target.shape[1])):
            target[rows[h], column] = 1


def _hit_arrays(rows, starts, ends):
    return tuple(np.ascontiguousarray(a, dtype=np.int64) for a in (rows, starts, ends))


def hit_mask(rows, starts, ends, shape: tuple[int, int]) -> np.ndarray:
    """1 at every letter of every hit (row, start, end half-open; clipped to the row),
    shape=``shape`` uint8."""
    mask = np.zeros(shape, dtype=np.uint8)
    _paint_hits(mask, *_hit_arrays(rows, starts, ends))
    return mask


def shuffle_and_implant(shuffle_from: np.ndarray, implant_from: np.ndarray, hit_rows,
                        hit_starts, hit_ends, seeds: np.ndarray, k: int = 2,
                        shuffle: bool = True) -> np.ndarray:
    """k-let shuffles of ``shuffle_from`` with hits of ``implant_from`` copied back.

    Parameters
    ----------
    shuffle_from: np.ndarray, dtype=uint8, shape=(M, L)
        The windows to shuffle, one per example.
    implant_from: np.ndarray, dtype=uint8, shape=(M, L)
        The windows the hits were found in, one per example (the same as
        ``shuffle_from`` for a positive).
    hit_rows, hit_starts, hit_ends: np.ndarray, shape=(H,)
        Example (row), start and end (half-open) of each hit to implant.
    seeds: np.ndarray, dtype=uint64, shape=(M,)
        One shuffle seed per example.
    k: int
        k-let size kept by the shuffle. Default is 2.
    shuffle: bool
        False copies ``shuffle_from`` unshuffled (the ``real`` negatives). Default True.

    Returns
    -------
    examples: np.ndarray, dtype=uint8, shape=(M, L)
        A new array; the inputs are unchanged.
    """
    from grammarbench.sequences.kernels import kshuffle

    shuffle_from = np.ascontiguousarray(shuffle_from, dtype=np.uint8)
    implant_from = np.asarray(implant_from, dtype=np.uint8)
    if shuffle_from.shape != implant_from.shape:
        raise ValueError(f"shuffle_from {shuffle_from.shape} and implant_from "
                         f"{implant_from.shape} must have the same shape")
    out = kshuffle(shuffle_from, k, seeds) if shuffle else shuffle_from.copy()
    _copy_hits(implant_from, out, *_hit_arrays(hit_rows, hit_starts, hit_ends))
    return out


def paired_controls(sequences: np.ndarray, implanted_mask: np.ndarray, random_state) -> np.ndarray:
    """Each example with every implanted motif replaced by a shuffle of its own letters
    (the paired controls of DART-Eval): the response of a model to the motif alone is the
    difference between the two.

    Overlapping implanted hits form one run of letters, shuffled as one. The permutation of
    a run sorts its letters by a random key per (example, column) from
    :func:`~grammarbench.sequences.kernels.shuffle_seeds` keyed by that position, so an
    example's control depends only on itself, not on the batch (nested sets stay nested).

    Parameters
    ----------
    sequences: np.ndarray, dtype=uint8, shape=(N, L)
    implanted_mask: np.ndarray, dtype=uint8 or bool, shape=(N, L)
        1 at the letters of implanted hits.
    random_state: int or np.random.SeedSequence
        Source of the keys.

    Returns
    -------
    controls: np.ndarray, dtype=uint8, shape=(N, L)
        A new array, equal to ``sequences`` outside the implanted runs.
    """
    controls = np.array(sequences, dtype=np.uint8, copy=True)
    rows, cols = np.nonzero(implanted_mask)           # row-major: runs are contiguous
    if not len(rows):
        return controls
    new_run = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1] + 1)]
    run = np.cumsum(new_run) - 1
    from grammarbench.sequences.kernels import shuffle_seeds

    position = rows.astype(np.int64) * sequences.shape[1] + cols
    keys = shuffle_seeds(random_state, len(rows), 1, index=position)[:, 0]
    order = np.lexsort((keys, run))                   # a random order within each run
    controls[rows, cols] = sequences[rows[order], cols[order]]
    return controls
