"""Sequence kernels on ``uint8`` code arrays: shuffles, i.i.d. and Markov sampling, one-hot.

Every function here takes and returns arrays of letter codes as produced by
:class:`grammarbench.sequences.alphabet.Alphabet`: shape=(N, L) ``uint8``, one byte per letter,
with ``alphabet_size`` (the alphabet's ``unknown_code``) marking an unknown letter and
the padding past the end of a shorter sequence. Per-sequence lengths, shape=(N,), say
where each sequence ends; ``lengths=None`` means every row is a full-width sequence.
Functions return new arrays and never modify their inputs.

Randomness
----------
The random functions are deterministic given their seeds: one ``uint64`` seed per
sequence (draw them with :func:`random_seeds` or :func:`shuffle_seeds`). Inside the
numba kernels each sequence gets its own generator, so results depend only on the
seeds -- never on the number of threads, on how the batch is split, or on what else is
in the batch. numba's own ``np.random`` is not used in the kernels: its state is per
thread, so it is not reproducible under ``prange``.

The per-sequence generator is xoshiro256** (Blackman & Vigna 2021), with its 256-bit
state filled from the seed by splitmix64 (Steele, Lea & Flood 2014), as its authors
recommend. Bounded integers use Lemire's (2019) multiply-shift method with rejection,
which is exactly unbiased; uniform floats take the top 53 bits.

References
----------
Blackman, D. & Vigna, S. (2021). Scrambled linear pseudorandom number generators.
    ACM Trans. Math. Softw. 47(4):36. https://prng.di.unimi.it/
Steele, G. L., Lea, D. & Flood, C. H. (2014). Fast splittable pseudorandom number
    generators. OOPSLA 2014, 453-472.
Lemire, D. (2019). Fast random integer generation in an interval. ACM Trans. Model.
    Comput. Simul. 29(1):3.
Altschul, S. F. & Erickson, B. W. (1985). Significance of nucleotide sequence
    alignments: a method for random sequence permutation that preserves dinucleotide
    and codon usage. Mol. Biol. Evol. 2(6):526-538.
Kandel, D., Matias, Y., Unger, R. & Winkler, P. (1996). Shuffling biological
    sequences. Discrete Appl. Math. 71:171-185.
Jiang, M., Anderson, J., Gillespie, J. & Mayne, M. (2008). uShuffle: a useful tool for
    shuffling biological sequences while preserving the k-let counts. BMC
    Bioinformatics 9:192.
Wilson, D. B. (1996). Generating random spanning trees more quickly than the cover
    time. STOC 1996, 296-303.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from grammarbench.sequences.validation import (
    validate_alphabet_size,
    validate_codes,
    validate_int,
    validate_lengths,
    validate_seeds,
)
from grammarbench.sequences.xoshiro import splitmix64 as _splitmix64_mix_np

__all__ = [
    "inside_mask",
    "random_seeds",
    "shuffle_seeds",
    "kshuffle",
    "dinucleotide_shuffle",
    "estimate_markov",
    "sample_markov",
    "one_hot",
    "gc_content",
]

#: Largest number of (k-1)-let vertices ``kshuffle`` accepts, ``(alphabet_size+1)**(k-1)``.
#: DNA allows k <= 8 and protein k <= 5.
MAX_VERTICES = 2**18

#: Largest number of (order+1)-lets ``estimate_markov`` counts, ``alphabet_size**(order+1)``.
MAX_MARKOV_STATES = 2**24


def _n_chunks(n: int) -> int:
    """Work units for a prange over ``n`` sequences (a few per thread, for balance)."""
    return max(1, min(n, 4 * numba.get_num_threads()))


def inside_mask(lengths: np.ndarray, width: int) -> np.ndarray:
    """Boolean mask shape=(*lengths.shape, width): True where a position is inside its sequence."""
    return np.arange(width) < lengths[..., None]


# ---------------------------------------------------------------------------------------
# Per-sequence random numbers: splitmix64 -> xoshiro256**, Lemire bounded integers
# ---------------------------------------------------------------------------------------

_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_MUL2 = np.uint64(0x94D049BB133111EB)
_MASK32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(2**32)


@njit(cache=True)
def _splitmix64_mix(z):
    """splitmix64's output function (a bijection of uint64), Steele et al. 2014."""
    z = (z ^ (z >> np.uint64(30))) * _SM_MUL1
    z = (z ^ (z >> np.uint64(27))) * _SM_MUL2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _rng_seed(seed, state):
    """Fill a xoshiro256** state, shape=(4,) uint64, from one uint64 seed with splitmix64."""
    x = np.uint64(seed)
    for i in range(4):
        x = x + _SM_GAMMA
        state[i] = _splitmix64_mix(x)


@njit(cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def _rng_next(state):
    """Next uint64 of xoshiro256** (Blackman & Vigna 2021); updates ``state`` in place."""
    result = _rotl(state[1] * np.uint64(5), 7) * np.uint64(9)
    t = state[1] << np.uint64(17)
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = _rotl(state[3], 45)
    return result


@njit(cache=True)
def _rng_bounded(state, n):
    """Uniform integer in [0, n) for 1 <= n < 2**32, without bias (Lemire 2019).

    Multiplies a 32-bit random word by ``n``; the high 32 bits are the draw. Products whose
    low 32 bits fall below ``2**32 mod n`` are rejected, which removes the bias exactly.
    """
    bound = np.uint64(n)
    m = (_rng_next(state) >> np.uint64(32)) * bound
    low = m & _MASK32
    if low < bound:
        threshold = (_TWO32 - bound) % bound
        while low < threshold:
            m = (_rng_next(state) >> np.uint64(32)) * bound
            low = m & _MASK32
    return np.int64(m >> np.uint64(32))


@njit(cache=True)
def _rng_uniform(state):
    """Uniform float64 in [0, 1) from the top 53 bits of the next word."""
    return np.float64(_rng_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def random_seeds(random_state, size) -> np.ndarray:
    """Draw per-sequence ``uint64`` seeds from ``np.random.default_rng(random_state)``.

    Parameters
    ----------
    random_state: int, np.random.SeedSequence, np.random.Generator or None
        Passed to ``np.random.default_rng``; a Generator is used (and advanced) as is.
    size: int or tuple
        Shape of the seed array.

    Returns
    -------
    seeds: np.ndarray, dtype=uint64, shape=size
    """
    rng = np.random.default_rng(random_state)
    return rng.integers(0, 2**64 - 1, size=size, dtype=np.uint64, endpoint=True)


def shuffle_seeds(random_state, n_sequences: int, n: int, index=None) -> np.ndarray:
    """Seeds for ``n`` shuffles of each of ``n_sequences`` sequences, shape=(n_sequences, n).

    Seed ``(i, j)`` depends only on ``random_state``, the sequence's identity ``index[i]``
    and the shuffle number ``j`` -- not on ``n_sequences``, ``n`` or the other sequences.
    Two 64-bit keys are drawn from ``np.random.default_rng(random_state)``; then
    ``seed = mix(mix(key0 + index*G) ^ (key1 + j*G))`` with ``mix`` the splitmix64 output
    function and ``G`` the golden-ratio constant 0x9E3779B97F4A7C15 (Steele et al. 2014).
    This is a cheap, vectorised stand-in for ``SeedSequence(random_state).spawn``.

    Parameters
    ----------
    random_state: int, np.random.SeedSequence, np.random.Generator or None
        Source of the two keys. A Generator is advanced by one draw of two words.
    n_sequences: int
        Number of sequences N.
    n: int
        Number of shuffles per sequence.
    index: np.ndarray or None, shape=(n_sequences,)
        Identity of each sequence in the seed scheme, e.g. its row in the whole data set
        when a caller works through it in batches. Default is ``arange(n_sequences)``.

    Returns
    -------
    seeds: np.ndarray, dtype=uint64, shape=(n_sequences, n)
    """
    n_sequences = validate_int(n_sequences, "n_sequences", 0)
    n = validate_int(n, "n", 0)
    if index is None:
        idx = np.arange(n_sequences, dtype=np.uint64)
    else:
        idx = np.asarray(index)
        if idx.shape != (n_sequences,):
            raise ValueError(f"index must have shape ({n_sequences},); got {idx.shape}")
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0):
            raise ValueError("index must hold non-negative integers")
        idx = idx.astype(np.uint64)
    key = random_seeds(random_state, 2)
    row = _splitmix64_mix_np(key[0] + idx * _SM_GAMMA)                      # (N,)
    col = key[1] + np.arange(n, dtype=np.uint64) * _SM_GAMMA                # (n,)
    return _splitmix64_mix_np(row[:, None] ^ col[None, :])                  # (N, n)


# ---------------------------------------------------------------------------------------
# k-let shuffle
# ---------------------------------------------------------------------------------------


@njit(cache=True)
def _kshuffle_one(src, n, k, s, seed, out, vmap, cv, vlist, deg, off, cur, nxt, intree,
                  slot_lab, slot_tgt, state):
    """Shuffle ``src[:n]`` into ``out[:n]`` preserving k-let counts; scratch arrays given.

    ``out`` must already hold a copy of ``src``. ``vmap`` (size s**(k-1)) must be all -1 on
    entry and is all -1 again on exit.
    """
    if n < k or n == 0:
        return
    _rng_seed(seed, state)
    if k == 1:
        # Fisher-Yates: uniform permutation of the letters
        for i in range(n - 1, 0, -1):
            j = _rng_bounded(state, i + 1)
            tmp = out[i]
            out[i] = out[j]
            out[j] = tmp
        return

    m = n - k + 1  # number of k-lets = edges; vertices sit at positions 0..m
    top = 1
    for _ in range(k - 2):
        top *= s
    v = 0
    for j in range(k - 1):
        v = v * s + np.int64(src[j])
    nv = 0
    for t in range(m + 1):
        if t > 0:
            v = (v - np.int64(src[t - 1]) * top) * s + np.int64(src[t + k - 2])
        c = vmap[v]
        if c < 0:
            c = nv
            vmap[v] = nv
            vlist[nv] = v
            deg[nv] = 0
            intree[nv] = False
            nv += 1
        cv[t] = c
    for t in range(m):
        deg[cv[t]] += 1
    acc = 0
    for u in range(nv):
        off[u] = acc
        cur[u] = acc
        acc += deg[u]
    # edge occurrences grouped by their source vertex
    for t in range(m):
        u = cv[t]
        p = cur[u]
        slot_lab[p] = src[t + k - 1]
        slot_tgt[p] = cv[t + 1]
        cur[u] = p + 1

    # Wilson's algorithm: uniform random arborescence of last-exit edges toward the root
    # (the final vertex). Each step picks one of the vertex's out-edge occurrences
    # uniformly, so k-lets are weighted by their multiplicity. Loop erasure is implicit:
    # a revisited vertex simply overwrites its choice.
    root = cv[m]
    intree[root] = True
    for u0 in range(nv):
        u = u0
        while not intree[u]:
            e = off[u] + _rng_bounded(state, deg[u])
            nxt[u] = e
            u = slot_tgt[e]
        u = u0
        while not intree[u]:
            intree[u] = True
            u = slot_tgt[nxt[u]]

    # Each non-root vertex leaves last through its tree edge; the other exits are in
    # uniformly random order.
    for u in range(nv):
        o = off[u]
        d = deg[u]
        if u != root:
            last = o + d - 1
            e = nxt[u]
            tl = slot_lab[e]
            slot_lab[e] = slot_lab[last]
            slot_lab[last] = tl
            tt = slot_tgt[e]
            slot_tgt[e] = slot_tgt[last]
            slot_tgt[last] = tt
            d -= 1
        for i in range(d - 1, 0, -1):
            j = _rng_bounded(state, i + 1)
            tl = slot_lab[o + i]
            slot_lab[o + i] = slot_lab[o + j]
            slot_lab[o + j] = tl
            tt = slot_tgt[o + i]
            slot_tgt[o + i] = slot_tgt[o + j]
            slot_tgt[o + j] = tt

    # Walk the Eulerian trail from the first vertex; the first k-1 letters stay as they are.
    for u in range(nv):
        cur[u] = off[u]
    u = cv[0]
    for t in range(m):
        p = cur[u]
        cur[u] = p + 1
        out[t + k - 1] = slot_lab[p]
        u = slot_tgt[p]

    for u in range(nv):
        vmap[vlist[u]] = -1


@njit(cache=True)
def _dishuffle_one(src, n, seed, out, slots, deg, off, cur, nxt, order, intree, state):
    """:func:`_kshuffle_one` for k=2, drawing the same random numbers in the same order,
    so its output is identical (a test holds the two equal), at about half the cost.

    With k=2 a vertex is a letter and an edge's target is the letter it writes, so one
    array of letters grouped by source letter is the whole graph: no vertex map, no
    target array. Vertices are visited in order of first appearance, as the general
    kernel numbers them, so every draw falls where it does there. ``out`` must hold a copy
    of ``src`` (or be ``src``: every letter is read before the first is written); the
    small arrays have one entry per symbol, ``slots`` at least n.
    """
    if n < 2:
        return
    deg[:] = -1  # -1: the letter has not appeared
    nv = 0
    for t in range(n - 1):
        c = src[t]
        if deg[c] < 0:
            deg[c] = 0
            order[nv] = c
            nv += 1
        deg[c] += 1
    root = src[n - 1]
    if deg[root] < 0:
        deg[root] = 0
        order[nv] = root
        nv += 1
    _dishuffle_offsets(deg, off, cur, order, nv, intree)
    # the letter after each position, grouped by the letter at it
    for t in range(n - 1):
        u = src[t]
        p = cur[u]
        slots[p] = src[t + 1]
        cur[u] = p + 1
    _dishuffle_exits(slots, deg, off, cur, nxt, order, nv, root, intree, seed, state)
    # the Eulerian trail from the first letter
    u = src[0]
    for t in range(1, n):
        p = cur[u]
        cur[u] = p + 1
        u = slots[p]
        out[t] = u


@njit(cache=True)
def _dishuffle_offsets(deg, off, cur, order, nv, intree):
    """Where each letter's successors start in ``slots``, in order of first appearance."""
    acc = 0
    for i in range(nv):
        u = order[i]
        off[u] = acc
        cur[u] = acc
        acc += deg[u]
        intree[u] = False


@njit(cache=True)
def _dishuffle_exits(slots, deg, off, cur, nxt, order, nv, root, intree, seed, state):
    """The random part of :func:`_dishuffle_one`: each letter's successors (``slots``,
    grouped by letter) put in the order the trail leaves it, and ``cur`` reset to the
    start of each group for the walk."""
    _rng_seed(seed, state)
    # Wilson's algorithm, as in _kshuffle_one: the last-exit arborescence toward the root
    intree[root] = True
    for i in range(nv):
        u = order[i]
        while not intree[u]:
            e = off[u] + _rng_bounded(state, deg[u])
            nxt[u] = e
            u = slots[e]
        u = order[i]
        while not intree[u]:
            intree[u] = True
            u = slots[nxt[u]]

    for i in range(nv):
        u = order[i]
        o = off[u]
        d = deg[u]
        if u != root:
            last = o + d - 1
            e = nxt[u]
            tl = slots[e]
            slots[e] = slots[last]
            slots[last] = tl
            d -= 1
        for j in range(d - 1, 0, -1):
            r = _rng_bounded(state, j + 1)
            tl = slots[o + j]
            slots[o + j] = slots[o + r]
            slots[o + r] = tl
    for i in range(nv):
        u = order[i]
        cur[u] = off[u]


@njit(cache=True)
def _dishuffle_four(r0, r1, r2, r3, n, seeds, slots, deg, off, cur, nxt, order, letters, intree,
                    seen, state):
    """:func:`_dishuffle_one` of four rows of n letters in place, output identical.

    The passes over the letters (counting, grouping successors, the walk) are chains of
    dependent loads within a row; run for four rows side by side, the core overlaps them
    (a third less time than one row after another). The scratch arrays have a row per
    sequence (``slots``: at least n columns); ``letters``: how many letters each row has."""
    if n < 2:
        return
    deg[:, :] = 0
    d0, d1, d2, d3 = deg[0], deg[1], deg[2], deg[3]
    for t in range(n - 1):
        d0[r0[t]] += 1
        d1[r1[t]] += 1
        d2[r2[t]] += 1
        d3[r3[t]] += 1
    rows = (r0, r1, r2, r3)
    for g in range(4):
        row = rows[g]
        # the letters in order of first appearance, the last one's too (the root): a
        # short scan, as every letter of a real sequence appears early
        present = 0
        for c in range(deg.shape[1]):
            seen[c] = False
            if deg[g, c] > 0:
                present += 1
            else:
                deg[g, c] = -1
        root = row[n - 1]
        nv = 0
        t = 0
        while nv < present:
            c = row[t]
            if not seen[c]:
                seen[c] = True
                order[g, nv] = c
                nv += 1
            t += 1
        if deg[g, root] < 0:
            deg[g, root] = 0
            order[g, nv] = root
            nv += 1
        letters[g] = nv
        _dishuffle_offsets(deg[g], off[g], cur[g], order[g], nv, intree[g])
    c0, c1, c2, c3 = cur[0], cur[1], cur[2], cur[3]
    s0, s1, s2, s3 = slots[0], slots[1], slots[2], slots[3]
    for t in range(n - 1):
        a0, a1, a2, a3 = r0[t], r1[t], r2[t], r3[t]
        p0, p1, p2, p3 = c0[a0], c1[a1], c2[a2], c3[a3]
        s0[p0] = r0[t + 1]
        s1[p1] = r1[t + 1]
        s2[p2] = r2[t + 1]
        s3[p3] = r3[t + 1]
        c0[a0] = p0 + 1
        c1[a1] = p1 + 1
        c2[a2] = p2 + 1
        c3[a3] = p3 + 1
    for g in range(4):
        _dishuffle_exits(slots[g], deg[g], off[g], cur[g], nxt[g], order[g], letters[g],
                         rows[g][n - 1], intree[g], seeds[g], state)
    u0, u1, u2, u3 = r0[0], r1[0], r2[0], r3[0]
    for t in range(1, n):
        p0, p1, p2, p3 = c0[u0], c1[u1], c2[u2], c3[u3]
        c0[u0] = p0 + 1
        c1[u1] = p1 + 1
        c2[u2] = p2 + 1
        c3[u3] = p3 + 1
        u0, u1, u2, u3 = s0[p0], s1[p1], s2[p2], s3[p3]
        r0[t] = u0
        r1[t] = u1
        r2[t] = u2
        r3[t] = u3


@njit(cache=True)
def shuffle_scratch(L, s, n_vertices):
    """Scratch memory for :func:`shuffle_rows` on sequences of up to L letters (one set
    per thread: every sequence uses its own seed, so results do not depend on which
    thread or chunk shuffles it)."""
    # one entry per vertex: at most L + 1 of them, and for k=2 indexed by letter
    room = max(L + 1, s)
    return (np.full(n_vertices, -1, dtype=np.int32), np.empty(L + 1, dtype=np.int64),
            np.empty(L + 1, dtype=np.int64), np.empty(room, dtype=np.int64),
            np.empty(room, dtype=np.int64), np.empty(room, dtype=np.int64),
            np.empty(room, dtype=np.int64), np.empty(room, dtype=np.bool_),
            np.empty(L + 1, dtype=np.uint8), np.empty(L + 1, dtype=np.int64),
            np.empty(4, dtype=np.uint64), np.empty(s, dtype=np.int64),
            # four rows side by side (k=2): slots, deg, off, cur, nxt, order, letters,
            # intree, seen; and a copy of a row (k > 2 shuffles from one)
            np.empty((4, L + 1), dtype=np.uint8), np.empty((4, s), dtype=np.int64),
            np.empty((4, s), dtype=np.int64), np.empty((4, s), dtype=np.int64),
            np.empty((4, s), dtype=np.int64), np.empty((4, s), dtype=np.int64),
            np.empty(4, dtype=np.int64), np.empty((4, s), dtype=np.bool_),
            np.empty(s, dtype=np.bool_), np.empty(L + 1, dtype=np.uint8))


@njit(cache=True)
def shuffle_rows(out, rows, n, k, s, seeds, scratch):
    """Shuffle ``out[i, :n]`` in place for every i in ``rows``, keeping its k-let counts,
    with seed ``seeds[i]`` and the scratch memory of :func:`shuffle_scratch`: the body of
    :func:`kshuffle`, for kernels that shuffle as one of their steps. For k=2, four rows
    at a time (:func:`_dishuffle_four`); the result is the same."""
    (vmap, cv, vlist, deg, off, cur, nxt, intree, slot_lab, slot_tgt, state, order,
     slots4, deg4, off4, cur4, nxt4, order4, letters4, intree4, seen, copy) = scratch
    first = 0
    if k == 2:
        while first + 4 <= len(rows):
            i0, i1, i2, i3 = rows[first], rows[first + 1], rows[first + 2], rows[first + 3]
            _dishuffle_four(out[i0], out[i1], out[i2], out[i3], n, (seeds[i0], seeds[i1], seeds[i2], seeds[i3]),
                            slots4, deg4, off4, cur4, nxt4, order4, letters4, intree4, seen, state)
            first += 4
    for j in range(first, len(rows)):
        row = out[rows[j]]
        if k == 2:
            _dishuffle_one(row, n, seeds[rows[j]], row, slot_lab, deg, off, cur, nxt, order, intree, state)
        else:
            copy[:n] = row[:n]
            _kshuffle_one(copy, n, k, s, seeds[rows[j]], row, vmap, cv, vlist, deg, off, cur, nxt,
                          intree, slot_lab, slot_tgt, state)


@njit(cache=True, parallel=True)
def _kshuffle_kernel(codes, lengths, seeds, k, s, n_vertices, n_chunks, out):
    """Shuffle every row of ``codes`` (shape=(N, L)) into ``out`` (a copy of ``codes``)."""
    N, L = codes.shape
    for c in prange(n_chunks):
        lo = c * N // n_chunks
        hi = (c + 1) * N // n_chunks
        scratch = shuffle_scratch(L, s, n_vertices)
        # the full-length rows together (four at a time), the shorter ones one by one
        full = np.empty(hi - lo, dtype=np.int64)
        n_full = 0
        for i in range(lo, hi):
            if lengths[i] == L:
                full[n_full] = i
                n_full += 1
            else:
                shuffle_rows(out, np.array([i]), lengths[i], k, s, seeds, scratch)
        shuffle_rows(out, full[:n_full], L, k, s, seeds, scratch)


def kshuffle(codes, k: int, seeds, lengths=None, alphabet_size: int = 4) -> np.ndarray:
    """Shuffle each sequence uniformly at random while keeping its k-let counts.

    For each sequence this draws uniformly among all sequences with exactly the same
    k-let counts. Such sequences also share the first and last (k-1)-let, so those stay in
    place. k=1 is a uniform permutation of the letters; k=2 is the dinucleotide shuffle.

    The algorithm is Altschul & Erickson (1985) in the exact-uniform form of Kandel et al.
    (1996), as implemented in uShuffle (Jiang et al. 2008). A sequence is an Eulerian trail
    in the multigraph whose vertices are the (k-1)-lets and which has one edge per k-let
    occurrence. A uniformly random arborescence of "last exit" edges toward the final
    vertex is drawn with Wilson's (1996) random walk with loop erasure, choosing among a
    vertex's out-edge occurrences uniformly (i.e. weighted by multiplicity); the remaining
    exits of each vertex are put in uniformly random order, and the trail is walked from
    the first vertex. By the BEST theorem every sequence with the same k-let counts comes
    from the same number of (arborescence, exit order) pairs, so the draw is uniform over
    sequences. Cost is O(L) per sequence.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L)
        Letter codes. Codes ``>= alphabet_size`` are unknown letters ("N") or padding.
    k: int
        k-let size, ``k >= 1``. The (k-1)-let vertex ids are base-(alphabet_size+1)
        integers, so ``(alphabet_size+1)**(k-1)`` must not exceed ``MAX_VERTICES``
        (2**18: k <= 8 for DNA, k <= 5 for protein).
    seeds: np.ndarray, dtype=uint64, shape=(N,)
        One seed per sequence (see :func:`random_seeds`); sequence i's shuffle depends
        only on its letters, ``k`` and ``seeds[i]``.
    lengths: np.ndarray or None, shape=(N,)
        Length of each sequence; positions past it are padding and are returned untouched.
        Default is None: every row is a full-width sequence.
    alphabet_size: int
        Number of letters A (4 for DNA, 20 for protein). Default is 4.

    Returns
    -------
    shuffled: np.ndarray, dtype=uint8, shape=(N, L)
        A new array; ``codes`` is unchanged.

    Notes
    -----
    An unknown letter (code ``alphabet_size``) inside a sequence is treated as a letter of
    its own, so the shuffle has ``alphabet_size + 1`` symbols and preserves the counts of
    k-lets containing N too (an N stays flanked by the same kinds of k-lets). Codes above
    ``alphabet_size`` are only allowed in the padding.

    Without ``lengths`` a padded row's tail of unknown codes is shuffled as letters (it
    stays a valid k-let shuffle, but the padding may move): pass ``lengths`` for ragged
    batches.

    Sequences shorter than k, and sequences with only one arrangement (a homopolymer, for
    instance), are returned unchanged rather than rejected.
    """
    arr = validate_codes(codes, "codes", ndim=2)
    k = validate_int(k, "k", 1)
    alphabet_size = validate_alphabet_size(alphabet_size)
    N, L = arr.shape
    s = alphabet_size + 1
    n_vertices = s ** (k - 1)
    if n_vertices > MAX_VERTICES:
        raise ValueError(f"k={k} with alphabet_size={alphabet_size} gives {n_vertices} "
                         f"(k-1)-let vertices, more than MAX_VERTICES={MAX_VERTICES}")
    seeds = validate_seeds(seeds, N)
    lengths = validate_lengths(lengths, (N,), L)
    if arr.size and arr.max() > alphabet_size:
        if (arr[inside_mask(lengths, L)] > alphabet_size).any():
            raise ValueError(f"codes holds letter codes above alphabet_size={alphabet_size} "
                             "inside a sequence (only padding may use them)")
    out = arr.copy()
    if N and L:
        _kshuffle_kernel(arr, lengths, seeds, k, s, n_vertices, _n_chunks(N), out)
    return out


def dinucleotide_shuffle(codes, n: int = 20, random_state=None, lengths=None,
                         alphabet_size: int = 4, index=None) -> np.ndarray:
    """``n`` dinucleotide shuffles of each sequence, on a new axis 1.

    Each shuffle is :func:`kshuffle` with ``k=2`` (uniform among sequences with the same
    dinucleotide counts). Shuffle ``j`` of sequence ``i`` uses seed
    ``shuffle_seeds(random_state, N, n, index)[i, j]``, so it depends only on
    ``random_state``, ``index[i]`` (default ``i``) and ``j``: not on N, on ``n``, on the
    other sequences or on the number of threads.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L)
        Letter codes; see :func:`kshuffle` for unknown letters and padding.
    n: int
        Number of shuffles per sequence. Default is 20.
    random_state: int, np.random.SeedSequence, np.random.Generator or None
        Seed source, passed to ``np.random.default_rng``. Default is None (fresh entropy).
    lengths: np.ndarray or None, shape=(N,)
        Length of each sequence. Default is None (full width).
    alphabet_size: int
        Number of letters A. Default is 4.
    index: np.ndarray or None, shape=(N,)
        Identity of each sequence in the seed scheme (e.g. its row in the full data set
        when working in batches). Default is None: ``arange(N)``.

    Returns
    -------
    shuffles: np.ndarray, dtype=uint8, shape=(N, n, L)
        A new array; ``codes`` is unchanged. Padding is copied as is.
    """
    arr = validate_codes(codes, "codes", ndim=2)
    n = validate_int(n, "n", 1)
    N, L = arr.shape
    lengths = validate_lengths(lengths, (N,), L)
    seeds = shuffle_seeds(random_state, N, n, index=index)                 # (N, n)
    rep = np.repeat(arr, n, axis=0)                                         # (N*n, L)
    out = kshuffle(rep, 2, seeds.reshape(-1), lengths=np.repeat(lengths, n),
                   alphabet_size=alphabet_size)
    return out.reshape(N, n, L)


# ---------------------------------------------------------------------------------------
# Markov chains
# ---------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _iid_kernel(table, seeds, width, out):
    for i in range(len(seeds)):
        state = np.empty(4, dtype=np.uint64)
        _rng_seed(seeds[i], state)
        for j in range(0, width, 4):
            word = _rng_next(state)
            for b in range(min(4, width - j)):
                out[i, j + b] = table[(word >> np.uint64(16 * b)) & np.uint64(0xFFFF)]


def iid_letters(table, seeds, width: int) -> np.ndarray:
    """i.i.d. letters through a 16-bit lookup table, one row per seed.

    Each row's xoshiro256** generator (seeded from its uint64 seed with splitmix64) gives
    four letters per 64-bit word: each 16-bit slice indexes ``table``, whose 65,536 entries
    hold the letter codes in proportion to their probabilities. The kernel releases the
    GIL, so callers may run it from several threads at once.

    Parameters
    ----------
    table: np.ndarray, shape=(65536,), uint8
        Letter code of each 16-bit value.
    seeds: np.ndarray, shape=(N,), uint64
        One seed per row; row i depends on seeds[i] only.
    width: int
        Letters per row.

    Returns
    -------
    letters: np.ndarray, shape=(N, width), uint8
    """
    table = np.ascontiguousarray(table, dtype=np.uint8)
    if table.shape != (65536,):
        raise ValueError(f"table must have shape (65536,), got {table.shape}")
    seeds = validate_seeds(seeds, len(seeds))
    width = validate_int(width, "width", 0)
    out = np.empty((len(seeds), width), dtype=np.uint8)
    _iid_kernel(table, seeds, width, out)
    return out


def estimate_markov(codes, order: int, lengths=None, alphabet_size: int = 4,
                    pseudocount: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Estimate a k-th order Markov chain from sequences by counting (order+1)-lets.

    Context ids are base-``alphabet_size`` integers of the previous ``order`` letters, the
    most recent letter last (least significant digit): for DNA order 2, context "AG" is
    ``0*4 + 2 = 2``. Windows that contain an unknown letter or run past a sequence's
    length are skipped.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L)
        Letter codes.
    order: int
        Markov order, ``>= 0``.
    lengths: np.ndarray or None, shape=(N,)
        Length of each sequence. Default is None (full width).
    alphabet_size: int
        Number of letters A. Default is 4.
    pseudocount: float
        Added to every count, of transitions and of initial contexts. Default is 1.0.

    Returns
    -------
    initial: np.ndarray, dtype=float64, shape=(A**order,)
        Distribution of the first ``order`` letters, over the sequences at least ``order``
        long whose first ``order`` letters are known. ``[1.0]`` for order 0.
    transition: np.ndarray, dtype=float64, shape=(A**order, A)
        ``transition[c, a] = P(next letter a | context c)``; rows sum to 1. For order 0 the
        one row holds the letter frequencies.

    Notes
    -----
    A row (or ``initial``) with no counts at all (possible only with ``pseudocount=0``) is
    set to the uniform distribution.
    """
    arr = validate_codes(codes, "codes", ndim=2)
    order = validate_int(order, "order", 0)
    A = validate_alphabet_size(alphabet_size)
    if not np.isfinite(pseudocount) or pseudocount < 0:
        raise ValueError(f"pseudocount must be a finite number >= 0; got {pseudocount}")
    n_states = A ** (order + 1)
    if n_states > MAX_MARKOV_STATES:
        raise ValueError(f"order={order} with alphabet_size={A} needs {n_states} counts, "
                         f"more than MAX_MARKOV_STATES={MAX_MARKOV_STATES}")
    N, L = arr.shape
    lengths = validate_lengths(lengths, (N,), L)

    counts = np.zeros(n_states, dtype=np.int64)
    n_windows = L - order
    if n_windows > 0:
        # rows in chunks of ~4M windows to bound the int64 index memory
        step = max(1, (1 << 22) // n_windows)
        for lo in range(0, N, step):
            block = arr[lo:lo + step]                                       # (b, L)
            idx = np.zeros((block.shape[0], n_windows), dtype=np.int64)     # (b, L-order)
            ok = np.arange(order, L) < lengths[lo:lo + step, None]          # window inside
            for j in range(order + 1):
                part = block[:, j:j + n_windows]
                ok &= part < A
                idx = idx * A + part
            counts += np.bincount(idx[ok], minlength=n_states)
    transition = counts.reshape(A ** order, A).astype(np.float64) + pseudocount
    transition = _normalise_rows(transition)

    if order == 0:
        initial = np.ones(1)
    else:
        head = arr[:, :order]                                               # (N, order)
        ok = (lengths >= order) & (head < A).all(axis=1)
        first = (head[ok].astype(np.int64) * (A ** np.arange(order - 1, -1, -1))).sum(axis=1)
        initial = np.bincount(first, minlength=A ** order).astype(np.float64) + pseudocount
        initial = _normalise_rows(initial[None, :])[0]
    return initial, transition


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    total = x.sum(axis=1, keepdims=True)
    empty = total[:, 0] == 0
    x = np.where(empty[:, None], 1.0, x)
    return x / x.sum(axis=1, keepdims=True)


@njit(cache=True)
def _draw_cdf(cdf, lo, hi, u):
    """First index i in [lo, hi) with cdf[i] > u (cdf[hi-1] must be 1 > u): binary search."""
    while lo < hi - 1:
        mid = (lo + hi - 1) // 2
        if cdf[mid] > u:
            hi = mid + 1
        else:
            lo = mid + 1
    return lo


@njit(cache=True, parallel=True)
def _sample_markov_kernel(init_cdf, trans_cdf, order, A, lengths, seeds, n_chunks, out):
    N = out.shape[0]
    n_ctx = trans_cdf.shape[0]
    for c in prange(n_chunks):
        state = np.empty(4, dtype=np.uint64)
        for i in range((c * N) // n_chunks, ((c + 1) * N) // n_chunks):
            n = lengths[i]
            if n == 0:
                continue
            _rng_seed(seeds[i], state)
            ctx = _draw_cdf(init_cdf, 0, init_cdf.shape[0], _rng_uniform(state))
            # write the initial context's letters, most recent last
            rem = ctx
            for j in range(order - 1, -1, -1):
                if j < n:
                    out[i, j] = rem % A
                rem //= A
            for t in range(order, n):
                u = _rng_uniform(state)
                a = 0
                while trans_cdf[ctx, a] <= u:
                    a += 1
                out[i, t] = a
                ctx = (ctx * A + a) % n_ctx


def _cdf(p: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValueError(f"{name} must hold finite non-negative probabilities")
    total = p.sum(axis=-1, keepdims=True)
    if not np.allclose(total, 1.0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1 along its last axis")
    cdf = np.cumsum(p / total, axis=-1)
    cdf[..., -1] = 1.0  # no rounding gap at the top: every u in [0, 1) finds a letter
    return np.ascontiguousarray(cdf)


def sample_markov(initial, transition, lengths, seeds, width: int | None = None,
                  alphabet_size: int = 4) -> np.ndarray:
    """Sample sequences from a k-th order Markov chain.

    The first ``order`` letters are drawn jointly from ``initial``; each later letter from
    the ``transition`` row of the previous ``order`` letters (ids as in
    :func:`estimate_markov`). A sequence shorter than ``order`` is the prefix of its drawn
    initial context.

    Parameters
    ----------
    initial: np.ndarray, shape=(A**order,)
        Distribution of the first ``order`` letters (``[1.0]`` for order 0).
    transition: np.ndarray, shape=(A**order, A)
        Rows are conditional distributions of the next letter; each sums to 1.
    lengths: np.ndarray, shape=(N,)
        Length of each sequence.
    seeds: np.ndarray, dtype=uint64, shape=(N,)
        One seed per sequence (see :func:`random_seeds`); sequence i depends only on
        ``seeds[i]``, ``lengths[i]`` and the chain.
    width: int or None
        Row width of the output; must be ``>= max(lengths)``. Default is None:
        ``max(lengths)`` (0 for an empty batch).
    alphabet_size: int
        Number of letters A; must equal ``transition.shape[1]``. Default is 4.

    Returns
    -------
    codes: np.ndarray, dtype=uint8, shape=(N, width)
        Letter codes; positions past each length are padding (code ``alphabet_size``).
    """
    A = validate_alphabet_size(alphabet_size)
    transition = np.asarray(transition, dtype=np.float64)
    initial = np.asarray(initial, dtype=np.float64)
    if transition.ndim != 2 or transition.shape[1] != A:
        raise ValueError(f"transition must have shape (A**order, {A}); got {transition.shape}")
    n_ctx = transition.shape[0]
    order = 0
    while A > 1 and A ** order < n_ctx:
        order += 1
    if A ** order != n_ctx:
        raise ValueError(f"transition must have A**order rows (A={A}); got {n_ctx} rows")
    if initial.shape != (n_ctx,):
        raise ValueError(f"initial must have shape ({n_ctx},) to match transition; "
                         f"got {initial.shape}")
    init_cdf = _cdf(initial, "initial")
    trans_cdf = _cdf(transition, "transition")
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must have shape (N,); got {lengths.shape}")
    N = lengths.shape[0]
    max_len = int(lengths.max()) if N else 0
    if width is None:
        width = max_len
    width = validate_int(width, "width", 0)
    lengths = validate_lengths(lengths, (N,), width)
    seeds = validate_seeds(seeds, N)
    out = np.full((N, width), A, dtype=np.uint8)
    if N and width:
        _sample_markov_kernel(init_cdf, trans_cdf, order, A, lengths, seeds, _n_chunks(N), out)
    return out


# ---------------------------------------------------------------------------------------
# One-hot and composition
# ---------------------------------------------------------------------------------------


def one_hot(codes, alphabet_size: int = 4, dtype=np.int8) -> np.ndarray:
    """One-hot encode letter codes, with the alphabet axis before the position axis.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L) or (..., L)
        Letter codes; codes ``>= alphabet_size`` (unknown, padding) give all-zero columns.
    alphabet_size: int
        Number of letters A. Default is 4.
    dtype: numpy dtype
        Output dtype. Default is ``np.int8``.

    Returns
    -------
    X: np.ndarray, shape=(N, A, L) (or (..., A, L))
        A new array.
    """
    arr = validate_codes(codes, "codes", ndim=None)
    A = validate_alphabet_size(alphabet_size)
    letters = np.arange(A, dtype=np.uint8)[:, None]                         # (A, 1)
    return (arr[..., None, :] == letters).astype(dtype)                     # (..., A, L)


def gc_content(codes, lengths=None) -> np.ndarray:
    """Fraction of G or C among the known DNA letters of each sequence.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L) or (..., L)
        DNA letter codes (A=0, C=1, G=2, T=3; 4 = unknown or padding).
    lengths: np.ndarray or None, shape=(N,) (or codes.shape[:-1])
        Length of each sequence; positions past it are ignored. Default is None.

    Returns
    -------
    gc: np.ndarray, dtype=float64, shape=(N,) (or codes.shape[:-1])
        (#C + #G) / (#A + #C + #G + #T); unknown letters count in neither. NaN for a
        sequence with no known letter.
    """
    arr = validate_codes(codes, "codes", ndim=None)
    L = arr.shape[-1]
    lengths = validate_lengths(lengths, arr.shape[:-1], L)
    inside = inside_mask(lengths, L)
    known = ((arr < 4) & inside).sum(axis=-1)
    gc = (((arr == 1) | (arr == 2)) & inside).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known > 0, gc / np.maximum(known, 1), np.nan)
