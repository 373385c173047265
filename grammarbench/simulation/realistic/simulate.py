# simulate.py
# grammarbench: realistic datasets in the standard dataset layout

"""Simulate a realistic grammar into the dataset layout every other stage reads.

Two steps, so that a size sweep scans the real windows once:

1. :func:`scan_and_filter` scans the positive and background windows for every motif and
   keeps the frequent, centre-enriched ones; :func:`write_motif_tables` writes the hit
   table and the filter table (shown in the report).
2. :func:`simulate_realistic_split` builds one split from those tables: each positive
   example is a k-let shuffle of a real positive window with its retained hits put back;
   each negative is made as the grammar's ``negatives`` mode says. A re-scan of the
   simulated sequences gives the ground truth (mask and instance table), as the paper
   scored against it; each instance's ``origin`` says whether it was implanted or the
   shuffle made it by chance.

Reproducibility and nesting. Windows are assigned to splits by the data seed (or by
chromosome). Within a split, example i's label, the window it is made from and its
shuffle seed depend only on (seed, split, i): labels come in blocks of ``LABEL_BLOCK``
with the negative fraction exact per block, positive and negative windows are taken in
one seeded order, and shuffle seeds are keyed by the example's index. So the first n
examples of a split are the same whatever its size (nested training sets), and the
output does not depend on the number of threads.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from grammarbench.errors import InputError
from grammarbench.io import Fixed, Scientific, atomic_directory, atomic_path, read_npz, write_columns
from grammarbench.simulation.realistic.filter import filter_motifs, require_kept
from grammarbench.simulation.realistic.grammar import CLASSES, SPLITS, RealisticGrammar
from grammarbench.simulation.realistic.implant import instance_masks, paired_controls, shuffle_and_implant
from grammarbench.simulation.realistic.scan import MotifScanner
from grammarbench.simulation.realistic.windows import Windows

__all__ = ["MotifTables", "scan_and_filter", "write_motif_tables", "read_motif_tables", "assign_splits",
           "simulate_realistic_split", "simulate_realistic_dataset", "HIT_TABLE", "FILTER_TABLE"]

HIT_TABLE = "hits.tsv"
FILTER_TABLE = "filter.tsv"
SUMMARY = "motifs.json"
WINDOWS = "windows.npz"
#: Examples per block of the label stream; each block holds the exact negative fraction.
LABEL_BLOCK = 64
SPLIT_KEYS = {split: i for i, split in enumerate(SPLITS)}
INSTANCE_COLUMNS = ("example", "element", "start", "end", "strand", "class", "rule", "copy",
                    "attempts", "overlaps", "origin", "score", "p_value")
# stream keys: every random draw of a split comes from SeedSequence([seed, key, split, ...])
_ASSIGN, _LABELS, _POSITIVE_ORDER, _NEGATIVE_ORDER, _SHUFFLE, _DONOR, _CONTROL = range(7)


@dataclass
class MotifTables:
    """What the scan of the real windows gives every simulated split: the windows
    themselves (kept, so that every split reads exactly the windows that were scanned),
    the hit table, the filter table and a summary."""

    positives: Windows
    background: Windows
    hits: pd.DataFrame
    table: pd.DataFrame
    summary: dict

    @property
    def kept(self) -> list[str]:
        return self.table.loc[self.table["kept"], "motif"].tolist()


class _Threads:
    """numba's thread count for a block of code, restored afterwards."""

    def __init__(self, threads: int | None):
        self.threads = threads

    def __enter__(self):
        self.previous = numba.get_num_threads()
        if self.threads:
            numba.set_num_threads(max(1, min(int(self.threads), numba.config.NUMBA_NUM_THREADS)))

    def __exit__(self, *exc):
        numba.set_num_threads(self.previous)


# --------------------------------------------------------------------------- scan + filter


def scanner_for(grammar: RealisticGrammar, motifs: dict) -> MotifScanner:
    return MotifScanner(motifs, p_threshold=grammar.p_threshold, pseudocount=grammar.pseudocount)


def scan_and_filter(grammar: RealisticGrammar, threads: int | None = None) -> MotifTables:
    """Read both window sets, scan them for every motif and filter the motifs.

    Returns
    -------
    tables: MotifTables
        The windows, and:
    hits: pd.DataFrame
        Every hit: ``set`` (positive / background), ``window`` (row in its set),
        ``window_name``, ``motif``, ``start``, ``end``, ``strand``, ``score``, ``p_value``.
    table: pd.DataFrame
        The filter table (:func:`filter_motifs`).
    summary: dict
        Window counts, what was dropped and why, the kept motifs.

    Raises
    ------
    InputError
        No motif passes the filter (naming the filter and the best motif's numbers).
    """
    from grammarbench.simulation.realistic.windows import remove_overlapping

    positives = grammar.load_windows(grammar.positives)
    background = remove_overlapping(grammar.load_windows(grammar.background), positives)
    for windows, key in ((positives, "positives"), (background, "background")):
        if not len(windows):
            raise InputError(grammar.source, key, f"no windows left ({windows.dropped or 'none read'})")
    motifs = grammar.motifs()
    scanner = scanner_for(grammar, motifs)
    with _Threads(threads):
        found = {"positive": scanner.scan(positives.codes), "background": scanner.scan(background.codes)}
    table = filter_motifs(list(motifs), found["positive"], found["background"], len(positives),
                          len(background), grammar.width, grammar.min_hits, grammar.min_enrichment)
    names = {"positive": positives.names, "background": background.names}
    hits = pd.concat([frame.assign(set=label, window_name=names[label][frame["window"].to_numpy()])
                      for label, frame in found.items()], ignore_index=True)
    hits["motif"] = hits["motif"].astype(str)
    hits = hits[["set", "window", "window_name", "motif", "start", "end", "strand", "score", "p_value"]]
    summary = {"grammar": grammar.name, "sha256": grammar.digest, "width": grammar.width,
               "positive_windows": len(positives), "background_windows": len(background),
               "dropped": {"positives": positives.dropped, "background": background.dropped},
               "motifs": len(motifs), "kept": table.loc[table["kept"], "motif"].tolist()}
    require_kept(table, grammar.min_hits, grammar.min_enrichment, grammar.source)
    return MotifTables(positives, background, hits, table, summary)


#: The hit table's columns a split is made from (:func:`read_motif_tables`' ``columns``),
#: kept also as arrays in windows.npz: a split reads them there, not by parsing the TSV.
IMPLANT_COLUMNS = ("set", "window", "motif", "start", "end", "strand")
HIT_SETS = ["positive", "background"]
STRANDS = ["+", "-"]


def _save_windows(path, tables: MotifTables) -> None:
    arrays = {}
    for label, windows in (("positive", tables.positives), ("background", tables.background)):
        arrays.update({f"{label}_codes": windows.codes, f"{label}_starts": windows.starts,
                       f"{label}_names": windows.names.astype(str), f"{label}_chroms": windows.chroms.astype(str)})
    hits = tables.hits
    motif = pd.Categorical(hits["motif"].astype(str))
    arrays.update({"hit_set": pd.Categorical(hits["set"], categories=HIT_SETS).codes,
                   "hit_window": hits["window"].to_numpy(np.int32), "hit_motif": motif.codes,
                   "hit_motif_names": np.asarray(motif.categories, dtype=str),
                   "hit_start": hits["start"].to_numpy(np.int32), "hit_end": hits["end"].to_numpy(np.int32),
                   "hit_strand": pd.Categorical(hits["strand"], categories=STRANDS).codes})
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _implant_hits(arrays) -> pd.DataFrame:
    """The hit table's IMPLANT_COLUMNS from windows.npz's arrays (what _save_windows wrote)."""
    return pd.DataFrame({
        "set": pd.Categorical.from_codes(arrays["hit_set"], categories=HIT_SETS),
        "window": arrays["hit_window"].astype(np.int64),
        "motif": pd.Categorical.from_codes(arrays["hit_motif"], categories=arrays["hit_motif_names"]),
        "start": arrays["hit_start"].astype(np.int64), "end": arrays["hit_end"].astype(np.int64),
        "strand": pd.Categorical.from_codes(arrays["hit_strand"], categories=STRANDS)})


def write_motif_tables(folder, tables: MotifTables) -> None:
    """hits.tsv, filter.tsv, motifs.json and the windows (windows.npz) into ``folder``,
    each written atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, write in (
            (HIT_TABLE, lambda p: tables.hits.to_csv(p, sep="\t", index=False, float_format="%.6g")),
            (FILTER_TABLE, lambda p: tables.table.to_csv(p, sep="\t", index=False, float_format="%.6g")),
            (SUMMARY, lambda p: Path(p).write_text(json.dumps(tables.summary, indent=2) + "\n")),
            (WINDOWS, lambda p: _save_windows(p, tables))):
        with atomic_path(folder / name) as partial:
            write(partial)


def read_motif_tables(folder, columns=None) -> MotifTables:
    """What :func:`write_motif_tables` wrote; ``columns``: only these of the hit table
    (default all; some of IMPLANT_COLUMNS: read from windows.npz, text as categoricals).
    Window names and chromosomes come back as numpy strings."""
    folder = Path(folder)
    hits = None
    table = pd.read_csv(folder / FILTER_TABLE, sep="\t", dtype={"motif": str},
                        keep_default_na=False)
    table["kept"] = table["kept"].astype(str) == "True"
    summary = json.loads((folder / SUMMARY).read_text())
    # memory-mapped: a split reads only the rows of the windows it uses
    arrays = read_npz(folder / WINDOWS)
    sets = [Windows(arrays[f"{label}_codes"], arrays[f"{label}_names"], arrays[f"{label}_chroms"],
                    arrays[f"{label}_starts"],
                    str(folder / WINDOWS), summary["dropped"][key])
            for label, key in (("positive", "positives"), ("background", "background"))]
    if columns is not None and set(columns) <= set(IMPLANT_COLUMNS) and "hit_window" in arrays:
        hits = _implant_hits(arrays)[list(columns)]
    if hits is None:  # all columns, or tables written before the hits were kept as arrays too
        hits = pd.read_csv(folder / HIT_TABLE, sep="\t", dtype={"motif": str, "window_name": str},
                           usecols=list(columns) if columns is not None else None)
    return MotifTables(*sets, hits, table, summary)


# --------------------------------------------------------------------------- splits


def _stream(seed: int, *key: int) -> np.random.Generator:
    words = [int(seed), *map(int, key)]
    if all(0 <= word < 2**32 for word in words):
        # the same entropy (an int below 2**32 is one uint32 word), four times faster to
        # take in as an array: a split makes one stream per block of labels
        words = np.array(words, dtype=np.uint32)
    return np.random.default_rng(np.random.SeedSequence(words))


def assign_splits(windows, grammar: RealisticGrammar, seed: int, which: str) -> np.ndarray:
    """Split name of every window, shape=(N,) object.

    ``random``: a seeded permutation cut in the grammar's proportions (largest remainder).
    ``chromosomes``: windows on a validation or test chromosome go there, the rest to
    train, so no chromosome is in two splits. Background windows without a locus are
    split at random.
    """
    return np.array(SPLITS, dtype=object)[_split_codes(windows, grammar, seed, which)]


def _split_codes(windows, grammar: RealisticGrammar, seed: int, which: str) -> np.ndarray:
    """:func:`assign_splits` as indices into SPLITS (what a split compares, cheaply)."""
    n = len(windows)
    out = np.empty(n, dtype=np.int8)
    located = windows.chroms != ""
    if grammar.split_mode == "chromosomes" and located.any():
        out[:] = SPLIT_KEYS["train"]
        out[np.isin(windows.chroms, grammar.validation_chromosomes)] = SPLIT_KEYS["validation"]
        out[np.isin(windows.chroms, grammar.test_chromosomes)] = SPLIT_KEYS["test"]
        rest = np.flatnonzero(~located)
    else:
        rest = np.arange(n)
    if len(rest):
        weights = np.array([grammar.proportions[s] for s in SPLITS], dtype=float)
        share = len(rest) * weights / weights.sum()
        counts = np.floor(share).astype(int)
        counts[np.argsort(counts - share, kind="stable")[: len(rest) - counts.sum()]] += 1
        order = _stream(seed, _ASSIGN, 0 if which == "positives" else 1).permutation(len(rest))
        out[rest[order]] = np.repeat(np.array([SPLIT_KEYS[s] for s in SPLITS], dtype=np.int8), counts)
    return out


def _labels(seed: int, split: str, n: int, negative_fraction: float) -> np.ndarray:
    """Label of examples 0..n-1 (1 positive, 0 negative), block by block."""
    blocks = -(-n // LABEL_BLOCK)
    out = np.empty(blocks * LABEL_BLOCK, dtype=np.int16)
    n_negative = int(round(LABEL_BLOCK * negative_fraction))
    base = np.repeat(np.array([0, 1], dtype=np.int16), [n_negative, LABEL_BLOCK - n_negative])
    for b in range(blocks):
        out[b * LABEL_BLOCK:(b + 1) * LABEL_BLOCK] = _stream(
            seed, _LABELS, SPLIT_KEYS[split], b).permutation(base)
    return out[:n]


def _donor_rows(seeds: np.ndarray, n_choices: int) -> np.ndarray:
    """A uniform row in 0..n_choices-1 per example from its own uint64 seed (top 53 bits)."""
    uniform = (seeds >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return np.minimum((uniform * n_choices).astype(np.int64), n_choices - 1)


# --------------------------------------------------------------------------- one split


def simulate_realistic_split(grammar: RealisticGrammar, split: str, n: int, seed: int,
                             out_dir, motif_tables=None, threads: int | None = None) -> dict:
    """Simulate ``n`` examples of ``split`` into ``out_dir`` (the standard layout).

    Parameters
    ----------
    grammar: RealisticGrammar
    split: str
        ``train``, ``validation`` or ``test``.
    n: int
        Number of examples.
    seed: int
        Data seed: split assignment, labels, window order and shuffles.
    out_dir: str or Path
        Folder to create (replaced if it exists; written under a temporary name first).
    motif_tables: str, Path or None
        Folder written by :func:`write_motif_tables`; None scans and filters here.
    threads: int or None
        numba threads for the shuffle and the re-scan. Default: numba's setting.

    Returns
    -------
    manifest: dict
    """
    from grammarbench.sequences.kernels import shuffle_seeds

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if n < 1:
        raise ValueError(f"n must be a positive number of examples, got {n}")
    tables = (scan_and_filter(grammar, threads) if motif_tables is None
              else read_motif_tables(motif_tables, IMPLANT_COLUMNS))
    if tables.summary["sha256"] != grammar.digest:
        raise ValueError(f"{motif_tables}: the motif tables were made from another version of "
                         f"{grammar.source} (sha256 {tables.summary['sha256'][:12]}..., now "
                         f"{grammar.digest[:12]}...)")
    kept, summary = tables.kept, tables.summary
    positives, background, hits = tables.positives, tables.background, tables.hits
    kept_motifs = {name: ppm for name, ppm in grammar.motifs().items() if name in kept}
    # the retained hits as arrays; motif: its index in kept_motifs (the re-scan's order)
    motif = _codes_in(hits["motif"], list(kept_motifs))
    retained = np.flatnonzero(motif >= 0)
    hits = {"positive": (hits["set"] == "positive").to_numpy()[retained],
            "window": hits["window"].to_numpy()[retained], "motif": motif[retained],
            "start": hits["start"].to_numpy()[retained], "end": hits["end"].to_numpy()[retained],
            "minus": (hits["strand"] == "-").to_numpy()[retained]}

    split_code = SPLIT_KEYS[split]
    pos_split = _split_codes(positives, grammar, seed, "positives")
    bg_split = _split_codes(background, grammar, seed, "background")
    with_hit = np.zeros(len(positives), dtype=bool)
    with_hit[hits["window"][hits["positive"]]] = True
    positive_pool = np.flatnonzero((pos_split == split_code) & with_hit)
    positive_any = np.flatnonzero(pos_split == split_code)
    negative_pool = np.flatnonzero(bg_split == split_code)
    positive_pool = positive_pool[_stream(seed, _POSITIVE_ORDER, SPLIT_KEYS[split]).permutation(len(positive_pool))]
    negative_pool = negative_pool[_stream(seed, _NEGATIVE_ORDER, SPLIT_KEYS[split]).permutation(len(negative_pool))]

    labels = _labels(seed, split, n, grammar.negative_fraction)
    is_positive = labels == 1
    rank = np.where(is_positive, np.cumsum(is_positive) - 1, np.cumsum(~is_positive) - 1)
    need_positive, need_negative = int(is_positive.sum()), int((~is_positive).sum())
    for need, pool, what in ((need_positive, positive_pool, "positive windows with a retained motif hit"),
                             (need_negative, negative_pool, "background windows")):
        if need > len(pool):
            raise InputError(grammar.source, "sizes", f"split {split}: {n} examples need {need} "
                                                      f"{what}; the split has {len(pool)}")
    # source window of each example: a row of positives (label 1) or of background (label 0)
    window = np.empty(n, dtype=np.int64)
    window[is_positive] = positive_pool[rank[is_positive]]
    window[~is_positive] = negative_pool[rank[~is_positive]]
    window_names = np.where(is_positive, positives.names[np.where(is_positive, window, 0)],
                            background.names[np.where(is_positive, 0, window)])
    # rows numbered through positives, then background: the kernel reads them in place
    implant_from = np.where(is_positive, window, len(positives) + window)
    shuffle_from, donor_rows = implant_from, np.full(n, -1)
    if grammar.negatives == "paper" and need_negative:
        # a negative is a shuffle of a random positive of its split (any, with hits or not)
        donor_seeds = shuffle_seeds(np.random.SeedSequence([seed, _DONOR, SPLIT_KEYS[split]]),
                                    n, 1, index=np.arange(n))[:, 0]
        donor_rows = np.where(is_positive, -1, positive_any[_donor_rows(donor_seeds, len(positive_any))])
        shuffle_from = np.where(is_positive, implant_from, donor_rows)

    # the hits to implant: each example's source window's retained hits
    implanted = _example_hits(hits, window, is_positive, len(positives), len(background))
    seeds = shuffle_seeds(np.random.SeedSequence([seed, _SHUFFLE, SPLIT_KEYS[split]]), n, 1,
                          index=np.arange(n))[:, 0]
    real = (~is_positive) & (grammar.negatives == "real")
    shuffled_from = np.where(donor_rows >= 0, positives.names[np.maximum(donor_rows, 0)], window_names)
    # the folder appears complete or not at all. The kernels run in a helper thread (they
    # release the GIL) while this one builds the scanner and writes what does not wait for
    # the re-scan: on two cores, serial work beside a parallel kernel instead of after it
    with _Threads(threads), atomic_directory(out_dir) as tmp, ThreadPoolExecutor(1) as helper:
        numba_threads = numba.get_num_threads()
        shuffling = helper.submit(_with_threads, numba_threads, shuffle_and_implant,
                                  (positives.codes, background.codes), shuffle_from, implant_from,
                                  implanted["example"], implanted["start"], implanted["end"], seeds,
                                  k=grammar.shuffle_k, shuffled=~real)
        scanner = scanner_for(grammar, kept_motifs)
        sequences = shuffling.result()
        scanning = helper.submit(_with_threads, numba_threads, scanner.scan, sequences)
        saved = _write_examples(tmp, helper, sequences, labels, window_names, shuffled_from)
        instances = _instances(scanning.result(), implanted, labels, real)
        # the ground truth (all instances) and the implanted letters, with the positional counts
        masks = instance_masks(instances["example"].to_numpy(), instances["start"].to_numpy(),
                               instances["end"].to_numpy(), (instances["origin"] == "implanted").to_numpy(),
                               labels, sequences.shape, len(CLASSES))
        controls = None
        if grammar.controls:
            controls = paired_controls(sequences, masks[1],
                                       np.random.SeedSequence([seed, _CONTROL, SPLIT_KEYS[split]]))
        manifest = _write_instances(tmp, helper, grammar, split, seed, sequences.shape, labels, instances,
                                    masks, summary, controls)
        for done in saved:
            done.result()  # an error writing an array fails the split
    return manifest


def _with_threads(threads: int, function, *args, **kwargs):
    """``function(*args, **kwargs)`` with numba's thread count set (it is per thread)."""
    numba.set_num_threads(threads)
    return function(*args, **kwargs)


def simulate_realistic_dataset(grammar: RealisticGrammar, out_dir, seed: int, n_train: int | None = None,
                               n_validation: int | None = None, n_test: int | None = None,
                               threads: int | None = None) -> dict[str, dict]:
    """The motif tables into ``out_dir/motifs`` and all three splits into
    ``out_dir/{train,validation,test}`` (the CLI's layout), scanning the windows once."""
    from grammarbench.io import write_text
    from grammarbench.simulation.simulate import split_sizes

    out_dir = Path(out_dir)
    sizes = split_sizes(grammar, n_train, n_validation, n_test)
    write_motif_tables(out_dir / "motifs", scan_and_filter(grammar, threads))
    manifests = {split: simulate_realistic_split(grammar, split, sizes[split], seed, out_dir / split,
                                                 motif_tables=out_dir / "motifs", threads=threads)
                 for split in SPLITS}
    write_text(out_dir / "dataset.json", json.dumps({"grammar": grammar.name, "seed": seed,
                                                     "sizes": sizes}, indent=2) + "\n")
    return manifests


def _codes_in(values: pd.Series, names: list[str]) -> np.ndarray:
    """Index of each value in ``names`` (-1: not there); a categorical's through its few
    categories."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        lookup = pd.Index(names).get_indexer(values.cat.categories.astype(str))
        return np.where(codes >= 0, lookup[codes], -1)
    return pd.Index(names).get_indexer(values.astype(str))


def _example_hits(hits: dict, window: np.ndarray, is_positive: np.ndarray, n_positive: int,
                  n_background: int) -> dict:
    """The retained hits (arrays, as simulate_realistic_split holds them) of every
    example's source window, with the example's index, sorted by example and start
    (stable: ties keep the hit table's order)."""
    # windows may serve several examples only across splits; within a split each window
    # is used once, so a lookup window -> example suffices
    example_of = {}
    for flag, size in ((True, n_positive), (False, n_background)):
        examples = np.flatnonzero(is_positive == flag)
        example_of[flag] = np.full(size, -1, dtype=np.int64)
        example_of[flag][window[examples]] = examples
    positive, windows = hits["positive"], hits["window"]
    example = np.where(positive, example_of[True][np.where(positive, windows, 0)],
                       example_of[False][np.where(positive, 0, windows)])
    rows = np.flatnonzero(example >= 0)
    rows = rows[np.lexsort((hits["start"][rows], example[rows]))]
    return {"example": example[rows], **{name: values[rows] for name, values in hits.items()
                                         if name not in ("positive", "window")}}


@numba.njit(cache=True, nogil=True)
def _overlaps_and_copies(examples, starts, ends, overlaps, copies):
    """For instances sorted by example, then start: overlaps: an earlier instance of the
    example reaches past this one's start; copies: how many instances of the example come
    before this one."""
    previous, reach, seen = -1, -1, 0
    for i in range(len(examples)):
        if examples[i] != previous:
            previous, reach, seen = examples[i], -1, 0
        overlaps[i] = reach > starts[i]
        reach = max(reach, ends[i])
        copies[i] = seen
        seen += 1


ORIGINS = ["implanted", "chance", "real"]


def _instances(rescan: pd.DataFrame, implanted: dict, labels: np.ndarray,
               real: np.ndarray) -> pd.DataFrame:
    """The re-scan as the instance table: origin ``implanted`` (an implanted hit found
    again), ``chance`` (made by the shuffle) or ``real`` (a hit in an unshuffled window).
    Text columns are categoricals: cheap to build and to write."""
    motifs = list(rescan["motif"].cat.categories)
    examples = rescan["window"].to_numpy()
    starts, ends = rescan["start"].to_numpy(), rescan["end"].to_numpy()
    minus = (rescan["strand"] == "-").to_numpy()

    def keys(example, motif, start, reverse):
        # one integer per (example, motif, start, strand): a set lookup without a merge
        return ((example * len(motifs) + motif) * (int(ends.max(initial=0)) + 1) + start) * 2 + reverse

    # implanted["motif"] indexes the motifs scanned, the re-scan's categories
    marks = keys(implanted["example"], implanted["motif"], implanted["start"], implanted["minus"])
    # membership by binary search in the sorted marks (np.isin sorts both sides, slower)
    marks = np.sort(marks)
    wanted = keys(examples, rescan["motif"].cat.codes.to_numpy(), starts, minus)
    at = np.minimum(np.searchsorted(marks, wanted), max(len(marks) - 1, 0))
    found = marks[at] == wanted if len(marks) else np.zeros(len(wanted), dtype=bool)
    origin = np.where(real[examples], 2, np.where(found, 0, 1))
    overlaps = np.zeros(len(rescan), dtype=bool)
    copy = np.zeros(len(rescan), dtype=np.int64)
    _overlaps_and_copies(examples, starts, ends, overlaps, copy)  # the re-scan's order
    return pd.DataFrame({
        "example": examples, "element": rescan["motif"].array, "start": starts, "end": ends,
        "strand": rescan["strand"].array,
        "class": pd.Categorical.from_codes(labels[examples], categories=CLASSES, validate=False),
        "rule": np.zeros(len(rescan), dtype=np.int16), "copy": copy.astype(np.int16),
        "attempts": np.ones(len(rescan), dtype=np.int16), "overlaps": overlaps,
        "origin": pd.Categorical.from_codes(origin, categories=ORIGINS, validate=False),
        "score": rescan["score"].to_numpy(), "p_value": rescan["p_value"].to_numpy(),
    })


def _write_examples(tmp: Path, saver, sequences, labels, window_names, shuffled_from) -> list:
    """The examples' arrays (written by ``saver``, a thread: numpy writes without the GIL)
    and windows.tsv; returns the arrays' futures."""
    n, width = sequences.shape
    arrays = {"sequences": sequences, "lengths": np.full(n, width, dtype=np.int32),
              "labels": labels.astype(np.int16),
              "entries": (1 - labels).astype(np.int16)}  # 0 positive, 1 negative
    saved = [saver.submit(np.save, tmp / f"{name}.npy", array) for name, array in arrays.items()]
    write_columns(tmp / "windows.tsv", ["example", "class", "window", "shuffled_from"],
                  [np.arange(n), pd.Categorical.from_codes(labels, categories=CLASSES, validate=False),
                   window_names, shuffled_from])
    return saved


def _write_instances(tmp: Path, saver, grammar: RealisticGrammar, split: str, seed: int, shape,
                     labels, instances, masks, summary, controls=None) -> dict:
    """The masks, the controls (written by ``saver``), the instance and positional tables
    and the manifest; returns the manifest."""
    from grammarbench.simulation.dataset import software_versions, write_positional

    n, width = shape
    mask, mask_implanted, positional = masks
    arrays = {"mask": mask, "mask_implanted": mask_implanted}
    if controls is not None:
        arrays["controls"] = controls
    saved = [saver.submit(np.save, tmp / f"{name}.npy", array) for name, array in arrays.items()]
    columns = {name: instances[name].array for name in INSTANCE_COLUMNS}
    columns["score"] = Fixed(instances["score"].to_numpy(), 2)  # hundredths of a bit: exact
    columns["p_value"] = Scientific(instances["p_value"].to_numpy())
    write_columns(tmp / "instances.tsv", list(columns), list(columns.values()))
    write_positional(tmp / "positional.tsv", CLASSES, np.bincount(labels, minlength=len(CLASSES)),
                     positional)
    origins = instances["origin"].value_counts().to_dict()
    origins = {k: v for k, v in origins.items() if v}
    manifest = {
        "grammar": {"name": grammar.name, "source": str(grammar.source), "sha256": grammar.digest,
                    "kind": "realistic"},
        "split": split, "n": int(n), "seed": int(seed), "chunk_size": LABEL_BLOCK,
        "task": grammar.task, "alphabet": "DNA", "letters": "ACGT", "length": [width, width],
        "classes": list(CLASSES),
        "elements": {name: {"kind": "ppm", "strand": "both", "source": "scan"}
                     for name in summary["kept"]},
        "composition": ["positive: shuffled real positive window, retained hits put back",
                        f"negative: {grammar.negatives}"],
        "negatives": grammar.negatives, "shuffle_k": grammar.shuffle_k,
        "controls": controls is not None,
        "split_mode": grammar.split_mode,
        "instances": int(len(instances)),
        "instances_by_origin": {k: int(v) for k, v in origins.items()},
        "overlapping_instances": int(instances["overlaps"].sum()),
        "resampled_instances": 0,
        "windows": {"positive": summary["positive_windows"], "background": summary["background_windows"],
                    "dropped": summary["dropped"]},
        "versions": software_versions(),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for done in saved:
        done.result()  # an error writing an array fails the split
    return manifest
