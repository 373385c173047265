# placement.py
# grammarbench.grammars: where a rule's elements go, the semantics that the simulator and
# the oracle share.

"""How a rule places its elements, shared by the simulator
(:mod:`grammarbench.simulation.simulate`, which draws placements) and the oracle
(:mod:`grammarbench.models.oracle`, which sums over them), so the two cannot drift apart.

A rule's elements fall into groups tied by spacing constraints (:func:`components`);
each group is placed as one block, its elements laid out along the constraints in
breadth-first order (:func:`placement_plan`), each new element beside one already placed
(:func:`place_relative`). Shuffled negatives draw their source label set with the
weights of :func:`label_weight`.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from grammarbench.grammars.grammar import Rule

__all__ = ["components", "placement_plan", "place_relative", "label_weight"]


def components(rule: Rule) -> list[list[str]]:
    """The rule's elements grouped by spacing constraints (connected components)."""
    parent = {e: e for e in rule.elements}

    def root(e):
        while parent[e] != e:
            e = parent[e]
        return e

    for s in rule.spacing:
        parent[root(s.second)] = root(s.first)
    groups: dict[str, list[str]] = {}
    for e in rule.elements:
        groups.setdefault(root(e), []).append(e)
    return list(groups.values())


@cache
def placement_plan(rule: Rule) -> list[tuple[list[str], list[tuple]]]:
    """For each group of spacing-tied elements: the elements, and the constraints in
    breadth-first order as (placed element index, new element index, constraint,
    whether the placed element is the constraint's ``first``)."""
    plans = []
    for component in components(rule):
        index = {e: i for i, e in enumerate(component)}
        edges, placed, pending = [], {0}, [s for s in rule.spacing if s.first in index]
        while pending:
            for s in list(pending):
                a, b = index[s.first], index[s.second]
                if a in placed or b in placed:
                    known, new = (a, b) if a in placed else (b, a)
                    edges.append((known, new, s, known == a))
                    placed.add(new)
                    pending.remove(s)
        plans.append((component, edges))
    return plans


def place_relative(off, width, rows, edge, gap, first_before_second):
    """Offset of the edge's new element from the placed one, shape=(n,): right of it (after
    its end and ``gap``) where ``first_before_second`` says the constraint's ``first``
    comes first, else left of it.

    ``off`` shape=(n, m): offsets of the block's elements placed so far; ``width``
    shape=(N, m) and ``rows`` shape=(n,): element widths and the rows of them to use;
    ``edge``: one step of :func:`placement_plan`; ``gap`` shape=(n,).
    """
    known, new, _, known_is_first = edge
    right = first_before_second if known_is_first else ~first_before_second
    return np.where(right, off[:, known] + width[rows, known] + gap,
                    off[:, known] - gap - width[rows, new])


def label_weight(entries, labels) -> float:
    """Weight of a shuffle source among a split's composition ``entries``: that of the
    plain (not shuffled) entry with these ``labels``, else 1."""
    for e in entries:
        if e.shuffle_of is None and e.labels == labels:
            return e.weight
    return 1.0
