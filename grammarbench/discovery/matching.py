# matching.py
# grammarbench.discovery: Tomtom of discovered patterns against the grammar's elements.

r"""Match discovered patterns to the grammar's elements with Tomtom (Gupta et al.,
Genome Biology 2007) through ``memelite`` (Schreiber, jmschrei/memelite).

Tomtom scores each (pattern, target) pair by the best ungapped alignment of their
columns, on either strand, and turns the score into a p-value with a null built from
*all target columns*. With only a grammar's two or three elements as targets that null
is meaningless, so the targets are the elements plus decoys: the whole JASPAR CORE
collection of the release pyjaspar ships (offline), every taxonomic group, latest
version of each matrix. Decoys identical to an element (a grammar that takes its
element from JASPAR) are dropped, so that no target is counted twice.

q-values
--------
For each pattern, the Benjamini-Hochberg q-values of its p-values against every target
(elements and decoys): :math:`q_{(i)} = \min_{j \ge i} p_{(j)} T / j` over the sorted
p-values, T the number of targets. Tomtom's own q-values are also per query, over all
targets.

Patterns are cut to their core before matching (:meth:`Pattern.trimmed`: positions with
at least 0.3 of the largest |CWM|), as modisco-lite's reports do; the flanks TF-MoDISco
adds are mostly background and would only dilute the alignment.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["element_motifs", "load_element_motifs", "decoy_motifs", "write_decoys", "read_decoys",
           "benjamini_hochberg", "match_patterns", "MATCH_COLUMNS", "TRIM_THRESHOLD"]

TRIM_THRESHOLD = 0.3
MATCH_COLUMNS = ("pattern", "target", "element", "p_value", "q_value", "offset",
                 "overlap", "strand")


def element_motifs(grammar, kept=None) -> dict[str, np.ndarray]:
    """The grammar's elements as PPMs: element name -> float64, shape=(W, 4).

    A k-mer set becomes the weighted letter frequencies of its left-aligned k-mers
    (:meth:`grammarbench.grammar.Element.probability_matrix`). A realistic grammar's
    elements are the motifs its filter kept: ``kept``, their names (its motif tables'
    ``motifs.json``); they depend on the scan, not on the grammar file alone.

    Raises
    ------
    grammarbench.errors.InputError
        The grammar is not DNA; a realistic grammar without ``kept``.
    """
    if "".join(grammar.alphabet.letters) != "ACGT":
        raise InputError(grammar.source, "alphabet", "motif discovery matches DNA motifs; "
                         f"this grammar's alphabet is {''.join(grammar.alphabet.letters)}")
    if getattr(grammar, "kind", "") == "realistic":
        if kept is None:
            raise InputError(grammar.source, "motifs", "a realistic grammar's elements are the motifs "
                             "its filter kept: give its motif tables' motifs.json")
        return {name: np.asarray(ppm, float) for name, ppm in grammar.motifs().items() if name in set(kept)}
    return {name: np.asarray(element.probability_matrix(4), float)
            for name, element in grammar.elements.items()}


def load_element_motifs(grammar: str | os.PathLike, downloads=(), motif_summary=None) -> dict[str, np.ndarray]:
    """:func:`element_motifs` of a grammar file, loaded as the simulate jobs load it.

    Parameters
    ----------
    grammar: str or Path
        The grammar file.
    downloads: iterable of str
        The config's ``downloads:`` paths: a grammar path naming one is taken from the
        working directory, where the download lands (not from the grammar's folder).
    motif_summary: str, Path or None
        A realistic grammar's ``motifs.json`` (rule realistic_motifs): its kept motifs.
    """
    import json

    from ..grammars.grammar import load_grammar

    kept = json.loads(Path(motif_summary).read_text())["kept"] if motif_summary else None
    return element_motifs(load_grammar(grammar, pending=downloads), kept)


@functools.lru_cache(maxsize=4)
def _jaspar_core(collection: str, release: str) -> tuple[tuple[str, np.ndarray], ...]:
    from ..grammars import motifs

    found = motifs.jaspar_collection(collection, tax_group=None, release=release)
    return tuple((f"{matrix_id}_{name}".replace(" ", "_"), ppm)
                 for matrix_id, (name, ppm) in found.items())


def decoy_motifs(collection: str = "CORE", release: str | None = None) -> dict[str, np.ndarray]:
    """Decoy targets for Tomtom: every matrix of one JASPAR collection (all taxonomic
    groups, latest version of each), from the database pyjaspar ships.

    Returns
    -------
    decoys: dict
        ``<matrix ID>_<TF name>`` -> PPM, float64, shape=(W, 4), in matrix-ID order.
    """
    from ..grammars import motifs

    return dict(_jaspar_core(collection, release or motifs.JASPAR_RELEASE))


def write_decoys(path: str | os.PathLike, collection: str = "CORE",
                 release: str | None = None) -> Path:
    """Write :func:`decoy_motifs` as a MEME file (read once per workflow: pyjaspar takes
    seconds to assemble the collection; reading the file takes milliseconds)."""
    from ..grammars import motifs

    motifs.write_meme(path, decoy_motifs(collection, release),
                      comment=f"JASPAR {release or motifs.JASPAR_RELEASE} {collection}, "
                              "all taxonomic groups: decoys for Tomtom")
    return Path(path)


def read_decoys(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a decoy file written by :func:`write_decoys` (or any MEME file)."""
    from ..grammars import motifs

    return dict(motifs.read_meme(path))


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values along the last axis.

    Parameters
    ----------
    p_values: np.ndarray, shape=(..., T)

    Returns
    -------
    q_values: np.ndarray, shape=(..., T)
        :math:`q_{(i)} = \\min_{j \\ge i} \\min(1, p_{(j)} T / j)`, in the input order.
    """
    p = np.asarray(p_values, dtype=float)
    n = p.shape[-1]
    order = np.argsort(p, axis=-1)
    ranked = np.take_along_axis(p, order, axis=-1) * n / np.arange(1, n + 1)
    # running minimum from the largest p-value down
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    q = np.empty_like(ranked)
    np.put_along_axis(q, order, np.minimum(ranked, 1.0), axis=-1)
    return q


def _same_matrix(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, atol=1e-3))


def match_patterns(patterns, elements: dict[str, np.ndarray],
                   decoys: dict[str, np.ndarray] | None = None, *,
                   trim_threshold: float = TRIM_THRESHOLD, n_threads: int = 1) -> pd.DataFrame:
    """Tomtom of every pattern against the grammar's elements and the decoys.

    Parameters
    ----------
    patterns: list of grammarbench.discovery.Pattern
    elements: dict
        Element name -> PPM, shape=(W, 4) (:func:`element_motifs`).
    decoys: dict or None
        Decoy name -> PPM, shape=(W, 4) (:func:`decoy_motifs`). Default None: the whole
        JASPAR CORE collection.
    trim_threshold: float
        Patterns are cut to :meth:`Pattern.core` at this threshold. Default is 0.3.
    n_threads: int
        Numba threads for Tomtom. Default is 1.

    Returns
    -------
    matches: pandas.DataFrame
        One row per (pattern, target) (:data:`MATCH_COLUMNS`): ``element`` says whether
        the target is a grammar element, ``q_value`` is per pattern over all targets,
        ``offset``/``overlap``/``strand`` describe Tomtom's best alignment. Empty when
        there are no patterns.
    """
    if decoys is None:
        decoys = decoy_motifs()
    decoys = {name: ppm for name, ppm in decoys.items()
              if not any(_same_matrix(ppm, e) for e in elements.values())}
    targets = {**elements, **{name: ppm for name, ppm in decoys.items() if name not in elements}}
    names = list(targets)
    is_element = np.isin(names, list(elements))
    if not patterns:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            MATCH_COLUMNS, (object, object, bool, float, float, np.int64, np.int64, object))})
    from memelite import tomtom

    queries = [np.ascontiguousarray(p.trimmed(trim_threshold).ppm.T) for p in patterns]
    with warnings.catch_warnings():
        # memelite warns below 25 targets; the decoys are there to prevent exactly that
        warnings.simplefilter("ignore", UserWarning)
        p, _, offsets, overlaps, strands = tomtom(
            queries, [np.ascontiguousarray(targets[n].T) for n in names],
            n_jobs=max(1, int(n_threads)))
    q = benjamini_hochberg(p)
    n_patterns, n_targets = p.shape
    return pd.DataFrame({
        "pattern": np.repeat([pt.name for pt in patterns], n_targets),
        "target": np.tile(names, n_patterns),
        "element": np.tile(is_element, n_patterns),
        "p_value": p.ravel(), "q_value": q.ravel(),
        "offset": offsets.ravel().astype(np.int64), "overlap": overlaps.ravel().astype(np.int64),
        "strand": np.where(strands.ravel() == 1, "-", "+")})
