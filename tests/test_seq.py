# test_seq.py
# Tests for grammarbench.sequences.kernels: k-let shuffles, Markov chains, FASTA, one-hot.

from __future__ import annotations

import gzip
import math
from collections import Counter

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from grammarbench.sequences import fasta
from grammarbench.sequences import kernels as seq
from grammarbench.sequences.alphabet import DNA, PROTEIN

M64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def kmer_counts(row: np.ndarray, k: int, base: int) -> np.ndarray:
    """k-let counts of one code row, unknown letters as symbol ``base - 1``."""
    row = np.minimum(row.astype(np.int64), base - 1)
    n = row.shape[0] - k + 1
    if n <= 0:
        return np.zeros(base**k, dtype=np.int64)
    idx = np.zeros(n, dtype=np.int64)
    for j in range(k):
        idx = idx * base + row[j:j + n]
    return np.bincount(idx, minlength=base**k)


def enumerate_shuffles(text: str, k: int, letters: str) -> list[str]:
    """Brute force: every sequence with the same k-let counts and first (k-1)-let."""
    counts = Counter(text[i:i + k] for i in range(len(text) - k + 1))
    found = []

    def extend(prefix):
        if len(prefix) == len(text):
            found.append(prefix)
            return
        context = prefix[len(prefix) - (k - 1):] if k > 1 else ""
        for letter in letters:
            word = context + letter
            if counts[word] > 0:
                counts[word] -= 1
                extend(prefix + letter)
                counts[word] += 1

    extend(text[:k - 1])
    return found


def chi2_quantile(df: int, p_upper: float = 0.001) -> float:
    """Upper chi-square quantile by the Wilson-Hilferty cube approximation.

    chi2_q ~ df * (1 - 2/(9 df) + z sqrt(2/(9 df)))**3, z the standard normal quantile
    (Wilson & Hilferty 1931); within 1% for df >= 10 and 2% for df >= 5 at p = 0.001.
    """
    z = {0.001: 3.090232306167813, 0.01: 2.326347874040841}[p_upper]
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


def chi2_statistic(observed: dict, categories: list, n_draws: int) -> float:
    expected = n_draws / len(categories)
    return sum((observed.get(c, 0) - expected) ** 2 / expected for c in categories)


def uniform_ok(samples: list[str], categories: list[str]) -> bool:
    """Chi-square goodness of fit to the uniform law over ``categories`` at p = 0.001."""
    counts = Counter(samples)
    if set(counts) - set(categories):
        return False  # produced something that is not a valid shuffle
    stat = chi2_statistic(counts, categories, len(samples))
    return stat < chi2_quantile(len(categories) - 1)


def draw(text: str, k: int, n: int, alphabet=DNA, seed: int = 0) -> list[str]:
    x = np.repeat(alphabet.encode(text)[None], n, axis=0)
    out = seq.kshuffle(x, k, seq.random_seeds(seed, n), alphabet_size=alphabet.size)
    return [alphabet.decode(r) for r in out]


@pytest.fixture
def batch():
    """Random DNA with ragged lengths, some N inside, odd codes in the padding."""
    rng = np.random.default_rng(0)
    N, L = 12, 60
    x = rng.integers(0, 4, size=(N, L)).astype(np.uint8)
    x[rng.random((N, L)) < 0.05] = 4
    lengths = rng.integers(0, L + 1, size=N)
    lengths[:4] = [L, 0, 1, 2]
    inside = np.arange(L) < lengths[:, None]
    x[~inside] = 4
    x[5, lengths[5]:] = 200  # padding is left alone whatever it holds
    return x, lengths


@pytest.fixture
def threads():
    before = numba.get_num_threads()
    yield min(2, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(before)


# ---------------------------------------------------------------------------------------
# PRNG
# ---------------------------------------------------------------------------------------


def _py_splitmix(seed):
    x, out = seed, []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append(z ^ (z >> 31))
    return out


def _py_xoshiro(s):
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
    result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
    t = (s[1] << 17) & M64
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result


def test_rng_matches_reference():
    # published splitmix64 outputs for seed 1234567 (Vigna's test vector)
    assert _py_splitmix(1234567)[:2] == [6457827717110365317, 3203168211198807973]
    for seed in (0, 1234567, M64):
        state = np.empty(4, dtype=np.uint64)
        seq._rng_seed(np.uint64(seed), state)
        ref = _py_splitmix(seed)
        assert [int(v) for v in state] == ref
        got = [int(seq._rng_next(state)) for _ in range(5)]
        assert got == [_py_xoshiro(ref) for _ in range(5)]


def test_numpy_iid_letters_equal_the_kernel():
    # the simulator draws i.i.d. letters with the numpy generator (no numba in a simulate
    # job): letter for letter the kernel's, for sorted tables (compared) and any other (gathered)
    from grammarbench.sequences import xoshiro
    from grammarbench.simulation.simulate import _letter_table

    rng = np.random.default_rng(0)
    tables = [_letter_table(p) for p in [(0.25,) * 4, (0.1, 0.4, 0.4, 0.1), (0.5, 0, 0.5, 0),
                                         (0, 0, 0, 1.0), tuple(np.full(20, 0.05))]]
    tables.append(rng.integers(0, 20, 65536).astype(np.uint8))
    for table in tables:
        for n, width in [(300, 1000), (7, 999), (5, 1), (3, 0), (0, 5), (100, 37)]:
            seeds = rng.integers(0, M64, size=n, dtype=np.uint64, endpoint=True)
            assert_array_equal(xoshiro.iid_letters(table, seeds, width), seq.iid_letters(table, seeds, width))


def test_rng_bounded_and_uniform_ranges():
    state = np.empty(4, dtype=np.uint64)
    seq._rng_seed(np.uint64(7), state)
    draws = np.array([seq._rng_bounded(state, 3) for _ in range(3000)])
    assert draws.min() == 0 and draws.max() == 2
    assert np.abs(np.bincount(draws) / 3000 - 1 / 3).max() < 0.04
    u = np.array([seq._rng_uniform(state) for _ in range(1000)])
    assert u.min() >= 0 and u.max() < 1


def test_shuffle_seeds_depend_only_on_index_and_shuffle():
    a = seq.shuffle_seeds(3, 5, 4)
    assert a.shape == (5, 4) and a.dtype == np.uint64
    assert_array_equal(seq.shuffle_seeds(3, 2, 2, index=[4, 1]), a[[4, 1]][:, :2])
    assert len(np.unique(a)) == a.size
    assert not np.array_equal(seq.shuffle_seeds(4, 5, 4), a)
    assert_array_equal(seq.random_seeds(1, 3), seq.random_seeds(1, 3))
    with pytest.raises(ValueError, match="index"):
        seq.shuffle_seeds(3, 5, 4, index=[1, 2])


# ---------------------------------------------------------------------------------------
# kshuffle: invariants
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3])
def test_kshuffle_preserves_klets_dna(batch, k):
    x, lengths = batch
    before = x.copy()
    out = seq.kshuffle(x, k, seq.random_seeds(k, len(x)), lengths=lengths)
    assert out.shape == x.shape and out.dtype == np.uint8
    assert_array_equal(x, before)  # input untouched
    changed = 0
    for row, new, n in zip(x, out, lengths):
        assert_array_equal(kmer_counts(new[:n], k, 5), kmer_counts(row[:n], k, 5))
        assert_array_equal(new[n:], row[n:])  # padding untouched
        if n >= k:
            assert_array_equal(new[:k - 1], row[:k - 1])
            assert_array_equal(new[n - k + 1:n], row[n - k + 1:n])
        # unknown letters inside the sequence are kept, as letters
        assert (new[:n] == 4).sum() == (row[:n] == 4).sum()
        changed += not np.array_equal(new, row)
    assert changed >= 6


@pytest.mark.parametrize("k", [1, 2, 3])
def test_kshuffle_preserves_klets_protein(k):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 21, size=(6, 300)).astype(np.uint8)  # 20 = unknown (X)
    out = seq.kshuffle(x, k, seq.random_seeds(0, 6), alphabet_size=20)
    for row, new in zip(x, out):
        assert_array_equal(kmer_counts(new, k, 21), kmer_counts(row, k, 21))
        assert_array_equal(new[:k - 1], row[:k - 1])
        assert_array_equal(new[len(new) - k + 1:], row[len(row) - k + 1:])
    assert not np.array_equal(out, x)


def test_kshuffle_large_k_dna():
    x = np.random.default_rng(2).integers(0, 4, size=(3, 500)).astype(np.uint8)
    out = seq.kshuffle(x, 6, seq.random_seeds(0, 3))
    for row, new in zip(x, out):
        assert_array_equal(kmer_counts(new, 6, 5), kmer_counts(row, 6, 5))


def test_kshuffle_edge_cases():
    x = np.array([DNA.encode("AAAAAAAA"), DNA.encode("NNNNNNNN"), DNA.encode("ACGTACGT")])
    seeds = seq.random_seeds(0, 3)
    # homopolymers have one arrangement: returned unchanged, not rejected
    assert_array_equal(seq.kshuffle(x[:2], 2, seeds[:2]), x[:2])
    # shorter than k, or empty: unchanged
    assert_array_equal(seq.kshuffle(x, 2, seeds, lengths=[1, 0, 1]), x)
    assert_array_equal(seq.kshuffle(x, 5, seeds, lengths=[4, 4, 4]), x)
    # k == length: only one k-let, unchanged
    assert_array_equal(seq.kshuffle(x, 8, seeds), x)
    empty = np.zeros((0, 10), dtype=np.uint8)
    assert seq.kshuffle(empty, 2, np.zeros(0, dtype=np.uint64)).shape == (0, 10)


def test_kshuffle_golden():
    x = DNA.encode("AACGTTACGATTGCAGGCTAACGT")[None]
    out = DNA.decode(seq.kshuffle(x, 2, np.array([0], dtype=np.uint64))[0])
    assert out == GOLDEN_K2_SEED0


GOLDEN_K2_SEED0 = "AACGTATGCACGTACGAAGGCTTT"


def _general_kshuffle(codes, k, seeds, lengths, s):
    """Every row through the general k-let kernel (what k=2 used before its own kernel)."""
    out = codes.copy()
    L = codes.shape[1]
    room = max(L + 1, s)
    for i in range(len(codes)):
        seq._kshuffle_one(codes[i], lengths[i], k, s, seeds[i], out[i],
                          np.full(s ** (k - 1), -1, np.int32), *(np.empty(L + 1, np.int64) for _ in range(2)),
                          *(np.empty(room, np.int64) for _ in range(4)), np.empty(room, np.bool_),
                          np.empty(L + 1, np.uint8), np.empty(L + 1, np.int64), np.empty(4, np.uint64))
    return out


@pytest.mark.parametrize("alphabet_size", [4, 20])
def test_dinucleotide_kernel_equals_general_kernel(batch, alphabet_size):
    # the k=2 kernel draws the same numbers in the same order as the general one: same output
    rng = np.random.default_rng(3)
    x, lengths = batch
    if alphabet_size == 20:  # short rows with more symbols than letters per row
        x = rng.integers(0, 21, size=(40, 6)).astype(np.uint8)
        lengths = rng.integers(0, 7, size=40)
    else:
        x = np.concatenate([x, rng.integers(0, 2, size=(30, 60)).astype(np.uint8)])
        lengths = np.concatenate([lengths, rng.integers(0, 61, size=30)])
    seeds = seq.random_seeds(9, len(x))
    assert_array_equal(seq.kshuffle(x, 2, seeds, lengths=lengths, alphabet_size=alphabet_size),
                       _general_kshuffle(x, 2, seeds, lengths, alphabet_size + 1))


@pytest.mark.parametrize("alphabet_size,width", [(4, 60), (4, 2), (20, 9)])
def test_four_rows_at_once_equal_the_general_kernel(alphabet_size, width):
    """Full-length rows go through the dinucleotide kernel four at a time: still the
    general kernel's output, homopolymers, two-letter rows and unknown letters included,
    whatever the batch's remainder of rows."""
    rng = np.random.default_rng(4)
    for n in (1, 4, 7, 13):
        x = rng.integers(0, alphabet_size + 1, size=(n, width)).astype(np.uint8)
        x[0] = 1  # a homopolymer
        if n > 4:
            x[4] = rng.integers(2, 4, size=width)  # two letters only
            x[5, -1] = alphabet_size  # an unknown letter last: the root
        seeds = seq.random_seeds(n, n)
        lengths = np.full(n, width)
        assert_array_equal(seq.kshuffle(x, 2, seeds, alphabet_size=alphabet_size),
                           _general_kshuffle(x, 2, seeds, lengths, alphabet_size + 1))


# ---------------------------------------------------------------------------------------
# kshuffle: determinism
# ---------------------------------------------------------------------------------------


def test_kshuffle_deterministic_across_threads_and_batches(batch, threads):
    x, lengths = batch
    x = np.concatenate([x] * 10)
    lengths = np.concatenate([lengths] * 10)
    seeds = seq.random_seeds(5, len(x))
    numba.set_num_threads(1)
    one = seq.kshuffle(x, 2, seeds, lengths=lengths)
    assert_array_equal(one, seq.kshuffle(x, 2, seeds, lengths=lengths))
    numba.set_num_threads(threads)
    assert_array_equal(one, seq.kshuffle(x, 2, seeds, lengths=lengths))
    # each sequence alone equals the same sequence inside the batch
    for i in (0, 7, len(x) - 1):
        alone = seq.kshuffle(x[i:i + 1], 2, seeds[i:i + 1], lengths=lengths[i:i + 1])
        assert_array_equal(alone[0], one[i])
    # different seeds, different shuffles
    assert not np.array_equal(one, seq.kshuffle(x, 2, seeds + np.uint64(1), lengths=lengths))


def test_dinucleotide_shuffle_shape_and_seed_scheme(batch, threads):
    x, lengths = batch
    out = seq.dinucleotide_shuffle(x, 5, random_state=3, lengths=lengths)
    assert out.shape == (len(x), 5, x.shape[1]) and out.dtype == np.uint8
    for i in range(len(x)):
        for j in range(5):
            n = lengths[i]
            assert_array_equal(kmer_counts(out[i, j, :n], 2, 5), kmer_counts(x[i, :n], 2, 5))
            assert_array_equal(out[i, j, n:], x[i, n:])
    # shuffle j of sequence i depends only on (random_state, i, j)
    sub = seq.dinucleotide_shuffle(x[[6]], 3, random_state=3, lengths=lengths[[6]], index=[6])
    assert_array_equal(sub[0], out[6, :3])
    numba.set_num_threads(1)
    assert_array_equal(seq.dinucleotide_shuffle(x, 5, random_state=3, lengths=lengths), out)
    assert not np.array_equal(seq.dinucleotide_shuffle(x, 5, 4, lengths=lengths), out)
    # one row's shuffles differ from each other
    assert len({out[0, j].tobytes() for j in range(5)}) == 5


# ---------------------------------------------------------------------------------------
# kshuffle: uniformity
# ---------------------------------------------------------------------------------------


def test_chi2_quantile_approximation():
    # table values of the chi-square 0.999 quantile
    for df, exact in [(17, 40.790), (23, 49.728), (35, 66.619), (60, 99.607)]:
        assert abs(chi2_quantile(df) - exact) / exact < 0.01
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (5, 10, 47, 300):
        exact = scipy_stats.chi2.ppf(0.999, df)
        assert abs(chi2_quantile(df) - exact) / exact < 0.02


@pytest.mark.parametrize(
    "text, k, n_expected",
    [
        # vertex A leaves last to C (x2) or T (x1): only a sampler that weights
        # last-exit edges by multiplicity is uniform here
        ("TGCATACTACTA", 2, 30),
        ("GATTACAGATTA", 2, 36),
        ("AACGTTACGA", 2, 6),
        ("ACANGATTCAGNA", 2, None),  # N is a letter of its own
        ("GGAGTACCGTGTCGGT", 3, 24),
        ("AACGT", 1, 60),
    ],
)
def test_kshuffle_is_uniform(text, k, n_expected):
    categories = enumerate_shuffles(text, k, "ACGTN")
    if n_expected is not None:
        assert len(categories) == n_expected
    assert len(categories) > 5
    samples = draw(text, k, 20000, seed=len(text))
    assert set(samples) == set(categories)
    assert uniform_ok(samples, categories)


def test_kshuffle_is_uniform_protein():
    text = "MKKLLAKMLA"
    categories = enumerate_shuffles(text, 2, PROTEIN.letters)
    assert len(categories) > 5
    samples = draw(text, 2, 20000, alphabet=PROTEIN)
    assert set(samples) == set(categories)
    assert uniform_ok(samples, categories)


def _python_kshuffle(text: str, k: int, rng, weighted: bool = True) -> str:
    """Reference Kandel et al. / Wilson sampler in plain Python.

    With ``weighted=False`` the random walk picks among a vertex's distinct successors
    instead of its edge occurrences: the classic mistake, which is not uniform.
    """
    m = len(text) - k + 1
    vertices = [text[t:t + k - 1] for t in range(m + 1)]
    exits: dict[str, list[str]] = {}
    for t in range(m):
        exits.setdefault(vertices[t], []).append(text[t + k - 1])
    root = vertices[m]
    in_tree, last = {root}, {}
    for start in exits:
        u = start
        while u not in in_tree:
            options = exits[u] if weighted else sorted(set(exits[u]))
            last[u] = options[rng.integers(len(options))]
            u = (u + last[u])[1:]
        u = start
        while u not in in_tree:
            in_tree.add(u)
            u = (u + last[u])[1:]
    order = {}
    for u, letters in exits.items():
        letters = list(letters)
        if u != root:
            letters.remove(last[u])
        rng.shuffle(letters)
        order[u] = letters + ([last[u]] if u != root else [])
    out, u = text[:k - 1], vertices[0]
    for _ in range(m):
        letter = order[u].pop(0)
        out += letter
        u = (u + letter)[1:]
    return out


def test_uniformity_check_rejects_naive_sampler():
    # the same test on the same sequence fails for a sampler with the multiplicity bug
    text = "TGCATACTACTA"
    categories = enumerate_shuffles(text, 2, "ACGT")
    rng = np.random.default_rng(0)
    good = [_python_kshuffle(text, 2, rng) for _ in range(3000)]
    assert uniform_ok(good, categories)
    naive = [_python_kshuffle(text, 2, rng, weighted=False) for _ in range(3000)]
    assert set(naive) <= set(categories)  # valid shuffles, just not uniform ones
    assert not uniform_ok(naive, categories)


def test_uniformity_check_rejects_biased_samplers():
    # The statistic must be able to fail: with the same number of draws it rejects a
    # sampler that favours one shuffle by 50%, one that favours half of them by 15%, and
    # one that misses a shuffle.
    categories = enumerate_shuffles("GATTACAGATTA", 2, "ACGT")
    rng = np.random.default_rng(0)
    p = np.ones(len(categories))
    p[0] = 1.5
    biased = rng.choice(categories, size=20000, p=p / p.sum())
    assert not uniform_ok(list(biased), categories)
    p = np.ones(len(categories))
    p[::2] = 1.15
    biased = rng.choice(categories, size=20000, p=p / p.sum())
    assert not uniform_ok(list(biased), categories)
    missing = rng.choice(categories[1:], size=20000)
    assert not uniform_ok(list(missing), categories)
    assert uniform_ok(list(rng.choice(categories, size=20000)), categories)
    # the "first k-1 letters fixed only" permutation is not a dinucleotide shuffle at all
    perm = ["G" + "".join(rng.permutation(list("ATTACAGATTA"))) for _ in range(2000)]
    assert not uniform_ok(perm, categories)


# ---------------------------------------------------------------------------------------
# kshuffle: validation
# ---------------------------------------------------------------------------------------


def test_kshuffle_validation():
    x = np.zeros((2, 10), dtype=np.uint8)
    seeds = np.zeros(2, dtype=np.uint64)
    with pytest.raises(ValueError, match="codes"):
        seq.kshuffle(x[0], 2, seeds)
    with pytest.raises(ValueError, match="codes"):
        seq.kshuffle(x.astype(float), 2, seeds)
    with pytest.raises(ValueError, match="k"):
        seq.kshuffle(x, 0, seeds)
    with pytest.raises(ValueError, match="MAX_VERTICES"):
        seq.kshuffle(x, 6, seeds, alphabet_size=20)
    with pytest.raises(ValueError, match="seeds"):
        seq.kshuffle(x, 2, seeds[:1])
    with pytest.raises(ValueError, match="seeds"):
        seq.kshuffle(x, 2, np.array([-1, 2]))
    with pytest.raises(ValueError, match="lengths"):
        seq.kshuffle(x, 2, seeds, lengths=[3, 11])
    with pytest.raises(ValueError, match="alphabet_size"):
        seq.kshuffle(x, 2, seeds, alphabet_size=0)
    bad = x.copy()
    bad[0, 3] = 9
    with pytest.raises(ValueError, match="codes"):
        seq.kshuffle(bad, 2, seeds)
    seq.kshuffle(bad, 2, seeds, lengths=[3, 10])  # fine in the padding
    with pytest.raises(ValueError, match="n"):
        seq.dinucleotide_shuffle(x, 0, 1)


# ---------------------------------------------------------------------------------------
# Markov chains
# ---------------------------------------------------------------------------------------


def _random_chain(order, A=4, seed=0):
    rng = np.random.default_rng(seed)
    transition = rng.dirichlet(np.ones(A), size=A**order)
    initial = rng.dirichlet(np.ones(A**order)) if order else np.ones(1)
    return initial, transition


@pytest.mark.parametrize("order", [0, 1, 2])
def test_markov_estimate_recovers_chain(order):
    initial, transition = _random_chain(order, seed=order)
    x = seq.sample_markov(initial, transition, np.full(200, 5000), seq.random_seeds(0, 200))
    assert x.shape == (200, 5000) and x.max() < 4
    _, est = seq.estimate_markov(x, order, pseudocount=0)
    assert est.shape == (4**order, 4)
    assert_allclose(est.sum(axis=1), 1.0)
    assert_allclose(est, transition, atol=0.015)
    if order:
        heads = seq.sample_markov(initial, transition, np.full(20000, order),
                                  seq.random_seeds(1, 20000))
        est_initial, _ = seq.estimate_markov(heads, order, pseudocount=0)
        assert est_initial.shape == (4**order,)
        assert_allclose(est_initial, initial, atol=0.02)


def test_estimate_markov_by_hand():
    x = DNA.encode("ACNACGT")[None]
    initial, transition = seq.estimate_markov(x, 1, pseudocount=0)
    # windows AC, CN (skipped), NA (skipped), AC, CG, GT
    assert_allclose(transition[0], [0, 1, 0, 0])
    assert_allclose(transition[1], [0, 0, 1, 0])
    assert_allclose(transition[3], [0.25] * 4)  # no data: uniform
    assert_allclose(initial, [1, 0, 0, 0])
    # the padding and windows past a length are not counted
    initial, transition = seq.estimate_markov(x, 1, lengths=[2], pseudocount=1)
    assert_allclose(transition[0], [1 / 5, 2 / 5, 1 / 5, 1 / 5])
    assert_allclose(transition[2], [0.25] * 4)
    # order 0: letter frequencies; context ids put the most recent letter last
    i0, t0 = seq.estimate_markov(x, 0, pseudocount=0)
    assert_allclose(i0, [1.0])
    assert_allclose(t0, [[2 / 6, 2 / 6, 1 / 6, 1 / 6]])
    _, t2 = seq.estimate_markov(DNA.encode("AGT")[None], 2, pseudocount=0)
    assert_allclose(t2[0 * 4 + 2], [0, 0, 0, 1])


def test_sample_markov_seeds_padding_threads(threads):
    initial, transition = _random_chain(2, seed=3)
    lengths = np.array([0, 1, 2, 3, 50, 20])
    seeds = seq.random_seeds(9, 6)
    numba.set_num_threads(1)
    x = seq.sample_markov(initial, transition, lengths, seeds, width=60)
    assert x.shape == (6, 60) and x.dtype == np.uint8
    inside = np.arange(60) < lengths[:, None]
    assert (x[~inside] == 4).all() and (x[inside] < 4).all()
    numba.set_num_threads(threads)
    assert_array_equal(seq.sample_markov(initial, transition, lengths, seeds, width=60), x)
    alone = seq.sample_markov(initial, transition, lengths[4:5], seeds[4:5])
    assert alone.shape == (1, 50)
    assert_array_equal(alone[0], x[4, :50])
    # a sequence shorter than the order is a prefix of its initial context
    same = np.full(3, seeds[0])
    short = seq.sample_markov(initial, transition, [1, 2, 3], same)
    assert short[0, 0] == short[1, 0] == short[2, 0] and short[1, 1] == short[2, 1]
    assert not np.array_equal(
        seq.sample_markov(initial, transition, lengths, seeds + np.uint64(1), width=60), x)


def test_sample_markov_respects_zero_probabilities():
    transition = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]], float)
    initial = np.array([0, 0, 1, 0], float)
    x = seq.sample_markov(initial, transition, [9], seq.random_seeds(0, 1))
    assert DNA.decode(x[0]) == "GTACGTACG"
    prot = seq.sample_markov([1.0], np.full((1, 20), 0.05), [100], [1], alphabet_size=20)
    assert prot.max() < 20 and len(np.unique(prot)) > 10


def test_markov_validation():
    initial, transition = _random_chain(1)
    with pytest.raises(ValueError, match="transition"):
        seq.sample_markov(initial, transition[:3], [5], [0])
    with pytest.raises(ValueError, match="transition"):
        seq.sample_markov(initial, transition * 2, [5], [0])
    with pytest.raises(ValueError, match="initial"):
        seq.sample_markov(initial[:2], transition, [5], [0])
    with pytest.raises(ValueError, match="lengths"):
        seq.sample_markov(initial, transition, [5], [0], width=3)
    with pytest.raises(ValueError, match="seeds"):
        seq.sample_markov(initial, transition, [5, 4], [0])
    with pytest.raises(ValueError, match="order"):
        seq.estimate_markov(np.zeros((1, 5), np.uint8), -1)
    with pytest.raises(ValueError, match="pseudocount"):
        seq.estimate_markov(np.zeros((1, 5), np.uint8), 1, pseudocount=-1)


# ---------------------------------------------------------------------------------------
# FASTA
# ---------------------------------------------------------------------------------------


def test_fasta_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(4, 170)).astype(np.uint8)
    lengths = np.array([170, 81, 80, 0])
    x[np.arange(170) >= lengths[:, None]] = 4
    names = ["seq0 class=a", "seq1", "s2", "empty"]
    path = tmp_path / "a.fa"
    fasta.write_fasta(path, names, x, DNA, lengths=lengths, width=80)
    lines = path.read_text().splitlines()
    assert lines[0] == ">seq0 class=a" and max(len(line) for line in lines) <= 80
    got_names, got = fasta.read_fasta(path, DNA)
    assert got_names == names
    for row, codes, n in zip(x, got, lengths):
        assert codes.dtype == np.uint8
        assert_array_equal(codes, row[:n])
    # list input, one line per sequence, gzip
    gz = tmp_path / "a.fa.gz"
    fasta.write_fasta(gz, names[:2], [x[0], x[1, :81]], DNA, width=None)
    with gzip.open(gz, "rt") as fh:
        assert len(fh.read().splitlines()) == 4
    got_names, got = fasta.read_fasta(gz, DNA)
    assert got_names == names[:2]
    assert_array_equal(got[1], x[1, :81])


def test_read_fasta_formats(tmp_path):
    path = tmp_path / "b.fasta.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\n>p1 desc\r\nmkwv\r\nAC*\r\n>p2\nACDEFGHIKLMNPQRSTVWY\n")
    names, codes = fasta.read_fasta(path, PROTEIN)
    assert names == ["p1 desc", "p2"]
    assert PROTEIN.decode(codes[0]) == "MKWVACX"
    assert_array_equal(codes[1], np.arange(20))


def test_fasta_errors(tmp_path):
    empty = tmp_path / "empty.fa"
    empty.write_text("\n  \n")
    with pytest.raises(ValueError, match="empty.fa"):
        fasta.read_fasta(empty, DNA)
    notfasta = tmp_path / "table.tsv"
    notfasta.write_text("id\tseq\n1\tACGT\n")
    with pytest.raises(ValueError, match="table.tsv"):
        fasta.read_fasta(notfasta, DNA)
    emptygz = tmp_path / "e.fa.gz"
    with gzip.open(emptygz, "wb"):
        pass
    with pytest.raises(ValueError, match="e.fa.gz"):
        fasta.read_fasta(emptygz, DNA)
    badgz = tmp_path / "bad.fa.gz"
    badgz.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(ValueError, match="bad.fa.gz"):
        fasta.read_fasta(badgz, DNA)
    x = np.zeros((2, 5), np.uint8)
    with pytest.raises(ValueError, match="names"):
        fasta.write_fasta(tmp_path / "o.fa", ["a"], x, DNA)
    with pytest.raises(ValueError, match="names"):
        fasta.write_fasta(tmp_path / "o.fa", ["a", "b\nc"], x, DNA)
    with pytest.raises(ValueError, match="lengths"):
        fasta.write_fasta(tmp_path / "o.fa", ["a", "b"], x, DNA, lengths=[1, 6])


# ---------------------------------------------------------------------------------------
# one-hot and GC
# ---------------------------------------------------------------------------------------


def test_one_hot():
    x = np.array([DNA.encode("ACGTN"), DNA.encode("TTNAA")])
    X = seq.one_hot(x)
    assert X.shape == (2, 4, 5) and X.dtype == np.int8
    assert_array_equal(X[0], np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0],
                                       [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]]))
    assert (X[:, :, 4].sum(axis=1) == [0, 1]).all()
    assert (X[1, :, 2] == 0).all()
    assert seq.one_hot(x, dtype=np.float32).dtype == np.float32
    shuffles = np.stack([x, x], axis=1)                                     # (N, n, L)
    assert seq.one_hot(shuffles).shape == (2, 2, 4, 5)
    p = seq.one_hot(PROTEIN.encode("ACDXY")[None], alphabet_size=20)
    assert p.shape == (1, 20, 5) and p.sum() == 4
    with pytest.raises(ValueError, match="codes"):
        seq.one_hot(np.array([0.5, 1.0]))


def test_gc_content():
    x = np.array([DNA.encode("GGCCAATN"), DNA.encode("ATATNNNN"), DNA.encode("NNNNNNNN")])
    assert_allclose(seq.gc_content(x), [4 / 7, 0, np.nan])
    assert_allclose(seq.gc_content(x, lengths=[4, 4, 0]), [1.0, 0, np.nan])
    with pytest.raises(ValueError, match="lengths"):
        seq.gc_content(x, lengths=[1, 2])
