# folder.py
# grammarbench: a trained gkm-SVM as a trained-model folder, like every network's

"""Train a gkm-SVM on a simulated dataset and keep it in a trained-model folder.

The folder holds the files a network's does, so that the workflow's rules, ``evaluate``,
``attribute`` and the tables read it the same way: ``architecture.yaml`` (the resolved
architecture, ``kind: gkmsvm`` and its settings), ``history.tsv`` (one row: an SVM is
trained once, not per epoch), ``summary.json``, and ``model.pt``, which holds the SVM's
arrays (:meth:`.svm.GkmSvm.state` as CPU tensors) where a network's holds its state dict.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from grammarbench.io import atomic_path, write_text, write_tsv

from .config import build_model
from .module import GkmSvmModule
from .svm import GkmSvm

MODEL_FILE = "model.pt"


def train_gkmsvm(resolved: dict, train, validation, *, model_seed: int = 1, history_columns=None):
    """Train the SVM of ``resolved["gkmsvm"]`` on split ``train``; score both splits.

    Parameters
    ----------
    resolved: dict
        The resolved architecture (``task``, ``classes``, ``gkmsvm`` settings, ``name``).
    train, validation: Split
        Loaded splits (``sequences``, ``labels``, ``manifest``, ``path``).
    model_seed: int
        Seeds the linear tier's visiting order.

    Returns
    -------
    model: GkmSvm
    history: pd.DataFrame
        One row in the networks' ``history.tsv`` columns.
    summary: dict
    """
    from grammarbench.models import evaluate as ev

    task, classes = resolved["task"], resolved["classes"]
    model = build_model(resolved["gkmsvm"], seed=model_seed)
    codes, labels = np.asarray(train.sequences), np.asarray(train.labels)
    started = time.perf_counter()
    model.fit(codes, labels, task=task, n_classes=len(classes))
    train_seconds = time.perf_counter() - started
    row = {"epoch": 1, "learning_rate": float("nan"), "seconds": train_seconds,
           "examples_per_second": len(codes) / train_seconds if train_seconds > 0 else float("nan"), "best": 1}
    for name, split in (("train", train), ("validation", validation)):
        split_labels = np.asarray(split.labels)
        logits = model.decision_function(np.asarray(split.sequences))
        probabilities = ev.probabilities(logits, task)
        row[f"{name}_loss"] = ev.mean_loss(logits, split_labels, task)
        row[f"{name}_accuracy"] = ev.accuracy(probabilities, split_labels, task)
        row[f"{name}_auroc"] = ev.macro_auroc(probabilities, split_labels, task)
    history = pd.DataFrame([row], columns=list(history_columns or row))
    summary = {
        "architecture": resolved["name"], "architecture_file": resolved["source"], "kind": "gkmsvm",
        "train": str(train.path), "validation": str(validation.path),
        "grammar": train.manifest["grammar"]["name"], "data_seed": train.manifest["seed"],
        "n_train": len(codes), "n_validation": len(validation.labels), "model_seed": int(model_seed),
        "tier": model.fitted_tier,
        "support_vectors": int(len(model.support)) if model.fitted_tier == "kernel" else None,
        "device": "cpu", "epochs": 1, "best_epoch": 1,
        "best_validation_loss": row["validation_loss"], "stopped": "trained",
        "wall_seconds": train_seconds,
    }
    return model, history, summary


def save_gkmsvm(model: GkmSvm, resolved: dict, history: pd.DataFrame, summary: dict, out_dir) -> None:
    """Write the trained-model folder, each file atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {key: value if isinstance(value, str) else torch.from_numpy(np.ascontiguousarray(value))
             for key, value in model.state().items()}
    # In memory first, as for networks: torch.save names its records after the file it writes.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(out / MODEL_FILE) as tmp:
        tmp.write_bytes(buffer.getvalue())
    write_text(out / "architecture.yaml", yaml.safe_dump(resolved, sort_keys=False))
    write_tsv(history, out / "history.tsv")
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")


def load_gkmsvm(folder) -> GkmSvmModule:
    """The trained SVM of a folder, behind the torch module interface."""
    state = torch.load(Path(folder) / MODEL_FILE, map_location="cpu", weights_only=True)
    return GkmSvmModule(GkmSvm.from_state(state))
