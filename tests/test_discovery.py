"""Motif discovery (grammarbench.discovery): TF-MoDISco on maps, Tomtom, scores.

The analytic cases first: maps made of the ground truth itself (mask × one-hot) must
give every element of a three-motif grammar back, with no pattern that is not one of
them; maps of pure noise must give no grammar motif; and the scores must equal the
hand-computed values on a hand-built pattern set.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grammarbench import discovery as disc
from grammarbench.errors import InputError

THREE_MOTIF = Path(__file__).parent / "grammars" / "three-motif.yaml"
# Few Leiden runs keep the tests quick; the clustering has no other randomness.
QUICK = {"n_leiden_runs": 2}
# 80 instances of each element: one pattern of 65-83 seqlets per element at data seeds 1-6
# (with GROUND_TRUTH below).
N_EXAMPLES = 240
# Data seeds of the ground-truth test (the noise is seeded apart from them).
SEEDS = (1, 2, 3)
# Ground-truth maps are projected maps, used as their own hypothetical maps: seqlets are
# compared by their observed letters only. modisco-lite's check for spuriously merged
# clusters (subclustering every pattern of over max(final_min_cluster_size,
# subcluster_perplexity) seqlets) then splits each element's clean cluster into 4-7
# pieces of 3-43 seqlets and merges only some back; pieces under final_min_cluster_size
# (20) are dropped, so an element can vanish, and the survivors match with q-values near
# 1e-3 (data seeds 1-6 at 360 examples: 4-10 patterns, an element's
# best q up to 3.3e-3). A perplexity above the number of examples (hence above the seqlets
# of any pattern) leaves the first clustering's patterns whole: one pattern per element,
# q < 1e-12, at seeds 1-6. With hypothetical maps (the elements' PPMs) the default
# perplexity keeps one pattern per element too (modisco.py, "Hypothetical contributions").
GROUND_TRUTH = {**QUICK, "subcluster_perplexity": N_EXAMPLES + 1}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The three-motif grammar and its test split at each data seed, simulated once."""
    from grammarbench.grammars.grammar import load_grammar
    from grammarbench.simulation.dataset import load_split
    from grammarbench.simulation.simulate import simulate_split

    grammar = load_grammar(THREE_MOTIF)
    splits = {}

    def split(seed):
        if seed not in splits:
            folder = tmp_path_factory.mktemp(f"three-motif-seed{seed}") / "test"
            simulate_split(grammar, "test", N_EXAMPLES, seed=seed, out_dir=folder)
            splits[seed] = load_split(folder, mmap=False)
        return grammar, splits[seed]

    return split


@pytest.fixture(scope="module")
def three_motif(simulated):
    return simulated(SEEDS[0])


@pytest.fixture(scope="module")
def decoys():
    return disc.decoy_motifs()


def _one_hot(codes):
    return (codes[:, None, :] == np.arange(4)[None, :, None]).astype(np.float32)


@pytest.fixture(scope="module")
def ground_truth(simulated, tmp_path_factory):
    """TF-MoDISco on ground-truth maps of one data seed, stored as the attribute stage stores
    them, in a shuffled row order, so that reading them back must map seqlets to split rows.
    Each seed's discovery runs once per module."""
    from grammarbench.attribution.results import AttributionResult

    found = {}

    def discovery(seed):
        if seed in found:
            return found[seed]
        _, split = simulated(seed)
        example = np.random.default_rng(0).permutation(len(split))
        codes = split.sequences[example]
        # The mask at the observed letter, plus a little seeded noise there: with exactly
        # zero everywhere else TF-MoDISco has no null distribution to fit its seqlet
        # thresholds against; noise of SD 0.1 is a tenth of a motif letter's score.
        noise = np.random.default_rng(1).normal(0.0, 0.1, size=codes.shape)
        maps = _one_hot(codes) * (split.mask[example] + noise)[:, None, :]
        result = AttributionResult(maps=maps, example=example, target=split.labels[example],
                                   correct=np.ones(len(example), bool), delta=None,
                                   settings={"method": "ground_truth", "reference": None,
                                             "hypothetical": False},
                                   info={"run": "ground_truth"})
        path = tmp_path_factory.mktemp(f"maps-seed{seed}") / "ground_truth.npz"
        result.save(path)
        found[seed] = disc.discover_from_maps(path, split.path, **GROUND_TRUTH)
        return found[seed]

    return discovery


@pytest.fixture(scope="module")
def ground_truth_discovery(ground_truth):
    return ground_truth(SEEDS[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_ground_truth_maps_recover_every_element_with_precision_one(
        seed, simulated, ground_truth, decoys):
    grammar, split = simulated(seed)
    found = ground_truth(seed)
    assert found.info["run"] == "ground_truth"
    elements = disc.element_motifs(grammar)
    matches = disc.match_patterns(found.patterns, elements, decoys)
    scores = disc.score_discovery(found, matches, list(elements), split.instances)
    value = scores.set_index(["element", "metric"])["value"]
    assert len(found) >= 3
    assert value["all", "motif_recall"] == 1.0
    assert value["all", "motif_precision"] == 1.0
    for element in elements:
        assert value[element, "recovered"] == 1.0
        assert value[element, "best_q"] < 1e-3
        # seqlets sit on the element's instances: the example mapping is right
        assert value[element, "seqlet_precision"] > 0.9
    assert 0 < value["all", "seqlet_recall"] <= 1


def test_discovery_round_trips_through_its_file(ground_truth_discovery, tmp_path):
    path = ground_truth_discovery.save(tmp_path / "d.json")
    back = disc.Discovery.load(path)
    assert [p.name for p in back.patterns] == [p.name for p in ground_truth_discovery.patterns]
    for a, b in zip(back.patterns, ground_truth_discovery.patterns):
        np.testing.assert_allclose(a.ppm, b.ppm)
        pd.testing.assert_frame_equal(a.seqlets, b.seqlets, check_dtype=False)
    assert back.info == ground_truth_discovery.info


def test_noise_maps_find_no_grammar_motif(three_motif, decoys):
    grammar, split = three_motif
    noise = np.random.default_rng(1).normal(size=(len(split), 4, split.sequences.shape[1]))
    found = disc.discover(split.sequences, noise.astype(np.float32), **QUICK)
    elements = disc.element_motifs(grammar)
    matches = disc.match_patterns(found.patterns, elements, decoys)
    scores = disc.score_discovery(found, matches, list(elements), split.instances)
    value = scores.set_index(["element", "metric"])["value"]
    assert value["all", "motif_recall"] == 0.0
    assert (disc.assign_patterns(matches, list(elements))["assigned"] == "").all()


def test_too_few_maps_give_no_patterns_not_an_error(three_motif, decoys):
    grammar, split = three_motif
    codes = split.sequences[:20]
    found = disc.discover(codes, _one_hot(codes) * split.mask[:20][:, None, :],
                          hypothetical=False)
    assert len(found) == 0 and found.seqlets().empty
    elements = disc.element_motifs(grammar)
    matches = disc.match_patterns(found.patterns, elements, decoys)
    assert matches.empty
    value = disc.score_discovery(found, matches, list(elements),
                                 split.instances).set_index(["element", "metric"])["value"]
    assert value["all", "n_patterns"] == 0 and value["all", "motif_recall"] == 0
    assert np.isnan(value["all", "motif_precision"]) and np.isnan(value["CTCF", "best_q"])


# ----------------------------------------------------------------------- hand-built scores


def _pattern(name, width, seqlets):
    """A pattern whose CWM is flat (its core is the whole pattern)."""
    ppm = np.full((width, 4), 0.25)
    table = pd.DataFrame(seqlets, columns=["example", "start", "end", "strand"])
    table.insert(0, "map", table["example"])
    return disc.Pattern(name, ppm, ppm.copy(), ppm.copy(), table)


def _matches(q):
    """Tomtom-like table from {pattern: {target: q}}."""
    rows = [(p, t, t in ("E1", "E2", "E3"), qv, qv, 0, 5, "+")
            for p, targets in q.items() for t, qv in targets.items()]
    return pd.DataFrame(rows, columns=list(disc.MATCH_COLUMNS))


def test_scores_on_a_hand_built_pattern_set():
    elements = ["E1", "E2", "E3"]
    instances = pd.DataFrame({
        "example": [0, 1, 2, 3, 4, 5],
        "element": ["E1", "E1", "E1", "E2", "E2", "E3"],
        "start":   [10, 10, 10, 30, 30, 50],
        "end":     [20, 20, 20, 40, 40, 60]})
    patterns = [
        # E1, twice (redundant); p1's second seqlet misses, p2's only seqlet hits example 1
        _pattern("pos_0", 10, [(0, 12, 22, "+"), (3, 12, 22, "+")]),
        _pattern("pos_1", 10, [(1, 5, 15, "-")]),
        # E2, q just above alpha: does not count; its seqlet would hit
        _pattern("pos_2", 10, [(3, 30, 40, "+")]),
        # a decoy-only pattern (spurious)
        _pattern("neg_0", 10, [(5, 50, 60, "+"), (4, 0, 10, "+")]),
    ]
    found = disc.Discovery(patterns, settings={}, info={"examples": [0, 1, 2, 3, 4, 5, 6]})
    matches = _matches({
        "pos_0": {"E1": 1e-6, "E2": 0.5, "E3": 0.9, "D1": 1e-3},
        "pos_1": {"E1": 0.01, "E2": 0.02, "E3": 0.9, "D1": 0.5},   # E1 wins over E2
        "pos_2": {"E1": 0.9, "E2": 0.06, "E3": 0.9, "D1": 0.5},
        "neg_0": {"E1": 0.9, "E2": 0.9, "E3": 0.2, "D1": 1e-4}})
    assignment = disc.assign_patterns(matches, elements).set_index("pattern")
    assert assignment["assigned"].to_dict() == {"pos_0": "E1", "pos_1": "E1", "pos_2": "",
                                                "neg_0": ""}
    assert assignment.loc["neg_0", "best_target"] == "D1"
    value = disc.score_discovery(found, matches, elements, instances) \
        .set_index(["element", "metric"])["value"]
    assert value["all", "n_patterns"] == 4 and value["all", "n_seqlets"] == 6
    assert value["all", "motif_recall"] == pytest.approx(1 / 3)
    assert value["all", "motif_precision"] == pytest.approx(2 / 4)
    assert value["all", "redundancy"] == pytest.approx(2 / 1)
    # hits: (0, 12-22) on E1 at 10-20; (1, 5-15) on E1 at 10-20. Misses: (3, ...) has no
    # E1; pos_2 and neg_0 are unassigned.
    assert value["all", "seqlet_precision"] == pytest.approx(2 / 6)
    assert value["all", "seqlet_recall"] == pytest.approx(2 / 6)
    assert value["E1", "recovered"] == 1 and value["E1", "n_patterns"] == 2
    assert value["E1", "best_q"] == pytest.approx(1e-6)
    assert value["E1", "seqlet_precision"] == pytest.approx(2 / 3)
    assert value["E1", "seqlet_recall"] == pytest.approx(2 / 3)
    assert value["E2", "recovered"] == 0 and value["E2", "best_q"] == pytest.approx(0.02)
    assert np.isnan(value["E2", "seqlet_precision"]) and value["E2", "seqlet_recall"] == 0
    assert value["E3", "best_q"] == pytest.approx(0.2)


def test_instances_of_examples_not_searched_do_not_count():
    instances = pd.DataFrame({"example": [0, 9], "element": ["E1", "E1"],
                              "start": [0, 0], "end": [10, 10]})
    found = disc.Discovery([_pattern("pos_0", 10, [(0, 0, 10, "+")])], {}, {"examples": [0]})
    matches = _matches({"pos_0": {"E1": 1e-5, "D1": 0.5}})
    value = disc.score_discovery(found, matches, ["E1"], instances) \
        .set_index(["element", "metric"])["value"]
    assert value["all", "seqlet_recall"] == 1.0 and value["all", "seqlet_precision"] == 1.0


def test_trimmed_seqlets_follow_the_strand():
    pattern = _pattern("pos_0", 10, [(0, 100, 110, "+"), (1, 100, 110, "-")])
    pattern.cwm[:] = 0
    pattern.cwm[2:5, 0] = 1.0                   # core: pattern positions 2-4
    trimmed = pattern.trimmed()
    assert pattern.core() == (2, 5) and trimmed.ppm.shape == (3, 4)
    assert trimmed.seqlets[["start", "end"]].values.tolist() == [[102, 105], [105, 108]]


def test_benjamini_hochberg_by_hand():
    p = np.array([[0.01, 0.04, 0.03, 0.5], [0.2, 0.2, 0.2, 0.2]])
    # sorted 0.01 0.03 0.04 0.5 -> p T / rank = 0.04 0.06 0.0533 0.5 -> running min from the top
    expected = [[0.04, 0.16 / 3, 0.16 / 3, 0.5], [0.2, 0.2, 0.2, 0.2]]
    np.testing.assert_allclose(disc.benjamini_hochberg(p), expected)


# ----------------------------------------------------------------------- settings, matching


def test_modisco_settings_fit_short_sequences():
    from grammarbench.discovery.modisco import N_LEIDEN_RUNS

    assert disc.modisco_settings(400)["sliding_window_size"] == 21
    assert disc.modisco_settings(400)["n_leiden_runs"] == N_LEIDEN_RUNS == 10
    assert disc.modisco_settings(400, QUICK)["n_leiden_runs"] == 2
    for length in (30, 50, 80):
        s = disc.modisco_settings(length)
        assert s["sliding_window_size"] + 2 * s["flank_size"] <= length
        assert s["trim_to_window_size"] + 2 * s["initial_flank_to_add"] <= length
    with pytest.raises(InputError, match="discovery.modisco.window: unknown"):
        disc.modisco_settings(100, {"window": 3})
    with pytest.raises(InputError, match="does not fit"):
        disc.modisco_settings(40, {"sliding_window_size": 41})


def test_a_motif_in_short_sequences_does_not_crash(three_motif):
    _, split = three_motif
    codes = np.ascontiguousarray(split.sequences[:, :50])
    mask = np.ascontiguousarray(split.mask[:, :50])
    found = disc.discover(codes, _one_hot(codes) * mask[:, None, :], hypothetical=False,
                          **QUICK)
    assert found.settings["sliding_window_size"] + 2 * found.settings["flank_size"] <= 50


def test_an_element_itself_matches_with_the_smallest_q(three_motif, decoys):
    grammar, _ = three_motif
    elements = disc.element_motifs(grammar)
    patterns = [disc.Pattern(name, ppm, ppm, ppm, pd.DataFrame(
        columns=["map", "example", "start", "end", "strand"]))
        for name, ppm in (("pos_0", elements["GATA1"]), ("pos_1", elements["CTCF"][::-1, ::-1]))]
    matches = disc.match_patterns(patterns, elements, decoys)
    n_targets = matches.groupby("pattern").size()
    assert (n_targets >= len(elements) + len(decoys) - len(elements)).all()  # copies dropped
    assert matches["element"].sum() == 2 * len(elements)
    best = disc.assign_patterns(matches, list(elements)).set_index("pattern")
    assert best.loc["pos_0", "assigned"] == "GATA1"
    assert best.loc["pos_1", "assigned"] == "CTCF"           # reverse complement
    assert (matches["q_value"] >= matches["p_value"] * (1 - 1e-12)).all()


def test_protein_grammars_are_refused():
    from grammarbench.grammars.grammar import load_grammar

    grammar = load_grammar(Path(__file__).parents[1] / "config" / "grammars" / "protein.yaml")
    with pytest.raises(InputError, match="alphabet"):
        disc.element_motifs(grammar)


# ----------------------------------------------------------------------- figures


def test_logo_figure_shows_each_element_beside_its_pattern(three_motif, ground_truth_discovery,
                                                           decoys, tmp_path):
    from grammarbench.discovery.figures import logo_figure

    grammar, _ = three_motif
    elements = disc.element_motifs(grammar)
    matches = disc.match_patterns(ground_truth_discovery.patterns, elements, decoys)
    fig = logo_figure(ground_truth_discovery, matches, elements, title="ground truth")
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert [t for t in titles if t.startswith("grammar:")] == [f"grammar: {e}" for e in elements]
    assert sum(t.startswith("pos_") for t in titles) == len(elements)  # all recovered
    fig.savefig(tmp_path / "logos.png")


def test_discovery_figure_draws_one_panel_per_run_grammar_and_metric(tmp_path):
    from grammarbench.discovery.figures import discovery_figure

    rows = [{"grammar": g, "seed": 1, "n_train": n, "architecture": a, "model_seed": s,
             "run": r, "element": "all", "metric": m, "value": v}
            for g in ("one-motif", "spacing") for n in (200, 2000) for a in ("cnn", "rnn")
            for s in (1, 2) for r in ("ism", "deeplift_shap")
            for m, v in (("motif_recall", n / 2000), ("motif_precision", 0.5))]
    fig = discovery_figure(pd.DataFrame(rows))
    assert len(fig.axes) == 2 * 4
    fig.savefig(tmp_path / "discovery.png")


# ----------------------------------------------------------------------- config


def test_discovery_config_checks_runs_and_fills_defaults():
    from grammarbench.discovery.config import validate_discovery_config

    from grammarbench.attribution.settings import validate_attribution_config

    attribution = validate_attribution_config({"methods": {"ism": {}, "deeplift_shap": {}}}, "c.yaml")
    off = validate_discovery_config(None, "c.yaml", None)
    assert off["runs"] == [] and off["n_examples"] == 2000
    on = validate_discovery_config({"runs": ["ism"], "n_examples": 50,
                                    "modisco": {"n_leiden_runs": 2}}, "c.yaml", attribution)
    assert [r["name"] for r in on["runs"]] == ["ism"] and on["n_examples"] == 50
    bad = [({"runs": ["gradcam"]}, attribution, "discovery.runs[0]: unknown attribution run"),
           ({"runs": ["ism"]}, None, "discovery.runs: motif discovery searches"),
           ({"runs": ["ism"], "alpha": 2}, attribution, "discovery.alpha"),
           ({"runs": ["ism"], "n_examples": 0}, attribution, "discovery.n_examples"),
           ({"run": ["ism"]}, attribution, "discovery.run: unknown key"),
           ({"runs": ["ism"], "modisco": {"windw": 3}}, attribution,
            "discovery.modisco.windw: unknown modisco-lite setting")]
    for cfg, attr, message in bad:
        with pytest.raises(InputError, match="^" + re.escape(f"c.yaml: {message}")):
            validate_discovery_config(cfg, "c.yaml", attr)


# ----------------------------------------------------------------------- the grid's table


def test_discovery_table_stacks_the_jobs_and_names_missing_points(tmp_path):
    from grammarbench.aggregate.tables import IncompleteGridError, aggregate, read_table

    point = {"grammar": "g", "seed": 1, "architecture": "cnn", "model_seed": 1, "run": "ism"}
    scores = pd.DataFrame({"run": "ism", "method": "ism", "reference": "", "n_references": 0,
                           "element": ["all", "all", "E1"],
                           "metric": ["motif_recall", "motif_precision", "best_q"],
                           "value": [1.0, float("nan"), 1e-5]})
    jobs = []
    for n_train in (100, 1000):
        path = tmp_path / f"n{n_train}.scores.tsv"
        scores.to_csv(path, sep="\t", index=False)
        jobs.append(({**point, "n_train": n_train}, path))
    table = aggregate("discovery", jobs, tmp_path / "discovery.tsv")
    back = read_table(tmp_path / "discovery.tsv")
    assert len(table) == len(back) == 6 and back["n_train"].tolist() == [100] * 3 + [1000] * 3
    assert np.isnan(back.loc[1, "value"]) and back["reference"].eq("").all()
    with pytest.raises(IncompleteGridError, match="n_train=5000.*file not found"):
        aggregate("discovery", jobs + [({**point, "n_train": 5000}, tmp_path / "none.tsv")],
                  tmp_path / "d2.tsv")


def test_the_discover_command_writes_the_three_files(three_motif, decoys, tmp_path):
    from grammarbench.attribution.results import AttributionResult
    from grammarbench.cli import main

    grammar, split = three_motif
    codes = split.sequences[:20]  # too few for TF-MoDISco: the "no patterns" result
    AttributionResult(maps=_one_hot(codes) * split.mask[:20][:, None, :],
                      example=np.arange(20), target=split.labels[:20],
                      correct=np.ones(20, bool), delta=None,
                      settings={"method": "ism", "reference": None, "hypothetical": False},
                      info={"run": "ism"}).save(tmp_path / "ism.npz")
    disc.write_decoys(tmp_path / "decoys.meme")
    assert main(["discover", str(tmp_path / "ism.npz"), "--test", str(split.path), "--grammar",
                 str(THREE_MOTIF), "--decoys", str(tmp_path / "decoys.meme"),
                 "--out", str(tmp_path / "out" / "ism")]) == 0
    scores = pd.read_csv(tmp_path / "out" / "ism.scores.tsv", sep="\t", keep_default_na=False)
    assert scores[["run", "method"]].drop_duplicates().values.tolist() == [["ism", "ism"]]
    assert (tmp_path / "out" / "ism.json").is_file()
    assert (tmp_path / "out" / "ism.matches.tsv").is_file()


def test_discovery_finds_a_realistic_grammars_elements_through_its_downloads(tmp_path, monkeypatch):
    # A realistic grammar whose genome and peaks are downloads (config downloads:): they
    # land under the working directory, not beside the grammar, as in a workflow run. The
    # discover job must load the grammar as the simulate jobs do, and take as elements the
    # motifs its filter kept (motifs.json), not every motif the grammar names.
    import pyfaidx
    import yaml

    from grammarbench.attribution.results import AttributionResult
    from grammarbench.discovery.stage import discover_run
    from grammarbench.grammars.grammar import load_grammar
    from grammarbench.grammars.motifs import write_meme
    from grammarbench.simulation.realistic.simulate import (
        scan_and_filter, simulate_realistic_split, write_motif_tables)

    motif = "TGACTCATGCA"
    rng = np.random.default_rng(4)
    genome = rng.integers(0, 4, size=40_000)
    summits = np.arange(500, 39_500, 500)
    for summit in summits[::2]:
        genome[summit - 5: summit + 6] = ["ACGT".index(c) for c in motif]
    monkeypatch.chdir(tmp_path)
    downloads = ["resources/genome.fa", "resources/positives.bed", "resources/background.bed"]
    Path("resources").mkdir()
    text = "".join("ACGT"[c] for c in genome)
    Path(downloads[0]).write_text(">chrT\n" + "\n".join(text[i: i + 70] for i in range(0, len(text), 70)) + "\n")
    pyfaidx.Faidx(downloads[0])  # the download rule indexes it
    for path, sites in zip(downloads[1:], (summits[::2], summits[1::2])):
        Path(path).write_text("".join(f"chrT\t{s - 60}\t{s + 60}\n" for s in sites))
    ppm = np.full((len(motif), 4), 0.02)
    ppm[np.arange(len(motif)), ["ACGT".index(c) for c in motif]] = 0.94
    Path("grammars").mkdir()
    write_meme("grammars/motifs.meme", {"planted": ppm, "absent": ppm[::-1].copy()})
    grammar = {"kind": "realistic", "name": "remote", "width": 100,
               "positives": {"genome": downloads[0], "peaks": downloads[1]},
               "background": {"peaks": downloads[2]},
               "motifs": {"meme": "motifs.meme"}, "filter": {"min_hits": 20, "min_enrichment": 1.25}}
    Path("grammars/remote.yaml").write_text(yaml.safe_dump(grammar))
    loaded = load_grammar("grammars/remote.yaml", pending=downloads)
    write_motif_tables("motifs", scan_and_filter(loaded))
    simulate_realistic_split(loaded, "train", 20, seed=1, out_dir="split", motif_tables="motifs")

    assert list(disc.load_element_motifs("grammars/remote.yaml", downloads, "motifs/motifs.json")) == ["planted"]
    # too few maps for TF-MoDISco: the "no patterns" result, matched and scored all the same
    maps = _one_hot(np.load("split/sequences.npy")) * np.load("split/mask.npy")[:, None, :]
    AttributionResult(maps=maps, example=np.arange(20),
                      target=np.load("split/labels.npy"),
                      correct=np.ones(20, bool), delta=None,
                      settings={"method": "ism", "reference": None, "hypothetical": False},
                      info={"run": "ism"}).save(tmp_path / "ism.npz")
    disc.write_decoys(tmp_path / "decoys.meme")
    paths = discover_run(tmp_path / "ism.npz", "split", "grammars/remote.yaml", tmp_path / "decoys.meme",
                         tmp_path / "out" / "ism", downloads=downloads, motif_summary="motifs/motifs.json")
    assert all(path.is_file() for path in paths.values())
    # without the downloads the grammar's files are looked for beside it, where they are not
    with pytest.raises(InputError, match="genome"):
        disc.load_element_motifs("grammars/remote.yaml", (), "motifs/motifs.json")


def test_modisco_kernels_are_kept_in_numbas_disk_cache(ground_truth_discovery):
    """A discover job is a fresh process: modisco-lite's kernels must come from numba's cache,
    not be compiled again (about 14 s a job), even where modisco-lite does not fork."""
    from numba.core.caching import NullCache

    from modiscolite import affinitymat, util

    kernels = [util._transpose, util._perplexity_betas, affinitymat._sparse_mm_dot_rows]
    assert all(not isinstance(kernel._cache, NullCache) for kernel in kernels)
    assert all(kernel._cache.cache_path for kernel in kernels)
