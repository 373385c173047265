"""seqgra's multi-label semantics: each example's conditions in a random order, the
background of the first after the shuffle, rules applied in that order; every instance an
overlap touches flagged; class counts exact at a definition's own sizes; and the entry
assignment still nested across sizes and independent of threads and chunking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from grammarbench.grammars.grammar import load_grammar
from grammarbench.simulation.dataset import load_split, read_instances
from grammarbench.simulation.simulate import (block_counts, entry_assignment, simulate_split,
                                              split_sizes)

#: Background GC of each condition: far enough apart to tell an example's background
#: from its GC content alone.
GC = {"c1": 0.9, "c2": 0.6, "c3": 0.35, "c4": 0.1}
#: Each condition inserts one k-mer of 12 letters that shares no letter with the others,
#: so an instance written over is visibly damaged.
KMER = {"c1": "A" * 12, "c2": "C" * 12, "c3": "G" * 12, "c4": "T" * 12}
LENGTH = 150
#: (labels, samples) per set: every label combination of interest, in the definition's order.
SETS = {
    "training": [(["c1", "c2", "c3", "c4"], 1600), (["c1", "c2"], 800), (["c2"], 300),
                 (["c3", "c4"], 300)],
    "validation": [(["c1"], 100), (["c2"], 100), (["c3"], 100), (["c4"], 100),
                   (["c1", "c2", "c3", "c4"], 99)],
    "test": [(["c4", "c3", "c2", "c1"], 30), (["c2"], 7)],
}


def distribution(gc: float) -> dict:
    return {"A": (1 - gc) / 2, "C": gc / 2, "G": gc / 2, "T": (1 - gc) / 2}


def four_label_xml(tmp_path) -> str:
    backgrounds = "".join(
        f'<alphabetdistribution cid="{c}">'
        + "".join(f'<letter probability="{p}">{x}</letter>' for x, p in distribution(gc).items())
        + "</alphabetdistribution>" for c, gc in GC.items())
    sets = "".join(
        f'<set name="{name}">' + "".join(
            f'<example samples="{n}">' + "".join(f'<conditionref cid="{c}"/>' for c in labels)
            + "</example>" for labels, n in examples) + "</set>"
        for name, examples in SETS.items())
    conditions = "".join(
        f'<condition id="{c}"><label>{c}</label><description/><grammar><rule>'
        f"<position>random</position><probability>1.0</probability><sequenceelementrefs>"
        f'<sequenceelementref sid="k{c}"/></sequenceelementrefs></rule></grammar></condition>'
        for c in GC)
    elements = "".join(
        f'<sequenceelement id="k{c}"><kmerbased><kmer probability="1.0">{k}</kmer>'
        f"</kmerbased></sequenceelement>" for c, k in KMER.items())
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<seqgradata xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <general id="four-labels"><name>four labels</name><description>seqgra fidelity</description>
    <task>multi-label classification</task><sequencespace>DNA</sequencespace><seed>3</seed>
  </general>
  <background><minlength>{LENGTH}</minlength><maxlength>{LENGTH}</maxlength>
    <alphabetdistributions>{backgrounds}</alphabetdistributions></background>
  <datageneration><sets>{sets}</sets></datageneration>
  <conditions>{conditions}</conditions>
  <sequenceelements>{elements}</sequenceelements>
</seqgradata>
"""
    path = tmp_path / "four-labels.xml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def grammar(tmp_path_factory):
    return load_grammar(four_label_xml(tmp_path_factory.mktemp("xml")))


@pytest.fixture(scope="module")
def train(grammar, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "train"
    simulate_split(grammar, "train", split_sizes(grammar)["train"], 5, out, chunk_size=1024)
    return load_split(out, mmap=False)


def label_sets(split) -> list[str]:
    classes = np.array(split.classes)
    return ["|".join(classes[row.astype(bool)]) for row in split.labels]


def background_gc(split) -> np.ndarray:
    """GC fraction of each example's background letters (grammar positions left out)."""
    gc = np.isin(split.sequences, (1, 2)) & (split.mask == 0)
    return gc.sum(1) / (split.mask == 0).sum(1)


def nearest_background(split) -> np.ndarray:
    names = np.array(list(GC))
    values = np.array(list(GC.values()))
    return names[np.abs(background_gc(split)[:, None] - values[None]).argmin(1)]


def test_background_is_a_random_labels_not_the_first_in_class_order(train):
    """seqgra: shuffle the example's conditions, take the first one's background. With
    four labels each background is drawn a quarter of the time (before: always c1's,
    GC 0.80); with c1 and c2 half and half; a single label keeps its own."""
    sets = pd.Series(label_sets(train))
    picked = pd.Series(nearest_background(train))
    for labels, expected in (("c1|c2|c3|c4", dict.fromkeys(GC, 0.25)),
                             ("c1|c2", {"c1": 0.5, "c2": 0.5}), ("c2", {"c2": 1.0}),
                             ("c3|c4", {"c3": 0.5, "c4": 0.5})):
        rows = sets == labels
        share = picked[rows].value_counts(normalize=True)
        n = int(rows.sum())
        for c, p in expected.items():
            se = math.sqrt(max(p * (1 - p), 1e-12) / n)
            assert abs(share.get(c, 0.0) - p) <= 4 * se + 0.01, (labels, c, share.to_dict())
        # a background of another label: only GC misread from ~100 letters (rare)
        assert share.drop(list(expected), errors="ignore").sum() < 0.01, (labels, share.to_dict())


def test_every_label_is_applied_last_equally_often(train):
    """Rules applied in the shuffled order: each label's k-mer survives intact equally
    often (before: c4, applied last, intact 100%; c1 far less)."""
    t = read_instances(train.path)
    seqs = train.sequences
    letters = np.array(list("ACGT"))
    sets = np.array(label_sets(train))
    t = t[sets[t["example"]] == "c1|c2|c3|c4"]
    intact = {}
    for c, kmer in KMER.items():
        rows = t[t["class"] == c]
        cols = rows["start"].to_numpy()[:, None] + np.arange(len(kmer))
        got = letters[seqs[rows["example"].to_numpy()[:, None], cols]]
        intact[c] = float((got == np.array(list(kmer))).all(1).mean())
    values = np.array(list(intact.values()))
    n = 1600
    se = math.sqrt(values.mean() * (1 - values.mean()) / n)
    assert values.max() - values.min() < 6 * se, intact
    assert values.max() < 0.99, intact   # nobody is always last


def test_overlaps_flag_every_instance_an_overlap_touches(train):
    """The flag is exactly 'shares a position with another instance of the example':
    the damaged instance is flagged, not only the one that wrote over it."""
    t = read_instances(train.path).reset_index(drop=True)
    t["id"] = np.arange(len(t))
    pairs = t.merge(t, on="example", suffixes=("", "_o"))
    pairs = pairs[(pairs["id"] != pairs["id_o"]) & (pairs["start"] < pairs["end_o"])
                  & (pairs["start_o"] < pairs["end"])]
    touching = np.zeros(len(t), bool)
    touching[pairs["id"].to_numpy()] = True
    assert touching.sum() > 100
    assert (t["overlaps"].to_numpy() == touching).all()
    # and every damaged instance (letters differ from its k-mer) is among them
    letters = np.array(list("ACGT"))
    first = np.array([KMER[c][0] for c in t["class"]])
    at_start = letters[train.sequences[t["example"], t["start"]]]
    damaged = at_start != first
    assert damaged.any() and t["overlaps"].to_numpy()[damaged].all()


def test_class_counts_exact_at_the_definitions_sizes(grammar, tmp_path):
    sizes = split_sizes(grammar)
    assert sizes == {"train": 3000, "validation": 499, "test": 37}
    for split, seqgra_name in (("validation", "validation"), ("test", "test")):
        out = tmp_path / split
        # chunks smaller than the split, so that chunk boundaries fall inside blocks
        simulate_split(grammar, split, sizes[split], 5, out, chunk_size=64)
        data = load_split(out, mmap=False)
        counts = pd.Series(label_sets(data)).value_counts().to_dict()
        expected = {"|".join(sorted(labels)): n for labels, n in SETS[seqgra_name]}
        assert counts == expected, (split, counts)
        manifest_counts = dict(zip(data.classes, data.labels.sum(0).tolist()))
        per_class = {c: sum(n for labels, n in SETS[seqgra_name] if c in labels) for c in GC}
        assert manifest_counts == per_class


def test_entry_assignment_exact_blocks_nested_and_chunk_free():
    weights = [100.0, 100.0, 300.0, 99.0]
    counts = block_counts(tuple(weights))
    assert counts.tolist() == [100, 100, 300, 99]          # no common divisor: one block
    assert block_counts((5000.0, 5000.0)).tolist() == [1, 1]
    assert block_counts((0.7, 0.2, 0.1)).tolist() == [7, 2, 1]
    big = block_counts((1.0, 1e-7))                        # exact ratio needs 10^7 + 1
    assert big.sum() == 1 << 16
    whole = entry_assignment(weights, 7, "train", 0, 5 * 599)
    assert np.bincount(whole, minlength=4).tolist() == [500, 500, 1500, 495]
    # any range computed alone equals the same range of the whole
    for start, n in ((0, 1), (13, 700), (598, 2), (1000, 1995)):
        assert (entry_assignment(weights, 7, "train", start, n) == whole[start: start + n]).all()
    # another seed or split: another order, the same counts
    other = entry_assignment(weights, 8, "train", 0, 599)
    assert (other != whole[:599]).any() and (np.bincount(other) == counts).all()
    assert (entry_assignment(weights, 7, "test", 0, 599) != whole[:599]).any()


def test_multilabel_output_independent_of_threads_and_nested(grammar, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate_split(grammar, "train", 700, 2, a, threads=1, chunk_size=128)
    simulate_split(grammar, "train", 700, 2, b, threads=3, chunk_size=128)
    simulate_split(grammar, "train", 300, 2, c, threads=1, chunk_size=128)
    for name in ("sequences", "mask", "labels", "entries", "lengths"):
        x, y, z = (np.load(p / f"{name}.npy") for p in (a, b, c))
        assert (x == y).all() and (x[:300] == z).all(), name
    assert (a / "instances.tsv").read_bytes() == (b / "instances.tsv").read_bytes()


def test_oracle_mixes_the_labels_backgrounds(grammar, train):
    """The oracle scores a multi-label entry's background as the simulator draws it: each
    label's with equal share (one entry per distinct background)."""
    from grammarbench.models.oracle import Oracle

    oracle = Oracle(grammar, split="train")
    by_labels = {}
    for log_w, b, labels, _ in oracle.entries:
        by_labels.setdefault(tuple(sorted(labels)), []).append((log_w, b))
    four = by_labels[("c1", "c2", "c3", "c4")]
    assert len(four) == 4 and len({b for _, b in four}) == 4
    assert np.allclose([w for w, _ in four], math.log(1600 / 3000) + math.log(0.25))
    assert len(by_labels[("c2",)]) == 1
    # the examples of c1|c2 drawn on c2's background (GC 0.6) are recognised as c1|c2 as
    # often as those on c1's (scoring c1's background only, they were not)
    sets = np.array(label_sets(train))
    rows = np.flatnonzero(sets == "c1|c2")[:300]
    joint = oracle.log_joint(train.sequences[rows], train.lengths[rows]).numpy()
    entry_labels = np.array(["|".join(sorted(labels)) for _, _, labels, _ in oracle.entries])
    right = entry_labels[joint.argmax(1)] == "c1|c2"
    background = nearest_background(train)[rows]
    on_c1, on_c2 = right[background == "c1"].mean(), right[background == "c2"].mean()
    assert on_c1 > 0.8 and on_c2 > 0.8, (on_c1, on_c2)
