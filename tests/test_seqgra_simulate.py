"""seqgra's published data definitions simulate unchanged (scaled down by a size override),
and the simulated data have the statistics the definitions specify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grammarbench.simulation.dataset import load_split
from grammarbench.grammars.grammar import load_grammar
from grammarbench.simulation.simulate import simulate_dataset, split_sizes

REPO = Path(__file__).resolve().parents[1]
SEQGRA = REPO / "config/grammars/seqgra"


def simulate(tmp_path, name, n_train=3000):
    grammar = load_grammar(SEQGRA / name)
    simulate_dataset(grammar, tmp_path, seed=1, n_train=n_train, n_validation=200, n_test=400, threads=2)
    return grammar, load_split(tmp_path / "train")


def pairs(split, first: str, second: str):
    """Per example with both elements: (start of first, end of first, start of second, end of second)."""
    t = split.instances
    wide = t.pivot_table(index="example", columns="element", values=["start", "end"], aggfunc="first")
    return wide["start"][first], wide["end"][first], wide["start"][second], wide["end"][second]


def test_definitions_keep_their_own_sizes_unless_overridden():
    grammar = load_grammar(SEQGRA / "mc2-dna1000-homer-100k-s1.xml")
    assert split_sizes(grammar) == {"train": 70000, "validation": 10000, "test": 20000}
    assert split_sizes(grammar, n_train=700) == {"train": 700, "validation": 10000, "test": 20000}
    assert split_sizes(grammar, 700, 50, 60) == {"train": 700, "validation": 50, "test": 60}


def test_mc2_one_motif_per_class(tmp_path):
    grammar, split = simulate(tmp_path, "mc2-dna1000-homer-100k-s1.xml")
    labels = np.asarray(split.labels)
    assert abs((labels == 0).mean() - 0.5) < 0.03  # 35,000 : 35,000 in the definition
    t = split.instances
    per_example = t.groupby("example").agg(n=("element", "size"), element=("element", "first"),
                                           cls=("class", "first"))
    assert len(per_example) == len(labels) and (per_example.n == 1).all()
    assert (per_example.element.map({"se1": "c1", "se2": "c2"}) == per_example.cls).all()
    assert (np.array(grammar.class_names)[labels[per_example.index]] == per_example.cls).all()
    widths = {"se1": grammar.elements["se1"].max_width, "se2": grammar.elements["se2"].max_width}
    assert ((t.end - t.start) == t.element.map(widths)).all()
    # position random: starts spread uniformly over [0, 1000 - width]
    se1 = t[t.element == "se1"].start
    assert se1.min() < 50 and se1.max() > 1000 - widths["se1"] - 50
    assert abs(se1.mean() - (1000 - widths["se1"]) / 2) < 30
    # background: the definition's letter distribution
    seqs, mask = np.asarray(split.sequences), np.asarray(split.mask).astype(bool)
    freq = np.bincount(seqs[~mask], minlength=4) / (~mask).sum()
    assert freq == pytest.approx([0.29565, 0.20435, 0.20435, 0.29565], abs=0.002)
    # the most likely letters of the inserted se2 instances spell the element's consensus
    starts = t[t.element == "se2"].start.to_numpy()
    rows = t[t.element == "se2"].example.to_numpy()
    letters = seqs[rows[:, None], starts[:, None] + np.arange(widths["se2"])]
    counts = np.stack([(letters == a).mean(0) for a in range(4)], axis=1)
    assert np.abs(counts - grammar.elements["se2"].ppm).max() < 0.06


def test_interaction_order(tmp_path):
    grammar, split = simulate(tmp_path, "mc2-dna1000-homer-interaction-order-100k-s1.xml")
    labels = np.asarray(split.labels)
    s1, e1, s2, e2 = pairs(split, "se1", "se2")
    c1 = labels[s1.index] == grammar.class_names.index("c1")
    assert len(s1) == len(labels)
    assert ((s2 - e1)[c1] >= 0).all(), "c1: se1 then se2"
    assert ((s1 - e2)[~c1] >= 0).all(), "c2: se2 then se1"
    gap = np.where(c1, s2 - e1, s1 - e2)
    assert gap.max() <= 968 and gap.min() >= 0
    assert np.median(gap) > 200  # gaps drawn uniformly up to what fits, as seqgra does


def test_mc20_interaction_spacing(tmp_path):
    grammar, split = simulate(tmp_path, "mc20-dna1000-homer-interaction-spacing-100k-s1.xml", n_train=4000)
    assert grammar.n_classes == 20
    labels = np.asarray(split.labels)
    # balanced within each chunk of 2,048 examples; the last, partial chunk is a random subset
    assert np.bincount(labels, minlength=20).min() >= 4000 // 20 - 10
    t = split.instances
    per_example = t.groupby("example")
    assert (per_example.size() == 2).all()
    for c, name in enumerate(grammar.class_names):
        rule = grammar.classes[name].rules[0]
        (constraint,) = rule.spacing
        rows = t[t["class"] == name]
        first = rows[rows.element == constraint.first].set_index("example")
        second = rows[rows.element == constraint.second].set_index("example")
        gap = second.start - first.end
        assert ((gap >= constraint.min_gap) & (gap <= constraint.max_gap)).all(), name
        assert set(first.index) == set(np.flatnonzero(labels == c))
