"""The simulator against its grammar: frequencies, positions, gaps, composition, labels,
the mask, multi-label combinations, shuffled negatives; prefix stability and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from grammarbench.simulation.dataset import load_split
from grammarbench.grammars.grammar import grammar_from_dict, load_grammar
from grammarbench.simulation.simulate import MAX_ATTEMPTS, simulate_chunk, simulate_split

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def binomial_ok(successes, n, p, z=4.5):
    """Observed count within z binomial standard deviations of n*p."""
    sd = np.sqrt(n * p * (1 - p)) if 0 < p < 1 else 0
    return abs(successes - n * p) <= z * sd + 1e-9


STATS_GRAMMAR = {
    "name": "stats",
    "task": "multi-label",
    "length": 150,
    "background": {"letters": {"A": 0.4, "C": 0.1, "G": 0.2, "T": 0.3}},
    "elements": {
        "M1": {"ppm": [[0.97, 0.01, 0.01, 0.01], [0.01, 0.97, 0.01, 0.01], [0.01, 0.01, 0.97, 0.01],
                       [0.01, 0.01, 0.01, 0.97], [0.5, 0.5, 0, 0], [0.97, 0.01, 0.01, 0.01]],
               "strand": "either"},
        "M2": {"kmers": {"GGGCCC": 3, "TTTAAA": 1}},
        "M3": {"kmers": {"CCCC": 1}, "strand": "reverse"},
    },
    "classes": {
        "pair": {"rules": [{"elements": ["M1", "M2"], "probability": 0.6,
                            "spacing": [{"first": "M1", "second": "M2", "min_gap": 3, "max_gap": 12,
                                         "order": "in-order"}]}]},
        "either": {"rules": [{"elements": ["M1", "M3"],
                              "spacing": [{"first": "M1", "second": "M3", "min_gap": 0, "max_gap": 5,
                                           "order": "either"}]}]},
        "window": {"rules": [{"elements": ["M2"], "position": {"window": [20, 60]}, "copies": [1, 3]},
                             {"elements": ["M3"], "position": {"fixed": 100}, "probability": 0.3}]},
        "exclusive": {"mode": "mutually-exclusive",
                      "rules": [{"elements": ["M1"], "position": "start", "probability": 0.75},
                                {"elements": ["M2"], "position": "end", "probability": 0.25}]},
    },
    "composition": [{"labels": ["pair"], "weight": 2}, {"labels": ["either"]}, {"labels": ["window"]},
                    {"labels": ["exclusive"]}, {"labels": ["pair", "window"]}, {"labels": []},
                    {"shuffle_of": [["pair"]], "k": 2, "labels": [], "weight": 1}],
    "splits": {"train": 0.8, "validation": 0.1, "test": 0.1},
}


@pytest.fixture(scope="module")
def stats_split(tmp_path_factory):
    grammar = grammar_from_dict(STATS_GRAMMAR)
    out = tmp_path_factory.mktemp("stats") / "train"
    simulate_split(grammar, "train", 12000, seed=5, out_dir=out, threads=2)
    return grammar, load_split(out)


def test_composition_and_labels(stats_split):
    grammar, split = stats_split
    entries = np.asarray(split.entries)
    weights = np.array([e.weight for e in grammar.composition["train"]])
    expected = weights / weights.sum()
    counts = np.bincount(entries, minlength=len(weights))
    for i, p in enumerate(expected):
        assert binomial_ok(counts[i], len(entries), p), (i, counts[i], p)
    labels = np.asarray(split.labels)
    classes = grammar.class_names
    for i, entry in enumerate(grammar.composition["train"]):
        want = np.zeros(len(classes), np.uint8)
        want[[classes.index(c) for c in entry.labels]] = 1
        assert (labels[entries == i] == want).all(), entry
    # the multi-label combination carries both grammars
    both = np.flatnonzero(entries == 4)
    table = split.instances
    per_example = table[table.example.isin(both)].groupby("example")["class"].agg(set)
    assert (per_example.apply(lambda s: "window" in s)).mean() == 1.0
    assert (per_example.apply(lambda s: "pair" in s)).mean() == pytest.approx(0.6, abs=0.08)


def test_rule_frequencies(stats_split):
    grammar, split = stats_split
    entries = np.asarray(split.entries)
    table = split.instances
    fired = lambda cls, rule: table[(table["class"] == cls) & (table.rule == rule)].example.unique()  # noqa: E731
    pair_examples = np.flatnonzero(np.isin(entries, [0, 4]))
    assert binomial_ok(len(fired("pair", 0)), len(pair_examples), 0.6)
    window_examples = np.flatnonzero(np.isin(entries, [2, 4]))
    assert binomial_ok(len(fired("window", 1)), len(window_examples), 0.3)
    exclusive = np.flatnonzero(entries == 3)
    first, second = set(fired("exclusive", 0)), set(fired("exclusive", 1))
    assert not first & second, "mutually exclusive rules fired together"
    assert len(first | second) == len(exclusive)
    assert binomial_ok(len(first), len(exclusive), 0.75)
    # copies drawn uniformly from [1, 3]
    copies = table[(table["class"] == "window") & (table.rule == 0)].groupby("example").size()
    assert set(copies.unique()) == {1, 2, 3}
    for k in (1, 2, 3):
        assert binomial_ok((copies == k).sum(), len(copies), 1 / 3)
    # strands: `either` about half reverse, `reverse` always reverse
    m1 = table[table.element == "M1"]
    assert binomial_ok((m1.strand == "-").sum(), len(m1), 0.5)
    assert (table[table.element == "M3"].strand == "-").all()


def test_positions_and_gaps(stats_split):
    grammar, split = stats_split
    t = split.instances
    assert (t.start >= 0).all() and (t.end <= 150).all()
    assert ((t.end - t.start) == t.element.map({"M1": 6, "M2": 6, "M3": 4})).all()
    win = t[(t["class"] == "window") & (t.rule == 0)]
    assert (win.start >= 20).all() and (win.end <= 60).all()
    assert (t[(t["class"] == "window") & (t.rule == 1)].start == 100).all()
    excl = t[t["class"] == "exclusive"]
    assert (excl[excl.rule == 0].start == 0).all() and (excl[excl.rule == 1].end == 150).all()
    # in-order pair: M2 starts 3..12 letters after M1 ends
    pair = t[t["class"] == "pair"].pivot_table(index="example", columns="element", values=["start", "end"])
    gap = pair["start"]["M2"] - pair["end"]["M1"]
    assert gap.between(3, 12).all() and set(gap.unique()) == set(range(3, 13))
    # either order: both orders occur, gap 0..5 either way
    ei = t[t["class"] == "either"].pivot_table(index="example", columns="element", values=["start", "end"])
    after = ei["start"]["M3"] - ei["end"]["M1"]
    before = ei["start"]["M1"] - ei["end"]["M3"]
    gap = np.where(after >= 0, after, before)
    assert ((gap >= 0) & (gap <= 5)).all()
    assert binomial_ok((after >= 0).sum(), len(after), 0.5)
    # under overlap: resample (the default) an instance lands on another only at a fixed
    # position, which cannot move, or after MAX_ATTEMPTS draws in a crowded window; flagged,
    # and so is the instance it lands on
    flagged = t[t.overlaps]
    fixed = (flagged["class"] == "window") & (flagged.rule == 1)
    writer = fixed | (flagged.attempts == MAX_ATTEMPTS)
    assert len(flagged) and writer.any()
    assert flagged.loc[~writer, "example"].isin(flagged.loc[writer, "example"]).all()
    assert (t[~t.overlaps & (t["class"] == "window")].attempts > 1).any()


def test_instance_letters_follow_the_element(stats_split):
    grammar, split = stats_split
    seqs = np.asarray(split.sequences)
    t = split.instances
    m2 = t[t.element == "M2"]
    words = {grammar.alphabet.decode(seqs[e, s:s + 6]) for e, s in zip(m2.example[:300], m2.start[:300])}
    assert words == {"GGGCCC", "TTTAAA"}
    m3 = t[t.element == "M3"]
    assert {grammar.alphabet.decode(seqs[e, s:s + 4]) for e, s in zip(m3.example, m3.start)} == {"GGGG"}
    m1 = t[(t.element == "M1") & (t.strand == "+")]
    letters = seqs[m1.example.to_numpy()[:, None], m1.start.to_numpy()[:, None] + np.arange(6)]
    freq = (letters[:, 0] == 0).mean()
    assert freq == pytest.approx(0.97, abs=0.02)


def test_mask_is_union_of_instances_and_background_composition(stats_split):
    grammar, split = stats_split
    t = split.instances
    expected = np.zeros(split.mask.shape, bool)
    rows = np.repeat(t.example.to_numpy(), (t.end - t.start).to_numpy())
    cols = np.concatenate([np.arange(s, e) for s, e in zip(t.start, t.end)])
    expected[rows, cols] = True
    assert (np.asarray(split.mask).astype(bool) == expected).all()
    seqs = np.asarray(split.sequences)
    plain = np.asarray(split.entries) != 6  # shuffled negatives keep the grammar's letters
    background = seqs[plain][~expected[plain]]
    freq = np.bincount(background, minlength=4) / background.size
    assert freq == pytest.approx([0.4, 0.1, 0.2, 0.3], abs=0.005)


def test_shuffled_negatives_keep_dinucleotides_and_lose_the_grammar(stats_split):
    grammar, split = stats_split
    rows = np.flatnonzero(np.asarray(split.entries) == 6)
    assert len(rows) > 500
    assert not np.asarray(split.mask)[rows].any()
    assert not split.instances.example.isin(rows).any()
    # The k=2 shuffle of a pair example still holds M2's k-mers far less often than pair examples
    seqs = np.asarray(split.sequences)
    text = [grammar.alphabet.decode(s) for s in seqs[rows[:400]]]
    assert sum("GGGCCC" in s or "TTTAAA" in s for s in text) < 0.5 * 400 * 0.6


def test_prefix_stability_and_process_independence(tmp_path):
    grammar = load_grammar(REPO / "config/grammars/reference.yaml")
    small = simulate_split(grammar, "train", 2100, 9, tmp_path / "small", threads=1)
    large = simulate_split(grammar, "train", 5000, 9, tmp_path / "large", threads=2)
    simulate_split(grammar, "train", 5000, 9, tmp_path / "same", threads=1)
    assert small["grammar"]["sha256"] == large["grammar"]["sha256"]
    a, b, c = (load_split(tmp_path / x) for x in ("small", "large", "same"))
    for name in ("sequences", "mask", "labels", "lengths", "entries"):
        assert np.array_equal(getattr(a, name), getattr(b, name)[:2100]), name
        assert (tmp_path / "large" / f"{name}.npy").read_bytes() == (tmp_path / "same" / f"{name}.npy").read_bytes()
    ta, tb = a.instances, b.instances
    pd.testing.assert_frame_equal(ta, tb[tb.example < 2100].reset_index(drop=True))
    assert (tmp_path / "large/instances.tsv").read_bytes() == (tmp_path / "same/instances.tsv").read_bytes()
    other = simulate_split(grammar, "train", 2100, 10, tmp_path / "other")
    assert other["grammar"] == small["grammar"]
    assert not np.array_equal(load_split(tmp_path / "other").sequences, a.sequences)


def test_splits_differ_and_lengths_vary(tmp_path):
    grammar = load_grammar(REPO / "config/grammars/reference.yaml")
    train = simulate_chunk(grammar, "train", 1, 0, 256)
    test = simulate_chunk(grammar, "test", 1, 0, 256)
    assert not np.array_equal(train.sequences, test.sequences)
    assert train.lengths.min() >= 180 and train.lengths.max() <= 220 and len(set(train.lengths)) > 20
    pad = np.arange(220)[None, :] >= train.lengths[:, None]
    assert (train.sequences[pad] == 4).all() and not train.mask[pad].any()


def test_overlap_allow_records_overlaps():
    d = yaml.safe_load(yaml.safe_dump(STATS_GRAMMAR))
    d["length"] = 30
    d["overlap"] = "allow"
    d["classes"] = {"crowded": {"rules": [{"elements": ["M2"], "copies": 4}]}}
    d["composition"] = [{"labels": ["crowded"]}]
    chunk = simulate_chunk(grammar_from_dict(d), "train", 1, 0, 500)
    assert chunk.instances["overlaps"].any()
    d["overlap"] = "resample"
    chunk = simulate_chunk(grammar_from_dict(d), "train", 1, 0, 500)
    assert (chunk.instances["attempts"] > 1).any()


def test_positional_counts_from_instances_equal_the_mask():
    # the chunk's per-class positional counts come from its instance table (the mask's rows
    # only where instances overlap): equal to counting the mask, with and without overlaps,
    # multi-label examples and shuffled negatives
    from grammarbench.simulation.simulate import _positional_counts

    crowded = yaml.safe_load(yaml.safe_dump(STATS_GRAMMAR))
    crowded.update(length=30, overlap="allow", composition=[{"labels": ["crowded"]}, {"labels": ["window"]}],
                   classes={"crowded": {"rules": [{"elements": ["M2"], "copies": 4}]},
                            "window": STATS_GRAMMAR["classes"]["window"]})
    crowded["classes"]["window"]["rules"][0]["position"] = {"window": [2, 20]}
    crowded["classes"]["window"]["rules"][1]["position"] = {"fixed": 10}
    for definition in (STATS_GRAMMAR, crowded):
        chunk = simulate_chunk(grammar_from_dict(definition), "train", 3, 0, 700)
        members = chunk.labels.astype(bool)
        assert chunk.instances["overlaps"].any() or definition is STATS_GRAMMAR
        assert np.array_equal(chunk.positional, _positional_counts(chunk.mask, members))
        assert np.array_equal(chunk.positional, _positional_counts(chunk.mask, members, chunk.instances))


def test_exports(tmp_path):
    grammar = load_grammar(REPO / "config/grammars/one-motif.yaml")
    simulate_split(grammar, "test", 50, 1, tmp_path / "test", exports=("fasta", "seqgra"))
    split = load_split(tmp_path / "test")
    fasta = (tmp_path / "test/exports/sequences.fa").read_text().splitlines()
    assert len(fasta) == 100 and fasta[0].startswith(">test_0 ")
    assert fasta[1] == grammar.alphabet.decode(split.sequences[0])
    bed = pd.read_csv(tmp_path / "test/exports/instances.bed", sep="\t", header=None)
    assert len(bed) == len(split.instances) and set(bed[3]) == {"CTCF"}
    x = pd.read_csv(tmp_path / "test/exports/test.txt", sep="\t")
    ann = pd.read_csv(tmp_path / "test/exports/test-annotation.txt", sep="\t")
    assert list(x.columns) == ["x", "y"] and list(ann.columns) == ["annotation", "y"]
    assert set(x.y) <= {"ctcf", "background"}
    assert ann.annotation[0] == "".join("G" if m else "_" for m in split.mask[0])


def test_a_simulate_job_imports_neither_torch_nor_pandas_nor_numba(tmp_path):
    """A simulate job is a fresh process: of an i.i.d. grammar it needs none of the heavy
    libraries the other stages use (each costs a cold job a fraction of a second or more)."""
    import subprocess
    import sys

    code = ("import sys\nfrom grammarbench.cli import main\n"
            f"code = main(['simulate', {str(REPO / 'config/grammars/one-motif.yaml')!r}, '--n-train', '50',"
            f" '--seed', '1', '--out', {str(tmp_path / 'out')!r}])\n"
            "print(code, sorted(m for m in ('torch', 'pandas', 'numba', 'matplotlib', 'sklearn', 'captum')"
            " if m in sys.modules))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split(None, 1) == ["0", "[]\n"], run.stdout + run.stderr
    assert any((tmp_path / "out").rglob("sequences.npy"))


@pytest.mark.parametrize("strings", [["a", "bb", "c"], ['with "quote"', "tab\there", "plain"]])
def test_write_columns_writes_what_pandas_writes(tmp_path, strings):
    """grammarbench.io.write_columns (the instance and positional tables, without pandas)
    is byte for byte pandas' to_csv(sep="\\t", index=False), quoting included."""
    import pandas as pd

    from grammarbench.io import write_columns

    columns = {"small": np.array([0, 7, 2], np.int16), "large": np.array([10**12, -3, 5]),
               "flag": np.array([True, False, True]), "value": np.array([0.1, 1 / 3, 2e-9]),
               "name": np.array(strings, dtype=object), "second": np.array([-1.5, 0.0, 1e300]),
               "unsigned": np.array([0, 255, 9], np.uint8), "text": np.array(["x", "Sox2\u00e9", "-"]),
               "category": pd.Categorical(["b", "a", "b"]), "last": np.array([3.0, -0.25, 1e-5])}
    for fmt in (None, "%.5g"):
        for rows in (slice(None), slice(0)):
            chosen = {name: values[rows] for name, values in columns.items()}
            write_columns(tmp_path / "ours.tsv", list(chosen), list(chosen.values()), float_format=fmt)
            pd.DataFrame(chosen).to_csv(tmp_path / "pandas.tsv", sep="\t", index=False, float_format=fmt)
            assert (tmp_path / "ours.tsv").read_bytes() == (tmp_path / "pandas.tsv").read_bytes(), (fmt, rows)
