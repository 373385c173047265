# scan.py
# grammarbench: motif scanning with exact p-values on both strands (issue 12)

"""Scan position probability matrices over many windows at once, both strands, with
exact p-values.

The recipe is FIMO's (Grant, Bailey & Noble 2011): a motif's log-odds matrix is rounded
to integers (``resolution`` steps per bit), the exact distribution of the integer score
of a random window under the background is computed by dynamic programming over the
columns, and a window is a hit when the probability of a score at least as high is below
the threshold. Because the scan adds the same integers the distribution was built from,
every reported p-value is exactly the background probability of its score (up to
float64 rounding of the distribution): a brute-force enumeration of all 4**w words gives
the same numbers (tests/test_realistic_scan.py). The only approximation is the rounding
of log-odds to ``1/resolution`` bits, which can only reorder windows whose scores differ
by less than that.

Speed. A window is a sum of one table lookup per block of ``q`` consecutive columns: each
position gets a base-4 code of the ``q`` letters starting there, and each block a table
code → summed integer score of its columns. The blocks are visited most informative first
and a window is abandoned as soon as its partial score plus the largest score the
unvisited blocks could add falls below the threshold. Before that, most strands take a
"wide" first test: whether the 7 letters under the motif's 7 most telling consecutive
columns, plus the most the other columns could add, reach the threshold. The verdicts of
64 strands are the bits of one table indexed by a 7-letter word, so one lookup per
position tests 64 strands at once (each at the window that puts its 7 columns there);
the windows that pass are sorted by strand and then scored with that strand's tables hot
in cache. A cost model (exact pass rates under the background) picks the wide test or
the first two blocks. At p < 1e-4 about 1% of windows pass the wide test. All arithmetic
is integer, so the bounds are exact (no margin for float rounding). Work is split over chunks of windows with numba's
``prange``; the hits are sorted afterwards, so the output does not depend on the number
of threads.

Windows holding an unknown letter (N, or padding past a window's length) have no
p-value under a four-letter background and are never reported.

References
----------
Grant, C. E., Bailey, T. L. & Noble, W. S. (2011). FIMO: scanning for occurrences of a
    given motif. Bioinformatics 27(7):1017-1018.
Staden, R. (1994). Searching for motifs in nucleic acid sequences. Methods Mol. Biol.
    25:93-102 (the score distribution by dynamic programming).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
from numba import njit, prange

__all__ = ["MotifScanner", "score_matrix", "score_survival", "HIT_COLUMNS"]

#: Columns of the hit table, in order.
HIT_COLUMNS = ("window", "motif", "start", "end", "strand", "score", "p_value")

#: Columns per table lookup: base-4 codes of 5 letters, tables of 4**5 int32 (4 KiB),
#: small enough that a motif's first table stays in L1 while its windows stream by.
DEFAULT_BLOCK = 5

#: Letters per chunk of windows: their uint16 codes (128 KiB) stay in L2.
_CHUNK_LETTERS = 1 << 16


def _check_ppm(ppm, name: str) -> np.ndarray:
    arr = np.asarray(ppm, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] < 1:
        raise ValueError(f"motif {name!r}: a PPM must have shape (width, 4); got {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"motif {name!r}: PPM entries must be finite and non-negative")
    sums = arr.sum(1, keepdims=True)
    if (sums <= 0).any():
        raise ValueError(f"motif {name!r}: a PPM row sums to zero")
    return arr / sums


def _check_background(background) -> np.ndarray:
    if background is None:
        return np.full(4, 0.25)
    bg = np.asarray(background, dtype=np.float64)
    if bg.shape != (4,) or not np.isfinite(bg).all() or (bg <= 0).any():
        raise ValueError(f"background must be 4 positive letter probabilities (A C G T); got {background!r}")
    return bg / bg.sum()


def score_matrix(ppm, background=None, pseudocount: float = 0.01,
                 resolution: int = 100) -> np.ndarray:
    """The integer log-odds matrix of a PPM.

    ``round(resolution * log2(p' / bg))`` with ``p' = (ppm + pseudocount * bg) /
    (1 + pseudocount)``: the pseudocount mixes in a little background, as FIMO's
    ``--motif-pseudo`` does, so that no letter is impossible.

    Parameters
    ----------
    ppm: np.ndarray, shape=(w, 4)
        Position probability matrix, columns A C G T.
    background: np.ndarray or None, shape=(4,)
        Letter probabilities of the background. Default is None (uniform).
    pseudocount: float
        Weight of the background mixed into each row. Default is 0.01.
    resolution: int
        Integer steps per bit. Default is 100.

    Returns
    -------
    scores: np.ndarray, dtype=int32, shape=(w, 4)
    """
    ppm = _check_ppm(ppm, "ppm")
    bg = _check_background(background)
    if pseudocount < 0 or (pseudocount == 0 and (ppm == 0).any()):
        raise ValueError("pseudocount must be > 0 when a PPM has zero entries")
    mixed = (ppm + pseudocount * bg) / (1.0 + pseudocount)
    return np.round(resolution * np.log2(mixed / bg)).astype(np.int32)


def score_survival(scores: np.ndarray, background=None) -> tuple[int, np.ndarray]:
    """The exact distribution of an integer score matrix's score under the background.

    Dynamic programming over the columns (Staden 1994): the probability of each total
    score after column j is a sum of four shifted copies of that after column j-1,
    weighted by the letter probabilities. Cost O(w * 4 * range).

    Parameters
    ----------
    scores: np.ndarray, dtype=int, shape=(w, 4)
    background: np.ndarray or None, shape=(4,)
        Default is None (uniform).

    Returns
    -------
    lowest: int
        The lowest reachable score (the sum of each column's minimum).
    survival: np.ndarray, float64, shape=(highest - lowest + 1,)
        ``survival[s - lowest]`` = P(score >= s) for a random word of the background.
    """
    scores = np.ascontiguousarray(scores, dtype=np.int64)
    bg = _check_background(background)
    lows = scores.min(1)
    pmf = _score_pmf(scores - lows[:, None], bg)
    survival = np.cumsum(pmf[::-1])[::-1]
    return int(lows.sum()), np.minimum(survival, 1.0)


@njit(cache=True, nogil=True)
def _score_pmf(steps, background):
    """P(score = lowest + i) for a matrix of non-negative integer steps, shape=(w, 4)."""
    span = 0
    for j in range(steps.shape[0]):
        span += steps[j].max()
    pmf = np.zeros(span + 1)
    shifted = np.zeros(span + 1)
    pmf[0] = 1.0
    reach = 0  # highest offset reachable so far: only pmf[:reach + 1] can be non-zero
    for j in range(steps.shape[0]):
        shifted[: reach + steps[j].max() + 1] = 0.0
        for letter in range(4):
            step = steps[j, letter]
            weight = background[letter]
            for i in range(reach + 1):
                shifted[i + step] += weight * pmf[i]
        reach += steps[j].max()
        pmf[: reach + 1] = shifted[: reach + 1]
    return pmf


@dataclass(frozen=True)
class _Strand:
    """One motif on one strand, ready for the kernel."""

    motif: int
    strand: int  # +1: the motif as given; -1: its reverse complement, scanned on +
    scores: np.ndarray  # (w, 4) int32
    lowest: int
    survival: np.ndarray
    threshold: int  # smallest integer score with p-value < p_threshold (> max: none)


class MotifScanner:
    """PPMs prepared for scanning: integer matrices, score distributions, block tables.

    Build it once and scan many window sets with it (the real windows, then the
    simulated ones for the ground truth).

    Parameters
    ----------
    motifs: Mapping[str, np.ndarray]
        Motif name → PPM, shape=(w, 4), columns A C G T.
    p_threshold: float
        A window is a hit when its p-value is below this. Default is 1e-4 (FIMO's).
    background: np.ndarray or None, shape=(4,)
        Letter probabilities of the background (log-odds and p-values). Default is
        None: uniform.
    pseudocount: float
        See :func:`score_matrix`. Default is 0.01.
    resolution: int
        Integer steps per bit. Default is 100.
    both_strands: bool
        Also scan each motif's reverse complement. Default is True.
    block: int
        Columns per table lookup. Default is DEFAULT_BLOCK.

    Examples
    --------
    >>> scanner = MotifScanner({"GATA": ppm}, p_threshold=1e-4)
    >>> hits = scanner.scan(codes)            # codes: (N, L) uint8, A=0 C=1 G=2 T=3
    """

    def __init__(self, motifs: Mapping[str, np.ndarray], p_threshold: float = 1e-4,
                 background=None, pseudocount: float = 0.01, resolution: int = 100,
                 both_strands: bool = True, block: int = DEFAULT_BLOCK):
        if not motifs:
            raise ValueError("no motifs to scan")
        if not 0 < p_threshold <= 1:
            raise ValueError(f"p_threshold must lie in (0, 1]; got {p_threshold}")
        if not 1 <= block <= 8:
            raise ValueError(f"block must lie in 1..8; got {block}")
        self.names = list(motifs)
        self.p_threshold = float(p_threshold)
        self.background = _check_background(background)
        self.resolution = int(resolution)
        self.block = int(block)
        self.ppms = {name: _check_ppm(ppm, name) for name, ppm in motifs.items()}
        self.widths = np.array([len(p) for p in self.ppms.values()], dtype=np.int64)
        # under a background that is its own complement (A=T and C=G, e.g. uniform) the
        # reverse complement has the forward strand's score distribution
        symmetric = bool(np.array_equal(self.background, self.background[::-1]))
        strands = []
        for index, name in enumerate(self.names):
            forward = score_matrix(self.ppms[name], self.background, pseudocount, resolution)
            # reverse complement: last column first, A<->T and C<->G (codes 3 - a)
            variants = [(1, forward)] + ([(-1, forward[::-1, ::-1].copy())] if both_strands else [])
            for strand, scores in variants:
                if strand > 0 or not symmetric:
                    lowest, survival = score_survival(scores, self.background)
                passing = np.flatnonzero(survival < self.p_threshold)
                threshold = lowest + int(passing[0]) if len(passing) else lowest + len(survival)
                strands.append(_Strand(index, strand, scores, lowest, survival, threshold))
        self.strands = strands
        self._tables = _block_tables(strands, self.block, self.background)
        # p-value lookup for the kernel's integer scores: one flat array, offset per strand
        self._survival_offsets = np.cumsum([0] + [len(s.survival) for s in strands])
        self._survival = np.concatenate([s.survival for s in strands])

    @property
    def score_thresholds(self) -> pd.DataFrame:
        """Per motif and strand: the integer threshold, in bits, and its p-value."""
        rows = []
        for s in self.strands:
            reachable = s.threshold - s.lowest < len(s.survival)
            rows.append({"motif": self.names[s.motif], "strand": "+" if s.strand > 0 else "-",
                         "threshold_bits": s.threshold / self.resolution if reachable else np.inf,
                         "p_value_at_threshold": s.survival[s.threshold - s.lowest] if reachable else 0.0})
        return pd.DataFrame(rows)

    def scan(self, codes, lengths=None, n_chunks: int | None = None) -> pd.DataFrame:
        """Every hit in every window.

        Parameters
        ----------
        codes: np.ndarray, dtype=uint8, shape=(N, L)
            Letter codes A=0 C=1 G=2 T=3; any other code is unknown (never in a hit).
        lengths: np.ndarray or None, shape=(N,)
            Window lengths; positions past them are padding. Default is None (all L).
        n_chunks: int or None
            Work units for the threads; the result does not depend on it. Default is
            None: a few per thread.

        Returns
        -------
        hits: pd.DataFrame
            One row per hit, sorted by window, start, motif, strand: ``window`` (row of
            ``codes``), ``motif`` (name), ``start``, ``end`` (0-based, half-open),
            ``strand`` (``+``: the motif reads on the given strand; ``-``: its reverse
            complement does), ``score`` (bits), ``p_value``.
        """
        window, strand_index, start, score = self.scan_arrays(codes, lengths, n_chunks)
        motif = np.array([s.motif for s in self.strands], dtype=np.int64)[strand_index]
        sign = np.array([s.strand for s in self.strands], dtype=np.int8)[strand_index]
        lowest = np.array([s.lowest for s in self.strands], dtype=np.int64)[strand_index]
        p_value = self._survival[self._survival_offsets[strand_index] + score - lowest]
        return pd.DataFrame({
            "window": window,
            "motif": pd.Categorical.from_codes(motif, categories=self.names, validate=False),
            "start": start,
            "end": start + self.widths[motif],
            "strand": pd.Categorical.from_codes((sign < 0).astype(np.int8), categories=["+", "-"], validate=False),
            "score": score / self.resolution,
            "p_value": p_value,
        })

    def scan_arrays(self, codes, lengths=None, n_chunks: int | None = None):
        """The hits as arrays (window, strand index into ``self.strands``, start, integer
        score), sorted by window, start, strand index."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2:
            raise ValueError(f"codes must have shape (N, L); got {codes.shape}")
        N, L = codes.shape
        if lengths is None:
            lengths = np.full(N, L, dtype=np.int64)
        lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        if lengths.shape != (N,) or (N and (lengths.min() < 0 or lengths.max() > L)):
            raise ValueError(f"lengths must have shape ({N},) and lie in 0..{L}")
        if n_chunks is None:
            # chunks of about _CHUNK_LETTERS letters (their codes stay in L2 while every
            # motif runs over them), at least two per thread
            n_chunks = max(2 * numba.get_num_threads(), -(-N * L // _CHUNK_LETTERS))
        n_chunks = max(1, min(int(n_chunks), N))
        bounds = np.linspace(0, N, n_chunks + 1).astype(np.int64)
        t = self._tables
        parts = []
        # a batch of chunks at a time, so that the room for hits stays small
        batch = 16 * numba.get_num_threads()
        letters = np.concatenate([[0], np.cumsum(lengths)])[bounds]
        # room for hits per letter: 8x what a uniform background gives (real DNA gives
        # more), then what the chunks scanned so far found, with a margin
        rate = 8 * len(t.widths) * self.p_threshold
        for first in range(0, n_chunks, batch):
            chunks = np.arange(first, min(first + batch, n_chunks))
            capacity = (64 + rate * np.diff(letters)[chunks]).astype(np.int64)
            todo = np.arange(len(chunks))
            found = {}
            # a chunk that finds more hits than its room is scanned again with room for all
            while len(todo):
                offsets = np.concatenate([[0], np.cumsum(capacity[todo])])
                out = np.empty((4, offsets[-1]), dtype=np.int64)
                counts = _scan_kernel(codes, lengths, bounds[chunks[todo]], bounds[chunks[todo] + 1],
                                      offsets, self.block, t.widths, t.thresholds, t.block_lo,
                                      t.block_hi, t.block_column, t.block_rest, t.tables,
                                      t.wide_column, t.group_tables, t.group_strands, t.narrow,
                                      _LOWEST_BIT, out)
                again = []
                for i, chunk in enumerate(todo):
                    if counts[i] > capacity[chunk]:
                        capacity[chunk] = counts[i]
                        again.append(chunk)
                    else:
                        found[chunk] = out[:, offsets[i]: offsets[i] + counts[i]]
                todo = np.array(again, dtype=np.int64)
            parts += [found[i] for i in range(len(chunks))]
            seen = sum(found[i].shape[1] for i in range(len(chunks)))
            rate = max(rate, 1.5 * seen / max(1, letters[chunks[-1] + 1] - letters[chunks[0]]))
        hits = np.concatenate(parts, axis=1) if parts else np.empty((4, 0), np.int64)
        # by window, start, strand: one integer key (a third of a three-key lexsort's time)
        order = np.argsort((hits[0] * (L + 1) + hits[2]) * len(self.strands) + hits[1], kind="stable")
        window, strand_index, start, score = hits[:, order]
        return window, strand_index, start, score


@dataclass(frozen=True)
class _Tables:
    widths: np.ndarray  # (S,) motif width per strand
    thresholds: np.ndarray  # (S,) integer score threshold
    block_lo: np.ndarray  # (S,) first block of each strand (visit order)
    block_hi: np.ndarray  # (S,)
    block_column: np.ndarray  # (B,) first motif column of each block
    block_rest: np.ndarray  # (B,) most the blocks after this one (visit order) can add
    tables: np.ndarray  # (B, 4**q) int16/int32 summed scores of the block's columns per code
    wide_row: np.ndarray  # (S,) row of wide_tables, -1: the strand skips the wide test
    wide_column: np.ndarray  # (S,) first column of the wide test's WIDE columns
    group_tables: np.ndarray  # (G, 4**WIDE) uint64: bit j where the group's strand j passes
    group_strands: np.ndarray  # (G, 64) strand of each bit, -1 where none
    narrow: np.ndarray  # (S'',) the strands without the wide test


#: Columns of the wide first test: whether a window's 7 most telling consecutive columns,
#: plus the most the others could add, reach the threshold. The verdicts of 64 strands
#: share one table of 4**7 words x 64 bits (128 KiB, in L2), indexed by the word at each
#: position: one lookup tests 64 strands at once (strand j's window starts its wide
#: columns there), and almost every lookup returns 0.
WIDE = 7
#: Strands per group of the wide test (the bits of a uint64).
GROUP = 64
#: Cost model that picks each strand's first test, in ns per window on the benchmark
#: (bench/realistic.py scan, AMD EPYC): the wide test (its share of a 64-strand lookup),
#: two block lookups and their sum, and the full evaluation of a window that passes. With
#: p_wide and p_two the fractions of windows each test passes under the background, the
#: wide test is taken when WIDE_COST + p_wide * PASS_COST < TWO_COST + p_two * PASS_COST.
WIDE_COST, TWO_COST, PASS_COST = 0.03, 1.3, 9.0

#: de Bruijn multiplier and table: the index of a uint64's lowest set bit, by one
#: multiplication (numba has no count-trailing-zeros).
_DE_BRUIJN = 0x03F79D71B4CB0A89
_LOWEST_BIT = np.zeros(64, dtype=np.int64)
for _bit in range(64):
    _LOWEST_BIT[(((1 << _bit) * _DE_BRUIJN) & 0xFFFFFFFFFFFFFFFF) >> 58] = _bit
assert sorted(_LOWEST_BIT) == list(range(64))


def _word_table(columns: np.ndarray) -> np.ndarray:
    """Summed score of ``columns`` (shape=(k, 4)) for every base-4 word of k letters, the
    first letter most significant: shape=(4**k,)."""
    # int32: a column's score is at most a few thousand, and half the bytes of int64
    return _word_table_kernel(np.ascontiguousarray(columns, dtype=np.int32))


@njit(cache=True, nogil=True)
def _word_table_kernel(columns):
    """k outer sums, each in place over the words built so far (no temporaries)."""
    k = columns.shape[0]
    table = np.zeros(4 ** k, dtype=np.int32)
    size = 1
    for j in range(k):
        # words of j+1 letters from words of j: entry 4*i + a = entry i + column j's a
        for i in range(size - 1, -1, -1):
            base = table[i]
            for a in range(4):
                table[4 * i + a] = base + columns[j, a]
        size *= 4
    return table


def _word_probabilities(k: int, background: np.ndarray) -> np.ndarray:
    table = np.ones(1)
    for _ in range(k):
        table = (table[:, None] * background[None, :]).reshape(-1)
    return table


def _pass_fraction(first: np.ndarray, second: np.ndarray, cut: int,
                   probabilities: np.ndarray) -> float:
    """P(first[word] + second[other word] >= cut) for two independent random q-letter
    words of the background (two blocks cover disjoint columns), ``probabilities`` the
    background probability of each q-letter word."""
    order = np.argsort(second, kind="stable")
    values = second[order]
    # probability that the second block scores at least v, for every v in `values`
    at_least = np.cumsum(probabilities[order][::-1])[::-1]
    index = np.searchsorted(values, cut - first, side="left")
    tail = np.where(index < len(values), at_least[np.minimum(index, len(values) - 1)], 0.0)
    return float((probabilities * tail).sum())


def _block_tables(strands: list[_Strand], q: int, background: np.ndarray) -> _Tables:
    """Each strand's columns cut into blocks of q with a table per block, the blocks' visit
    order and bounds; and the wide first test where it pays."""
    size = 4 ** q
    wide_probabilities = _word_probabilities(WIDE, background)
    block_probabilities = _word_probabilities(q, background)
    tables, columns, rests, lo, hi = [], [], [], [], []
    wide_row, wide_column, wide_tables = [], [], []
    for s in strands:
        w = len(s.scores)
        blocks = []
        for c in range(0, w, q):
            cols = s.scores[c: c + q]
            # a short last block still reads q-letter words: its table repeats over the
            # letters past its columns
            table = np.repeat(_word_table(cols), 4 ** (q - len(cols)))
            # visit first the block whose best word stands out most from its average word
            blocks.append((int(table.max()) - float(table.mean()), c, table))
        blocks.sort(key=lambda b: -b[0])
        if len(blocks) == 1:
            # the kernel's first test always adds two blocks: give a short motif an empty one
            blocks.append((0.0, 0, np.zeros(size, dtype=np.int64)))
        maxima = np.array([int(b[2].max()) for b in blocks], dtype=np.int64)
        rest = np.concatenate([np.cumsum(maxima[::-1])[::-1][1:], [0]])
        lo.append(len(tables))
        for (_, column, table), r in zip(blocks, rest):
            tables.append(table)
            columns.append(column)
            rests.append(r)
        hi.append(len(tables))

        # wide test: the WIDE consecutive columns that leave the least to the others
        k = min(w, WIDE)
        column_max = s.scores.max(1).astype(np.int64)
        gaps = column_max - s.scores.mean(1)
        start = int(np.argmax(np.convolve(gaps, np.ones(k), mode="valid")))
        table = np.repeat(_word_table(s.scores[start: start + k]), 4 ** (WIDE - k))
        cut = s.threshold - (column_max.sum() - column_max[start: start + k].sum())
        pass_wide = float(wide_probabilities[table >= cut].sum())
        # the two blocks cost TWO_COST whatever they pass: compute their pass rate only
        # when the wide test might lose
        wins = WIDE_COST + pass_wide * PASS_COST < TWO_COST
        if not wins:
            pass_two = _pass_fraction(blocks[0][2], blocks[1][2], s.threshold - rest[1],
                                      block_probabilities)
            wins = WIDE_COST + pass_wide * PASS_COST < TWO_COST + pass_two * PASS_COST
        if wins:
            wide_row.append(len(wide_tables))
            # the test's verdict per word, one byte each: 16 KiB, half an L1 data cache
            wide_tables.append((table >= cut).astype(np.uint8))
        else:
            wide_row.append(-1)
        wide_column.append(start)
    wide_row = np.array(wide_row, dtype=np.int64)
    wide = np.flatnonzero(wide_row >= 0)
    n_groups = -(-len(wide) // GROUP)
    group_tables = np.zeros((n_groups, 4 ** WIDE), dtype=np.uint64)
    group_strands = np.full((n_groups, GROUP), -1, dtype=np.int64)
    for i, strand in enumerate(wide):
        g, bit = divmod(i, GROUP)
        group_tables[g] |= wide_tables[wide_row[strand]].astype(np.uint64) << np.uint64(bit)
        group_strands[g, bit] = strand
    return _Tables(
        widths=np.array([len(s.scores) for s in strands], dtype=np.int64),
        thresholds=np.array([s.threshold for s in strands], dtype=np.int64),
        block_lo=np.array(lo, dtype=np.int64), block_hi=np.array(hi, dtype=np.int64),
        block_column=np.array(columns, dtype=np.int64), block_rest=np.array(rests, dtype=np.int64),
        tables=_narrowest(np.stack(tables)),
        wide_row=wide_row, wide_column=np.array(wide_column, dtype=np.int64),
        group_tables=_narrow_verdicts(group_tables, len(wide)), group_strands=group_strands,
        narrow=np.flatnonzero(wide_row < 0))


def _narrow_verdicts(group_tables: np.ndarray, n_wide: int) -> np.ndarray:
    """One group of at most 8 (16, 32) strands: its verdicts as uint8 (uint16, uint32)
    words, a table 8 (4, 2) times smaller (4**7 bytes: in L1 rather than L2)."""
    if n_wide > 32 or not len(group_tables):
        return group_tables
    dtype = np.uint8 if n_wide <= 8 else np.uint16 if n_wide <= 16 else np.uint32
    return np.ascontiguousarray(group_tables, dtype=dtype)


def _narrowest(tables: np.ndarray) -> np.ndarray:
    """int16 tables when every entry fits (twice as many stay in L1), else int32."""
    small = np.iinfo(np.int16)
    if tables.min() >= small.min and tables.max() <= small.max:
        return np.ascontiguousarray(tables, dtype=np.int16)
    return np.ascontiguousarray(tables, dtype=np.int32)


@njit(cache=True, nogil=True)
def _prepare(codes, lengths, lo, hi, q, word, wide, reach):
    """Windows lo..hi-1 laid end to end (unknown letters as A), in one backward pass:
    ``word[f]`` and ``wide[f]``, the base-4 codes of the q and WIDE letters from flat
    position f (first letter most significant; past the last letter, zeros), and
    ``reach[f]``, where the run of known letters from f ends within its window (a motif
    of width w fits at f when f + w <= reach[f]). A word that runs into the next window
    is only read by windows that ``reach`` rejects. Returns the letters."""
    total = 0
    for i in range(lo, hi):
        total += lengths[i]
    shift_q = 2 * (q - 1)
    shift_wide = 2 * (WIDE - 1)
    vq = 0
    vw = 0
    f = total
    for i in range(hi - 1, lo - 1, -1):
        n = lengths[i]
        f -= n
        stop = f + n
        for p in range(n - 1, -1, -1):
            c = np.int64(codes[i, p])
            if c >= 4:
                stop = f + p
                c = 0
            # rolling backwards: the new letter becomes the most significant
            vq = (c << shift_q) | (vq >> 2)
            vw = (c << shift_wide) | (vw >> 2)
            word[f + p] = vq
            wide[f + p] = vw
            reach[f + p] = stop
    return total


@njit(cache=True, nogil=True, inline="always")
def _full_score(word, f, b0, b1, block_column, block_rest, tables, threshold):
    """The window's score from all its blocks, or threshold - 1 as soon as the bound
    shows it cannot reach the threshold."""
    score = 0
    for b in range(b0, b1):
        score += np.int64(tables[b, word[f + block_column[b]]])
        if score + block_rest[b] < threshold:
            return threshold - 1
    return score


@njit(cache=True, nogil=True, inline="always")
def _confirm(word, reach, f, w, s, b0, b1, block_column, block_rest, tables, threshold, out,
             first, found, room):
    """A window that passed the first test: record it (while there is room) when its full
    score reaches the threshold and it holds only known letters. Returns the hits found."""
    score = _full_score(word, f, b0, b1, block_column, block_rest, tables, threshold)
    if score < threshold or reach[f] < f + w:
        return found
    if found < room:
        out[1, first + found] = s
        out[2, first + found] = f
        out[3, first + found] = score
    return found + 1


@njit(cache=True, parallel=True, nogil=True)
def _scan_kernel(codes, lengths, chunk_lo, chunk_hi, offsets, q, widths, thresholds,
                 block_lo, block_hi, block_column, block_rest, tables, wide_column,
                 group_tables, group_strands, narrow, lowest_bit, out):
    """Hits of every strand in windows chunk_lo[c]..chunk_hi[c]-1, for each chunk c, into
    out[:, offsets[c]:offsets[c+1]] (rows: window, strand, start, score); returns the
    number of hits per chunk (past the room: counted, not written)."""
    n_chunks = len(chunk_lo)
    counts = np.zeros(n_chunks, dtype=np.int64)
    pad = max(q, WIDE)
    for s in range(len(widths)):
        pad = max(pad, widths[s] + max(q, WIDE))
    one = np.uint64(1)
    de_bruijn = np.uint64(_DE_BRUIJN)
    top = np.uint64(58)
    for c in prange(n_chunks):
        lo = chunk_lo[c]
        hi = chunk_hi[c]
        letters = 0
        for i in range(lo, hi):
            letters += lengths[i]
        reach = np.zeros(letters + 1, dtype=np.int32)
        word = np.zeros(letters + pad, dtype=np.uint16)
        wide = np.zeros(letters + pad, dtype=np.uint16)
        _prepare(codes, lengths, lo, hi, q, word, wide, reach)
        room = offsets[c + 1] - offsets[c]
        found = 0
        first = offsets[c]
        # the wide test, 64 strands per lookup: bit j of the word at g says whether strand
        # j's window starting at g - wide_column[j] passes. The passing windows are sorted
        # by strand (a counting sort over the 64 bits) before they are confirmed, so that
        # each strand's block tables stay in L1 while its windows are scored.
        where = np.empty(letters, dtype=np.int32)
        verdicts = np.empty(letters, dtype=np.uint64)
        per_bit = np.empty(GROUP + 1, dtype=np.int64)
        fill = np.empty(GROUP, dtype=np.int64)
        pairs = np.empty(0, dtype=np.int32)
        bit_of = np.empty(0, dtype=np.uint8)
        for group in range(group_tables.shape[0]):
            gt = group_tables[group]
            members = group_strands[group]
            n = 0
            for g in range(letters):  # no branch: most lookups are 0
                m = gt[wide[g]]
                where[n] = g
                verdicts[n] = m
                n += m != 0
            # (position, bit) of every passing window, once: then sorted by bit
            total = 0
            for e in range(n):
                m = verdicts[e]
                while m != 0:
                    m &= m - one
                    total += 1
            if total > len(pairs):
                pairs = np.empty(2 * total, dtype=np.int32)
                bit_of = np.empty(2 * total, dtype=np.uint8)
            k = 0
            for e in range(n):
                m = verdicts[e]
                g = where[e]
                while m != 0:
                    low = m & (~m + one)
                    m ^= low
                    pairs[k] = g
                    bit_of[k] = lowest_bit[(low * de_bruijn) >> top]
                    k += 1
            per_bit[:] = 0
            for e in range(total):
                per_bit[bit_of[e] + 1] += 1
            for j in range(GROUP):
                per_bit[j + 1] += per_bit[j]
                fill[j] = per_bit[j]
            candidates = np.empty(total, dtype=np.int32)
            for e in range(total):
                j = bit_of[e]
                candidates[fill[j]] = pairs[e]
                fill[j] += 1
            for j in range(GROUP):
                s = members[j]
                if s < 0:
                    continue
                w = widths[s]
                wc = wide_column[s]
                b0 = block_lo[s]
                b1 = block_hi[s]
                threshold = thresholds[s]
                for e in range(per_bit[j], per_bit[j + 1]):
                    f = candidates[e] - wc
                    if f < 0 or f > letters - w:
                        continue
                    found = _confirm(word, reach, f, w, s, b0, b1, block_column, block_rest,
                                     tables, threshold, out, first, found, room)
        # the other strands: two blocks without a branch between them
        for k in range(len(narrow)):
            s = narrow[k]
            w = widths[s]
            threshold = thresholds[s]
            b0 = block_lo[s]
            b1 = block_hi[s]
            last = max(letters - w + 1, 0)
            t0 = tables[b0]
            t1 = tables[b0 + 1]
            c0 = block_column[b0]
            c1 = block_column[b0 + 1]
            cut = threshold - block_rest[b0 + 1]
            for f in range(last):
                if np.int64(t0[word[f + c0]]) + t1[word[f + c1]] < cut:
                    continue
                found = _confirm(word, reach, f, w, s, b0, b1, block_column, block_rest,
                                 tables, threshold, out, first, found, room)
        # flat positions back to (window, start)
        n_hits = min(found, room)
        if n_hits:
            starts = np.empty(hi - lo + 1, dtype=np.int64)
            starts[0] = 0
            for i in range(lo, hi):
                starts[i - lo + 1] = starts[i - lo] + lengths[i]
            for k in range(offsets[c], offsets[c] + n_hits):
                r = np.searchsorted(starts, out[2, k], side="right") - 1
                out[0, k] = lo + r
                out[2, k] -= starts[r]
        counts[c] = found
    return counts
