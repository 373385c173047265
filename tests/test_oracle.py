"""The oracle against independent answers: a brute-force enumeration of every placement on
a tiny grammar, the analytic ceiling of a rule that fires half the time, calibration (an
exact posterior's mean maximum equals its accuracy), AUROC on the bundled grammars, and a
trained model that must not beat it."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from grammarbench.models.architectures import architecture_from_dict
from grammarbench.simulation.dataset import load_split
from grammarbench.models.evaluate import predictive_metrics
from grammarbench.grammars.grammar import grammar_from_dict, load_grammar
from grammarbench.models.networks import load_trained
from grammarbench.models.oracle import Oracle, evaluate_oracle
from grammarbench.models.predict import predict
from grammarbench.simulation.simulate import simulate_split
from grammarbench.models.train import fit

torch.use_deterministic_algorithms(True, warn_only=True)

REPO = Path(__file__).resolve().parents[1]


def simulate(grammar, folder: Path, split: str, n: int, seed: int = 1):
    simulate_split(grammar, split, n, seed, folder / split)
    return load_split(folder / split)


def metric(table, name, cls="macro"):
    return float(table.set_index(["metric", "class"]).loc[(name, cls), "value"])


def score(oracle: Oracle, data):
    logits = oracle.logits(data.sequences, data.lengths)
    return predictive_metrics(logits, np.asarray(data.labels), oracle.grammar.task, data.classes)


# ---------------------------------------------------------------------------- brute force

BRUTE = {
    "name": "brute", "task": "multi-class", "length": [6, 8],
    "background": {"letters": {"A": 0.4, "C": 0.1, "G": 0.2, "T": 0.3}},
    "elements": {
        "X": {"kmers": {"ACG": 2, "AC": 1}, "strand": "either"},
        "Y": {"ppm": [[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]},
    },
    "classes": {
        "single": {"rules": [{"elements": ["X"], "probability": 0.7, "position": {"window": [1, 6]}}]},
        "pair": {"rules": [{"elements": ["X", "Y"], "spacing": [
            {"first": "X", "second": "Y", "min_gap": 0, "max_gap": 2, "order": "either"}]}]},
        "none": {"background_only": True},
    },
    "composition": [{"labels": ["single"]}, {"labels": ["pair"], "weight": 2}, {"labels": ["none"]}],
}


def brute_force_likelihoods(grammar, x: np.ndarray, n: int) -> np.ndarray:
    """P(x | class) for the BRUTE grammar, enumerating every variant, combination and start."""
    bg = grammar.background.probs
    comp = grammar.alphabet.complement_codes
    x = x[:n]
    p_bg = np.prod(bg[x])
    X, Y = grammar.elements["X"], grammar.elements["Y"]
    x_variants = []  # (codes, probability): each k-mer on each strand
    for kmer, width, weight in zip(X.kmers, X.kmer_lengths, X.kmer_weights):
        fwd = kmer[:width]
        x_variants += [(fwd, weight / 2), (comp[fwd[::-1]], weight / 2)]

    def lr_x(codes, t):
        window = x[t: t + len(codes)]
        return float(np.array_equal(window, codes)) / np.prod(bg[window])

    def lr_y(t):
        window = x[t: t + 2]
        return np.prod(Y.ppm[np.arange(2), window]) / np.prod(bg[window])

    # single: fires with 0.7, start uniform in [1, min(6, n) - w]
    end = min(6, n)
    fired = sum(p * np.mean([lr_x(codes, t) for t in range(1, end - len(codes) + 1)])
                for codes, p in x_variants)
    single = p_bg * (0.3 + 0.7 * fired)
    # pair: width of X from its variant; gap 0..2 and order uniform over the combinations that fit
    pair = 0.0
    for codes, p in x_variants:
        wx = len(codes)
        combos = [(g, o) for g, o in itertools.product(range(3), (True, False)) if wx + g + 2 <= n]
        for g, in_order in combos:
            extent = wx + g + 2
            ox, oy = (0, wx + g) if in_order else (2 + g, 0)
            starts = range(0, n - extent + 1)
            pair += p / len(combos) * np.mean([lr_x(codes, t + ox) * lr_y(t + oy) for t in starts])
    return np.array([single, p_bg * pair, p_bg])


def test_oracle_equals_brute_force_enumeration(tmp_path):
    grammar = grammar_from_dict(BRUTE)
    data = simulate(grammar, tmp_path, "test", 300)
    oracle = Oracle(grammar, "test")
    assert oracle.exact, oracle.approximations()
    codes, lengths = np.asarray(data.sequences), np.asarray(data.lengths)
    ours = oracle.posterior(codes, lengths)
    prior = np.array([1, 2, 1]) / 4
    for i in range(len(codes)):
        joint = prior * brute_force_likelihoods(grammar, codes[i], lengths[i])
        np.testing.assert_allclose(ours[i], joint / joint.sum(), rtol=1e-5, atol=1e-7, err_msg=f"example {i}")
    # the joint log-likelihoods, not only their ratios, agree; where the brute force says
    # impossible (a k-mer element cannot give this window), the oracle's floor (1e-12) shows
    joint = oracle.log_joint(codes[:40], lengths[:40]).numpy()
    for i in range(40):
        expected = prior * brute_force_likelihoods(grammar, codes[i], lengths[i])
        possible = expected > 0
        np.testing.assert_allclose(joint[i][possible], np.log(expected[possible]), rtol=1e-6)
        assert (joint[i][~possible] < np.log(expected[possible].min()) - 20).all()


# ---------------------------------------------------------------------------- analytic ceilings


def half_motif(probability: float, length: int = 100) -> dict:
    return {
        "name": "half-motif", "length": length, "background": {"gc": 0.5},
        "elements": {"M": {"kmers": {"GATTACAGCT": 1}, "strand": "either"}},
        "classes": {"motif": {"rules": [{"elements": ["M"], "probability": probability}]},
                    "background": {"background_only": True}},
    }


def test_rule_with_probability_half_caps_accuracy_at_three_quarters(tmp_path):
    # Two balanced classes; the motif fires in half of one class. Without the motif,
    # P(motif class | x) = (1/2 · 1/2) / (1/2 · 1/2 + 1/2) = 1/3, so the oracle says
    # "background": accuracy = 1/2 + 1/2 · 1/2 = 0.75, and AUROC = 1/2 · 1 + 1/2 · 1/2 = 0.75.
    grammar = grammar_from_dict(half_motif(0.5))
    data = simulate(grammar, tmp_path, "test", 4000)
    oracle = Oracle(grammar, "test")
    table = score(oracle, data)
    se = np.sqrt(0.75 * 0.25 / 4000)
    assert abs(metric(table, "accuracy", "all") - 0.75) < 4 * se
    assert abs(metric(table, "auroc") - 0.75) < 4 * se
    posterior = oracle.posterior(data.sequences, data.lengths)
    without = np.asarray(data.mask).sum(1) == 0
    np.testing.assert_allclose(posterior[without, 0], 1 / 3, atol=1e-6)
    assert oracle.exact


def test_oracle_reaches_the_ceiling_on_one_motif(tmp_path):
    grammar = load_grammar(REPO / "config/grammars/one-motif.yaml")
    data = simulate(grammar, tmp_path, "test", 2000)
    table = score(Oracle(grammar, "test"), data)
    assert metric(table, "auroc") >= 0.99
    assert metric(table, "accuracy", "all") >= 0.95


POSITIONS = {
    "name": "positions", "length": [60, 80], "background": {"gc": 0.45},
    "elements": {"M1": {"ppm": [[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1],
                                [0.1, 0.1, 0.1, 0.7], [0.7, 0.1, 0.1, 0.1]], "strand": "either"},
                 "M2": {"kmers": {"GGCC": 1, "TTAA": 1}}},
    "classes": {
        "exclusive": {"mode": "mutually-exclusive", "rules": [
            {"elements": ["M1"], "position": "start", "probability": 0.75},
            {"elements": ["M2"], "position": "end", "probability": 0.25}]},
        "center": {"rules": [{"elements": ["M1"], "position": "center", "probability": 0.8}]},
        "fixed": {"rules": [{"elements": ["M2"], "position": {"fixed": 30}}]},
        "none": {"background_only": True},
    },
}


@pytest.mark.parametrize("name", ["spacing", "protein", "positions"])
def test_exact_oracle_is_calibrated(name, tmp_path):
    # For the true posterior, E[max_c P(c | x)] is the expected accuracy of its arg max.
    grammar = (grammar_from_dict(POSITIONS) if name == "positions"
               else load_grammar(REPO / f"config/grammars/{name}.yaml"))
    data = simulate(grammar, tmp_path, "test", 2000)
    oracle = Oracle(grammar, "test")
    assert oracle.exact
    posterior = oracle.posterior(data.sequences, data.lengths)
    correct = posterior.argmax(1) == np.asarray(data.labels)
    confidence = posterior.max(1)
    se = np.sqrt(np.mean(confidence * (1 - confidence)) / len(correct)) + 1e-4
    assert abs(correct.mean() - confidence.mean()) < 4 * se
    assert np.allclose(posterior.sum(1), 1)


def test_approximate_oracle_on_the_reference_grammar(tmp_path):
    # multi-label, Markov and per-class backgrounds, shuffled negatives, copies, windows
    grammar = load_grammar(REPO / "config/grammars/reference.yaml")
    data = simulate(grammar, tmp_path, "test", 1500)
    oracle = Oracle(grammar, "test")
    assert {"independent-placements", "markov-background", "shuffled-negatives"} <= set(oracle.approximations())
    assert not oracle.exact
    logits = oracle.logits(data.sequences, data.lengths)
    assert np.isfinite(logits).all()
    table = score(oracle, data)
    assert metric(table, "auroc") > 0.9


def test_evaluate_oracle_writes_the_model_tables(tmp_path):
    grammar = grammar_from_dict(half_motif(0.8))
    simulate(grammar, tmp_path, "validation", 200)
    simulate(grammar, tmp_path, "test", 300)
    outputs = {s: {k: tmp_path / "out" / f"{s}.{k}.tsv" for k in ("metrics", "predictions", "curves")}
               for s in ("validation", "test")}
    evaluate_oracle(grammar, {s: tmp_path / s for s in ("validation", "test")}, outputs,
                    notes=tmp_path / "out" / "oracle.json")
    assert all(p.is_file() for o in outputs.values() for p in o.values())
    assert '"exact": true' in (tmp_path / "out" / "oracle.json").read_text()


# ---------------------------------------------------------------------------- models stay below


def test_a_trained_model_does_not_beat_the_oracle(tmp_path):
    torch.manual_seed(0)
    grammar = grammar_from_dict(half_motif(0.6))
    for split, n in (("train", 2000), ("validation", 500), ("test", 4000)):
        simulate(grammar, tmp_path, split, n)
    arch = architecture_from_dict({
        "layers": [{"conv": {"filters": 8, "width": 15, "padding": "same"}}, "relu", "global_max_pool",
                   {"dense": {"units": 8}}, "relu", {"dense": {"units": "outputs"}}],
        "training": {"learning_rate": 0.005, "batch_size": 100, "max_epochs": 12, "patience": 3}})
    fit(arch, tmp_path / "train", tmp_path / "validation", tmp_path / "model", device="cpu", threads=1)
    test = load_split(tmp_path / "test")
    labels = np.asarray(test.labels)
    model_logits = predict(load_trained(tmp_path / "model", "cpu"), test.sequences, device="cpu").numpy()
    oracle_logits = Oracle(grammar, "test").logits(test.sequences, test.lengths)
    model, oracle = (predictive_metrics(z, labels, "multi-class", test.classes) for z in (model_logits, oracle_logits))
    # the model learnt something: its ceiling is 0.8
    assert metric(model, "auroc") > 0.7
    # paired comparison of accuracy on the same examples: within noise or below
    diff = (model_logits.argmax(1) == labels).astype(float) - (oracle_logits.argmax(1) == labels)
    assert diff.mean() <= 3 * diff.std() / np.sqrt(len(diff)) + 1e-9, (metric(model, "accuracy", "all"),
                                                                       metric(oracle, "accuracy", "all"))
    assert metric(model, "auroc") <= metric(oracle, "auroc") + 0.01
    assert metric(model, "loss", "all") >= metric(oracle, "loss", "all") - 0.01
