# windows.py
# grammarbench: fixed-width windows of real DNA from a genome + peaks, or from a FASTA

"""Windows of real DNA for the realistic simulation.

Two sources give the same :class:`Windows`:

* a genome FASTA with its ``.fai`` index plus peaks (BED, or narrowPeak whose 10th column
  is the summit offset): one window of ``width`` letters centred on each summit (on each
  peak's midpoint for BED or a summit of -1), read straight from the FASTA file;
* a FASTA of windows (e.g. ChIP-seq sites): each record centre-cropped to ``width``.

Windows holding anything but A, C, G or T are dropped (the recipe of Prakash et al.), as
are windows that run past a chromosome end; both are counted in ``dropped``.

Genome access: pyfaidx reads and checks the index; the windows themselves are gathered
from a memory map of the FASTA file, with every window's byte offsets computed from the
index at once (offset + line * line_bytes + column), so no Python code runs per letter or
per window. A bgzip-compressed genome cannot be memory-mapped and is read through
pyfaidx, one fetch per window.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from grammarbench.sequences.alphabet import DNA
from grammarbench.errors import InputError
from grammarbench.io import atomic_path

__all__ = ["Windows", "genome_windows", "read_peaks", "read_window_fasta", "janggu_fasta",
           "remove_overlapping", "check_peaks_against_genome", "concatenate"]

#: The janggu release whose wheel carries the offline ChIP-seq windows (GPL-3: fetched at
#: set-up or test time, never copied into this repository).
JANGGU_VERSION = "0.10.2"
JANGGU_FILES = ("sample.fa", "sample2.fa")

_LOCUS = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>\d+)-(?P<end>\d+)")


@dataclass
class Windows:
    """Fixed-width windows of real DNA.

    Attributes
    ----------
    codes: np.ndarray, dtype=uint8, shape=(N, width)
        Letter codes A=0 C=1 G=2 T=3 (only these: windows with other letters are dropped).
    names: np.ndarray, dtype=object, shape=(N,)
        ``chrom:start-end`` of each window (or the FASTA record's name).
    chroms: np.ndarray, dtype=object, shape=(N,)
        Chromosome of each window; ``""`` where unknown (a FASTA record without a locus).
    starts: np.ndarray, dtype=int64, shape=(N,)
        0-based start on the chromosome; -1 where unknown.
    source: str
        Where the windows came from, for messages.
    dropped: dict
        Reason → number of windows dropped.
    """

    codes: np.ndarray
    names: np.ndarray
    chroms: np.ndarray
    starts: np.ndarray
    source: str = ""
    dropped: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def width(self) -> int:
        return self.codes.shape[1]

    def subset(self, rows) -> "Windows":
        rows = np.asarray(rows)
        return Windows(self.codes[rows], self.names[rows], self.chroms[rows], self.starts[rows],
                       self.source, dict(self.dropped))


def _keep_acgt(codes: np.ndarray, *arrays, dropped: dict):
    clean = (codes < 4).all(1)
    if (~clean).any():
        dropped["non-ACGT letters"] = dropped.get("non-ACGT letters", 0) + int((~clean).sum())
    return (codes[clean],) + tuple(a[clean] for a in arrays)


# --------------------------------------------------------------------------- FASTA of windows


def read_window_fasta(path, width: int | None = None, source="", key: str = "") -> Windows:
    """Windows from a FASTA whose records are the windows, centre-cropped to ``width``.

    Records shorter than ``width`` are dropped; a record named ``chrom:start-end`` (as
    bedtools getfasta writes) keeps its locus, so held-out chromosomes work.

    Raises
    ------
    InputError
        The file is missing or not FASTA, or ``width`` exceeds every record.
    """
    from grammarbench.sequences.fasta import read_fasta

    path = Path(path)
    source = source or path
    if not path.is_file():
        raise InputError(source, key, f"FASTA file {path} does not exist")
    try:
        names, records = read_fasta(path, DNA)
    except ValueError as err:
        raise InputError(source, key, str(err)) from None
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    if width is None:
        width = int(lengths.min())
    if width > lengths.max():
        raise InputError(source, key, f"width {width} is larger than every window in {path} "
                                      f"(longest {lengths.max()})")
    dropped = {}
    long_enough = np.flatnonzero(lengths >= width)
    if len(long_enough) < len(records):
        dropped["shorter than width"] = len(records) - len(long_enough)
    offsets = (lengths[long_enough] - width) // 2
    flat = np.concatenate([records[i] for i in long_enough])
    firsts = np.concatenate([[0], np.cumsum(lengths[long_enough])[:-1]]) + offsets
    codes = flat[firsts[:, None] + np.arange(width)]
    names = np.array([names[i].split()[0] for i in long_enough], dtype=object)
    loci = [_LOCUS.match(n) for n in names]
    chroms = np.array([m["chrom"] if m else "" for m in loci], dtype=object)
    starts = np.array([int(m["start"]) if m else -1 for m in loci], dtype=np.int64)
    starts = np.where(starts >= 0, starts + offsets, -1)
    codes, names, chroms, starts = _keep_acgt(codes, names, chroms, starts, dropped=dropped)
    return Windows(np.ascontiguousarray(codes), names, chroms, starts, str(path), dropped)


# --------------------------------------------------------------------------- genome + peaks


def read_peaks(path, source="", key: str = "") -> pd.DataFrame:
    """Peaks from a BED or narrowPeak file: chrom, start, end, summit (absolute, 0-based).

    The summit is ``start + column 10`` for narrowPeak (10 columns) when column 10 is not
    -1, else the peak's midpoint. Track and browser lines and ``#`` comments are skipped.

    Raises
    ------
    InputError
        A missing file, a line without chrom/start/end, start >= end, or a summit outside
        its peak (naming the line).
    """
    path = Path(path)
    source = source or path
    if not path.is_file():
        raise InputError(source, key, f"peak file {path} does not exist")
    lines = [(n, line.rstrip("\n").split("\t")) for n, line in enumerate(
        path.read_text().splitlines(keepends=True), start=1)
        if line.strip() and not line.startswith(("#", "track", "browser"))]
    if not lines:
        raise InputError(source, key, f"peak file {path} holds no peaks")
    rows = []
    for number, fields in lines:
        if len(fields) < 3 or not fields[1].isdigit() or not fields[2].isdigit():
            raise InputError(source, key, f"{path} line {number}: expected chrom, start, end "
                                          f"(tab-separated integers); got {fields[:3]}")
        start, end = int(fields[1]), int(fields[2])
        if start >= end:
            raise InputError(source, key, f"{path} line {number}: start {start} is not before end {end}")
        offset = -1
        if len(fields) >= 10:
            try:
                offset = int(fields[9])
            except ValueError:
                raise InputError(source, key, f"{path} line {number}: column 10 (summit "
                                              f"offset) {fields[9]!r} is not an integer") from None
            if offset != -1 and not 0 <= offset < end - start:
                raise InputError(source, key, f"{path} line {number}: summit offset {offset} "
                                              f"lies outside its peak {fields[0]}:{start}-{end}")
        summit = start + offset if offset >= 0 else (start + end) // 2
        rows.append((fields[0], start, end, summit, number))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "summit", "line"])


def _faidx(path, source, key):
    import pyfaidx

    path = Path(path)
    if not path.is_file():
        raise InputError(source, key, f"genome FASTA {path} does not exist")
    if not Path(f"{path}.fai").is_file():
        raise InputError(source, key, f"genome FASTA {path} is not indexed (no {path.name}.fai "
                                      "beside it: run `samtools faidx` or "
                                      "`python -c 'import pyfaidx; pyfaidx.Faidx(PATH)'`)")
    try:
        return pyfaidx.Faidx(str(path), build_index=False, rebuild=False)
    except Exception as err:  # pyfaidx raises several types for a bad index
        raise InputError(source, key, f"genome FASTA {path}: cannot read its index ({err})") from None


def genome_windows(genome, peaks: pd.DataFrame, width: int, source="", key: str = "",
                   peaks_path: str = "") -> Windows:
    """Windows of ``width`` letters centred on each peak's summit.

    Parameters
    ----------
    genome: str or Path
        FASTA with a ``.fai`` index beside it (plain, or bgzip with ``.gzi``).
    peaks: pd.DataFrame
        From :func:`read_peaks`.
    width: int
        Window width.

    Raises
    ------
    InputError
        A missing or unindexed genome, a peak on a chromosome the genome lacks, or a
        peak that ends past its chromosome's end.
    """
    faidx = _faidx(genome, source, key)
    sizes = check_peaks_against_genome(peaks, faidx.index, source, key, peaks_path, str(genome))
    chroms = peaks["chrom"].to_numpy(dtype=object)
    starts = peaks["summit"].to_numpy(dtype=np.int64) - width // 2
    inside = (starts >= 0) & (starts + width <= sizes)
    dropped = {}
    if (~inside).any():
        dropped["window past a chromosome end"] = int((~inside).sum())
    chroms, starts = chroms[inside], starts[inside]
    codes = _gather(faidx, Path(genome), chroms, starts, width)
    names = np.array([f"{c}:{s}-{s + width}" for c, s in zip(chroms, starts)], dtype=object)
    codes, names, chroms, starts = _keep_acgt(codes, names, chroms, starts, dropped=dropped)
    return Windows(np.ascontiguousarray(codes), names, chroms, starts, str(genome), dropped)


def check_peaks_against_genome(peaks: pd.DataFrame, index, source, key: str, peaks_path: str,
                               genome: str) -> np.ndarray:
    """Every peak's chromosome size, shape=(n,); an InputError for a chromosome the genome
    lacks or a peak that ends past its chromosome's end (naming the peak file's line)."""
    chroms = peaks["chrom"].to_numpy(dtype=object)
    missing = sorted(set(chroms) - set(index))
    if missing:
        line = int(peaks.loc[peaks["chrom"] == missing[0], "line"].iloc[0])
        raise InputError(source, key, f"{peaks_path} line {line}: chromosome {missing[0]!r} is "
                                      f"not in the genome {genome} ({len(missing)} such)")
    sizes = np.array([index[c].rlen for c in chroms], dtype=np.int64)
    past = np.flatnonzero(peaks["end"].to_numpy() > sizes)
    if len(past):
        row = peaks.iloc[past[0]]
        raise InputError(source, key, f"{peaks_path} line {row['line']}: peak "
                                      f"{row['chrom']}:{row['start']}-{row['end']} ends past "
                                      f"the end of {row['chrom']} ({sizes[past[0]]} bp)")
    return sizes


def _gather(faidx, path: Path, chroms: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Letter codes of every window, shape=(N, width)."""
    if not len(starts):
        return np.zeros((0, width), dtype=np.uint8)
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    if compressed:
        text = b"".join(faidx.fetch(c, int(s) + 1, int(s) + width).seq.encode()
                        for c, s in zip(chroms, starts))
        return DNA.encode(text).reshape(len(starts), width)
    index = faidx.index
    names = sorted(set(chroms))
    record = {c: i for i, c in enumerate(names)}
    # per chromosome: byte offset of its first letter, letters per line, bytes per line
    table = np.array([[index[c].offset, index[c].lenc, index[c].lenb] for c in names], dtype=np.int64)
    which = np.array([record[c] for c in chroms])
    offset, letters_per_line, bytes_per_line = table[which].T
    position = starts[:, None] + np.arange(width)                       # (N, width)
    byte = (offset[:, None] + position // letters_per_line[:, None] * bytes_per_line[:, None]
            + position % letters_per_line[:, None])
    data = np.memmap(path, dtype=np.uint8, mode="r")
    return DNA.encode_table[data[byte]]


def concatenate(parts: list[Windows]) -> Windows:
    """The windows of several peak files in order, each window once: a window at the same
    locus as an earlier one (one summit called in two cell types) is dropped and counted."""
    codes = np.concatenate([w.codes for w in parts])
    names = np.concatenate([w.names for w in parts])
    dropped = {}
    for w in parts:
        for reason, n in w.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + n
    _, first = np.unique(names.astype(str), return_index=True)
    keep = np.sort(first)
    if len(keep) < len(names):
        dropped["same locus in an earlier peak file"] = len(names) - len(keep)
    return Windows(np.ascontiguousarray(codes[keep]), names[keep],
                   np.concatenate([w.chroms for w in parts])[keep],
                   np.concatenate([w.starts for w in parts])[keep],
                   " + ".join(dict.fromkeys(w.source for w in parts)), dropped)


def remove_overlapping(background: Windows, positives: Windows) -> Windows:
    """The background windows that overlap no positive window (same chromosome)."""
    keep = np.ones(len(background), dtype=bool)
    known = background.starts >= 0
    for chrom in set(background.chroms[known]) & set(positives.chroms):
        mine = np.flatnonzero(known & (background.chroms == chrom))
        theirs = np.sort(positives.starts[positives.chroms == chrom])
        # a positive overlaps when it starts within (start - width, start + width)
        lo = np.searchsorted(theirs, background.starts[mine] - positives.width, side="right")
        hi = np.searchsorted(theirs, background.starts[mine] + background.width, side="left")
        keep[mine[hi > lo]] = False
    out = background.subset(np.flatnonzero(keep))
    if (~keep).any():
        out.dropped["overlaps a positive window"] = int((~keep).sum())
    return out


# --------------------------------------------------------------------------- janggu's windows


def janggu_fasta(name: str, cache=None) -> Path:
    """A FASTA of ChIP-seq windows from the janggu wheel on PyPI, fetched once into ``cache``.

    ``sample.fa`` holds 3,897 x 200 bp Oct4 sites and ``sample2.fa`` 3,900 x 200 bp Mafk
    sites (mouse). janggu is GPL-3, so the files are downloaded (``pip download
    --no-deps janggu==0.10.2``) rather than shipped.

    Parameters
    ----------
    name: str
        ``sample.fa`` or ``sample2.fa``.
    cache: str or Path or None
        Download folder. Default: ``$GRAMMARBENCH_CACHE/janggu`` or
        ``~/.cache/grammarbench/janggu``.

    Raises
    ------
    RuntimeError
        The wheel could not be downloaded (no network and no cached copy).
    """
    if name not in JANGGU_FILES:
        raise ValueError(f"janggu file must be one of {JANGGU_FILES}; got {name!r}")
    if cache is None:
        base = os.environ.get("GRAMMARBENCH_CACHE") or Path.home() / ".cache" / "grammarbench"
        cache = Path(base) / "janggu"
    cache = Path(cache)
    target = cache / name
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(f"janggu-{JANGGU_VERSION}-*.whl"))
    if not wheels:
        # into a folder of its own, then renamed into the cache: processes fetching at the
        # same time (cluster jobs, parallel tests) never see each other's half-written wheel
        with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as folder:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                                   "-d", folder, f"janggu=={JANGGU_VERSION}"],
                                  capture_output=True, text=True)
            for wheel in Path(folder).glob(f"janggu-{JANGGU_VERSION}-*.whl"):
                os.replace(wheel, cache / wheel.name)
        wheels = sorted(cache.glob(f"janggu-{JANGGU_VERSION}-*.whl"))
        if done.returncode or not wheels:
            raise RuntimeError(f"cannot download janggu=={JANGGU_VERSION} from PyPI "
                               f"({done.stderr.strip().splitlines()[-1:] or 'no wheel'})")
    with zipfile.ZipFile(wheels[0]) as wheel:
        data = wheel.read(f"janggu/resources/{name}")
    with atomic_path(target) as partial:  # a concurrent reader never sees half a file
        partial.write_bytes(data)
    return target
