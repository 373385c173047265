"""Argument checks shared by the sequence kernels, attribution and references.

Each returns the checked value (so calls chain) and raises ``ValueError`` naming the
argument.
"""

from __future__ import annotations

import numpy as np

__all__ = ["validate_codes", "validate_alphabet_size", "validate_int", "validate_lengths",
           "validate_seeds"]




def validate_codes(codes, name: str = "codes", ndim: int | None = 2) -> np.ndarray:
    """Check a code array and return it as a C-contiguous ``uint8`` array."""
    arr = np.asarray(codes)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, shape=(N, L); got shape {arr.shape}")
    if ndim is None and arr.ndim < 1:
        raise ValueError(f"{name} must have at least one dimension (..., L); got a scalar")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integer letter codes; got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"{name} must hold letter codes in 0..255")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def validate_alphabet_size(alphabet_size) -> int:
    if isinstance(alphabet_size, (bool, np.bool_)) or not isinstance(
        alphabet_size, (int, np.integer)
    ):
        raise ValueError(f"alphabet_size must be an integer; got {alphabet_size!r}")
    if not 1 <= alphabet_size <= 254:
        raise ValueError(f"alphabet_size must be in 1..254; got {alphabet_size}")
    return int(alphabet_size)


def validate_int(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def validate_lengths(lengths, shape: tuple, width: int, name: str = "lengths") -> np.ndarray:
    """Check per-sequence lengths against the leading ``shape`` and the row ``width``."""
    if lengths is None:
        return np.full(shape, width, dtype=np.int64)
    arr = np.asarray(lengths)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > width):
        raise ValueError(f"{name} must lie in 0..{width} (the row width); got "
                         f"{arr.min()}..{arr.max()}")
    return np.ascontiguousarray(arr)


def validate_seeds(seeds, n: int, name: str = "seeds") -> np.ndarray:
    arr = np.asarray(seeds)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one seed per sequence; got {arr.shape}")
    if arr.dtype == np.uint64:
        return np.ascontiguousarray(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold unsigned 64-bit integers; got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative")
    return np.ascontiguousarray(arr.astype(np.uint64))
