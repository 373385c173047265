"""FASTA files (plain or gzip) to and from ``uint8`` letter codes."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from grammarbench.sequences.alphabet import Alphabet
from grammarbench.sequences.validation import validate_codes, validate_int, validate_lengths

__all__ = ["read_fasta", "write_fasta"]




def _open(path, mode: str):
    path = os.fspath(path)
    if "r" in mode:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        if magic == b"\x1f\x8b":
            return gzip.open(path, mode)
    elif path.endswith(".gz"):
        return gzip.open(path, mode)
    return open(path, mode)


def read_fasta(path, alphabet: Alphabet) -> tuple[list[str], list[np.ndarray]]:
    """Read a FASTA file (plain or gzip) into names and letter codes.

    Each record's sequence lines are joined and encoded in one call to
    ``alphabet.encode``; case is ignored and letters outside the alphabet become its
    unknown code. Gzip is detected from the file's magic bytes.

    Parameters
    ----------
    path: str or os.PathLike
        The FASTA file.
    alphabet: Alphabet
        The alphabet to encode with.

    Returns
    -------
    names: list[str]
        The header line of each record without the leading ``>``, stripped of
        surrounding whitespace.
    codes: list[np.ndarray]
        One ``uint8`` array per record, shape=(length,).

    Raises
    ------
    ValueError
        If the file is empty, is not FASTA (does not start with ``>``), is corrupt gzip
        or has a header that is not UTF-8; the message starts with the path.
    """
    try:
        with _open(path, "rb") as fh:
            data = fh.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: cannot read as FASTA: corrupt gzip data ({err})") from err
    text = data.lstrip()
    if not text:
        raise ValueError(f"{path}: empty FASTA file")
    if not text.startswith(b">"):
        raise ValueError(f"{path}: not a FASTA file (the first record must start with '>')")
    names: list[str] = []
    codes: list[np.ndarray] = []
    for record in text[1:].split(b"\n>"):
        header, _, body = record.partition(b"\n")
        try:
            names.append(header.strip().decode())
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: record {len(names)} has a header that is not "
                             "UTF-8 text") from err
        # drop line breaks and blanks in one C-level pass, then encode the whole sequence
        codes.append(alphabet.encode(body.translate(None, b" \t\r\n\v\f")))
    return names, codes


def write_fasta(path, names, codes, alphabet: Alphabet, lengths=None, width: int | None = 80):
    """Write sequences to a FASTA file (gzip-compressed if ``path`` ends in ``.gz``).

    Parameters
    ----------
    path: str or os.PathLike
        Output file.
    names: list[str]
        One header per sequence, written after ``>``; must not contain line breaks.
    codes: np.ndarray, shape=(N, L), or list of np.ndarray, each shape=(length,)
        Letter codes; unknown codes are written as N (DNA) or X (protein).
    alphabet: Alphabet
        The alphabet to decode with.
    lengths: np.ndarray or None, shape=(N,)
        Length of each sequence; the padding past it is not written. Default is None:
        whole rows.
    width: int or None
        Letters per line; None or 0 writes each sequence on one line. Default is 80.
    """
    names = list(names)
    if isinstance(codes, np.ndarray) and codes.ndim == 2:
        rows = validate_codes(codes, "codes", ndim=2)
        seq_list = list(rows)
        lengths = validate_lengths(lengths, (rows.shape[0],), rows.shape[1])
    else:
        seq_list = [validate_codes(c, "codes", ndim=1) for c in codes]
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (len(seq_list),):
                raise ValueError(f"lengths must have shape ({len(seq_list)},); got "
                                 f"{lengths.shape}")
            if any(int(n) < 0 or int(n) > len(c) for n, c in zip(lengths, seq_list)):
                raise ValueError("lengths must lie between 0 and each sequence's length")
        else:
            lengths = np.array([len(c) for c in seq_list], dtype=np.int64)
    if len(names) != len(seq_list):
        raise ValueError(f"names has {len(names)} entries but codes has {len(seq_list)} "
                         "sequences")
    for name in names:
        if not isinstance(name, str) or "\n" in name or "\r" in name:
            raise ValueError(f"names must be strings without line breaks; got {name!r}")
    if width is None:
        width = 0
    width = validate_int(width, "width", 0)
    chunks = []
    for name, seq, n in zip(names, seq_list, lengths):
        letters = np.frombuffer(alphabet.decode(seq[: int(n)]).encode(), dtype=np.uint8)
        chunks.append(b">" + name.encode() + b"\n" + _wrap(letters, width))
    with _open(path, "wb") as fh:
        fh.write(b"".join(chunks))


def _wrap(letters: np.ndarray, width: int) -> bytes:
    """Bytes of ``letters`` (shape=(n,) uint8) in lines of ``width``, each ending in a newline."""
    n = letters.shape[0]
    if n == 0:
        return b"\n"
    if width == 0 or n <= width:
        return letters.tobytes() + b"\n"
    n_lines = -(-n // width)
    body = np.zeros(n_lines * width, dtype=np.uint8)
    body[:n] = letters
    grid = np.empty((n_lines, width + 1), dtype=np.uint8)                   # (lines, width+1)
    grid[:, :width] = body.reshape(n_lines, width)
    grid[:, width] = ord("\n")
    out = grid.reshape(-1)
    short = n_lines * width - n
    if short:  # the last line is short: drop its unused slots, keep its newline
        out = np.concatenate([out[: -(short + 1)], out[-1:]])
    return out.tobytes()
