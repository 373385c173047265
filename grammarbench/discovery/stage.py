# stage.py
# grammarbench.discovery: the discover stage, one model and one attribution run.

"""The ``discover`` rule's one call: TF-MoDISco on one attribution run's stored maps,
Tomtom against the grammar's elements and the decoys, and the scores.

Writes three files per (model, run):

``<run>.json``
    The patterns and their seqlets (:meth:`grammarbench.discovery.Discovery.save`).
``<run>.matches.tsv``
    Tomtom matches (:data:`grammarbench.discovery.MATCH_COLUMNS`): every pattern
    against every grammar element, and its :data:`N_DECOY_MATCHES` best decoys (the full
    pattern × decoy table would be thousands of rows per pattern).
``<run>.scores.tsv``
    :func:`grammarbench.discovery.score_discovery`'s long table with the run's labels
    first: ``run``, ``method``, ``reference``, ``n_references``, ``element``, ``metric``,
    ``value``. The ``aggregate_discovery`` rule stacks these into ``discovery.tsv``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..io import write_tsv
from .matching import decoy_motifs, load_element_motifs, match_patterns, read_decoys
from .modisco import discover_from_maps
from .scores import ALPHA, score_discovery

__all__ = ["discover_run", "DISCOVERY_LABELS", "N_DECOY_MATCHES"]

DISCOVERY_LABELS = ("run", "method", "reference", "n_references")
N_DECOY_MATCHES = 5


def discover_run(maps: str | os.PathLike, split: str | os.PathLike, grammar: str | os.PathLike,
                 decoys: str | os.PathLike | None, out_prefix: str | os.PathLike, *,
                 n_examples: int | None = None, alpha: float = ALPHA,
                 modisco: dict | None = None, threads: int = 1, downloads=(),
                 motif_summary: str | os.PathLike | None = None) -> dict[str, Path]:
    """Discover, match and score one attribution run of one model.

    Parameters
    ----------
    maps: str or os.PathLike
        The run's ``.npz`` from the attribute stage.
    split: str or os.PathLike
        The split the maps explain (the test split's folder).
    grammar: str or os.PathLike
        The grammar file that generated it.
    decoys: str, os.PathLike or None
        The decoy motifs, a MEME file (:func:`grammarbench.discovery.write_decoys`). None:
        JASPAR CORE, assembled here (seconds).
    out_prefix: str or os.PathLike
        ``<folder>/<run>``: the three files get ``.json``, ``.matches.tsv`` and
        ``.scores.tsv`` after it.
    n_examples: int or None
        The first ``n_examples`` maps. Default None: all.
    alpha: float
        q-value threshold of a match. Default is 0.05.
    modisco: dict or None
        modisco-lite settings (:func:`grammarbench.discovery.modisco_settings`).
    threads: int
        Numba threads for TF-MoDISco and Tomtom. Default is 1.
    downloads, motif_summary:
        How the grammar's elements are found (:func:`~grammarbench.discovery.matching.load_element_motifs`):
        the config's downloads (paths the grammar names there are read from the working
        directory), and a realistic grammar's ``motifs.json`` (its kept motifs).

    Returns
    -------
    paths: dict
        ``discovery``, ``matches`` and ``scores`` -> path.
    """
    out_prefix = Path(out_prefix)
    elements = load_element_motifs(grammar, downloads, motif_summary)  # before the slow step
    found = discover_from_maps(maps, split, n_examples=n_examples, n_threads=threads,
                               **(modisco or {}))
    matches = match_patterns(found.patterns, elements,
                             read_decoys(decoys) if decoys else decoy_motifs(),
                             n_threads=threads)
    scores = score_discovery(found, matches, list(elements), _instances(split), alpha=alpha)
    for i, label in enumerate(DISCOVERY_LABELS):
        scores.insert(i, label, found.info[label])
    kept = matches[matches["element"]
                   | (matches.groupby("pattern")["q_value"].rank(method="first")
                      <= N_DECOY_MATCHES)]
    paths = {"discovery": out_prefix.with_name(out_prefix.name + ".json"),
             "matches": out_prefix.with_name(out_prefix.name + ".matches.tsv"),
             "scores": out_prefix.with_name(out_prefix.name + ".scores.tsv")}
    found.save(paths["discovery"])
    write_tsv(kept, paths["matches"])
    write_tsv(scores, paths["scores"])
    return paths


def _instances(split) -> pd.DataFrame:
    from ..simulation.dataset import read_instances

    return read_instances(split)
