"""Motif files and databases: MEME, JASPAR and HOMER matrices, and motif statistics.

Every reader returns position probability matrices (PPMs): float64 arrays,
shape=(width, len(alphabet)), one row per motif position, columns in the alphabet's
order (DNA: A C G T; protein: A C D ... Y), each row normalised to sum to 1. Counts
(JASPAR) are turned into probabilities column by column; probabilities (MEME, HOMER)
are renormalised, because published files round to three or six decimals.

A reader returns a :class:`MotifSet`: a ``dict`` from each motif's primary name to its
PPM that also answers to the motif's second name (MEME's alternate name, JASPAR's TF
name, HOMER's consensus) without listing it, so ``len()`` counts motifs.

Bad files raise :class:`grammarbench.errors.InputError` naming the file, the line and
the problem; :func:`read_motif_file` re-raises them under the grammar file and key
that referenced the motif file, so a user sees where the reference came from.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from grammarbench.sequences.alphabet import ALPHABETS, DNA, PROTEIN, Alphabet
from grammarbench.errors import InputError
from grammarbench.io import write_text

MOTIF_FORMATS = ("meme", "jaspar", "homer")

# The JASPAR release that `jaspar:` IDs resolve against. Pinned here rather than taken
# from pyjaspar's default, so that upgrading pyjaspar (whose default moves to each new
# release) cannot silently change which matrix a versionless ID such as MA0139 means.
JASPAR_RELEASE = "JASPAR2026"

_JASPAR_ID = re.compile(r"^[A-Z]{2}\d{4}(\.\d+)?$")


class MotifSet(dict):
    """Motifs read from one file: primary name → PPM, shape=(width, len(alphabet)).

    Iteration, ``keys()`` and ``len()`` see primary names only (MEME motif IDs, JASPAR
    matrix IDs, HOMER motif names). Indexing, ``in`` and ``get`` also accept a
    motif's second name (``aliases``); an alias shared by several motifs finds none.

    Attributes
    ----------
    aliases: dict[str, list[str]]
        Second name → the primary names that carry it.
    alphabet: Alphabet
        The alphabet the columns follow.
    """

    def __init__(self, alphabet: Alphabet = DNA):
        super().__init__()
        self.aliases: dict[str, list[str]] = {}
        self.alphabet = alphabet

    def resolve(self, name: str) -> list[str]:
        """Primary names that ``name`` refers to: itself, or the motifs carrying it as an alias."""
        if dict.__contains__(self, name):
            return [name]
        return list(self.aliases.get(name, []))

    def __missing__(self, key):
        found = self.resolve(key)
        if len(found) == 1:
            return dict.__getitem__(self, found[0])
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        return len(self.resolve(key)) == 1

    def get(self, key, default=None):
        return self[key] if key in self else default

    def describe(self, limit: int = 25) -> str:
        """The names for an error message: ``SOX2 (alias MA0143.4), FOXA1 ...``."""
        aka: dict[str, list[str]] = {}
        for alias, names in self.aliases.items():
            for name in names:
                aka.setdefault(name, []).append(alias)
        parts = [name + (f" (alias {', '.join(aka[name])})" if name in aka else "")
                 for name in list(self)[:limit]]
        more = len(self) - limit
        return ", ".join(parts) + (f" and {more} more" if more > 0 else "")

    def _add(self, name: str, ppm: np.ndarray, aliases, source, key) -> None:
        if dict.__contains__(self, name):
            raise InputError(source, key, f"motif name {name!r} occurs twice in the file")
        dict.__setitem__(self, name, ppm)
        for alias in aliases:
            if alias and alias != name and name not in self.aliases.get(alias, []):
                self.aliases.setdefault(alias, []).append(name)


# --------------------------------------------------------------------------- helpers


def _normalise_rows(matrix, source, key, what: str = "probabilities") -> np.ndarray:
    """Validate a (width, letters) matrix of non-negative numbers and make rows sum to 1."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] == 0:
        raise InputError(source, key, "the matrix has no positions")
    if not np.all(np.isfinite(m)):
        raise InputError(source, key, f"the matrix holds non-finite {what}")
    if np.any(m < 0):
        row = int(np.argwhere(m < 0)[0, 0])
        raise InputError(source, key, f"position {row + 1} has a negative value")
    sums = m.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        row = int(np.argwhere(sums[:, 0] <= 0)[0, 0])
        raise InputError(source, key, f"position {row + 1} has only zeros")
    return m / sums


def _read_lines(path) -> list[str]:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise InputError(path, "", "motif file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, "", f"cannot read the motif file: {err}") from None


def _header_blocks(path) -> list[tuple[str | None, int, list[tuple[str, int]]]]:
    """A ``>``-headed motif file (JASPAR, HOMER) as blocks: each header's text (without
    ``>``; None for rows before the first header), its line number, and its non-empty
    lines with their line numbers."""
    blocks: list[tuple[str | None, int, list[tuple[str, int]]]] = []
    for i, raw in enumerate(_read_lines(path), start=1):
        line = raw.strip()
        if line.startswith(">"):
            blocks.append((line[1:], i, []))
        elif line:
            if not blocks:
                blocks.append((None, 1, []))
            blocks[-1][2].append((line, i))
    return blocks


def _floats(text: str) -> list[float] | None:
    """The numbers on a line, or None if it is not a line of numbers only."""
    try:
        values = [float(tok) for tok in text.split()]
    except ValueError:
        return None
    return values or None


def _as_alphabet(alphabet) -> Alphabet:
    if isinstance(alphabet, Alphabet):
        return alphabet
    if alphabet in ALPHABETS:
        return ALPHABETS[alphabet]
    raise ValueError(f"alphabet must be an Alphabet or one of {sorted(ALPHABETS)}, "
                     f"got {alphabet!r}")


def _check_ppm(ppm, name: str = "ppm") -> np.ndarray:
    m = np.asarray(ppm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 2:
        raise ValueError(f"{name} must have shape=(width, alphabet size), got {m.shape}")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError(f"{name} must hold finite non-negative probabilities")
    return m


# --------------------------------------------------------------------------- MEME


def _meme_alphabet(letters: str, source, key) -> Alphabet:
    """The alphabet of a MEME ``ALPHABET`` declaration.

    MEME orders matrix columns alphabetically by core symbol, which for DNA and
    protein is exactly our order; RNA (ACGU) is read as DNA.
    """
    found = "".join(sorted(set(letters.upper().replace("U", "T"))))
    for alphabet in (DNA, PROTEIN):
        if found == "".join(sorted(alphabet.letters)):
            return alphabet
    raise InputError(source, key, f"unsupported MEME alphabet {letters!r} "
                                  f"(expected DNA {DNA.letters} or protein {PROTEIN.letters})")


def read_meme(path) -> MotifSet:
    """Read every motif of a MEME motif file (minimal format, versions 4 and 5).

    ``MOTIF id [alt]`` starts a motif; its ``letter-probability matrix:`` line (with
    ``alength=`` and ``w=``) is followed by one row per position. Log-odds matrices,
    URLs and other lines are skipped. The alphabet comes from ``ALPHABET= ...`` or an
    ``ALPHABET ... END ALPHABET`` block, else from ``alength`` (4: DNA, 20: protein).

    Parameters
    ----------
    path: str or Path
        The MEME file.

    Returns
    -------
    motifs: MotifSet
        Motif ID → PPM, float64, shape=(w, alength), rows summing to 1; the alternate
        name (``alt``) finds the motif too.

    Raises
    ------
    InputError
        The file is missing, is not MEME, or a matrix is malformed (the key names
        the line).
    """
    lines = _read_lines(path)
    motifs = MotifSet()
    alphabet: Alphabet | None = None
    seen_version = False
    current: tuple[str, list[str], int] | None = None  # (id, aliases, line number)
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        n = i + 1
        i += 1
        if line.startswith("MEME version"):
            seen_version = True
        elif line.startswith("ALPHABET="):
            alphabet = _meme_alphabet(line.split("=", 1)[1].strip(), path, f"line {n}")
        elif line.startswith("ALPHABET"):
            # a custom alphabet block: the core symbols are single letters that are not
            # defined as ambiguity codes ("N = ACGT") or aliases
            core = ""
            while i < len(lines) and not lines[i].strip().startswith("END ALPHABET"):
                body = lines[i].strip()
                if body and "=" not in body and len(body.split()[0]) == 1:
                    core += body.split()[0]
                    if "~" in body:
                        core += body.split("~", 1)[1].split()[0]
                i += 1
            i += 1
            alphabet = _meme_alphabet(core, path, f"line {n}")
        elif line.startswith("MOTIF"):
            if not seen_version:
                raise InputError(path, f"line {n}", "not a MEME motif file: MOTIF before "
                                                    "the 'MEME version' line")
            if current is not None:
                raise InputError(path, f"line {current[2]}",
                                 f"motif {current[0]!r} has no letter-probability matrix")
            tokens = line.split()
            if len(tokens) < 2:
                raise InputError(path, f"line {n}", "MOTIF line without a motif ID")
            current = (tokens[1], tokens[2:3], n)
        elif line.startswith("letter-probability matrix"):
            if current is None:
                raise InputError(path, f"line {n}", "letter-probability matrix outside a MOTIF")
            params = dict(re.findall(r"(\w+)\s*=\s*(\S+)", line.split(":", 1)[-1]))
            try:
                alength = int(params["alength"]) if "alength" in params else None
                width = int(params["w"]) if "w" in params else None
            except ValueError:
                raise InputError(path, f"line {n}", "alength= and w= must be integers") from None
            rows: list[list[float]] = []
            while i < len(lines) and (width is None or len(rows) < width):
                values = _floats(lines[i])
                if values is None:
                    if lines[i].strip() or rows:
                        break
                else:
                    ncol = alength or (alphabet.size if alphabet else len(values))
                    if len(values) != ncol:
                        raise InputError(path, f"line {i + 1}",
                                         f"expected {ncol} probabilities, found {len(values)}")
                    rows.append(values)
                i += 1
            if width is not None and len(rows) != width:
                raise InputError(path, f"line {n}", f"motif {current[0]!r} declares w= {width} "
                                                    f"but has {len(rows)} rows")
            ppm = _normalise_rows(rows, path, f"line {n}")
            if alphabet is None:
                alphabet = {4: DNA, 20: PROTEIN}.get(ppm.shape[1])
                if alphabet is None:
                    raise InputError(path, f"line {n}", "cannot tell the alphabet of a matrix with "
                                                        f"{ppm.shape[1]} columns; add ALPHABET=")
            if ppm.shape[1] != alphabet.size:
                raise InputError(path, f"line {n}", f"the matrix has {ppm.shape[1]} columns but "
                                                    f"the {alphabet.name} alphabet has "
                                                    f"{alphabet.size}")
            motifs._add(current[0], ppm, current[1], path, f"line {current[2]}")
            current = None
    if current is not None:
        raise InputError(path, f"line {current[2]}",
                         f"motif {current[0]!r} has no letter-probability matrix")
    if not seen_version:
        raise InputError(path, "line 1", "not a MEME motif file: no 'MEME version' line")
    if not motifs:
        raise InputError(path, "", "no MOTIF in the file")
    motifs.alphabet = alphabet or DNA
    return motifs


def write_meme(path, motifs: Mapping[str, np.ndarray], alphabet: Alphabet | str = DNA, *,
               background=None, alt_names: Mapping[str, str] | None = None,
               urls: Mapping[str, str] | None = None, comment: str | None = None) -> None:
    """Write motifs as a MEME minimal-format (version 4) file, atomically.

    Parameters
    ----------
    path: str or Path
        The file to write; it appears complete or not at all.
    motifs: Mapping[str, np.ndarray]
        Motif ID → PPM, shape=(width, len(alphabet)). IDs must be non-empty and
        free of whitespace (MEME splits the MOTIF line on it). Rows are
        renormalised to sum to 1.
    alphabet: Alphabet or str
        ``DNA`` (written with ``strands: + -``) or ``protein``. Default is DNA.
    background: array-like, shape=(len(alphabet),), optional
        Background letter frequencies; uniform by default.
    alt_names, urls: Mapping[str, str], optional
        Per motif ID: the alternate name on the MOTIF line, and a ``URL`` line.
    comment: str, optional
        Free text written after the version line (MEME readers skip it), e.g. the
        provenance of the matrices.

    Raises
    ------
    ValueError
        A bad motif ID, a matrix of the wrong shape or with negative entries.
    """
    alphabet = _as_alphabet(alphabet)
    if background is None:
        bg = np.full(alphabet.size, 1.0 / alphabet.size)
    else:
        bg = np.asarray(background, dtype=np.float64)
        if bg.shape != (alphabet.size,) or np.any(bg < 0) or bg.sum() <= 0:
            raise ValueError(f"background must be {alphabet.size} non-negative frequencies")
        bg = bg / bg.sum()
    alt_names = alt_names or {}
    urls = urls or {}
    out = ["MEME version 4", ""]
    if comment:
        out += [text.rstrip() for text in comment.strip("\n").splitlines()] + [""]
    out += [f"ALPHABET= {alphabet.letters}", ""]
    if alphabet.complement is not None:
        out += ["strands: + -", ""]
    out += ["Background letter frequencies",
            " ".join(f"{letter} {p:.4f}" for letter, p in zip(alphabet.letters, bg)), ""]
    for name, ppm in motifs.items():
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ValueError(f"motif ID {name!r} must be a non-empty string without whitespace")
        m = _check_ppm(ppm, f"motif {name!r}")
        if m.shape[1] != alphabet.size:
            raise ValueError(f"motif {name!r} has {m.shape[1]} columns; the {alphabet.name} "
                             f"alphabet has {alphabet.size}")
        if np.any(m.sum(axis=1) <= 0):
            raise ValueError(f"motif {name!r} has a position with only zeros")
        m = m / m.sum(axis=1, keepdims=True)
        alt = alt_names.get(name, "")
        if any(c.isspace() for c in alt):
            raise ValueError(f"alternate name {alt!r} of motif {name!r} contains whitespace")
        out.append(f"MOTIF {name} {alt}".rstrip())
        out.append(f"letter-probability matrix: alength= {alphabet.size} w= {m.shape[0]} "
                   "nsites= 20 E= 0")
        out += [" ".join(f"{p:.6f}" for p in row) for row in m]
        if name in urls:
            out += ["", f"URL {urls[name]}"]
        out.append("")
    write_text(path, "\n".join(out) + "\n")


# --------------------------------------------------------------------------- JASPAR


def _jaspar_row(text: str, source, key) -> tuple[str | None, list[float]]:
    """One row of a JASPAR matrix: ``A [ 1 2 3 ]``, ``A 1 2 3`` or ``1 2 3``."""
    body = text.strip()
    letter = None
    if body[0].isalpha():
        letter, body = body[0].upper(), body[1:]
    body = body.replace("[", " ").replace("]", " ")
    values = _floats(body)
    if values is None:
        raise InputError(source, key, f"expected a row of counts, found {text.strip()!r}")
    return letter, values


def _jaspar_block(rows, source, key) -> np.ndarray:
    """Four rows of counts (lettered in any order, or unlettered in ACGT order) → PPM."""
    if len(rows) != 4:
        raise InputError(source, key, f"a JASPAR matrix has 4 rows (A, C, G, T), found {len(rows)}")
    letters = [letter for letter, _, _ in rows]
    if all(letter is None for letter in letters):
        ordered = [values for _, values, _ in rows]
    elif sorted(letters, key=str) == sorted(DNA.letters):
        by_letter = {letter: values for letter, values, _ in rows}
        ordered = [by_letter[letter] for letter in DNA.letters]
    else:
        raise InputError(source, key, f"rows must be labelled A, C, G and T once each, found "
                                      f"{', '.join(str(x) for x in letters)}")
    widths = {len(values) for values in ordered}
    if len(widths) != 1:
        raise InputError(source, key, f"the rows have different lengths {sorted(widths)}")
    return _normalise_rows(np.array(ordered).T, source, key, what="counts")


def read_jaspar(path) -> MotifSet:
    """Read every matrix of a JASPAR file (``.jaspar`` or ``.pfm``).

    Understood layouts: JASPAR's ``>MA0139.1 CTCF`` header followed by four rows
    ``A [ 87 167 ... ]`` (letters in any order), the same without letters or brackets
    (rows in A C G T order), and a bare four-row counts matrix without a header (one
    motif named after the file's stem). Counts become probabilities position by
    position.

    Parameters
    ----------
    path: str or Path
        The JASPAR file.

    Returns
    -------
    motifs: MotifSet
        Matrix ID → PPM, float64, shape=(width, 4), rows summing to 1; the TF name
        (the rest of the header line) finds the motif too.

    Raises
    ------
    InputError
        The file is missing or a matrix is malformed (the key names the line).
    """
    motifs = MotifSet(DNA)
    blocks = _header_blocks(path)
    for header, n, lines in blocks:
        if header is None:  # one matrix without a header: named after the file
            if len(blocks) > 1:  # (blamed on the header that follows them)
                raise InputError(path, f"line {blocks[1][1]}", "matrix rows before the first '>' header")
            name, alias = Path(path).stem, ""
        else:
            tokens = header.split(None, 1)
            if not tokens:
                raise InputError(path, f"line {n}", "'>' header without a matrix ID")
            name, alias = tokens[0], tokens[1].strip() if len(tokens) > 1 else ""
        rows = [(*_jaspar_row(line, path, f"line {i}"), i) for line, i in lines]
        motifs._add(name, _jaspar_block(rows, path, f"line {n}"), [alias], path, f"line {n}")
    if not motifs:
        raise InputError(path, "", "no matrix in the file")
    return motifs


# --------------------------------------------------------------------------- HOMER


def read_homer(path) -> MotifSet:
    """Read every motif of a HOMER motif file.

    Each motif is a header ``>consensus<TAB>name<TAB>log-odds threshold...`` followed
    by one row of four probabilities (A C G T) per position.

    Parameters
    ----------
    path: str or Path
        The HOMER ``.motif`` file.

    Returns
    -------
    motifs: MotifSet
        Name column → PPM, float64, shape=(width, 4), rows summing to 1; the
        consensus finds the motif too. A header without a name uses the consensus.

    Raises
    ------
    InputError
        The file is missing or a matrix is malformed (the key names the line).
    """
    motifs = MotifSet(DNA)
    for header, n, lines in _header_blocks(path):
        if header is None:
            raise InputError(path, f"line {lines[0][1]}", "matrix rows before the first '>' header")
        # HOMER separates header fields by tabs; hand-made files sometimes by spaces
        fields = header.split("\t") if "\t" in header else header.split()
        consensus = fields[0].strip() if fields else ""
        name = fields[1].strip() if len(fields) > 1 and fields[1].strip() else consensus
        if not name:
            raise InputError(path, f"line {n}", "'>' header without consensus or name")
        if not lines:
            raise InputError(path, f"line {n}", f"motif {name!r} has no rows")
        rows = []
        for line, i in lines:
            values = _floats(line)
            if values is None or len(values) != 4:
                raise InputError(path, f"line {i}", f"expected 4 probabilities (A C G T), found {line!r}")
            rows.append(values)
        motifs._add(name, _normalise_rows(rows, path, f"line {n}"), [consensus], path, f"line {n}")
    if not motifs:
        raise InputError(path, "", "no motif in the file")
    return motifs


# --------------------------------------------------------------------------- dispatch

_READERS = {"meme": read_meme, "jaspar": read_jaspar, "homer": read_homer}


def read_motif_file(path, format: str, motif: str | None = None, *, source=None, key: str = "",
                    alphabet: Alphabet | None = None) -> tuple[str, np.ndarray]:
    """Read one motif from a MEME, JASPAR or HOMER file.

    Parameters
    ----------
    path: str or Path
        The motif file (already resolved against the grammar's directory).
    format: str
        ``meme``, ``jaspar`` or ``homer``.
    motif: str, optional
        Which motif: a primary name or an alias (see the readers). May be left out
        only when the file holds a single motif.
    source: str or Path, optional
        The file that referenced the motif file (the grammar), for error messages.
        Default is ``path`` itself.
    key: str
        Dotted path of the referencing entry, e.g. ``elements.SOX2``.
    alphabet: Alphabet, optional
        If given, the matrix must have ``alphabet.size`` columns.

    Returns
    -------
    name: str
        The motif's primary name.
    ppm: np.ndarray
        float64, shape=(width, alphabet size), rows summing to 1 (a new array).

    Raises
    ------
    InputError
        Unknown format, missing or malformed file, ``motif`` missing while the file
        holds several, an unknown motif name (the message lists those available), or
        an alphabet mismatch.
    """
    source = path if source is None else source
    format = str(format).lower()
    if format not in _READERS:
        raise InputError(source, key, f"unknown motif file format {format!r}; "
                                      f"expected one of {', '.join(MOTIF_FORMATS)}")
    try:
        motifs = _READERS[format](path)
    except InputError as err:
        if str(source) == str(path):
            raise
        where = f"{err.key}: " if err.key else ""
        raise InputError(source, key, f"{path}: {where}{err.problem}") from err
    if motif is None:
        if len(motifs) != 1:
            raise InputError(source, key, f"{path} holds {len(motifs)} motifs; choose one with "
                                          f"`motif`: {motifs.describe()}")
        name = next(iter(motifs))
    else:
        found = motifs.resolve(str(motif))
        if len(found) > 1:
            raise InputError(source, key, f"motif {motif!r} names several motifs in {path}: "
                                          f"{', '.join(found)}; use one of those IDs")
        if not found:
            close = difflib.get_close_matches(str(motif), list(motifs) + list(motifs.aliases), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise InputError(source, key, f"no motif {motif!r} in {path}{hint}; "
                                          f"available: {motifs.describe()}")
        name = found[0]
    ppm = np.array(dict.__getitem__(motifs, name), dtype=np.float64)
    if alphabet is not None and ppm.shape[1] != alphabet.size:
        raise InputError(source, key, f"motif {name!r} in {path} has {ppm.shape[1]} columns but "
                                      f"the {alphabet.name} alphabet has {alphabet.size} letters")
    return name, ppm


# --------------------------------------------------------------------------- JASPAR DB

_DB_CACHE: dict[tuple[str, int, int], object] = {}
_DB_LOCK = threading.Lock()
#: (release, matrix ID) -> (name, PPM) of the matrices looked up so far: the planner reads
#: every grammar, and the 50-class ones share their matrices (pyjaspar takes ~10 ms a lookup).
_MATRICES: dict[tuple[str, str], tuple[str, np.ndarray]] = {}


def _jaspar_db(release: str):
    """The pyjaspar database of ``release``, opened once per process and thread.

    pyjaspar keeps one sqlite3 connection, which sqlite refuses to share across
    threads and which must not cross a fork, hence the (pid, thread) key.
    """
    import pyjaspar
    from pyjaspar import jaspardb

    if release not in pyjaspar.jaspar_releases:
        raise ValueError(f"JASPAR release {release!r} is not shipped with pyjaspar "
                         f"{pyjaspar.__version__}; available: "
                         f"{', '.join(pyjaspar.jaspar_releases)}")
    cache_key = (release, os.getpid(), threading.get_ident())
    with _DB_LOCK:
        if cache_key not in _DB_CACHE:
            _DB_CACHE[cache_key] = jaspardb(release=release)
        return _DB_CACHE[cache_key]


def jaspar_matrix(matrix_id: str, source="", key: str = "",
                  release: str = JASPAR_RELEASE) -> tuple[str, np.ndarray]:
    """Look up a JASPAR matrix by ID in the database that pyjaspar ships (offline).

    Parameters
    ----------
    matrix_id: str
        A JASPAR matrix ID such as ``MA0139.1``; without a version (``MA0139``) the
        latest version in ``release`` is taken.
    source: str or Path
        The file that asked for it (the grammar), for error messages.
    key: str
        Dotted path of the referencing key, e.g. ``elements.CTCF.jaspar``.
    release: str
        The JASPAR release, default :data:`JASPAR_RELEASE`.

    Returns
    -------
    name: str
        The TF name (e.g. ``CTCF``).
    ppm: np.ndarray
        float64, shape=(width, 4), columns A C G T, rows summing to 1.

    Raises
    ------
    InputError
        A malformed or unknown ID (the message lists the versions the release has
        when only the version is wrong).
    """
    from Bio import BiopythonWarning

    matrix_id = str(matrix_id).strip().upper()
    if not _JASPAR_ID.match(matrix_id):
        raise InputError(source, key, f"{matrix_id!r} is not a JASPAR matrix ID "
                                      "(expected e.g. MA0139.1 or MA0139)")
    if (release, matrix_id) in _MATRICES:
        name, ppm = _MATRICES[release, matrix_id]
        return name, ppm.copy()
    db = _jaspar_db(release)
    with warnings.catch_warnings():
        # pyjaspar reports an unknown ID with a warning and returns None; we raise instead
        warnings.simplefilter("ignore", BiopythonWarning)
        motif = db.fetch_motif_by_id(matrix_id)
    if motif is None:
        base = matrix_id.split(".")[0]
        versions = [f"{base}.{row[0]}" for row in db.conn.execute(
            "SELECT VERSION FROM MATRIX WHERE BASE_ID = ? ORDER BY VERSION", (base,))]
        hint = f"; {release} has {', '.join(versions)}" if versions else ""
        raise InputError(source, key, f"unknown JASPAR matrix ID {matrix_id!r} "
                                      f"(not in {release}{hint})")
    name, ppm = str(motif.name), _jaspar_ppm(motif, source, key)
    _MATRICES[release, matrix_id] = name, ppm.copy()
    return name, ppm


def _jaspar_ppm(motif, source, key: str) -> np.ndarray:
    """A pyjaspar motif's counts as a PPM, columns A C G T."""
    counts = np.array([motif.counts[letter] for letter in DNA.letters], dtype=np.float64).T
    return _normalise_rows(counts, source, key, what="counts")


def consensus(ppm, alphabet: Alphabet = DNA) -> str:
    """The most probable letter at each position (ties: the first in alphabet order)."""
    return "".join(alphabet.letters[i] for i in np.argmax(_check_ppm(ppm), axis=1))


def jaspar_collection(collection: str = "CORE", tax_group: str | None = "vertebrates",
                      release: str = JASPAR_RELEASE) -> dict[str, tuple[str, np.ndarray]]:
    """Every matrix of one JASPAR collection and taxonomic group (None: every group), latest
    version of each.

    Returns
    -------
    matrices: dict
        Matrix ID (e.g. ``MA0139.2``) → (TF name, PPM with columns A C G T), in ID order.
    """
    db = _jaspar_db(release)
    # pyjaspar's own selection (its fetch_motifs's first step), then the names and counts
    # in two queries: fetch_motifs builds each motif with a dozen queries of annotations
    # this does not use (2,633 CORE matrices: about 40 s, against well under one).
    ids = db._fetch_internal_id_list(collection=collection, all_versions=False,
                                     tax_group=None if tax_group is None else [tax_group])
    names, counts = {}, {}
    cursor = db.conn.cursor()
    for begin in range(0, len(ids), 500):  # within sqlite's limit on bound parameters
        chunk = list(ids[begin:begin + 500])
        marks = ",".join("?" * len(chunk))
        for int_id, base_id, version, name in cursor.execute(
                f"SELECT ID, BASE_ID, VERSION, NAME FROM MATRIX WHERE ID IN ({marks})", chunk):
            names[int_id] = (f"{base_id}.{version}", str(name))
        # each letter's counts in column order, as pyjaspar's _fetch_counts_matrix reads them
        for int_id, letter, value in cursor.execute(
                f"SELECT ID, row, val FROM MATRIX_DATA WHERE ID IN ({marks}) ORDER BY ID, col",
                chunk):
            counts.setdefault(int_id, {}).setdefault(letter, []).append(float(value))
    matrices = {}
    for int_id, (matrix_id, name) in sorted(names.items(), key=lambda item: item[1][0]):
        table = np.array([counts[int_id][letter] for letter in DNA.letters], dtype=np.float64).T
        matrices[matrix_id] = (name, _normalise_rows(table, f"JASPAR {release}", matrix_id,
                                                     what="counts"))
    return matrices


def dissimilar_subset(ppms: Mapping[str, np.ndarray], n: int, max_similarity: float,
                      seed: int, reverse_complement: bool = True) -> list[str]:
    """Pick ``n`` motifs no two of which are similar: a greedy pass in a seeded random order.

    A motif joins the subset when its :func:`ppm_similarity` to every motif already in
    it is below ``max_similarity``. The random order (rather than, say, most informative
    first) keeps the subset a fair sample of the collection, as a random draw of
    database motifs is, while the threshold keeps classes from being told apart only by
    near-identical matrices.

    Raises
    ------
    ValueError
        Fewer than ``n`` motifs pass the threshold.
    """
    names = list(ppms)
    order = np.random.default_rng(seed).permutation(len(names))
    chosen: list[str] = []
    for index in order:  # candidates x chosen pairs: thousands of small matrix products
        candidate = ppms[names[index]]
        if all(ppm_similarity(candidate, ppms[other], reverse_complement=reverse_complement)
               < max_similarity for other in chosen):
            chosen.append(names[index])
            if len(chosen) == n:
                return chosen
    raise ValueError(f"only {len(chosen)} of {len(names)} motifs are pairwise below "
                     f"similarity {max_similarity}; {n} were asked for")


# --------------------------------------------------------------------------- statistics


def information_content(ppm, background=None) -> np.ndarray:
    """Information content of each motif position, in bits.

    IC_i = sum_a p_ia log2(p_ia / b_a), the relative entropy of position i to the
    background (0 log 0 = 0). With a uniform background over 4 letters a one-hot
    position carries 2 bits and a uniform one 0.

    Parameters
    ----------
    ppm: array-like, shape=(width, len(alphabet))
        Position probability matrix; rows are renormalised to sum to 1.
    background: array-like, shape=(len(alphabet),), optional
        Background letter probabilities (renormalised); uniform by default.

    Returns
    -------
    ic: np.ndarray
        float64, shape=(width,).
    """
    p = _check_ppm(ppm)
    sums = p.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise ValueError("ppm has a position with only zeros")
    p = p / sums
    if background is None:
        b = np.full(p.shape[1], 1.0 / p.shape[1])
    else:
        b = np.asarray(background, dtype=np.float64)
        if b.shape != (p.shape[1],) or np.any(b <= 0) or not np.all(np.isfinite(b)):
            raise ValueError(f"background must be {p.shape[1]} positive frequencies, got {b}")
        b = b / b.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / b), 0.0)
    return terms.sum(axis=1)


def ppm_similarity(a, b, reverse_complement: bool = False, min_overlap: int | None = None) -> float:
    """Similarity of two motifs: the best mean column Pearson correlation over alignments.

    Every ungapped alignment of ``b`` against ``a`` that overlaps by at least
    ``min_overlap`` positions is scored by the mean, over the overlapping positions, of
    the Pearson correlation between the two probability columns; the best score wins.
    Two uniform (constant) columns correlate 1, a constant column with a varying one 0.

    Parameters
    ----------
    a, b: array-like, shape=(width_a, A) and (width_b, A)
        Position probability matrices over the same alphabet.
    reverse_complement: bool
        Also align the reverse complement of ``b`` (DNA only, columns A C G T).
        Default is False.
    min_overlap: int, optional
        Default is min(width_a, width_b) // 2, raised to 4 where both motifs are at
        least 4 wide (else to the shorter width).

    Returns
    -------
    similarity: float
        In [-1, 1]; 1 for a motif and itself (and its reverse complement when
        ``reverse_complement`` is True).
    """
    a = _check_ppm(a, "a")
    b = _check_ppm(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b have different alphabets ({a.shape[1]} vs {b.shape[1]} columns)")
    if reverse_complement and a.shape[1] != DNA.size:
        raise ValueError("reverse_complement needs DNA matrices with 4 columns (A C G T)")
    shortest = min(len(a), len(b))
    if min_overlap is None:
        min_overlap = max(shortest // 2, min(4, shortest))
    if not 1 <= min_overlap <= shortest:
        raise ValueError(f"min_overlap must lie in [1, {shortest}], got {min_overlap}")

    def standardise(m):
        centred = m - m.mean(axis=1, keepdims=True)
        norm = np.sqrt((centred ** 2).sum(axis=1, keepdims=True))
        flat = norm[:, 0] <= 1e-12
        return np.divide(centred, norm, out=np.zeros_like(centred), where=~flat[:, None]), flat

    za, flat_a = standardise(a)
    best = -np.inf
    candidates = [b, b[::-1, ::-1]] if reverse_complement else [b]  # ACGT reversed = complement
    for other in candidates:
        zb, flat_b = standardise(other)
        corr = za @ zb.T  # shape=(width_a, width_b): Pearson r of every column pair
        corr[np.logical_and.outer(flat_a, flat_b)] = 1.0
        for offset in range(-(len(a) - min_overlap), len(b) - min_overlap + 1):
            diagonal = np.diagonal(corr, offset=offset)
            if len(diagonal) >= min_overlap:
                best = max(best, float(diagonal.mean()))
    return best
