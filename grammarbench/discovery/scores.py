# scores.py
# grammarbench.discovery: how well the discovered patterns recover the grammar.

r"""Scores of one motif-discovery run against the grammar (every definition, once).

Inputs: the patterns (:class:`grammarbench.discovery.Discovery`), their Tomtom matches
(:func:`grammarbench.discovery.match_patterns`), the grammar's element names and the
split's instance table (``example``, ``element``, ``start``, ``end``; 0-based,
half-open), restricted to the examples whose maps were searched.

Assignment. A pattern *matches* element e when its q-value against e is below
``alpha`` (0.05); it is assigned to the element it matches with the smallest q-value
(ties: the first element in grammar order). An element is *recovered* when some pattern
is assigned to it.

Motif level (``element`` = ``all``)
    ``n_patterns``, ``n_seqlets``;
    ``motif_recall`` = recovered elements / elements;
    ``motif_precision`` = patterns assigned to an element / patterns (NaN without
    patterns);
    ``redundancy`` = patterns assigned to an element / recovered elements (NaN when
    none is recovered): 1 is one pattern per motif;
    ``seqlet_precision`` = seqlets that overlap an instance of their pattern's element
    / all seqlets (a seqlet of an unassigned pattern is a false one);
    ``seqlet_recall`` = instances overlapped by a seqlet of a pattern assigned to their
    element / instances.
Per element (``element`` = its name)
    ``best_q`` (smallest q-value of any pattern against it; NaN without patterns),
    ``recovered`` (0/1), ``n_patterns`` (assigned to it), ``seqlet_precision`` and
    ``seqlet_recall`` as above, restricted to its patterns and its instances.

A seqlet *overlaps* an instance when they share at least one letter of the same
example. Seqlets are cut to the core of their pattern first (the letters Tomtom
aligned; :meth:`grammarbench.discovery.Pattern.trimmed`), so TF-MoDISco's flanks do not
reach neighbouring instances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .matching import TRIM_THRESHOLD

__all__ = ["assign_patterns", "score_discovery", "SCORE_COLUMNS", "ALPHA"]

ALPHA = 0.05
SCORE_COLUMNS = ("element", "metric", "value")


def assign_patterns(matches: pd.DataFrame, elements, alpha: float = ALPHA) -> pd.DataFrame:
    """Each pattern's best grammar element and whether it matches it.

    Parameters
    ----------
    matches: pandas.DataFrame
        :func:`grammarbench.discovery.match_patterns`'s table.
    elements: list of str
        The grammar's element names, in grammar order (breaks ties).
    alpha: float
        q-value threshold. Default is 0.05.

    Returns
    -------
    assignment: pandas.DataFrame
        One row per pattern: ``pattern``, ``best_element``, ``best_q`` (against the
        grammar's elements), ``assigned`` (``best_element`` if ``best_q < alpha``, else
        empty), ``best_target``/``target_q`` (the best target overall, decoys included).
    """
    elements = list(elements)
    patterns = pd.unique(matches["pattern"])
    columns = ["pattern", "best_element", "best_q", "assigned", "best_target", "target_q"]
    if not len(patterns):
        return pd.DataFrame({c: pd.Series(dtype=float if c.endswith("_q") else object)
                             for c in columns})
    rank = {name: i for i, name in enumerate(elements)}
    on_elements = matches[matches["target"].isin(rank)].assign(
        rank=lambda t: t["target"].map(rank))
    best = (on_elements.sort_values(["pattern", "q_value", "rank"], kind="stable")
            .groupby("pattern", sort=False).head(1).set_index("pattern"))
    overall = (matches.sort_values(["pattern", "q_value"], kind="stable")
               .groupby("pattern", sort=False).head(1).set_index("pattern"))
    table = pd.DataFrame({"pattern": patterns})
    table["best_element"] = best["target"].reindex(patterns).to_numpy()
    table["best_q"] = best["q_value"].reindex(patterns).to_numpy(dtype=float)
    table["assigned"] = np.where(table["best_q"] < alpha, table["best_element"], "")
    table["best_target"] = overall["target"].reindex(patterns).to_numpy()
    table["target_q"] = overall["q_value"].reindex(patterns).to_numpy(dtype=float)
    return table[columns]


def _seqlet_hits(seqlets: pd.DataFrame, instances: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Which seqlets overlap an instance of their assigned element, and which instances
    (index labels) are overlapped by a seqlet assigned to their element."""
    if seqlets.empty or instances.empty:
        return np.zeros(len(seqlets), bool), pd.Index([])
    pairs = seqlets.reset_index(names="seqlet").merge(
        instances.reset_index(names="instance"), left_on=["example", "assigned"],
        right_on=["example", "element"], suffixes=("", "_instance"))
    overlap = (pairs["start"] < pairs["end_instance"]) & (pairs["end"] > pairs["start_instance"])
    hit = np.zeros(len(seqlets), bool)
    hit[pairs.loc[overlap, "seqlet"].to_numpy()] = True
    return hit, pd.Index(pd.unique(pairs.loc[overlap, "instance"]))


def _ratio(numerator, denominator) -> float:
    return float(numerator) / denominator if denominator else float("nan")


def score_discovery(discovery, matches: pd.DataFrame, elements, instances: pd.DataFrame,
                    examples=None, *, alpha: float = ALPHA,
                    trim_threshold: float = TRIM_THRESHOLD) -> pd.DataFrame:
    """Score one discovery run against the grammar (see the module docstring).

    Parameters
    ----------
    discovery: grammarbench.discovery.Discovery
    matches: pandas.DataFrame
        Its patterns' Tomtom matches (:func:`grammarbench.discovery.match_patterns`).
    elements: list of str
        The grammar's element names.
    instances: pandas.DataFrame
        The split's instance table.
    examples: array-like of int or None
        The split rows whose maps were searched; only their instances count. Default
        None: ``discovery.info["examples"]``.
    alpha, trim_threshold: float
        q-value threshold (0.05) and pattern core threshold (0.3).

    Returns
    -------
    scores: pandas.DataFrame
        Long table, :data:`SCORE_COLUMNS`: ``element`` (``all`` or an element name),
        ``metric``, ``value``.
    """
    elements = list(elements)
    if examples is None:
        examples = discovery.info["examples"]
    instances = instances[instances["example"].isin(np.asarray(examples))
                          & instances["element"].isin(elements)]
    instances = instances[["example", "element", "start", "end"]].reset_index(drop=True)
    assignment = assign_patterns(matches, elements, alpha)
    assigned_to = dict(zip(assignment["pattern"], assignment["assigned"]))
    trimmed = [p.trimmed(trim_threshold).seqlets.assign(pattern=p.name)
               for p in discovery.patterns]
    seqlets = (pd.concat(trimmed, ignore_index=True) if trimmed else
               pd.DataFrame(columns=["pattern", "example", "start", "end"]))
    seqlets["assigned"] = seqlets["pattern"].map(assigned_to).fillna("")
    hit, found = _seqlet_hits(seqlets, instances)
    covered = np.zeros(len(instances), bool)
    covered[found.to_numpy(dtype=np.int64)] = True

    n_patterns = len(discovery.patterns)
    n_assigned = int((assignment["assigned"] != "").sum())
    recovered = set(assignment.loc[assignment["assigned"] != "", "assigned"])
    rows = [("all", "n_patterns", n_patterns), ("all", "n_seqlets", len(seqlets)),
            ("all", "motif_recall", _ratio(len(recovered), len(elements))),
            ("all", "motif_precision", _ratio(n_assigned, n_patterns)),
            ("all", "redundancy", _ratio(n_assigned, len(recovered))),
            ("all", "seqlet_precision", _ratio(hit.sum(), len(seqlets))),
            ("all", "seqlet_recall", _ratio(covered.sum(), len(instances)))]
    by_element = matches[matches["target"].isin(elements)].groupby("target")["q_value"].min()
    for element in elements:
        mine = (seqlets["assigned"] == element).to_numpy()
        theirs = (instances["element"] == element).to_numpy()
        rows += [(element, "best_q", float(by_element.get(element, np.nan))),
                 (element, "recovered", float(element in recovered)),
                 (element, "n_patterns", int((assignment["assigned"] == element).sum())),
                 (element, "seqlet_precision", _ratio(hit[mine].sum(), mine.sum())),
                 (element, "seqlet_recall", _ratio(covered[theirs].sum(), theirs.sum()))]
    table = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    table["value"] = table["value"].astype(float)
    return table
