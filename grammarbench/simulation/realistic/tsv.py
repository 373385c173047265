# tsv.py
# grammarbench: tab-separated tables written with numpy, no Python code per row

"""Write a table as TSV through numpy character matrices.

pandas' ``to_csv`` formats every cell in Python (about 3 µs a row for an instance table),
which was the largest single cost of simulating a realistic split. Here each column
becomes a matrix of ASCII bytes, one row per table row, right-aligned numbers or
left-aligned strings, with a mask of the bytes that belong to the cell; the columns are
laid side by side with tabs between them, and the masked bytes are the file. Integers,
booleans, strings (ASCII, through numpy's bytes dtype) and floats (fixed decimals, or three
significant digits in scientific notation) are supported: what the instance and window
tables hold; a pandas Categorical is written through its categories.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grammarbench.io import atomic_path

__all__ = ["write_tsv", "Scientific", "Fixed"]

_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


class Fixed:
    """A float column written with ``decimals`` digits after the point."""

    def __init__(self, values, decimals: int):
        self.values, self.decimals = np.asarray(values, dtype=np.float64), int(decimals)


class Scientific:
    """A float column written as d.dde-XX (three significant digits), 0 as 0."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)


def _integers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned decimal digits, shape=(n, width) uint8, and the mask of used bytes."""
    values = np.asarray(values, dtype=np.int64)
    negative = values < 0
    magnitude = np.abs(values)
    width = max(1, len(str(int(magnitude.max())))) if len(values) else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = _DIGITS[(magnitude[:, None] // powers[None, :]) % 10]
    # a digit is shown from the first non-zero one on; the last digit always
    used = np.maximum.accumulate(digits != ord("0"), axis=1)
    used[:, -1] = True
    sign = np.where(negative, ord("-"), ord(" ")).astype(np.uint8)[:, None]
    return np.hstack([sign, digits]), np.hstack([negative[:, None], used])


def _strings(values) -> tuple[np.ndarray, np.ndarray]:
    """Left-aligned bytes of each value: numpy's fixed-width bytes dtype, zero-padded, seen
    as a byte matrix (a converted copy in C, no Python code per row)."""
    values = np.asarray(values)
    if values.dtype.kind == "S":
        encoded = values
    elif values.dtype.kind == "U":
        encoded = values.astype(np.bytes_)  # ASCII, in C
    else:
        encoded = values.astype(str).astype(np.bytes_)
    width = max(encoded.dtype.itemsize, 1)
    chars = np.ascontiguousarray(encoded).view(np.uint8).reshape(len(encoded), -1) if len(encoded) \
        else np.zeros((0, width), np.uint8)
    return chars, chars != 0


def _fixed(column: Fixed) -> tuple[np.ndarray, np.ndarray]:
    scaled = np.round(column.values * 10 ** column.decimals).astype(np.int64)
    chars, used = _integers(scaled)
    if column.decimals == 0:
        return chars, used
    # make room for at least one digit before the point, then insert it
    pad = max(0, column.decimals + 1 - (chars.shape[1] - 1))
    chars = np.hstack([chars[:, :1], np.full((len(chars), pad), ord("0"), np.uint8), chars[:, 1:]])
    used = np.hstack([used[:, :1], np.zeros((len(used), pad), bool), used[:, 1:]])
    split = chars.shape[1] - column.decimals
    used[:, split - 1:] = True  # every decimal, and the units digit (0.05, not .05)
    point = np.full((len(chars), 1), ord("."), np.uint8)
    return (np.hstack([chars[:, :split], point, chars[:, split:]]),
            np.hstack([used[:, :split], np.ones((len(used), 1), bool), used[:, split:]]))


def _scientific(column: Scientific) -> tuple[np.ndarray, np.ndarray]:
    x = column.values
    zero = x == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.where(zero, 1.0, np.abs(x)))).astype(np.int64)
        mantissa = np.round(np.abs(x) / 10.0 ** exponent * 100).astype(np.int64)
    carry = mantissa >= 1000  # 9.996 rounds to 10.00: 1.00 with the next exponent
    mantissa = np.where(carry, mantissa // 10, mantissa)
    exponent = exponent + carry
    n = len(x)
    chars = np.empty((n, 9), dtype=np.uint8)
    chars[:, 0] = np.where(x < 0, ord("-"), ord(" "))
    chars[:, 1] = _DIGITS[mantissa // 100]
    chars[:, 2] = ord(".")
    chars[:, 3] = _DIGITS[(mantissa // 10) % 10]
    chars[:, 4] = _DIGITS[mantissa % 10]
    chars[:, 5] = ord("e")
    chars[:, 6] = np.where(exponent < 0, ord("-"), ord("+"))
    chars[:, 7] = _DIGITS[(np.abs(exponent) // 10) % 10]
    chars[:, 8] = _DIGITS[np.abs(exponent) % 10]
    used = np.ones((n, 9), dtype=bool)
    used[:, 0] = x < 0
    chars[zero, 1] = ord("0")
    used[zero, 0] = False
    used[zero, 2:] = False
    return chars, used


def _column(values) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values, pd.Categorical):
        # the few distinct values once, then a gather by code
        chars, used = _strings(np.asarray(values.categories, dtype=object))
        return chars[values.codes], used[values.codes]
    if isinstance(values, Fixed):
        return _fixed(values)
    if isinstance(values, Scientific):
        return _scientific(values)
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return _integers(array)
    return _strings(np.where(array, "True", "False") if array.dtype == bool else array)


def write_tsv(path, columns: dict) -> None:
    """Write ``columns`` (name → array, :class:`Fixed` or :class:`Scientific`) as a TSV
    with a header, atomically (a temporary file renamed into place)."""
    path = Path(path)
    header = ("\t".join(columns) + "\n").encode()
    parts, masks = [], []
    n = None
    for i, values in enumerate(columns.values()):
        chars, used = _column(values)
        n = len(chars) if n is None else n
        if len(chars) != n:
            raise ValueError(f"column {list(columns)[i]!r} has {len(chars)} rows, not {n}")
        end = ord("\n") if i == len(columns) - 1 else ord("\t")
        parts += [chars, np.full((n, 1), end, np.uint8)]
        masks += [used, np.ones((n, 1), bool)]
    body = np.hstack(parts)[np.hstack(masks)].tobytes() if n else b""
    with atomic_path(path) as partial:
        partial.write_bytes(header + body)
