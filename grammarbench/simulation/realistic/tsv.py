# tsv.py
# grammarbench: tab-separated tables written with numpy, no Python code per row

"""Write a table as TSV through numpy character matrices.

pandas' ``to_csv`` formats every cell in Python (about 3 µs a row for an instance table),
which was the largest single cost of simulating a realistic split. Here each column
becomes a matrix of ASCII bytes, one row per table row, right-aligned numbers or
left-aligned strings, with a mask of the bytes that belong to the cell (numbers are
formatted by a numba loop); a numba loop then joins each row's masked bytes with tabs
between the columns, and that is the file. Integers,
booleans, strings (ASCII, through numpy's bytes dtype) and floats (fixed decimals, or three
significant digits in scientific notation) are supported: what the instance and window
tables hold; a pandas Categorical is written through its categories.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from numba import njit

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


@njit(cache=True, nogil=True)
def _decimal_kernel(values, decimals, chars, used):
    """Each integer right-aligned in its row, its last ``decimals`` digits after a point
    and at least one digit before it; a minus sign in column 0."""
    width = chars.shape[1]
    for r in range(len(values)):
        v = values[r]
        m = -v if v < 0 else v
        j = width - 1
        for _ in range(decimals):
            chars[r, j] = 48 + m % 10
            used[r, j] = True
            m //= 10
            j -= 1
        if decimals:
            chars[r, j] = 46  # "."
            used[r, j] = True
            j -= 1
        while True:
            chars[r, j] = 48 + m % 10
            used[r, j] = True
            m //= 10
            j -= 1
            if m == 0:
                break
        if v < 0:
            chars[r, 0] = 45  # "-"
            used[r, 0] = True


def _decimal(values, decimals: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Integers as decimal text (``decimals`` > 0: the integers are hundredths, etc.), shape=(n,
    width) uint8, and the mask of used bytes."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    largest = int(np.abs(values).max()) if len(values) else 0
    digits = max(len(str(largest)), decimals + 1)
    chars = np.zeros((len(values), 1 + digits + (decimals > 0)), dtype=np.uint8)
    used = np.zeros(chars.shape, dtype=bool)
    _decimal_kernel(values, int(decimals), chars, used)
    return chars, used


def _strings(values) -> tuple[np.ndarray, np.ndarray]:
    """Left-aligned bytes of each value: numpy's fixed-width bytes dtype, zero-padded, seen
    as a byte matrix (a converted copy in C, no Python code per row)."""
    values = np.asarray(values)
    if values.dtype.kind == "U" and len(values):
        # numpy holds str as 4-byte code points: ASCII ones are their own bytes, so one
        # narrowing cast does what astype(bytes) does with a codec call per value
        points = np.ascontiguousarray(values).view(np.uint32).reshape(len(values), -1)
        if points.max() < 128:
            chars = points.astype(np.uint8)
            return chars, chars != 0
    if values.dtype.kind == "S":
        encoded = values
    elif values.dtype.kind == "U":
        encoded = values.astype(np.bytes_)  # raises for a value that is not ASCII
    else:
        encoded = values.astype(str).astype(np.bytes_)
    width = max(encoded.dtype.itemsize, 1)
    chars = np.ascontiguousarray(encoded).view(np.uint8).reshape(len(encoded), -1) if len(encoded) \
        else np.zeros((0, width), np.uint8)
    return chars, chars != 0


def _fixed(column: Fixed) -> tuple[np.ndarray, np.ndarray]:
    return _decimal(np.round(column.values * 10 ** column.decimals).astype(np.int64), column.decimals)


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


def _gather(categories, codes) -> tuple[np.ndarray, np.ndarray]:
    """The few distinct values once, then a gather by code."""
    chars, used = _strings(np.asarray(categories, dtype=object))
    return chars[codes], used[codes]


def _column(values) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values, pd.Categorical):
        return _gather(values.categories, values.codes)
    if isinstance(values, Fixed):
        return _fixed(values)
    if isinstance(values, Scientific):
        return _scientific(values)
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return _decimal(array)
    if array.dtype == bool:
        return _gather(["False", "True"], array.view(np.uint8))
    return _strings(array)


@njit(cache=True, nogil=True)
def _join_rows(chars, used, out):
    """Row by row, each column's used bytes then a tab (a newline after the last column),
    into ``out``; returns the bytes written."""
    k = 0
    last = len(chars) - 1
    for r in range(chars[0].shape[0]):
        for c in range(len(chars)):
            row_chars = chars[c][r]
            row_used = used[c][r]
            for j in range(len(row_chars)):
                if row_used[j]:
                    out[k] = row_chars[j]
                    k += 1
            out[k] = 10 if c == last else 9
            k += 1
    return k


def write_tsv(path, columns: dict) -> None:
    """Write ``columns`` (name → array, :class:`Fixed` or :class:`Scientific`) as a TSV
    with a header, atomically (a temporary file renamed into place)."""
    path = Path(path)
    header = ("\t".join(columns) + "\n").encode()
    chars, used = [], []
    for name, values in columns.items():
        c, u = _column(values)
        if chars and len(c) != len(chars[0]):
            raise ValueError(f"column {name!r} has {len(c)} rows, not {len(chars[0])}")
        chars.append(np.ascontiguousarray(c, dtype=np.uint8))
        used.append(np.ascontiguousarray(u, dtype=bool))
    n = len(chars[0]) if chars else 0
    body = b""
    if n:
        out = np.empty(sum(int(np.count_nonzero(u)) for u in used) + n * len(chars), dtype=np.uint8)
        body = out[:_join_rows(tuple(chars), tuple(used), out)].tobytes()
    with atomic_path(path) as partial:
        partial.write_bytes(header + body)
