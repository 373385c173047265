# modisco.py
# grammarbench.discovery: TF-MoDISco (modisco-lite) on attribution maps.

r"""Motif discovery with TF-MoDISco (Shrikumar et al. 2018, arXiv:1811.00416), through
``modisco-lite`` (Schreiber, jmschrei/tfmodisco-lite).

TF-MoDISco cuts *seqlets* (windows of high total contribution) out of the maps,
clusters them by the similarity of their (hypothetical) contributions and aggregates
each cluster into a pattern: a position probability matrix (PPM) of the seqlets'
letters and a contribution weight matrix (CWM). This module is the glue: it reads the
attribute stage's maps, hands modisco-lite arrays in its layout, keeps every setting
within the sequence length, and returns the patterns with their seqlets in the maps'
coordinates.

Hypothetical contributions
--------------------------
TF-MoDISco compares seqlets by their *hypothetical* contributions: the contribution
each letter would make were it the letter there (Shrikumar et al., TF-MoDISco;
:mod:`grammarbench.attribution.methods` computes them with ``hypothetical: true``).
modisco-lite takes the one-hot sequences and the hypothetical contributions and forms
the contributions itself (hypothetical × one-hot); the stored map of the run is what
is passed, not a recomputation:

* a run with ``hypothetical: true``: its maps, as the hypothetical contributions;
* any other run (the default projected map, :math:`M_{al} = x_{al} P_l`): the map as
  its own hypothetical map, zero at the letters not observed. The contributions are
  then the map itself, and seqlets are compared by their observed letters only.

The choice: discovery is meant to run on hypothetical maps, so the configs that turn it
on (``config/attribution-benchmark.yaml``) store the runs it reads with
``hypothetical: true``; a projected run still works (a method without hypothetical maps,
GradCAM or SIS, has nothing else), but splits a motif over several patterns. Measured on
ground-truth maps of the three-motif test grammar (``tests/test_discovery.py``; 360
examples, instances 30 letters from the ends, noise SD 0.1, two Leiden runs, data seeds
1-6): projected maps (mask × one-hot) gave 4-10 patterns for three elements, of 20-118
seqlets, and an element's best Tomtom q-value up to 3.3e-3 (modisco-lite's check for
spuriously merged clusters splits each element's cluster into 4-7 pieces and merges only
some back); hypothetical maps (each instance's letters scored by its element's PPM) gave
exactly three patterns, one per element, of 103-120 seqlets, best q at most 5.7e-5.
Every method with hypothetical maps but saliency projects as one-hot × its hypothetical
map, so a hypothetical run scored at the observed letter (``attribution.metrics.score:
observed``) gives the projected run's recovery scores.

Edge cases that modisco-lite does not handle itself
---------------------------------------------------
* Short sequences. Seqlets are ``sliding_window_size + 2 flank_size`` letters and
  patterns are trimmed to ``trim_to_window_size`` plus ``initial_flank_to_add`` on each
  side; with the defaults (21, 10, 30, 10) anything under about 100 letters fails.
  :func:`modisco_settings` shrinks these windows to fit the sequence length.
* One-signed maps (saliency, ground-truth masks, any non-negative map). modisco-lite
  fits a seqlet threshold to each sign's windows against a Laplace null and fails
  (a zero weight sum, or a division by zero) when a sign has no window or no null
  sample. A sign without data can have no seqlets, so while modisco-lite runs its
  threshold fit (``extract_seqlets._isotonic_thresholds``) answers "no window passes"
  (an infinite threshold) for such a sign instead of failing; everything else is
  modisco-lite's own code.
* Too few seqlets for a metacluster (``min_metacluster_size``): no patterns, reported as
  an empty result, not an error.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import atomic_path

__all__ = ["Pattern", "Discovery", "modisco_settings", "discover", "discover_from_maps", "read_maps",
           "MODISCO_DEFAULTS", "N_LEIDEN_RUNS", "SEQLET_COLUMNS"]

# modisco-lite's own defaults for the settings that depend on the sequence length.
MODISCO_DEFAULTS = {"sliding_window_size": 21, "flank_size": 10, "trim_to_window_size": 30,
                    "initial_flank_to_add": 10, "final_flank_to_add": 0}
# Leiden runs per clustering (modisco-lite's default: 50): TF-MoDISco keeps the best of
# n runs with seeds 0..n-1, and its time grows about in proportion. Measured on
# hypothetical ground-truth maps of the three-motif test grammar (see "Hypothetical
# contributions" above; 360 examples, data seeds 1-3, 2 cores under load, numba's
# compilation not counted): 2 runs 10-11 s, 10 runs 19-21 s, 50 runs 76-93 s per
# discovery, every run count one pattern per element with q < 1e-4; 10 runs and 50 agree to
# within 5 seqlets per pattern, 2 runs and 10 to within 2 (at 1,200 maps, 10 runs took 3.8
# times as long as 2 for the same patterns). More runs do not mend what projected maps do
# (data seed 1: 8 patterns with 50 runs, 7 with 2). Override with
# discovery.modisco.n_leiden_runs.
N_LEIDEN_RUNS = 10
SEQLET_COLUMNS = ("pattern", "map", "example", "start", "end", "strand")


def _tfmodisco():
    from modiscolite.tfmodisco import TFMoDISco

    _cache_modisco_kernels()
    return TFMoDISco


_MODISCO_KERNEL_MODULES = ("affinitymat", "aggregator", "gapped_kmer", "util")


@functools.lru_cache(maxsize=1)
def _cache_modisco_kernels() -> None:
    """Keep modisco-lite's compiled numba kernels in numba's on-disk cache.

    modisco-lite turns caching on only where it can compile them in forked children, which it
    refuses in a process with other threads or numba's OpenMP layer (a Snakemake job, a test
    worker), so each discover job compiled them again: about 14 s of its first run. A kernel
    whose cache cannot be written (read-only install) simply compiles as before."""
    import importlib

    from numba.core.dispatcher import Dispatcher

    for name in _MODISCO_KERNEL_MODULES:
        module = importlib.import_module(f"modiscolite.{name}")
        for kernel in vars(module).values():
            if isinstance(kernel, Dispatcher) and kernel.__module__ == module.__name__:
                try:
                    kernel.enable_caching()
                except RuntimeError:  # numba found no writable cache location
                    return


def check_modisco_keys(settings: dict, source: str, key: str) -> None:
    """Raise InputError naming the first key of ``settings`` that is not a keyword of
    ``modiscolite.tfmodisco.TFMoDISco`` (its inputs and ``verbose`` excluded)."""
    from modiscolite.tfmodisco import TFMoDISco

    known = set(inspect.signature(TFMoDISco).parameters) - {
        "one_hot", "hypothetical_contribs", "verbose"}
    for name in settings:
        if name not in known:
            raise InputError(source, f"{key}.{name}", "unknown modisco-lite setting; known: "
                             + ", ".join(sorted(known)))


@dataclass
class Pattern:
    """One TF-MoDISco pattern.

    Attributes
    ----------
    name: str
        ``pos_<i>`` (positive metacluster) or ``neg_<i>``, as modisco-lite's reports
        name them.
    ppm: np.ndarray, float64, shape=(W, 4)
        Letter frequencies of the aligned seqlets, columns A C G T.
    cwm: np.ndarray, float64, shape=(W, 4)
        Mean contribution (hypothetical × one-hot) of the aligned seqlets.
    hypothetical_cwm: np.ndarray, float64, shape=(W, 4)
        Mean hypothetical contribution.
    seqlets: pandas.DataFrame
        One row per seqlet: ``map`` (row of the maps), ``example`` (row of the split),
        ``start``, ``end`` (0-based, half-open, in the sequence) and ``strand`` (``-``
        when the seqlet is aligned to the pattern as its reverse complement).
    """

    name: str
    ppm: np.ndarray
    cwm: np.ndarray
    hypothetical_cwm: np.ndarray
    seqlets: pd.DataFrame

    @property
    def sign(self) -> int:
        return -1 if self.name.startswith("neg") else 1

    def core(self, threshold: float = 0.3) -> tuple[int, int]:
        """The pattern's core: from the first to the last position whose summed
        |CWM| is at least ``threshold`` × its largest, as modisco-lite's reports trim
        patterns before Tomtom. Returns ``(begin, end)``, half-open."""
        weight = np.abs(self.cwm).sum(axis=1)
        keep = np.flatnonzero(weight >= threshold * weight.max())
        return int(keep[0]), int(keep[-1]) + 1

    def trimmed(self, threshold: float = 0.3) -> "Pattern":
        """The pattern cut to :meth:`core`, its seqlets cut to the same letters (on the
        reverse strand, a seqlet's coordinates run against the pattern's)."""
        begin, end = self.core(threshold)
        width = len(self.ppm)
        s = self.seqlets
        reverse = (s["strand"] == "-").to_numpy()
        start = np.where(reverse, s["end"] - end, s["start"] + begin)
        seqlets = s.assign(start=start, end=start + (end - begin))
        return Pattern(self.name, self.ppm[begin:end], self.cwm[begin:end],
                       self.hypothetical_cwm[begin:end], seqlets.reset_index(drop=True)) \
            if (begin, end) != (0, width) else self


@dataclass
class Discovery:
    """The patterns TF-MoDISco found in one run's maps (possibly none).

    Attributes
    ----------
    patterns: list of Pattern
    settings: dict
        The modisco-lite settings used (after fitting them to the sequence length).
    info: dict
        ``n_maps``, ``length``, ``seconds``, ``one_signed`` (whether the maps have one sign only),
        and the attribution run's labels (``run``, ``method``, ``reference``, ...).
    """

    patterns: list[Pattern]
    settings: dict
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.patterns)

    def seqlets(self) -> pd.DataFrame:
        """Every pattern's seqlets in one table (:data:`SEQLET_COLUMNS`)."""
        tables = [p.seqlets.assign(pattern=p.name) for p in self.patterns]
        if not tables:
            return pd.DataFrame({c: pd.Series(dtype=object if c in ("pattern", "strand")
                                              else np.int64) for c in SEQLET_COLUMNS})
        return pd.concat(tables, ignore_index=True)[list(SEQLET_COLUMNS)]

    def save(self, path: str | os.PathLike) -> Path:
        """Write one JSON file, atomically (patterns are small: tens of 4-column rows)."""
        path = Path(path)
        document = {
            "settings": self.settings, "info": self.info,
            "patterns": [{"name": p.name, "ppm": p.ppm.tolist(), "cwm": p.cwm.tolist(),
                          "hypothetical_cwm": p.hypothetical_cwm.tolist(),
                          "seqlets": {c: p.seqlets[c].tolist() for c in SEQLET_COLUMNS[1:]}}
                         for p in self.patterns]}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(document, default=_json_default))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Discovery":
        """Read a file written by :meth:`save`."""
        try:
            document = json.loads(Path(path).read_text())
            patterns = [Pattern(p["name"], np.asarray(p["ppm"], float),
                                np.asarray(p["cwm"], float),
                                np.asarray(p["hypothetical_cwm"], float),
                                pd.DataFrame(p["seqlets"], columns=list(SEQLET_COLUMNS[1:])))
                        for p in document["patterns"]]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(path, "", f"not a discovery result file ({err})") from err
        return cls(patterns, document["settings"], document["info"])


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def modisco_settings(length: int, overrides: dict | None = None, source: str = "<discovery>",
                     key: str = "discovery.modisco") -> dict:
    """modisco-lite settings that fit sequences of ``length`` letters.

    The windows that fix the length of seqlets and patterns
    (:data:`MODISCO_DEFAULTS`) keep modisco-lite's defaults where they fit and shrink
    in proportion where they do not: a seqlet (``sliding_window_size + 2 flank_size``)
    and a pattern before its final trim (``trim_to_window_size + 2
    initial_flank_to_add``) must both fit in ``length``. ``n_leiden_runs`` is
    :data:`N_LEIDEN_RUNS`. ``overrides`` (any keyword of
    ``modiscolite.tfmodisco.TFMoDISco``) win, and are checked.

    Raises
    ------
    grammarbench.errors.InputError
        An unknown setting, or windows that do not fit the sequence length.
    """
    overrides = dict(overrides or {})
    check_modisco_keys(overrides, source, key)
    settings = {**MODISCO_DEFAULTS, "n_leiden_runs": N_LEIDEN_RUNS}
    # Seqlets: core window plus a flank on each side. Below the default 41 letters, the
    # core keeps half the length and each flank a quarter (the default proportions).
    if settings["sliding_window_size"] + 2 * settings["flank_size"] > length:
        settings["sliding_window_size"] = max(3, length // 2 - 1 + length // 2 % 2)
        settings["flank_size"] = max(1, (length - settings["sliding_window_size"]) // 4)
    if settings["trim_to_window_size"] + 2 * settings["initial_flank_to_add"] > length:
        settings["trim_to_window_size"] = max(3, length * 3 // 5)
        settings["initial_flank_to_add"] = max(0, (length - settings["trim_to_window_size"])
                                               // 2)
    settings.update(overrides)
    for core, flank in (("sliding_window_size", "flank_size"),
                        ("trim_to_window_size", "initial_flank_to_add")):
        width = settings[core] + 2 * settings[flank]
        if width > length:
            raise InputError(source, f"{key}.{core}", f"{core} + 2 {flank} = {width} letters "
                             f"does not fit sequences of {length} letters")
    return settings


def _one_hot(codes: np.ndarray, alphabet_size: int = 4) -> np.ndarray:
    """(N, L) codes -> (N, L, 4) float32 one-hot, in modisco-lite's layout (padding and
    unknown letters all zero)."""
    return (codes[:, :, None] == np.arange(alphabet_size)).astype(np.float32)


def discover(codes: np.ndarray, maps: np.ndarray, *, lengths: np.ndarray | None = None,
             hypothetical: bool = True, n_threads: int | None = None,
             **overrides) -> Discovery:
    """Run TF-MoDISco on attribution maps of DNA sequences.

    Parameters
    ----------
    codes: np.ndarray, uint8, shape=(M, L)
        The sequences the maps explain, letter codes 0-3 (A C G T); any other code
        (padding, unknown letters) is all zero in the one-hot input.
    maps: np.ndarray, float, shape=(M, 4, L)
        Attribution maps in grammarbench's layout. ``hypothetical=True``: hypothetical
        contributions (every letter); False: projected maps (zero at unobserved
        letters), used as their own hypothetical contributions.
    lengths: np.ndarray, int, shape=(M,), optional
        Sequence lengths; maps past them are set to zero. Default: all ``L``.
    hypothetical: bool
        Whether ``maps`` hold hypothetical contributions. Default is True.
    n_threads: int or None
        Numba threads for modisco-lite. Default None: numba's own setting.
    **overrides:
        Keywords of ``modiscolite.tfmodisco.TFMoDISco`` (checked by
        :func:`modisco_settings`).

    Returns
    -------
    discovery: Discovery
        Patterns of both metaclusters (positive first), seqlets in the maps' rows
        (``map``; ``example`` equals ``map`` here) and sequence coordinates.
    """
    codes = np.asarray(codes)
    maps = np.asarray(maps, dtype=np.float32)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (M, L); got {codes.shape}")
    if maps.shape != (codes.shape[0], 4, codes.shape[1]):
        raise ValueError(f"maps must have shape (M, 4, L) = {(codes.shape[0], 4, codes.shape[1])}"
                         f" for DNA; got {maps.shape}")
    n_maps, length = codes.shape
    settings = modisco_settings(length, overrides)
    one_hot = _one_hot(codes)                                           # (M, L, 4)
    hyp = maps.transpose(0, 2, 1).copy()                                # (M, L, 4), a copy
    if lengths is not None:
        hyp[np.arange(length)[None, :] >= np.asarray(lengths)[:, None]] = 0.0
    if not hypothetical:
        hyp *= one_hot  # a projected map is zero off the observed letter; keep it so
    contributions = (hyp * one_hot).sum(axis=2)
    one_signed = bool(contributions.min() >= 0 or contributions.max() <= 0)
    info = {"n_maps": int(n_maps), "length": int(length), "one_signed": one_signed,
            "hypothetical": bool(hypothetical), "examples": list(range(n_maps))}
    start = time.perf_counter()
    patterns = []
    if n_maps:
        positive, negative = _run_modisco(one_hot, hyp, settings, n_threads)
        for prefix, found in (("pos", positive), ("neg", negative)):
            patterns += [_pattern(f"{prefix}_{i}", p) for i, p in enumerate(found or [])]
    info["seconds"] = time.perf_counter() - start
    info["n_seqlets"] = int(sum(len(p.seqlets) for p in patterns))
    return Discovery(patterns, settings, info)


@contextlib.contextmanager
def _tolerate_one_signed():
    """While modisco-lite runs: a sign with no windows or no null samples gets a
    threshold no window passes, instead of an error (see the module docstring)."""
    from modiscolite import extract_seqlets

    fit = extract_seqlets._isotonic_thresholds

    def threshold(values, null_values, increasing, *args, **kwargs):
        if len(values) == 0 or len(null_values) == 0:
            return np.inf if increasing else -np.inf
        return fit(values, null_values, increasing, *args, **kwargs)

    extract_seqlets._isotonic_thresholds = threshold
    try:
        yield
    finally:
        extract_seqlets._isotonic_thresholds = fit


def _run_modisco(one_hot, hyp, settings, n_threads):
    import numba

    saved = numba.get_num_threads()
    if n_threads:
        numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        with _tolerate_one_signed():
            return _tfmodisco()(one_hot, hyp, **settings)
    finally:
        numba.set_num_threads(saved)


def _pattern(name: str, pattern) -> Pattern:
    seqlets = pattern.seqlets
    table = pd.DataFrame({
        "map": np.array([s.example_idx for s in seqlets], dtype=np.int64),
        "start": np.array([s.start for s in seqlets], dtype=np.int64),
        "end": np.array([s.end for s in seqlets], dtype=np.int64),
        "strand": np.where([bool(s.is_revcomp) for s in seqlets], "-", "+")})
    table.insert(1, "example", table["map"])
    return Pattern(name, np.asarray(pattern.sequence, float),
                   np.asarray(pattern.contrib_scores, float),
                   np.asarray(pattern.hypothetical_contribs, float), table)


def discover_from_maps(maps_path: str | os.PathLike, split, *, n_examples: int | None = None,
                       n_threads: int | None = None, **overrides) -> Discovery:
    """TF-MoDISco on the maps the attribute stage stored for one run.

    Parameters
    ----------
    maps_path: str or os.PathLike
        An ``.npz`` written by :meth:`grammarbench.attribution.AttributionResult.save`.
    split: grammarbench.dataset.Split, str or os.PathLike
        The split those maps explain (the test split).
    n_examples: int or None
        Use the first ``n_examples`` maps. Default None: all stored maps.
    n_threads, **overrides:
        As in :func:`discover`.

    Returns
    -------
    discovery: Discovery
        Seqlets carry both the map row (``map``) and the split row (``example``).
    """
    from ..simulation.dataset import Split, load_split

    if not isinstance(split, Split):
        split = load_split(split)
    letters = split.manifest.get("letters", "ACGT")
    if "".join(letters) != "ACGT":
        raise InputError(split.path, "letters", "motif discovery needs DNA (ACGT) sequences; "
                         f"this split's alphabet is {''.join(letters)}")
    maps, example, meta = read_maps(maps_path, n_examples)
    settings = meta["settings"]
    discovery = discover(np.asarray(split.sequences)[example], maps,
                         lengths=np.asarray(split.lengths)[example],
                         hypothetical=bool(settings.get("hypothetical")),
                         n_threads=n_threads, **overrides)
    for pattern in discovery.patterns:
        pattern.seqlets["example"] = example[pattern.seqlets["map"].to_numpy()]
    discovery.info.update({"examples": np.unique(example).tolist(),
                           "run": meta["info"].get("run", Path(maps_path).stem),
                           "method": settings["method"],
                           "reference": settings.get("reference") or "",
                           "n_references": int(settings.get("n_references") or 0),
                           "maps": str(maps_path)})
    return discovery


def read_maps(path: str | os.PathLike, n_examples: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, dict]:
    """The first ``n_examples`` maps of an attribute-stage file, without PyTorch.

    The file is :meth:`grammarbench.attribution.AttributionResult.save`'s ``.npz``
    (``maps`` float16, ``example``, ``meta`` JSON of ``settings`` and ``info``); reading
    it here keeps the discovery environment free of PyTorch, which that module imports.

    Returns
    -------
    maps: np.ndarray, float32, shape=(M, A, L)
    example: np.ndarray, int64, shape=(M,)
        The split row each map explains.
    meta: dict
        ``settings`` (method, reference, hypothetical, ...) and ``info``.
    """
    rows = slice(None) if n_examples is None else slice(0, int(n_examples))
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            return (stored["maps"][rows].astype(np.float32),
                    stored["example"][rows].astype(np.int64), meta)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(path, "", f"not an attribution maps file ({err})") from err
