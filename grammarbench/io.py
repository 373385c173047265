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
           "read_yaml_mapping", "write_columns", "read_npz", "plain_data", "file_mode", "directory_mode", "file_record",
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


def write_columns(path: str | os.PathLike, header: list[str], columns: list[np.ndarray],
                  float_format: str | None = None) -> None:
    """A tab-separated table of columns as ``pandas.DataFrame.to_csv(sep="\\t", index=False)`` writes it,
    byte for byte, for columns of integers, booleans, floats (``float_format``; None: the shortest repr, as pandas) and strings
    without tabs, quotes or line breaks (other strings go through pandas, for its quoting),
    built without a Python step per row: each column is turned into strings at once (small
    integers by lookup), and rows are joined by ``str.join`` over ``zip``."""
    texts = []
    for values in columns:
        values = np.asarray(values)
        if values.dtype.kind == "f":
            texts.append([repr(v) if float_format is None else float_format % v for v in values.tolist()])
        elif values.dtype.kind == "b":
            texts.append(np.array(["False", "True"], dtype=object)[values.view(np.uint8)].tolist())
        elif values.dtype.kind in "iu":
            low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
            if 0 <= low and high < 2 * len(values) + 1024:  # small counts: look the strings up
                texts.append(np.array([str(i) for i in range(high + 1)], dtype=object)[values].tolist())
            else:
                texts.append(list(map(str, values.tolist())))
        else:
            strings = list(map(str, values.tolist()))
            if any(c in "".join(set(strings)) for c in '\t\n\r"'):
                import pandas as pd  # quoting, as pandas does it

                pd.DataFrame(dict(zip(header, columns))).to_csv(path, sep="\t", index=False,
                                                                 float_format=float_format)
                return
            texts.append(strings)
    body = "\n".join(map("\t".join, zip(*texts)))
    with open(path, "w") as f:
        f.write("\t".join(header) + "\n" + (body + "\n" if texts and len(texts[0]) else ""))


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
