# test_references.py
# Tests for grammarbench.attribution.references: the references (baselines) of attribution methods.

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from grammarbench.attribution import references
from grammarbench.sequences.alphabet import DNA

# the uniformity test of the shuffle itself lives in test_seq.py; its helpers are reused
from test_seq import enumerate_shuffles, kmer_counts, uniform_ok


@pytest.fixture
def batch():
    """DNA with ragged lengths and an N inside one sequence."""
    rng = np.random.default_rng(0)
    N, L = 6, 40
    codes = rng.integers(0, 4, size=(N, L)).astype(np.uint8)
    lengths = np.array([40, 33, 20, 40, 5, 1])
    codes[1, 10] = 4
    codes[np.arange(L) >= lengths[:, None]] = 4
    return codes, lengths


def test_constant_references(batch):
    codes, lengths = batch
    inside = (np.arange(codes.shape[1]) < lengths[:, None])[:, None, None, :]
    z = references.zeros(codes, n=3, lengths=lengths)
    assert z.shape == (6, 3, 4, 40) and z.dtype == np.float32 and not z.any()
    u = references.uniform(codes, lengths=lengths)
    assert u.shape == (6, 1, 4, 40)
    assert_allclose(u, np.broadcast_to(np.where(inside, 0.25, 0.0), u.shape))
    freq = np.array([0.3, 0.2, 0.2, 0.3])
    m = references.mean_composition(codes, n=2, lengths=lengths, frequencies=freq)
    assert_allclose(m, np.where(inside, freq[:, None], 0.0).repeat(2, axis=1), rtol=1e-6)
    m[0, 0, 0, 0] = 7  # a writable array of its own
    per_position = np.full((4, 40), 0.25)
    assert_allclose(references.mean_composition(codes, frequencies=per_position),
                    references.uniform(codes))


def test_letter_frequencies(batch):
    codes, lengths = batch
    f = references.letter_frequencies(codes, lengths)
    inside = np.arange(40) < lengths[:, None]
    known = codes[inside & (codes < 4)]
    assert_allclose(f, np.bincount(known, minlength=4) / known.size)
    assert_allclose(references.letter_frequencies(np.full((2, 3), 4, np.uint8)), [0.25] * 4)


def test_shuffle_preserves_dinucleotides_and_padding(batch):
    codes, lengths = batch
    r = references.shuffle(codes, n=5, lengths=lengths, random_state=1)
    assert r.shape == (6, 5, 4, 40) and r.dtype == np.float32
    assert set(np.unique(r)) <= {0.0, 1.0} and (r.sum(axis=2) <= 1).all()
    back = np.where(r.sum(axis=2) == 1, r.argmax(axis=2), 4)               # (N, n, L)
    for i in range(6):
        n = lengths[i]
        assert not r[i, :, :, n:].any()                                     # padding zero
        for j in range(5):
            assert_array_equal(kmer_counts(back[i, j, :n], 2, 5),
                               kmer_counts(codes[i, :n], 2, 5))
    assert (back[:, :, :] != codes[:, None, :]).any()                       # it did shuffle


def test_shuffle_seed_scheme(batch):
    codes, lengths = batch
    full = references.shuffle(codes, n=4, lengths=lengths, random_state=7)
    # reference j of example i depends only on (random_state, index[i], j)
    part = references.shuffle(codes[[3, 1]], n=2, lengths=lengths[[3, 1]], random_state=7,
                              index=[3, 1])
    assert_array_equal(part, full[[3, 1], :2])
    assert_array_equal(references.shuffle(codes, n=4, lengths=lengths, random_state=7), full)
    assert not np.array_equal(references.shuffle(codes, n=4, lengths=lengths,
                                                 random_state=8), full)


def test_shuffle_reference_is_uniform():
    text = "GATTACAGATTA"
    categories = enumerate_shuffles(text, 2, "ACGT")
    codes = DNA.encode(text)[None]
    r = references.shuffle(codes, n=12000, random_state=3)[0]                # (n, 4, L)
    samples = [DNA.decode(row) for row in r.argmax(axis=1).astype(np.uint8)]
    assert set(samples) == set(categories)
    assert uniform_ok(samples, categories)


def test_make_references_and_validation(batch):
    codes, lengths = batch
    assert references.make_references("zeros", codes, n=20).shape == (6, 1, 4, 40)
    assert references.make_references("shuffle", codes, n=3, lengths=lengths).shape == (6, 3, 4, 40)
    assert references.n_references("uniform", 20) == 1
    assert references.n_references("shuffle", 20) == 20
    with pytest.raises(ValueError, match="reference must be one of"):
        references.make_references("gc_matched", codes)
    with pytest.raises(ValueError, match="frequencies"):
        references.mean_composition(codes)
    with pytest.raises(ValueError, match="frequencies must have shape"):
        references.mean_composition(codes, frequencies=[0.5, 0.5])
    with pytest.raises(ValueError, match="n must be"):
        references.shuffle(codes, n=0)
    with pytest.raises(ValueError, match="codes must have 2 dimensions"):
        references.zeros(codes[0])
