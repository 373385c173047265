"""Realistic simulation on a small synthetic genome with planted motifs and peaks at the
planted sites (made here), and on janggu's real Oct4 / Mafk ChIP-seq windows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from grammarbench.errors import InputError
from grammarbench.grammars.motifs import write_meme
from grammarbench.sequences.kernels import kshuffle, random_seeds
from grammarbench.simulation.realistic.grammar import realistic_grammar_from_dict
from grammarbench.simulation.realistic.implant import shuffle_and_implant
from grammarbench.simulation.realistic.simulate import (
    read_motif_tables, scan_and_filter, simulate_realistic_split, write_motif_tables)

WIDTH = 200
CHROMS = {"chr1": 120_000, "chr2": 60_000, "chr3": 60_000}
LINE = 60


def sharp_ppm(consensus: str, peak: float = 0.94) -> np.ndarray:
    codes = ["ACGT".index(c) for c in consensus]
    ppm = np.full((len(consensus), 4), (1 - peak) / 3)
    ppm[np.arange(len(codes)), codes] = peak
    return ppm


MOTIFS = {  # A and B planted at positive summits; D everywhere (not enriched); C nowhere
    "A": sharp_ppm("TGACTCATGCA"),
    "B": sharp_ppm("CCGGAAGTGGT"),
    "C": sharp_ppm("GTTTACATTCGA"),
    "D": sharp_ppm("AGGGTTAGCC"),
}


def sample(ppm, rng):
    return (rng.random(len(ppm))[:, None] > np.cumsum(ppm, 1)[:, :-1]).sum(1).astype(np.uint8)


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """A genome with motif A (and B in half) planted at positive summits, D at background
    summits and at the edges of positive windows; peaks at the planted sites."""
    rng = np.random.default_rng(11)
    folder = tmp_path_factory.mktemp("genome")
    sequences = {c: rng.integers(0, 4, size=n).astype(np.uint8) for c, n in CHROMS.items()}
    positives, background = [], []
    for chrom, size in CHROMS.items():
        sites = np.arange(400, size - 400, 400)
        rng.shuffle(sites)
        half = len(sites) // 2
        for i, summit in enumerate(sites[:half]):
            seq = sequences[chrom]
            word = sample(MOTIFS["A"], rng)
            at = summit - 5 + rng.integers(-10, 10)
            seq[at: at + len(word)] = word if i % 3 else 3 - word[::-1]  # either strand
            if i % 2:
                word = sample(MOTIFS["B"], rng)
                seq[summit + 20: summit + 20 + len(word)] = word
            edge = summit - WIDTH // 2 + 2
            seq[edge: edge + 10] = sample(MOTIFS["D"], rng)
            start = summit - 150
            positives.append((chrom, start, summit + 150, summit - start))
        for summit in sites[half:]:
            word = sample(MOTIFS["D"], rng)
            sequences[chrom][summit - 5: summit + 5] = word
            background.append((chrom, summit - 100, summit + 100))
    text = []
    for chrom, seq in sequences.items():
        letters = np.frombuffer(b"ACGT", dtype=np.uint8)[seq].tobytes().decode()
        text.append(f">{chrom}\n" + "\n".join(letters[i: i + LINE] for i in range(0, len(letters), LINE)))
    fasta = folder / "genome.fa"
    fasta.write_text("\n".join(text) + "\n")
    import pyfaidx

    pyfaidx.Faidx(str(fasta))  # writes genome.fa.fai
    with open(folder / "positives.narrowPeak", "w") as f:
        for i, (chrom, start, end, offset) in enumerate(positives):
            f.write(f"{chrom}\t{start}\t{end}\tpeak{i}\t0\t.\t5.0\t-1\t-1\t{offset}\n")
    pd.DataFrame(background).to_csv(folder / "background.bed", sep="\t", header=False, index=False)
    write_meme(folder / "motifs.meme", MOTIFS)
    return folder


def grammar_dict(genome: Path, **changes) -> dict:
    d = {
        "kind": "realistic", "name": "planted", "width": WIDTH,
        "positives": {"genome": str(genome / "genome.fa"), "peaks": str(genome / "positives.narrowPeak")},
        "background": {"peaks": str(genome / "background.bed")},
        "motifs": {"meme": str(genome / "motifs.meme")},
        "filter": {"min_hits": 60, "min_enrichment": 1.25}, "controls": True,
        "splits": {"mode": "chromosomes", "validation_chromosomes": ["chr2"], "test_chromosomes": ["chr3"]},
    }
    d.update(changes)
    return d


@pytest.fixture(scope="module")
def grammar(genome):
    return realistic_grammar_from_dict(grammar_dict(genome), source=str(genome / "g.yaml"))


@pytest.fixture(scope="module")
def tables(grammar, tmp_path_factory):
    folder = tmp_path_factory.mktemp("motifs")
    write_motif_tables(folder, scan_and_filter(grammar))
    return folder


def test_filter_keeps_exactly_the_planted_motifs(tables):
    found = read_motif_tables(tables)
    hits, table, summary = found.hits, found.table, found.summary
    assert found.kept == ["A", "B"] and len(found.positives) == summary["positive_windows"]
    assert table.loc[table["kept"], "motif"].tolist() == ["A", "B"]
    reasons = table.set_index("motif")["reason"]
    assert reasons["C"].startswith("fewer than min_hits")
    assert reasons["D"].startswith("enrichment below")
    sites = sum(len(range(400, n - 400, 400)) // 2 for n in CHROMS.values())
    assert summary["positive_windows"] == sites  # every positive peak: no window is dropped
    assert set(hits["set"]) == {"positive", "background"}


def test_implant_columns_read_from_the_arrays_equal_the_hit_table(tables):
    from grammarbench.simulation.realistic.simulate import IMPLANT_COLUMNS

    fast = read_motif_tables(tables, IMPLANT_COLUMNS).hits
    full = read_motif_tables(tables).hits
    assert list(fast.columns) == list(IMPLANT_COLUMNS) and len(fast) == len(full) > 0
    for column in IMPLANT_COLUMNS:
        assert (fast[column].astype(str).to_numpy() == full[column].astype(str).to_numpy()).all(), column


def test_windows_match_the_genome(grammar, genome):
    import pyfaidx

    windows = grammar.load_windows(grammar.positives)
    fasta = pyfaidx.Fasta(str(genome / "genome.fa"))
    for row in [0, 7, len(windows) - 1]:
        chrom, start = windows.chroms[row], windows.starts[row]
        expected = str(fasta[chrom][int(start): int(start) + WIDTH]).upper()
        assert "".join("ACGT"[c] for c in windows.codes[row]) == expected


def test_background_from_several_peak_files_keeps_each_locus_once(genome, tmp_path):
    """background.peaks as a list (the ENCODE config: the other cell types' peaks): the
    windows of every file in order, a locus repeated in a later file dropped and counted."""
    lines = (genome / "background.bed").read_text().splitlines(keepends=True)
    (tmp_path / "first.bed").write_text("".join(lines[:30]))
    (tmp_path / "second.bed").write_text("".join(lines[20:]))  # 10 loci in both files
    listed = realistic_grammar_from_dict(grammar_dict(genome, background={
        "peaks": [str(tmp_path / "first.bed"), str(tmp_path / "second.bed")]}),
        source=str(genome / "g.yaml"))
    one = realistic_grammar_from_dict(grammar_dict(genome), source=str(genome / "g.yaml"))
    got, want = listed.load_windows(listed.background), one.load_windows(one.background)
    assert list(got.names) == list(want.names)
    assert np.array_equal(got.codes, want.codes)
    assert got.dropped == {"same locus in an earlier peak file": 10}
    (tmp_path / "third.bed").write_text("chr1\t10\t20000000\n")
    with pytest.raises(InputError, match=r"background.peaks\[1\]: .*third.bed line 1: peak"):
        realistic_grammar_from_dict(grammar_dict(genome, background={
            "peaks": [str(tmp_path / "first.bed"), str(tmp_path / "third.bed")]}),
            source=str(genome / "g.yaml"))


def test_background_windows_overlapping_a_positive_are_removed():
    from grammarbench.simulation.realistic.windows import Windows, remove_overlapping

    def windows(chroms, starts):
        n = len(starts)
        return Windows(np.zeros((n, 100), np.uint8), np.array([f"w{i}" for i in range(n)], dtype=object),
                       np.array(chroms, dtype=object), np.array(starts, dtype=np.int64))

    positives = windows(["chr1", "chr1", "chr2"], [1000, 5000, 1000])
    background = windows(["chr1", "chr1", "chr1", "chr1", "chr2", "chr3", ""],
                         [901, 900, 1099, 1100, 2000, 1000, -1])
    kept = remove_overlapping(background, positives)
    # 900 ends where 1000 starts and 1100 starts where it ends (half-open): no overlap
    assert list(kept.starts) == [900, 1100, 2000, 1000, -1]
    assert kept.dropped == {"overlaps a positive window": 2}


def dinucleotide_counts(codes):
    pairs = codes[:, :-1].astype(np.int64) * 4 + codes[:, 1:]
    return np.stack([np.bincount(row, minlength=16) for row in pairs])


def test_shuffle_preserves_dinucleotide_counts_exactly():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, size=(300, 400)).astype(np.uint8)
    seeds = random_seeds(5, 300)
    rows = np.arange(300)
    shuffled = shuffle_and_implant([codes], rows, rows, [], [], [], seeds, k=2)
    assert (dinucleotide_counts(shuffled) == dinucleotide_counts(codes)).all()
    assert (shuffled != codes).any(1).mean() > 0.99
    assert (shuffled == kshuffle(codes, 2, seeds)).all()
    assert (shuffle_and_implant([codes], rows, rows, [], [], [], seeds, k=3) == kshuffle(codes, 3, seeds)).all()
    # implanting copies the hit's letters at its place and nothing else
    implanted = shuffle_and_implant([codes], rows, rows, [3, 3, 10], [5, 50, 0], [15, 60, 7], seeds)
    assert (implanted[3, 5:15] == codes[3, 5:15]).all() and (implanted[10, :7] == codes[10, :7]).all()
    changed = implanted != shuffled
    changed[3, 5:15] = changed[3, 50:60] = changed[10, :7] = False
    assert not changed.any()


def test_shuffle_and_implant_reads_rows_of_two_sources():
    """Rows numbered through both sources: a shuffle of one window with the hits of
    another put back, and unshuffled rows copied as they are."""
    rng = np.random.default_rng(3)
    first = rng.integers(0, 4, size=(5, 60)).astype(np.uint8)
    second = rng.integers(0, 4, size=(4, 60)).astype(np.uint8)
    both = np.concatenate([first, second])
    shuffle_from, implant_from = np.array([7, 0, 2, 8]), np.array([1, 6, 2, 8])
    seeds = random_seeds(1, 4)
    out = shuffle_and_implant([first, second], shuffle_from, implant_from, [0, 1, 3], [10, 0, 5],
                              [20, 12, 9], seeds, shuffled=np.array([True, True, True, False]))
    expected = kshuffle(both[shuffle_from], 2, seeds)
    expected[0, 10:20] = both[1, 10:20]
    expected[1, 0:12] = both[6, 0:12]
    expected[3] = both[8]
    assert (out == expected).all()
    with pytest.raises(ValueError, match="shuffle_from must hold 4 rows in 0..8"):
        shuffle_and_implant([first, second], shuffle_from + 2, implant_from, [], [], [], seeds)


@pytest.fixture(scope="module")
def train_sets(grammar, tables, tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for n in (100, 180):
        simulate_realistic_split(grammar, "train", n, seed=3, out_dir=folder / f"n{n}", motif_tables=tables)
    for split, n in (("validation", 60), ("test", 60)):
        simulate_realistic_split(grammar, split, n, seed=3, out_dir=folder / split, motif_tables=tables)
    return folder


def test_every_implanted_hit_is_in_the_rescan(train_sets, tables):
    hits = read_motif_tables(tables).hits
    hits = hits[hits["motif"].isin(["A", "B"])]
    for name in ("n180", "validation"):
        folder = train_sets / name
        windows = pd.read_csv(folder / "windows.tsv", sep="\t")
        instances = pd.read_csv(folder / "instances.tsv", sep="\t")
        sets = np.where(windows["class"] == "positive", "positive", "background")
        expected = hits.merge(windows.assign(set=sets).rename(columns={"window": "window_name"}),
                              on=["set", "window_name"])
        implanted = instances[instances["origin"] == "implanted"]
        key = ["example", "motif", "start", "strand"]
        found = implanted.rename(columns={"element": "motif"})[key]
        assert len(expected) > 30
        assert set(map(tuple, expected[key].to_numpy())) == set(map(tuple, found.to_numpy()))
        # the mask is the re-scan; the implanted mask is inside it
        mask = np.load(folder / "mask.npy")
        implanted_mask = np.load(folder / "mask_implanted.npy")
        assert (implanted_mask <= mask).all() and implanted_mask.sum() > 0
        sequences = np.load(folder / "sequences.npy")
        assert sequences.shape[1] == WIDTH and sequences.max() < 4
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["classes"] == ["negative", "positive"] and manifest["length"] == [WIDTH, WIDTH]


def test_training_sets_are_nested(train_sets):
    small, large = train_sets / "n100", train_sets / "n180"
    for name in ("sequences", "labels", "mask", "mask_implanted"):
        a, b = np.load(small / f"{name}.npy"), np.load(large / f"{name}.npy")
        assert (a == b[:100]).all(), name
    a = pd.read_csv(small / "instances.tsv", sep="\t")
    b = pd.read_csv(large / "instances.tsv", sep="\t")
    assert a.equals(b[b["example"] < 100].reset_index(drop=True))
    labels = np.load(large / "labels.npy")
    assert abs(labels.mean() - 0.5) < 0.05


def test_paired_controls_shuffle_only_the_implanted_motifs(train_sets):
    folder = train_sets / "n180"
    sequences, controls = np.load(folder / "sequences.npy"), np.load(folder / "controls.npy")
    implanted = np.load(folder / "mask_implanted.npy").astype(bool)
    assert (controls[~implanted] == sequences[~implanted]).all()
    assert (controls[implanted] != sequences[implanted]).mean() > 0.4
    # every run of implanted letters keeps its letters, in another order
    rows, cols = np.nonzero(implanted)
    run = np.cumsum(np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1] + 1)])
    for r in np.unique(run)[:50]:
        here = run == r
        assert sorted(controls[rows[here], cols[here]]) == sorted(sequences[rows[here], cols[here]])
    assert (np.load(train_sets / "n100" / "controls.npy") == controls[:100]).all()
    assert json.loads((folder / "manifest.json").read_text())["controls"] is True


def test_chromosome_splits_never_leak(train_sets):
    expected = {"n180": {"chr1"}, "validation": {"chr2"}, "test": {"chr3"}}
    for name, chroms in expected.items():
        windows = pd.read_csv(train_sets / name / "windows.tsv", sep="\t")
        used = set(windows["window"].str.split(":").str[0]) | set(windows["shuffled_from"].str.split(":").str[0])
        assert used == chroms, name


def test_bad_input_one_line(genome, tmp_path):
    source = str(genome / "g.yaml")

    def fails(fragment, **changes):
        with pytest.raises(InputError) as err:
            realistic_grammar_from_dict(grammar_dict(genome, **changes), source=source)
        message = str(err.value)
        assert "\n" not in message and source in message and fragment in message, message
        return message

    fails("does not exist", positives={"genome": str(genome / "nope.fa"),
                                       "peaks": str(genome / "positives.narrowPeak")})
    unindexed = tmp_path / "plain.fa"
    unindexed.write_text((genome / "genome.fa").read_text())
    fails("not indexed", positives={"genome": str(unindexed), "peaks": str(genome / "positives.narrowPeak")})
    peaks = tmp_path / "p.bed"
    peaks.write_text("chr2\t59900\t60100\n")
    fails("ends past the end of chr2", background={"peaks": str(peaks)})
    peaks.write_text("chrX\t100\t300\n")
    fails("'chrX' is not in the genome", background={"peaks": str(peaks)})
    peaks.write_text("chr1\t100\t300\tp\t0\t.\t1\t-1\t-1\t500\n")
    fails("summit offset 500 lies outside its peak", background={"peaks": str(peaks)})
    fasta = tmp_path / "w.fa"
    fasta.write_text(">a\nACGTACGTAC\n>b\nACGTAC\n")
    fails("width 200 is larger than every window", background={"fasta": str(fasta)})
    fails("unknown JASPAR matrix ID", motifs={"jaspar": ["MA9999.1"]})
    fails("held-out chromosome 'chr9' has no peaks",
          splits={"mode": "chromosomes", "validation_chromosomes": ["chr2"], "test_chromosomes": ["chr9"]})
    fails("unknown key", widht=3)
    grammar = realistic_grammar_from_dict(grammar_dict(genome, filter={"min_hits": 100000}), source=source)
    with pytest.raises(InputError, match=r"filter.min_hits: no motif passes the filter: none has "
                                         r"100000 hits in the positives \(best: A with"):
        scan_and_filter(grammar)


def test_command_line_simulates_a_realistic_dataset(genome, tmp_path):
    grammar = tmp_path / "planted.yaml"
    grammar.write_text(yaml.safe_dump(grammar_dict(genome)))
    cli = Path(sys.executable).with_name("grammarbench")
    result = subprocess.run([str(cli), "simulate", str(grammar), "--n-train", "60", "--n-validation", "20",
                             "--n-test", "20", "--seed", "5", "--out", str(tmp_path / "data")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for split, n in (("train", 60), ("validation", 20), ("test", 20)):
        assert json.loads((tmp_path / "data" / split / "manifest.json").read_text())["n"] == n
    assert (tmp_path / "data/motifs/filter.tsv").is_file()


def test_tsv_writer_round_trips(tmp_path):
    """The realistic tables' columns through grammarbench.io.write_columns: fixed and
    scientific floats, numpy and object strings, categoricals, booleans."""
    from grammarbench.io import Fixed, Scientific, write_columns

    rng = np.random.default_rng(0)
    n = 2000
    ints = rng.integers(-5000, 100000, n)
    ints[:3] = [0, -7, 10]
    fixed = rng.integers(-3000, 3000, n) / 100
    fixed[:4] = [0.0, 0.05, -0.05, -12.3]
    small = 10 ** rng.uniform(-12, 0, n)
    small[:3] = [0, 1e-4, 9.996e-5]
    names = np.array(["MA0139.2_CTCF", "a", "Pou5f1::Sox2"], dtype=object)[rng.integers(0, 3, n)]
    flags = rng.random(n) < 0.5
    columns = {"i": ints, "f": Fixed(fixed, 2), "p": Scientific(small), "s": names, "b": flags,
               "u": names.astype(str), "c": pd.Categorical(names)}
    write_columns(tmp_path / "t.tsv", list(columns), list(columns.values()))
    back = pd.read_csv(tmp_path / "t.tsv", sep="\t")
    assert (back["i"] == ints).all() and (back["s"] == names).all() and (back["b"] == flags).all()
    assert (back["u"] == names).all() and (back["c"] == names).all()
    assert np.allclose(back["f"], fixed, rtol=0, atol=1e-12)
    assert np.allclose(back["p"], small, rtol=5e-3, atol=0)
    assert (tmp_path / "t.tsv").read_text().splitlines()[1:4] == [
        f"0\t0.00\t0\t{names[0]}\t{flags[0]}\t{names[0]}\t{names[0]}",
        f"-7\t0.05\t1.00e-04\t{names[1]}\t{flags[1]}\t{names[1]}\t{names[1]}",
        f"10\t-0.05\t1.00e-04\t{names[2]}\t{flags[2]}\t{names[2]}\t{names[2]}"]
    # text pandas would quote: written by pandas, the Fixed column as this writer writes it
    write_columns(tmp_path / "q.tsv", ["u", "f"], [np.array(["Pou5f1", 'Sox2 "x"']), Fixed([1.5, -2], 2)])
    assert (tmp_path / "q.tsv").read_text() == 'u\tf\nPou5f1\t1.50\n"Sox2 ""x"""\t-2.00\n'


# --------------------------------------------------------------------------- janggu


def test_oct4_windows_against_mafk_keep_the_oct4_motifs(janggu_files, tmp_path):
    # Oct4 (POU5F1), its partner SOX2, and the MAF family as controls
    motifs = ["MA1115.1", "MA0142.1", "MA0143.4", "MA0496.3", "MA0495.3"]
    d = {"kind": "realistic", "name": "oct4", "width": 200, "positives": {"janggu": "sample.fa"},
         "background": {"janggu": "sample2.fa"}, "motifs": {"jaspar": motifs},
         "filter": {"min_hits": 200, "min_enrichment": 1.25}}
    grammar = realistic_grammar_from_dict(d, source=str(tmp_path / "oct4.yaml"))
    table = scan_and_filter(grammar).table
    kept = table.loc[table["kept"], "motif"].tolist()
    assert any(m.startswith(("MA1115", "MA0142")) for m in kept), table
    assert not any(m.startswith(("MA0496", "MA0495")) for m in kept), table
    simulate_realistic_split(grammar, "train", 200, seed=1, out_dir=tmp_path / "train")
    assert np.load(tmp_path / "train" / "sequences.npy").shape == (200, 200)
    check_either_ground_truth(tmp_path / "train", tmp_path)


def check_either_ground_truth(folder, tmp_path):
    """attribution.metrics.truth: a map that marks exactly the implanted hits is perfect
    against mask_implanted.npy and not against the re-scan (which also holds the hits the
    shuffle made by chance); the recovery table records which truth it scored against."""
    from grammarbench.aggregate.tables import recovery_table
    from grammarbench.attribution.results import AttributionResult, score_runs
    from grammarbench.attribution.settings import validate_attribution_config

    implanted, rescan = np.load(folder / "mask_implanted.npy"), np.load(folder / "mask.npy")
    assert (rescan > implanted).any()  # chance hits exist
    sequences = np.load(folder / "sequences.npy")
    maps = np.zeros((len(sequences), 4, sequences.shape[1]), np.float32)
    rows, cols = np.nonzero(np.ones_like(implanted))
    maps[rows, sequences[rows, cols], cols] = 0.01 + implanted[rows, cols]
    ex = np.arange(len(sequences))
    AttributionResult(maps, ex, np.zeros_like(ex), np.ones(len(ex), bool), None,
                      {"method": "saliency"}, {"run": "saliency"}).save(tmp_path / "saliency.npz")
    tables = {truth: score_runs([tmp_path / "saliency.npz"], folder, truth=truth)
              for truth in ("rescan", "implanted")}
    auroc = {truth: t.query("metric == 'position_auroc' and statistic == 'pooled' and subset == 'all'")
             ["value"].item() for truth, t in tables.items()}
    assert auroc["implanted"] == 1.0 and auroc["rescan"] < 1.0
    assert set(tables["implanted"]["truth"]) == {"implanted"}
    keys = {"grammar": "planted", "seed": 3, "n_train": 100, "architecture": "a", "model_seed": 1,
            "run": "saliency"}
    for truth, table in tables.items():
        table.to_csv(tmp_path / f"{truth}.tsv", sep="\t", index=False)
        assert set(recovery_table([(keys, tmp_path / f"{truth}.tsv")])["truth"]) == {truth}
    settings = validate_attribution_config({"methods": {"saliency": {}}, "metrics": {"truth": "implanted"}},
                                           "config.yaml")
    assert settings.metrics == {"truth": "implanted"}
    with pytest.raises(InputError, match="attribution.metrics.truth: must be one of rescan, implanted"):
        validate_attribution_config({"methods": {"saliency": {}}, "metrics": {"truth": "both"}}, "config.yaml")


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_simulate_jobs_let_idle_openmp_threads_sleep_unless_told_otherwise(given, expected):
    # in a fresh process: OpenMP reads the policy once, when numba first starts its threads
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = ("import os, numba; from grammarbench.runtime import wait_passively; wait_passively(); "
            "numba.set_num_threads(1); print(os.environ['OMP_WAIT_POLICY'])")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [expected]


def test_read_npz_maps_stored_arrays_and_reads_the_rest(tmp_path):
    """grammarbench.io.read_npz (how a split reads the scanned windows) gives what np.load
    gives: stored members as read-only maps, compressed and Fortran-ordered ones read."""
    from grammarbench.io import read_npz

    rng = np.random.default_rng(0)
    arrays = {"codes": rng.integers(0, 4, (50, 40)).astype(np.uint8), "names": np.array(["a", "bcd"]),
              "fortran": np.asfortranarray(rng.random((3, 4))), "empty": np.zeros((0, 7), np.int32),
              "scalar": np.array(3.5)}
    np.savez(tmp_path / "stored.npz", **arrays)
    np.savez_compressed(tmp_path / "compressed.npz", **arrays)
    for name in ("stored.npz", "compressed.npz"):
        read = read_npz(tmp_path / name)
        assert sorted(read) == sorted(arrays)
        for key, value in arrays.items():
            assert read[key].dtype == value.dtype and np.array_equal(read[key], value), (name, key)
    assert not read_npz(tmp_path / "stored.npz")["codes"].flags.writeable


def test_instance_masks_paint_every_instance_and_count_per_class():
    from grammarbench.simulation.realistic.implant import instance_masks

    rng = np.random.default_rng(5)
    M, L, H = 37, 50, 120
    rows = np.sort(rng.integers(0, M, H))
    starts = rng.integers(-3, L, H)
    ends = starts + rng.integers(1, 12, H)  # some run past the end: clipped
    implanted = rng.random(H) < 0.5
    labels = rng.integers(0, 2, M)
    mask, mask_implanted, counts = instance_masks(rows, starts, ends, implanted, labels, (M, L), 2)
    expected, expected_implanted = np.zeros((M, L), np.uint8), np.zeros((M, L), np.uint8)
    for r, a, b, chosen in zip(rows, starts, ends, implanted):
        expected[r, max(a, 0):max(b, 0)] = 1
        if chosen:
            expected_implanted[r, max(a, 0):max(b, 0)] = 1
    assert (mask == expected).all() and (mask_implanted == expected_implanted).all()
    assert (counts == np.stack([expected[labels == c].sum(0) for c in (0, 1)])).all()
    with pytest.raises(ValueError, match="sorted"):
        instance_masks(rows[::-1], starts, ends, implanted, labels, (M, L), 2)


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1, 2**32, 2**40 + 3])
def test_streams_draw_what_a_seed_sequence_of_the_list_draws(seed):
    from grammarbench.simulation.realistic.simulate import _stream

    expected = np.random.default_rng(np.random.SeedSequence([seed, 2, 1, 300])).permutation(64)
    assert (_stream(seed, 2, 1, 300).permutation(64) == expected).all()
