# references.py
# grammarbench: references (baselines) for attribution methods

"""References (baselines) that attribution methods compare a sequence against.

A reference is what a sequence is explained *relative to*: Integrated Gradients
integrates from it, DeepLIFT propagates differences from it, occlusion and SIS fill
removed positions with it. Prakash, Shrikumar & Kundaje (2021) show that the choice
matters. Four are provided, each a pure function with one contract::

    fn(codes, n=..., lengths=..., alphabet_size=..., random_state=..., index=...,
       frequencies=...) -> np.ndarray, dtype=float32, shape=(N, n, A, L)

=================== ========================================================== =======
name                reference at each position inside the sequence             random
=================== ========================================================== =======
``zeros``           all-zero column (the encoding of "N")                      no
``uniform``         1/A for every letter                                       no
``mean_composition`` the data set's letter frequencies (``frequencies``)       no
``shuffle``         one-hot of a dinucleotide shuffle of the sequence itself   yes
=================== ========================================================== =======

Positions past a sequence's length (padding) are all-zero in every reference, like
the padding of the one-hot input, so a reference never differs from its sequence
there. A deterministic reference is the same for every ``n``: callers that average
over references (DeepLIFT-SHAP) use ``n=1`` for them (see :func:`n_references`).

The shuffle reference samples uniformly among all sequences with the same
dinucleotide counts (Altschul & Erickson 1985, in the exact form of Kandel et al.
1996; :func:`grammarbench.sequences.kernels.dinucleotide_shuffle`). Reference ``j`` of example ``i``
depends only on ``(random_state, index[i], j)``: never on the batch it was drawn in, on
``n`` or on the other sequences, so attributions do not depend on ``batch_size``.

References
----------
Altschul, S. F. & Erickson, B. W. (1985). Mol. Biol. Evol. 2(6):526-538.
Kandel, D., Matias, Y., Unger, R. & Winkler, P. (1996). Discrete Appl. Math. 71:171-185.
Prakash, E., Shrikumar, A. & Kundaje, A. (2021). Towards more realistic simulated
    datasets for benchmarking deep learning models in regulatory genomics. MLCB 2021.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from grammarbench.sequences import validation

# grammarbench.sequences.kernels (numba) is imported where a reference is made: checking a
# config's references, at every `snakemake` start, needs only the names below.

__all__ = [
    "REFERENCES",
    "RANDOM_REFERENCES",
    "zeros",
    "uniform",
    "mean_composition",
    "shuffle",
    "make_references",
    "n_references",
    "letter_frequencies",
    "validate_reference",
]


def _prepare(codes, lengths, alphabet_size) -> tuple[np.ndarray, np.ndarray, int]:
    arr = validation.validate_codes(codes, "codes", ndim=2)
    A = validation.validate_alphabet_size(alphabet_size)
    lengths = validation.validate_lengths(lengths, (arr.shape[0],), arr.shape[1])
    return arr, lengths, A


def _constant(profile: np.ndarray, arr: np.ndarray, lengths: np.ndarray, n: int) -> np.ndarray:
    """Broadcast a per-letter profile, shape=(A,) or (A, L), to (N, n, A, L); padding zero."""
    from grammarbench.sequences import kernels as seq

    N, L = arr.shape
    A = profile.shape[0]
    inside = seq.inside_mask(lengths, L).astype(np.float32)                    # (N, L)
    if profile.ndim == 1:
        profile = np.broadcast_to(profile[:, None], (A, L))
    out = inside[:, None, None, :] * profile[None, None].astype(np.float32)  # (N, 1, A, L)
    return np.broadcast_to(out, (N, n, A, L)).astype(np.float32)  # a writable copy


def zeros(codes, n: int = 1, lengths=None, alphabet_size: int = 4, **_) -> np.ndarray:
    """All-zero references, the one-hot encoding of "N" at every position.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L)
        The sequences the references are for (only their shape is used).
    n: int
        Number of references per sequence (all identical). Default is 1.
    lengths: np.ndarray or None, shape=(N,)
        Sequence lengths. Default is None (full width).
    alphabet_size: int
        Number of letters A. Default is 4.

    Returns
    -------
    references: np.ndarray, dtype=float32, shape=(N, n, A, L)
        A new array of zeros.
    """
    arr, lengths, A = _prepare(codes, lengths, alphabet_size)
    n = validation.validate_int(n, "n", 1)
    return np.zeros((arr.shape[0], n, A, arr.shape[1]), dtype=np.float32)


def uniform(codes, n: int = 1, lengths=None, alphabet_size: int = 4, **_) -> np.ndarray:
    """References of 1/A for every letter at every position inside the sequence:
    :func:`mean_composition` with equal letter frequencies (its parameters and return value,
    without ``frequencies``)."""
    A = validation.validate_alphabet_size(alphabet_size)
    return mean_composition(codes, n, lengths, A, frequencies=np.full(A, 1.0 / A))


def mean_composition(codes, n: int = 1, lengths=None, alphabet_size: int = 4,
                     frequencies=None, **_) -> np.ndarray:
    """References holding the data set's letter frequencies at every position.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L)
        The sequences the references are for.
    n: int
        Number of references per sequence (all identical). Default is 1.
    lengths: np.ndarray or None, shape=(N,)
        Sequence lengths; padding stays all-zero. Default is None (full width).
    alphabet_size: int
        Number of letters A. Default is 4.
    frequencies: np.ndarray, shape=(A,) or (A, L)
        Letter frequencies of the data set (e.g. :func:`letter_frequencies` of the
        training split), or per-position frequencies. Required.

    Returns
    -------
    references: np.ndarray, dtype=float32, shape=(N, n, A, L)
    """
    arr, lengths, A = _prepare(codes, lengths, alphabet_size)
    n = validation.validate_int(n, "n", 1)
    if frequencies is None:
        raise ValueError("reference 'mean_composition' needs frequencies=, the data set's "
                         "letter frequencies, shape=(A,) (see letter_frequencies)")
    freq = np.asarray(frequencies, dtype=np.float64)
    if freq.shape not in ((A,), (A, arr.shape[1])):
        raise ValueError(f"frequencies must have shape ({A},) or ({A}, {arr.shape[1]}); "
                         f"got {freq.shape}")
    if not np.all(np.isfinite(freq)) or (freq < 0).any():
        raise ValueError("frequencies must be finite and non-negative")
    return _constant(freq, arr, lengths, n)


def shuffle(codes, n: int = 20, lengths=None, alphabet_size: int = 4, random_state=None,
            index=None, **_) -> np.ndarray:
    """One-hot dinucleotide shuffles of each sequence, uniform among same-count sequences.

    Wraps :func:`grammarbench.sequences.kernels.dinucleotide_shuffle` (Altschul & Erickson 1985; exact
    uniform sampler of Kandel et al. 1996) and one-hot encodes the result. Shuffle ``j``
    of sequence ``i`` depends only on ``(random_state, index[i], j)``.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L)
        Letter codes of the sequences.
    n: int
        Number of shuffles per sequence. Default is 20.
    lengths: np.ndarray or None, shape=(N,)
        Sequence lengths; padding is copied (and so stays all-zero). Default is None.
    alphabet_size: int
        Number of letters A. Default is 4.
    random_state: int or None
        Seed of the shuffles. Default is None (fresh entropy: not reproducible).
    index: np.ndarray or None, shape=(N,)
        Identity of each sequence in the seed scheme, e.g. its row in the split.
        Default is None: ``arange(N)``.

    Returns
    -------
    references: np.ndarray, dtype=float32, shape=(N, n, A, L)
        Each reference is one-hot (all-zero where the shuffle put an "N" or padding).
    """
    from grammarbench.sequences import kernels as seq

    arr, lengths, A = _prepare(codes, lengths, alphabet_size)
    shuffled = seq.dinucleotide_shuffle(arr, n, random_state=random_state, lengths=lengths,
                                        alphabet_size=A, index=index)            # (N, n, L)
    return seq.one_hot(shuffled, A, dtype=np.float32)                             # (N, n, A, L)


#: Reference name -> function, the names a config may use.
REFERENCES: dict[str, Callable[..., np.ndarray]] = {
    "zeros": zeros,
    "uniform": uniform,
    "mean_composition": mean_composition,
    "shuffle": shuffle,
}

#: References that differ between draws (and so are averaged over ``n`` of them).
RANDOM_REFERENCES = frozenset({"shuffle"})


def validate_reference(reference: str, name: str = "reference") -> str:
    """Return ``reference`` if it is a known reference name, else raise ValueError."""
    if not isinstance(reference, str) or reference not in REFERENCES:
        raise ValueError(f"{name} must be one of {', '.join(REFERENCES)}; got {reference!r}")
    return reference


def n_references(reference: str, n: int) -> int:
    """Number of references actually drawn per sequence: ``n`` if random, else 1."""
    validate_reference(reference)
    return validation.validate_int(n, "n_references", 1) if reference in RANDOM_REFERENCES else 1


def make_references(reference: str, codes, n: int = 20, lengths=None, alphabet_size: int = 4,
                    random_state=None, index=None, frequencies=None) -> np.ndarray:
    """References by name: ``REFERENCES[reference](codes, n=n_references(reference, n), ...)``.

    Parameters
    ----------
    reference: str
        One of ``zeros``, ``uniform``, ``mean_composition``, ``shuffle``.
    codes: np.ndarray, dtype=uint8, shape=(N, L)
        Letter codes of the sequences.
    n: int
        References per sequence for a random reference; deterministic references
        always give 1. Default is 20.
    lengths, alphabet_size, random_state, index, frequencies:
        As in the reference functions.

    Returns
    -------
    references: np.ndarray, dtype=float32, shape=(N, n', A, L)
        ``n' = n_references(reference, n)``.
    """
    fn = REFERENCES[validate_reference(reference)]
    return fn(codes, n=n_references(reference, n), lengths=lengths,
              alphabet_size=alphabet_size, random_state=random_state, index=index,
              frequencies=frequencies)


def letter_frequencies(codes, lengths=None, alphabet_size: int = 4) -> np.ndarray:
    """Frequency of each letter among the known letters of a data set.

    Parameters
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, L)
        Letter codes (e.g. the training split). Unknown letters and padding are skipped.
    lengths: np.ndarray or None, shape=(N,)
        Sequence lengths. Default is None (full width).
    alphabet_size: int
        Number of letters A. Default is 4.

    Returns
    -------
    frequencies: np.ndarray, dtype=float64, shape=(A,)
        Sums to 1 (uniform if there is no known letter at all).
    """
    from grammarbench.sequences import kernels as seq

    arr, lengths, A = _prepare(codes, lengths, alphabet_size)
    inside = seq.inside_mask(lengths, arr.shape[1])
    counts = np.bincount(arr[inside & (arr < A)].ravel(), minlength=A)[:A].astype(np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.full(A, 1.0 / A)
