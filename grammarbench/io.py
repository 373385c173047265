"""Files, written and read the same way by every stage.

Every output is written atomically: into a temporary name beside its target, renamed into
place only once complete, so an interrupted job never leaves a half-written file that a
later run would take for a result. Files and folders get the modes the user's umask asks
for (``mkstemp``/``mkdtemp`` make them private, which collaborators on a shared filesystem
cannot read).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from grammarbench.errors import InputError

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is read (a simulate job never does)

__all__ = ["atomic_path", "atomic_directory", "write_text", "write_tsv", "read_tsv",
           "read_yaml_mapping", "write_columns", "Fixed", "Scientific", "read_npz", "plain_data", "file_mode", "directory_mode", "file_record",
           "file_problem", "npy_shape", "HASH_LIMIT"]


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets under the process's umask (0o644 under umask 022)."""
    return 0o666 & ~_umask()


def directory_mode() -> int:
    """The mode a new folder gets under the process's umask (0o755 under umask 022)."""
    return 0o777 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The caller writes the temporary path (any writer: ``to_csv``, ``torch.save``,
    ``np.savez``, ``savefig``). If the block raises, the temporary file is removed and
    ``path`` is left as it was. ``suffix`` (default: ``path``'s own) keeps writers that
    look at the extension (``np.savez`` adds ``.npz`` otherwise) writing where expected.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix if suffix is None else suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_directory(path: str | os.PathLike):
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` whole.

    A folder output (a simulated split) appears complete or not at all; an older folder
    of the same name is removed only once the new one is ready.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, directory_mode())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_tsv(table: pd.DataFrame, path: str | os.PathLike, float_format: str | None = "%.6g") -> Path:
    """Write a table as tab-separated text, atomically, without the index; returns the path.

    ``float_format`` (six significant digits by default) keeps tables diff-able and
    byte-identical across reruns.
    """
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=float_format)
    return Path(path)


class Fixed:
    """A float column written with ``decimals`` digits after the point (:func:`write_columns`)."""

    def __init__(self, values, decimals: int):
        self.values, self.decimals = np.asarray(values, dtype=np.float64), int(decimals)


class Scientific:
    """A float column written as d.dde-XX, three significant digits, 0 as 0 (:func:`write_columns`)."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)


_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
#: Bytes that make pandas quote a string cell (tab, line breaks, the quote character).
_QUOTED = (b"\t", b"\n", b"\r", b'"')


def write_columns(path: str | os.PathLike, header: list[str], columns: list,
                  float_format: str | None = None) -> None:
    """Write columns as a tab-separated table with a header, as
    ``pandas.DataFrame.to_csv(sep="\\t", index=False)`` writes them, byte for byte, in
    place (the dataset writers write into an :func:`atomic_directory`).

    The one TSV writer of the dataset tables (instance, window and positional tables of
    both kinds of grammar), without pandas and without a Python step per row: each cell
    is written as ASCII bytes into its column's slot of one byte matrix (a row per table
    row; 0 bytes pad the slots), and the file is the matrix's non-zero bytes in row
    order. Integers (and :class:`Fixed` and :class:`Scientific` floats) are written digit
    by digit over the whole column, straight into their slot; booleans, strings and
    categoricals (anything with ``categories`` and ``codes``, written through its few
    categories) are gathered from byte tables; floats through ``float_format`` (None:
    Python's shortest repr, as pandas), one format call per cell but a run of float
    columns (a positional table's thousand) formatted at once. A table with a string that
    pandas would quote (a tab, line break or ``"``) is written by pandas itself.

    Parameters
    ----------
    path: str or Path
    header: list of str
        Column names.
    columns: list
        One array-like per column, each of the same length.
    float_format: str or None
        printf-style format of float cells. Default None.
    """
    slots = []  # per run of columns: its text, (n, k cells, width) bytes or an _Integers
    i = 0
    while i < len(columns):
        values = columns[i]
        if _is_float(values):
            # a run of float columns: one list of cells, formatted at once
            j = i
            while j < len(columns) and _is_float(columns[j]):
                j += 1
            values = [v for column in columns[i:j] for v in np.asarray(column, dtype=np.float64).tolist()]
            cells = [repr(v) for v in values] if float_format is None else [float_format % v for v in values]
            chars = _byte_matrix(np.array(cells, dtype=np.bytes_))
            # column by column: (k, n, width) seen as (n, k, width)
            slots.append(chars.reshape(j - i, -1, chars.shape[1]).transpose(1, 0, 2))
            i = j
            continue
        text = _text(values)
        if text is None:  # a string pandas would quote: its writer, quoting included
            import pandas as pd

            table = pd.DataFrame({name: _plain(c) for name, c in zip(header, columns)})
            table.to_csv(path, sep="\t", index=False, float_format=float_format)
            return
        slots.append(text if isinstance(text, _Integers) else text[:, None, :])
        i += 1
    rows = {len(slot) for slot in slots}
    if len(rows) > 1:
        raise ValueError(f"{path}: columns of different lengths {sorted(rows)}")
    n = rows.pop() if rows else 0
    # a run of k cells takes k * (width + 1) bytes: each cell, then a tab or (last) newline
    width = sum(slot.shape[1] * (slot.shape[2] + 1) for slot in slots)
    table = np.zeros((n, width), dtype=np.uint8)
    at = 0
    for slot in slots:
        k, w = slot.shape[1], slot.shape[2]
        cells = table[:, at: at + k * (w + 1)].reshape(n, k, w + 1)
        if isinstance(slot, _Integers):
            slot.write(cells[:, 0, :w])
        else:
            cells[:, :, :w] = slot
        cells[:, :, w] = ord("\t")
        at += k * (w + 1)
    if width:
        table[:, -1] = ord("\n")
    with open(path, "wb") as handle:
        handle.write(("\t".join(header) + "\n").encode())
        handle.write(table[table != 0].tobytes())  # the cells' bytes, without padding


def _is_float(values) -> bool:
    if isinstance(values, np.ndarray):
        return values.dtype.kind == "f"
    return (not isinstance(values, (Fixed, Scientific)) and not hasattr(values, "categories")
            and np.asarray(values).dtype.kind == "f")


def _byte_matrix(encoded: np.ndarray) -> np.ndarray:
    """A numpy bytes array as a matrix of its bytes, a row per value, zero-padded."""
    width = max(encoded.dtype.itemsize, 1)
    if not len(encoded):
        return np.zeros((0, width), dtype=np.uint8)
    return np.ascontiguousarray(encoded).view(np.uint8).reshape(len(encoded), width)


def _strings(values) -> np.ndarray | None:
    """Strings as a byte matrix (UTF-8), None if one holds a byte pandas would quote."""
    values = np.asarray(values)
    if values.dtype.kind not in "US":
        values = values.astype(np.str_)  # str() of each value, in C
    chars = None
    if values.dtype.kind == "U" and len(values):
        # numpy holds str as 4-byte code points: ASCII ones are their own bytes, so one
        # narrowing cast does what encoding does with a codec call per value
        points = np.ascontiguousarray(values).view(np.uint32).reshape(len(values), -1)
        if points.max() < 128:
            chars = points.astype(np.uint8)
        else:
            values = np.char.encode(values, "utf-8")
    if chars is None:
        chars = _byte_matrix(values.astype(np.bytes_))
    data = chars.tobytes()
    if any(byte in data for byte in _QUOTED):
        return None
    return chars


class _Integers:
    """A column of integers as right-aligned decimal text, written straight into its
    slot of the table (:meth:`write`); ``decimals`` > 0: the last that many digits after
    a point (hundredths as 0.05). Shaped like a text of one cell per row."""

    def __init__(self, values, decimals: int = 0):
        self.values = np.asarray(values).astype(np.int64)
        self.decimals = int(decimals)
        largest = int(np.abs(self.values).max()) if len(self.values) else 0
        self.digits = max(len(str(largest)), self.decimals + 1)
        self.signed = bool(len(self.values)) and int(self.values.min()) < 0
        self.shape = (len(self.values), 1, self.signed + self.digits + (self.decimals > 0))

    def __len__(self) -> int:
        return len(self.values)

    def write(self, out: np.ndarray) -> None:
        """Fill ``out`` (shape=(n, width) zeros, a view into the table)."""
        width = out.shape[1]
        magnitude = np.abs(self.values)
        digit = np.empty(len(magnitude), dtype=np.uint8)
        for place in range(self.digits):
            quotient = magnitude // 10
            np.subtract(magnitude, 10 * quotient, out=digit, casting="unsafe")
            digit += ord("0")
            if place > self.decimals:  # the digits a number has (and those up to the units)
                digit *= magnitude > 0
            out[:, width - 1 - place - (self.decimals > 0 and place >= self.decimals)] = digit
            magnitude = quotient
        if self.decimals:
            out[:, width - 1 - self.decimals] = ord(".")
        negative = np.flatnonzero(self.values < 0)
        if len(negative):
            # the minus sign just before the first digit
            first = np.argmax(out[negative] != 0, axis=1)
            out[negative, first - 1] = ord("-")

    def text(self) -> np.ndarray:
        chars = np.zeros((len(self), self.shape[2]), dtype=np.uint8)
        self.write(chars)
        return chars


def _scientific(column: Scientific) -> np.ndarray:
    x = column.values
    zero = x == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.where(zero, 1.0, np.abs(x)))).astype(np.int64)
        mantissa = np.round(np.abs(x) / 10.0 ** exponent * 100).astype(np.int64)
    carry = mantissa >= 1000  # 9.996 rounds to 10.00: 1.00 with the next exponent
    mantissa = np.where(carry, mantissa // 10, mantissa)
    exponent = exponent + carry
    chars = np.empty((len(x), 9), dtype=np.uint8)
    chars[:, 0] = np.where(x < 0, ord("-"), 0)
    chars[:, 1] = _DIGITS[mantissa // 100]
    chars[:, 2] = ord(".")
    chars[:, 3] = _DIGITS[(mantissa // 10) % 10]
    chars[:, 4] = _DIGITS[mantissa % 10]
    chars[:, 5] = ord("e")
    chars[:, 6] = np.where(exponent < 0, ord("-"), ord("+"))
    chars[:, 7] = _DIGITS[(np.abs(exponent) // 10) % 10]
    chars[:, 8] = _DIGITS[np.abs(exponent) % 10]
    chars[zero] = 0
    chars[zero, 1] = ord("0")
    return chars


def _text(values) -> np.ndarray | _Integers | None:
    """A column's cells as a byte matrix (zero-padded) or, for integers, the writer of
    one; None: pandas would quote one of its strings."""
    if isinstance(values, Fixed):
        return _Integers(np.round(values.values * 10 ** values.decimals), values.decimals)
    if isinstance(values, Scientific):
        return _scientific(values)
    if hasattr(values, "categories") and hasattr(values, "codes"):
        categories = _strings(np.asarray(values.categories, dtype=object))
        return None if categories is None else categories[np.asarray(values.codes)]
    array = np.asarray(values)
    if array.dtype == bool:
        return _byte_matrix(np.array([b"False", b"True"]))[array.view(np.uint8)]
    if array.dtype.kind in "iu":
        return _Integers(array)
    return _strings(array)


def _plain(values):
    """A column as pandas should write it when it writes the table: Fixed and
    Scientific ones as the text this writer gives them."""
    if isinstance(values, (Fixed, Scientific)):
        text = _text(values)
        chars = text.text() if isinstance(text, _Integers) else text
        return np.array([row[row != 0].tobytes().decode() for row in chars], dtype=object)
    return values


def read_tsv(path: str | os.PathLike, **options) -> pd.DataFrame:
    """Read a table written by :func:`write_tsv`."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", **options)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error
    (plain YAML keeps the last one silently, which hides a copy-pasted grammar or class)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue  # the default constructor reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


class _FastUniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The same on libyaml's parser (ten times faster: the planner reads every grammar and
    architecture); a file it rejects is parsed again by :class:`_UniqueKeyLoader`, whose
    messages are the ones users see."""


_FastUniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def parse_yaml(text: str, source: str | os.PathLike = "<text>"):
    """Parse YAML text strictly (duplicate keys rejected); an error is one
    :class:`InputError` naming ``source``, the line and the problem."""
    try:
        return yaml.load(text, Loader=_FastUniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError:
        pass
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise InputError(source, "", f"not valid YAML{where}: {problem}") from None


def read_yaml(path: str | os.PathLike, what: str = "file"):
    """Read a YAML file strictly (see :func:`parse_yaml`): a missing, unreadable, binary
    or malformed file is one :class:`InputError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "", f"{what} not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(path, "", f"not a text file (byte {err.start} is not UTF-8); "
                                   f"a {what} is YAML text") from None
    except OSError as err:
        raise InputError(path, "", f"cannot read: {err.strerror}") from None
    if "\x00" in text:
        raise InputError(path, "", f"not a text file (it holds NUL bytes); a {what} is YAML text")
    return parse_yaml(text, path)


def read_yaml_mapping(path: str | os.PathLike, what: str = "file") -> dict:
    """Read a YAML file that must hold a mapping (a grammar, an architecture, a config)."""
    data = read_yaml(path, what)
    if not isinstance(data, dict):
        raise InputError(path, "", f"a {what} must be a YAML mapping (key: value lines)")
    return data


# --------------------------------------------------------------------------- manifests

#: Files up to this size get a sha256 in a manifest (hashed again, in milliseconds, each
#: time they are loaded); larger ones are checked by size (and, for arrays, header) only.
HASH_LIMIT = 4 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: str | os.PathLike, hash_limit: int = HASH_LIMIT) -> dict:
    """What a manifest records of a file: ``bytes``, and ``sha256`` when it is at most
    ``hash_limit`` bytes."""
    path = Path(path)
    size = path.stat().st_size
    record = {"bytes": int(size)}
    if size <= hash_limit:
        record["sha256"] = _sha256(path)
    return record


def file_problem(path: str | os.PathLike, record: dict | None) -> str | None:
    """What is wrong with a file against its manifest record (None: nothing): missing, a
    different size (truncated, or written by another run), or different contents."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    if not record:
        return None
    size = path.stat().st_size
    if "bytes" in record and size != record["bytes"]:
        return (f"{size} bytes where its manifest records {record['bytes']} "
                f"({'truncated' if size < record['bytes'] else 'changed'})")
    if "sha256" in record and _sha256(path) != record["sha256"]:
        return "contents differ from its manifest's checksum"
    return None


def npy_shape(path: str | os.PathLike) -> tuple[tuple[int, ...], "np.dtype"]:
    """Shape and dtype of a ``.npy`` file from its header, after checking that the file
    is as long as the header says (a truncated array fails here, with the numbers,
    rather than later in ``mmap``). Raises ``ValueError`` with the problem."""
    import numpy as np

    path = Path(path)
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(f))
        except (ValueError, OSError, SyntaxError, EOFError) as err:
            raise ValueError(f"not a readable .npy array ({' '.join(str(err).split())})") from None
        offset = f.tell()
    expected = offset + math.prod(shape) * dtype.itemsize
    size = path.stat().st_size
    if size != expected:
        raise ValueError(f"{size} bytes where its header ({dtype} array of shape {shape}) "
                         f"needs {expected} ({'truncated' if size < expected else 'too long'})")
    return tuple(shape), dtype


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (as ``np.savez`` writes it), memory-mapped read-only
    where they are stored uncompressed, so that a reader pays only for the rows it
    touches (a realistic split gathers a few thousand of the scanned windows' rows).

    Compressed, Fortran-ordered or object members are read by ``np.load``. What this
    skips is zipfile's CRC check of every byte read: a truncated file still fails
    (its members' data would run past its end)."""
    import mmap
    import struct
    import zipfile

    path = Path(path)
    arrays = {}
    with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else None
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type == zipfile.ZIP_STORED and mapped is not None:
                # the local header: 30 bytes, then the name and an extra field of given lengths
                name_length, extra_length = struct.unpack("<HH", mapped[info.header_offset + 26:
                                                                        info.header_offset + 30])
                start = info.header_offset + 30 + name_length + extra_length
                member = _mapped_npy(mapped, start, info.file_size)
                if member is not None:
                    arrays[name] = member
                    continue
            with archive.open(info) as stream:
                arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
    return arrays


def _mapped_npy(mapped, start: int, size: int) -> np.ndarray | None:
    """The array of the ``.npy`` bytes at ``mapped[start:start + size]`` as a read-only
    view of the map; None where it cannot be a plain view (Fortran order, objects)."""
    import io as _io

    head = _io.BytesIO(mapped[start: start + min(size, 65536)])
    version = np.lib.format.read_magic(head)
    shape, fortran, dtype = (np.lib.format.read_array_header_1_0(head) if version == (1, 0)
                             else np.lib.format.read_array_header_2_0(head))
    if fortran or dtype.hasobject:
        return None
    count = math.prod(shape)
    if head.tell() + count * dtype.itemsize > size:
        raise ValueError(f"an array of {shape} {dtype} needs more bytes than its member holds")
    return np.frombuffer(mapped, dtype=dtype, count=count, offset=start + head.tell()).reshape(shape)


def plain_data(value):
    """Plain dicts (string keys) and lists in place of any other mapping or sequence, e.g.
    Snakemake's config and ``--config`` types, so that YAML can write them and merges do
    not share nested objects with their input."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    return value
