"""A simulated split on disk: the layout, the manifest, the loader and the exports.

One folder per split::

    sequences.npy   (N, L) uint8   letter codes; past an example's length: the unknown code
    lengths.npy     (N,)   int32
    labels.npy      (N,)   int16 class index (multi-class) | (N, K) uint8 multi-hot (multi-label)
    mask.npy        (N, L) uint8   1 where a grammar element instance sits (the ground truth)
    entries.npy     (N,)   int16   the composition entry each example was drawn from
    instances.tsv   one row per inserted element instance: example, element, start, end
                    (0-based, half-open), strand (+/-), class, rule (index within the class),
                    copy, attempts (placements drawn), overlaps (still overlaps another)
    positional.tsv  per class and position: fraction of the class's examples with a grammar
                    position there (the data behind the positional heatmap)
    manifest.json   grammar (name, source, sha256), split, size, seed, classes, elements,
                    composition, chunk size, software versions, and ``files``: each file's
                    size (and sha256, where small), checked by :func:`load_split`
    exports/        on request: sequences.fa + instances.bed; seqgra's <split>.txt and
                    <split>-annotation.txt

Arrays are plain ``.npy`` so that training memory-maps them (``np.load(mmap_mode="r")``).
Loading checks the folder against its manifest first (:func:`check_split`), so a truncated
or missing file is named, with the folder to delete or ``--forcerun``, before anything
reads it.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import grammarbench
from grammarbench.errors import DamagedOutputError
from grammarbench.grammars.grammar import Grammar
from grammarbench.io import file_problem, file_record, npy_shape, write_columns

if TYPE_CHECKING:
    import pandas as pd

EXPORT_FORMATS = ("fasta", "seqgra")
ARRAYS = ("sequences", "lengths", "labels", "mask", "entries")
#: The files of a split its manifest records (exports are optional extras, not checked).
SPLIT_FILES = (*(f"{name}.npy" for name in ARRAYS), "instances.tsv", "positional.tsv")
#: Ground truths a split can be scored against (:meth:`Split.truth`).
TRUTHS = ("rescan", "implanted")
SEQGRA_SPLIT_NAMES = {"train": "training", "validation": "validation", "test": "test"}


@dataclass
class Split:
    """A simulated split, loaded (arrays memory-mapped unless ``mmap=False``)."""

    path: Path
    sequences: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    entries: np.ndarray
    manifest: dict

    @property
    def instances(self) -> pd.DataFrame:
        return read_instances(self.path)

    @property
    def classes(self) -> list[str]:
        return self.manifest["classes"]

    def truth(self, kind: str = "rescan") -> tuple[np.ndarray, pd.DataFrame]:
        """The ground truth to score against: ``(mask, instances)``.

        ``rescan``: ``mask.npy`` and every instance (for a realistic grammar the re-scan of
        the simulated sequences, as Prakash et al. scored: implanted hits and those the
        shuffle made by chance). ``implanted``: only the implanted instances
        (``mask_implanted.npy``, the instances whose origin is ``implanted``). A rule
        grammar's instances are all inserted, so there both are ``mask.npy``.
        """
        if kind not in TRUTHS:
            raise ValueError(f"truth must be one of {', '.join(TRUTHS)}; got {kind!r}")
        instances = self.instances
        implanted = self.path / "mask_implanted.npy"
        if kind == "rescan" or not implanted.is_file():
            return self.mask, instances
        if "origin" in instances:
            instances = instances[instances["origin"].astype(str) == "implanted"]
        return np.load(implanted, mmap_mode="r"), instances

    def __len__(self) -> int:
        return len(self.lengths)


def load_split(path: str | Path, mmap: bool = True) -> Split:
    """Load a split folder written by :func:`grammarbench.simulation.simulate.simulate_split`,
    after checking it against its manifest (:func:`check_split`)."""
    path = Path(path)
    manifest = check_split(path)
    mode = "r" if mmap else None
    arrays = {name: np.load(path / f"{name}.npy", mmap_mode=mode) for name in ARRAYS}
    return Split(path=path, manifest=manifest, **arrays)


def check_split(path: str | Path) -> dict:
    """Check a split folder against its manifest and return the manifest.

    Every array's header must match its file's length (a truncated ``.npy`` is caught
    here, not by ``mmap`` later) and the manifest's size; every file the manifest records
    (``files``: bytes, and sha256 where small) must match. Folders written before the
    manifest recorded files get the header checks only.

    Raises
    ------
    DamagedOutputError
        One line naming the first damaged file, and the folder to delete or ``--forcerun``.
    """
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        problem = ("no manifest.json: not a simulated split, or one whose writing was interrupted"
                   if path.is_dir() else "no such split folder")
        raise DamagedOutputError(manifest_path if path.is_dir() else path, problem, path)
    try:
        manifest = json.loads(manifest_path.read_text())
        n = int(manifest["n"])
        width = int(max(manifest["length"]))
        n_classes = len(manifest["classes"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise DamagedOutputError(manifest_path, f"unreadable manifest ({type(err).__name__}: "
                                                f"{' '.join(str(err).split())})", path) from None
    records = manifest.get("files", {})
    for name in SPLIT_FILES:
        problem = file_problem(path / name, records.get(name))
        if problem is not None:
            raise DamagedOutputError(path / name, problem, path)
    labels_shape = {"multi-class": [(n,)], "multi-label": [(n, n_classes)]}.get(
        manifest.get("task"), [(n,), (n, n_classes)])
    expected = {"sequences": [(n, width)], "mask": [(n, width)], "lengths": [(n,)],
                "entries": [(n,)], "labels": labels_shape}
    for name in ARRAYS:
        file = path / f"{name}.npy"
        try:
            shape, _ = npy_shape(file)
        except ValueError as err:
            raise DamagedOutputError(file, str(err), path) from None
        if shape not in expected[name]:
            raise DamagedOutputError(file, f"shape {shape} where the manifest's {n} examples of "
                                           f"up to {width} letters need "
                                           f"{' or '.join(map(str, expected[name]))}", path)
    return manifest


def write_positional(path: str | Path, class_names, class_counts, positional) -> None:
    """positional.tsv: per class, its number of examples and the fraction of them with a
    grammar position at each position (``positional``: those counts, shape=(classes, L))."""
    fractions = positional / np.maximum(class_counts, 1)[:, None]
    write_columns(path, ["class", "examples", *map(str, range(fractions.shape[1]))],
                  [np.array(class_names, dtype=object), class_counts,
                   *(fractions[:, j] for j in range(fractions.shape[1]))], float_format="%.5g")


def read_instances(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(Path(path) / "instances.tsv", sep="\t",
                       dtype={"element": str, "class": str, "strand": str})


def software_versions() -> dict[str, str]:
    # pandas's version from its metadata: a simulate job does not import pandas for it
    pandas = sys.modules.get("pandas")
    return {"grammarbench": grammarbench.__version__, "python": sys.version.split()[0],
            "numpy": np.__version__,
            "pandas": pandas.__version__ if pandas is not None else metadata.version("pandas"),
            "platform": platform.platform()}


def write_split(folder: Path, *, grammar: Grammar, split: str, seed: int, chunk_size: int,
                lengths, entries, labels, instances: dict, positional, class_counts,
                exports=()) -> dict:
    """Write everything but sequences.npy and mask.npy (the simulator fills those in place)."""
    folder = Path(folder)
    np.save(folder / "lengths.npy", lengths.astype(np.int32))
    np.save(folder / "labels.npy", labels)
    np.save(folder / "entries.npy", entries.astype(np.int16))
    order = np.lexsort((instances["start"], instances["example"]))  # stable: by example, then start
    columns = {
        "example": instances["example"],
        "element": np.array(list(grammar.elements), dtype=object)[instances["element"].astype(int)],
        "start": instances["start"],
        "end": instances["end"],
        "strand": np.where(instances["strand"] > 0, "+", "-"),
        "class": np.array(grammar.class_names, dtype=object)[instances["class"].astype(int)],
        "rule": instances["rule"],
        "copy": instances["copy"],
        "attempts": instances["attempts"],
        "overlaps": instances["overlaps"].astype(bool),
    }
    write_columns(folder / "instances.tsv", list(columns), [values[order] for values in columns.values()])
    write_positional(folder / "positional.tsv", grammar.class_names, class_counts, positional)
    manifest = {
        "grammar": {"name": grammar.name, "source": str(grammar.source), "sha256": grammar.digest},
        "split": split,
        "n": int(len(lengths)),
        "seed": int(seed),
        "chunk_size": int(chunk_size),
        "task": grammar.task,
        "alphabet": grammar.alphabet.name,
        "letters": grammar.alphabet.letters,
        "length": [grammar.min_length, grammar.max_length],
        "classes": grammar.class_names,
        "elements": {name: {"kind": e.kind, "width": [e.min_width, e.max_width],
                            "strand": e.strand, "source": e.source}
                     for name, e in grammar.elements.items()},
        "composition": [e.describe() for e in grammar.composition[split]],
        "instances": int(len(order)),
        "overlapping_instances": int(instances["overlaps"].astype(bool).sum()),
        "resampled_instances": int((instances["attempts"] > 1).sum()),
        "versions": software_versions(),
        "files": {name: file_record(folder / name) for name in SPLIT_FILES},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if exports:
        write_exports(folder, exports, grammar=grammar, split=split)
    return manifest


# --------------------------------------------------------------------------- exports


def _text_rows(codes: np.ndarray, lengths: np.ndarray, table: np.ndarray) -> list[str]:
    """Rows of codes as strings through a byte lookup table (one pass over the array;
    the Python loop is per example, to cut each row at its length)."""
    text = table[codes].tobytes().decode("ascii")
    width = codes.shape[1]
    return [text[i * width: i * width + n] for i, n in enumerate(lengths.tolist())]


def label_strings(labels: np.ndarray, classes: list[str]) -> list[str]:
    """Labels as seqgra writes them: the class name, or names joined with ``|``."""
    names = np.array(classes, dtype=object)
    if labels.ndim == 1:
        return names[labels.astype(int)].tolist()
    return ["|".join(names[row.astype(bool)]) for row in labels]


def write_exports(folder: Path, exports, *, grammar: Grammar, split: str) -> None:
    """FASTA + BED (``fasta``) and seqgra's tab-separated files (``seqgra``)."""
    import pandas as pd

    bad = set(exports) - set(EXPORT_FORMATS)
    if bad:
        raise ValueError(f"unknown export format(s) {sorted(bad)}; known: {', '.join(EXPORT_FORMATS)}")
    data = load_split(folder)
    out = Path(folder) / "exports"
    out.mkdir(exist_ok=True)
    alphabet = grammar.alphabet
    letters = alphabet.decode_table
    rows = _text_rows(data.sequences, data.lengths, letters)
    labels = label_strings(np.asarray(data.labels), grammar.class_names)
    names = [f"{split}_{i}" for i in range(len(rows))]
    if "fasta" in exports:
        with open(out / "sequences.fa", "w") as fasta:
            fasta.writelines(f">{name} {label}\n{row}\n" for name, label, row in zip(names, labels, rows))
        table = data.instances
        bed = pd.DataFrame({"chrom": [names[i] for i in table["example"]], "start": table["start"],
                            "end": table["end"], "name": table["element"], "score": 0,
                            "strand": table["strand"]})
        bed.to_csv(out / "instances.bed", sep="\t", index=False, header=False)
    if "seqgra" in exports:
        annotation_table = np.full(256, ord("_"), dtype=np.uint8)
        annotation_table[1] = ord("G")  # seqgra's grammar character
        annotations = _text_rows(data.mask, data.lengths, annotation_table)
        stem = SEQGRA_SPLIT_NAMES[split]
        with open(out / f"{stem}.txt", "w") as f:
            f.write("x\ty\n")
            f.writelines(f"{row}\t{label}\n" for row, label in zip(rows, labels))
        with open(out / f"{stem}-annotation.txt", "w") as f:
            f.write("annotation\ty\n")
            f.writelines(f"{row}\t{label}\n" for row, label in zip(annotations, labels))
