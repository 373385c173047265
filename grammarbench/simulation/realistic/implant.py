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
from numba import njit, prange

from grammarbench.sequences.kernels import shuffle_rows, shuffle_scratch

__all__ = ["shuffle_and_implant", "instance_masks", "paired_controls"]


def _hit_arrays(rows, starts, ends):
    return tuple(np.ascontiguousarray(a, dtype=np.int64) for a in (rows, starts, ends))


@njit(cache=True, parallel=True, nogil=True)
def _instance_masks_kernel(offsets, starts, ends, implanted, labels, n_chunks, mask, mask_implanted,
                           counts):
    """Paint the letters of example i's instances offsets[i]..offsets[i+1]-1 into ``mask``
    (and of the implanted ones into ``mask_implanted``), then add the example's mask to
    its class's row of its chunk's ``counts``."""
    M, L = mask.shape
    for c in prange(n_chunks):
        lo = c * M // n_chunks
        hi = (c + 1) * M // n_chunks
        for i in range(lo, hi):
            row = mask[i]
            for h in range(offsets[i], offsets[i + 1]):
                for column in range(max(starts[h], 0), min(ends[h], L)):
                    row[column] = 1
                if implanted[h]:
                    for column in range(max(starts[h], 0), min(ends[h], L)):
                        mask_implanted[i, column] = 1
            total = counts[c, labels[i]]
            for column in range(L):
                total[column] += row[column]


def instance_masks(rows, starts, ends, implanted, labels, shape: tuple[int, int], n_classes: int):
    """The letters of every instance and of the implanted ones as 0/1 masks, and per class
    and position how many of the class's examples have a 1 in the first, in one parallel
    pass over the examples.

    Parameters
    ----------
    rows, starts, ends: np.ndarray, shape=(H,)
        Example (sorted), start and end (half-open; clipped to the row) of each instance.
    implanted: np.ndarray, dtype=bool, shape=(H,)
        Which instances were implanted.
    labels: np.ndarray, shape=(M,)
        Class of each example, 0..n_classes-1.
    shape: (M, L)
    n_classes: int

    Returns
    -------
    mask, mask_implanted: np.ndarray, dtype=uint8, shape=(M, L)
    counts: np.ndarray, dtype=int64, shape=(n_classes, L)
    """
    from grammarbench.sequences.kernels import _n_chunks

    rows, starts, ends = _hit_arrays(rows, starts, ends)
    M, L = shape
    if len(rows) and (np.any(np.diff(rows) < 0) or rows[0] < 0 or rows[-1] >= M):
        raise ValueError(f"rows must be sorted rows in 0..{M - 1}")
    mask = np.zeros(shape, dtype=np.uint8)
    mask_implanted = np.zeros(shape, dtype=np.uint8)
    n_chunks = _n_chunks(M) if M else 1
    counts = np.zeros((n_chunks, n_classes, L), dtype=np.int64)
    _instance_masks_kernel(np.searchsorted(rows, np.arange(M + 1)), starts, ends,
                           np.ascontiguousarray(implanted, dtype=np.bool_),
                           np.ascontiguousarray(labels, dtype=np.int64), n_chunks, mask, mask_implanted, counts)
    return mask, mask_implanted, counts.sum(0)


@njit(cache=True, parallel=True, nogil=True)
def _shuffle_implant_kernel(first, second, n_first, shuffle_from, implant_from, shuffled, seeds,
                            k, s, n_vertices, hit_offsets, hit_starts, hit_ends, n_chunks, out):
    """Row i of ``out``: the source row ``shuffle_from[i]`` (a row of ``first``, or of
    ``second`` past its ``n_first`` rows), k-let shuffled where ``shuffled[i]``, with the
    letters of hits hit_offsets[i]..hit_offsets[i+1]-1 copied from row ``implant_from[i]``.
    The windows are read where they lie: no gathered copies of them. A chunk's rows are
    copied, then shuffled in place (four at a time), then given their hits."""
    M, L = out.shape
    for c in prange(n_chunks):
        lo = c * M // n_chunks
        hi = (c + 1) * M // n_chunks
        scratch = shuffle_scratch(L, s, n_vertices)
        to_shuffle = np.empty(hi - lo, dtype=np.int64)
        n_shuffle = 0
        for i in range(lo, hi):
            r = shuffle_from[i]
            src = first[r] if r < n_first else second[r - n_first]
            row = out[i]
            for column in range(L):
                row[column] = src[column]
            if shuffled[i]:
                to_shuffle[n_shuffle] = i
                n_shuffle += 1
        shuffle_rows(out, to_shuffle[:n_shuffle], L, k, s, seeds, scratch)
        for i in range(lo, hi):
            row = out[i]
            r = implant_from[i]
            src = first[r] if r < n_first else second[r - n_first]
            for h in range(hit_offsets[i], hit_offsets[i + 1]):
                for column in range(max(hit_starts[h], 0), min(hit_ends[h], L)):
                    row[column] = src[column]


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous uint8 view (or copy): one numba type for every source."""
    view = np.ascontiguousarray(array, dtype=np.uint8).view()
    view.flags.writeable = False
    return view


def shuffle_and_implant(sources, shuffle_from, implant_from, hit_rows, hit_starts, hit_ends,
                        seeds: np.ndarray, k: int = 2, shuffled=None) -> np.ndarray:
    """k-let shuffles of source windows with the hits of (other) source windows copied back.

    Parameters
    ----------
    sources: sequence of one or two np.ndarray, dtype=uint8, shape=(N_j, L)
        The windows (letter codes 0..3), read in place (a memory map is read only where
        a row is used). Rows are numbered through them: the rows of the first, then
        those of the second.
    shuffle_from: np.ndarray, dtype=int, shape=(M,)
        The window to shuffle for each example.
    implant_from: np.ndarray, dtype=int, shape=(M,)
        The window each example's hits were found in (the same as ``shuffle_from`` for
        a positive).
    hit_rows, hit_starts, hit_ends: np.ndarray, shape=(H,)
        Example (row), start and end (half-open) of each hit to implant, sorted by row.
    seeds: np.ndarray, dtype=uint64, shape=(M,)
        One shuffle seed per example.
    k: int
        k-let size kept by the shuffle. Default is 2.
    shuffled: np.ndarray or None, dtype=bool, shape=(M,)
        False copies the window unshuffled (the ``real`` negatives). Default None: all
        shuffled.

    Returns
    -------
    examples: np.ndarray, dtype=uint8, shape=(M, L)
        A new array; the inputs are unchanged.
    """
    from grammarbench.sequences.kernels import MAX_VERTICES, _n_chunks
    from grammarbench.sequences.validation import validate_seeds

    sources = [_read_only(source) for source in sources]
    if not 1 <= len(sources) <= 2 or sources[-1].shape[1:] != sources[0].shape[1:] or sources[0].ndim != 2:
        raise ValueError("sources must be one or two arrays of windows of the same width, "
                         f"got shapes {[source.shape for source in sources]}")
    shuffle_from, implant_from = (np.ascontiguousarray(rows, dtype=np.int64) for rows in (shuffle_from, implant_from))
    n_rows = sum(len(source) for source in sources)
    M = len(shuffle_from)
    for name, rows in (("shuffle_from", shuffle_from), ("implant_from", implant_from)):
        if rows.shape != (M,) or (M and (rows.min() < 0 or rows.max() >= n_rows)):
            raise ValueError(f"{name} must hold {M} rows in 0..{n_rows - 1}")
    hit_rows, hit_starts, hit_ends = _hit_arrays(hit_rows, hit_starts, hit_ends)
    if len(hit_rows) and (np.any(np.diff(hit_rows) < 0) or hit_rows[0] < 0 or hit_rows[-1] >= M):
        raise ValueError(f"hit_rows must be sorted rows in 0..{M - 1}")
    s = 5  # four letters and N, as kshuffle counts them
    if k < 1 or s ** (k - 1) > MAX_VERTICES:
        raise ValueError(f"k must be at least 1 with 5**(k-1) at most {MAX_VERTICES}; got {k}")
    shuffled = np.ones(M, dtype=np.bool_) if shuffled is None else np.ascontiguousarray(shuffled, dtype=np.bool_)
    out = np.empty((M, sources[0].shape[1]), dtype=np.uint8)
    if M:
        _shuffle_implant_kernel(sources[0], sources[-1], len(sources[0]), shuffle_from, implant_from,
                                shuffled, validate_seeds(seeds, M), int(k), s, s ** (k - 1),
                                np.searchsorted(hit_rows, np.arange(M + 1)), hit_starts, hit_ends,
                                _n_chunks(M), out)
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
