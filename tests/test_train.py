"""Training: a small conv-gmp net learns a one-motif grammar on the CPU; training is
deterministic for a seed; history and summary have their documented columns; divergence
stops with a clear message; multi-label heads train; the CLI trains and evaluates."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from grammarbench.models.architectures import architecture_from_dict
from grammarbench.cli import main
from grammarbench.simulation.dataset import load_split
from grammarbench.errors import TrainingDiverged
from grammarbench.models.evaluate import evaluate_model, predictive_metrics
from grammarbench.grammars.grammar import grammar_from_dict
from grammarbench.models.networks import load_trained
from grammarbench.models.predict import predict
from grammarbench.simulation.simulate import simulate_split
from grammarbench.models.train import HISTORY_COLUMNS, fit
from conftest import CONV_GMP

torch.use_deterministic_algorithms(True, warn_only=True)

REPO = Path(__file__).resolve().parents[1]


def simulate(grammar, folder: Path, sizes: dict, seed: int = 1) -> dict:
    for split, n in sizes.items():
        simulate_split(grammar, split, n, seed, folder / split)
    return {split: folder / split for split in sizes}


@pytest.fixture(scope="module")
def one_motif(one_motif_model):
    return one_motif_model.data


def test_conv_gmp_learns_one_motif(one_motif_model):
    """conftest.CONV_GMP trained by ``fit`` on the one-motif grammar (the shared model)."""
    summary, tmp_path = one_motif_model.summary, one_motif_model.model
    model = load_trained(tmp_path, device="cpu")
    test = load_split(one_motif_model.data["test"])
    logits = predict(model, test.sequences, batch_size=500, device="cpu").numpy()
    table = predictive_metrics(logits, np.asarray(test.labels), "multi-class", test.classes)
    auroc = table.set_index(["metric", "class"]).loc[("auroc", "macro"), "value"]
    print(f"conv-gmp on one-motif: test AUROC {auroc:.4f} after {summary['epochs']} epochs, "
          f"{summary['wall_seconds']:.1f} s")
    assert auroc >= 0.95
    # the saved folder: documented files and columns
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    assert tuple(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == list(range(1, summary["epochs"] + 1))
    assert history["best"].sum() >= 1 and history.loc[history["best"] == 1, "epoch"].max() == summary["best_epoch"]
    assert history["validation_loss"].min() == pytest.approx(summary["best_validation_loss"], rel=1e-5)
    saved = json.loads((tmp_path / "summary.json").read_text())
    for key in ("parameters", "wall_seconds", "device", "epochs", "best_epoch", "model_seed", "stopped"):
        assert key in saved
    assert saved["parameters"]["total"] == sum(p.numel() for p in model.parameters())
    assert saved["device"] == "cpu"
    resolved = yaml.safe_load((tmp_path / "architecture.yaml").read_text())
    assert resolved["input"] == {"length": 200, "alphabet": "DNA", "letters": "ACGT", "alphabet_size": 4}
    assert resolved["classes"] == ["ctcf", "background"] and resolved["outputs"] == 2


SMALL = {"name": "tiny", "layers": [{"conv": {"filters": 4, "width": 9}}, "relu", {"dropout": {"rate": 0.2}},
                                    "global_max_pool", {"dense": {"units": "outputs"}}],
         "training": {"batch_size": 64, "max_epochs": 2}}


def test_training_is_deterministic_for_a_model_seed(one_motif, tmp_path):
    arch = architecture_from_dict(SMALL)
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        fit(arch, one_motif["validation"], one_motif["test"], tmp_path / name, model_seed=seed, device="cpu", threads=1)
        runs[name] = torch.load(tmp_path / name / "model.pt", weights_only=True)
    for key in runs["a"]:
        assert torch.equal(runs["a"][key], runs["b"][key]), key
    assert any(not torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])
    stable = [c for c in HISTORY_COLUMNS if c not in ("seconds", "examples_per_second")]
    history = [pd.read_csv(tmp_path / n / "history.tsv", sep="\t")[stable] for n in ("a", "b")]
    pd.testing.assert_frame_equal(*history)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_early_stopping_restores_the_best_epoch(one_motif, tmp_path):
    # learning rate 0.5: the validation loss soon stops improving
    spec = {**SMALL, "training": {"learning_rate": 0.5, "batch_size": 50, "max_epochs": 40, "patience": 2}}
    summary = fit(architecture_from_dict(spec), one_motif["validation"], one_motif["test"], tmp_path,
                  model_seed=1, device="cpu", threads=1)
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    assert summary["stopped"] == "early_stopping" and summary["epochs"] < 40
    assert summary["epochs"] == summary["best_epoch"] + 2
    # the restored weights are those of the best epoch: they give its validation loss
    model = load_trained(tmp_path, device="cpu")
    test = load_split(one_motif["test"])
    logits = predict(model, test.sequences, device="cpu").numpy()
    loss = predictive_metrics(logits, np.asarray(test.labels), "multi-class", test.classes)
    assert loss.iloc[1]["value"] == pytest.approx(history["validation_loss"].min(), rel=1e-4)
    # patience 0: stop at the first epoch without a new minimum, never at one with it
    spec["training"]["patience"] = 0
    summary = fit(architecture_from_dict(spec), one_motif["validation"], one_motif["test"], tmp_path / "p0",
                  model_seed=1, device="cpu", threads=1)
    history = pd.read_csv(tmp_path / "p0" / "history.tsv", sep="\t")
    assert history["best"].tolist() == [1] * (len(history) - 1) + [0]


NAN_MODULE = """
    import torch

    class Nan(torch.nn.Module):
        def __init__(self, alphabet_size, n_outputs):
            super().__init__()
            self.out = torch.nn.Linear(alphabet_size, n_outputs)

        def forward(self, x):
            return self.out(x.mean(-1)) * float("nan")
"""


def test_divergence_stops_with_a_clear_message(one_motif, tmp_path):
    (tmp_path / "nan.py").write_text(textwrap.dedent(NAN_MODULE))
    (tmp_path / "nan.yaml").write_text("module: nan.py:Nan\ntraining: {learning_rate: 10, max_epochs: 5}\n")
    with pytest.raises(TrainingDiverged, match=r"training diverged: the training loss is nan in epoch 1 "
                                               r"\(learning rate 10, optimizer adam\); lower training.learning_rate"):
        fit(tmp_path / "nan.yaml", one_motif["validation"], one_motif["test"], tmp_path / "model", device="cpu")
    assert not (tmp_path / "model" / "model.pt").exists()
    code = main(["train", str(tmp_path / "nan.yaml"), "--train", str(one_motif["validation"]),
                 "--validation", str(one_motif["test"]), "--out", str(tmp_path / "cli"), "--device", "cpu"])
    assert code == 1


MULTI_LABEL = {
    "name": "two-kmers", "task": "multi-label", "length": 60, "background": {"gc": 0.5},
    "elements": {"X": {"kmers": {"GATTACA": 1}}, "Y": {"kmers": {"CCGGTTA": 1}}},
    "classes": {"x": {"rules": [{"elements": ["X"]}]}, "y": {"rules": [{"elements": ["Y"]}]}},
    "composition": [{"labels": ["x"]}, {"labels": ["y"]}, {"labels": ["x", "y"]}, {"labels": []}],
}


def test_multi_label_head_trains_with_a_sigmoid_loss(tmp_path):
    grammar = grammar_from_dict(MULTI_LABEL)
    data = simulate(grammar, tmp_path / "data", {"train": 1500, "validation": 300, "test": 300})
    spec = {**CONV_GMP, "training": {**CONV_GMP["training"], "max_epochs": 12}}
    fit(architecture_from_dict(spec), data["train"], data["validation"], tmp_path / "model", device="cpu", threads=1)
    resolved = yaml.safe_load((tmp_path / "model" / "architecture.yaml").read_text())
    assert resolved["training"]["loss"] == "binary_cross_entropy" and resolved["task"] == "multi-label"
    outputs = {"test": {k: tmp_path / f"test.{k}.tsv" for k in ("metrics", "predictions", "curves")}}
    table = evaluate_model(tmp_path / "model", {"test": data["test"]}, outputs, device="cpu")["test"]
    values = table.set_index(["metric", "class"])["value"]
    assert values[("auroc", "x")] > 0.9 and values[("auroc", "y")] > 0.9
    assert ("subset_accuracy", "all") in values.index
    predictions = pd.read_csv(outputs["test"]["predictions"], sep="\t", keep_default_na=False)
    assert set(predictions["label"]) == {"x", "y", "x|y", ""}


def test_cli_train_and_evaluate(one_motif, tmp_path):
    arch = tmp_path / "arch.yaml"
    arch.write_text(yaml.safe_dump(SMALL))
    assert main(["train", str(arch), "--train", str(one_motif["validation"]), "--validation",
                 str(one_motif["test"]), "--out", str(tmp_path / "model"), "--max-epochs", "1",
                 "--device", "cpu", "--threads", "1"]) == 0
    assert json.loads((tmp_path / "model" / "summary.json").read_text())["epochs"] == 1
    assert main(["evaluate", str(tmp_path / "model"), "--data", str(one_motif["test"]),
                 "--out", str(tmp_path / "eval"), "--device", "cpu"]) == 0
    assert (tmp_path / "eval" / "test.metrics.tsv").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers: [{conv: {filters: 4, width: 500}}]\n")
    assert main(["train", str(bad), "--train", str(one_motif["validation"]), "--validation",
                 str(one_motif["test"]), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_on_cuda_with_mixed_precision(one_motif, tmp_path):
    summary = fit(architecture_from_dict(CONV_GMP), one_motif["train"], one_motif["validation"], tmp_path,
                  device="cuda")
    assert summary["device"] == "cuda" and summary["mixed_precision"] in ("bfloat16", "float16")
    assert summary["data_on_device"]
    model = load_trained(tmp_path)
    assert next(model.parameters()).device.type == "cuda"
