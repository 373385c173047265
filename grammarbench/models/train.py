# train.py
# grammarbench: train one architecture on one simulated dataset

"""Training: one architecture, one training set, one model seed → one trained-model folder.

The whole training and validation sets go to the device once, as ``uint8`` letter codes
(``shape=(N, L)``, one byte per letter); each batch is gathered and one-hot encoded there
(:func:`grammarbench.models.predict.one_hot_batch`), so nothing is re-encoded in Python per epoch
and, on a GPU, no one-hot tensor crosses the bus. Batches are drawn in an order shuffled
each epoch by a ``torch.Generator`` seeded from the model seed; the model seed also seeds
the weights and dropout. On the CPU training is deterministic for a given model seed and
thread count (``torch.use_deterministic_algorithms``); on CUDA it runs under mixed
precision (bfloat16 where the GPU supports it, else float16 with loss scaling) and
cuDNN's autotuner, which trades bitwise reproducibility for speed.

Early stopping watches the validation loss: training stops after ``patience`` epochs
without a new minimum (or at ``max_epochs``) and the weights of the best epoch are
restored. A loss that turns NaN or infinite stops training with :class:`TrainingDiverged`.

``history.tsv`` columns (one row per epoch): ``epoch``; ``train_loss``, ``train_accuracy``,
``train_auroc`` (over the epoch's batches, in train mode: dropout on, weights changing);
``validation_loss``, ``validation_accuracy``, ``validation_auroc`` (eval mode, after the
epoch); ``learning_rate``; ``seconds`` (the whole epoch, validation included);
``examples_per_second`` (training examples / seconds of the training pass); ``best`` (1 on
the epoch with the lowest validation loss so far). AUROC is the macro one-vs-rest mean,
accuracy and loss as in :mod:`grammarbench.models.evaluate`.
"""

from __future__ import annotations

import io
import json
import logging
import math
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from torch import nn

from grammarbench.models import evaluate as ev
from grammarbench.models.architectures import Architecture, load_architecture, resolve
from grammarbench.simulation.dataset import Split, load_split
from grammarbench.errors import TrainingDiverged
from grammarbench.models.networks import build_model, count_parameters
from grammarbench.models.predict import one_hot_batch, predict
from grammarbench.runtime import device_description, resolve_device, use_threads
from grammarbench.io import atomic_path, write_text, write_tsv

log = logging.getLogger("grammarbench")

HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "train_auroc", "validation_loss",
                   "validation_accuracy", "validation_auroc", "learning_rate", "seconds",
                   "examples_per_second", "best")
#: Fraction of free GPU memory the uint8 datasets may take before batches are sent from
#: (pinned) host memory instead.
DEVICE_DATA_FRACTION = 0.5


@dataclass
class TrainResult:
    model: nn.Module
    resolved: dict
    history: pd.DataFrame
    summary: dict


def _shuffle_generator(model_seed: int) -> torch.Generator:
    # Batch order has its own stream, derived from the model seed, so that it does not shift
    # when the architecture (and the number of random numbers its initialisation uses) changes.
    return torch.Generator().manual_seed(int(np.random.SeedSequence([int(model_seed), 1]).generate_state(1)[0]))


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Batch [start, end) pairs; a last batch of one example is merged into the one before
    (batch norm cannot train on a single example)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [(lo, starts[i + 1] if i + 1 < len(starts) else n) for i, lo in enumerate(starts)]


def _optimizer(model: nn.Module, t: dict) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    lr, wd = t["learning_rate"], t["weight_decay"]
    if t["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if t["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if t["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=t["momentum"])
    return torch.optim.RMSprop(params, lr=lr, weight_decay=wd, momentum=t["momentum"])


def _labels_tensor(labels: np.ndarray, task: str) -> torch.Tensor:
    labels = np.asarray(labels)
    if task == "multi-class":
        return torch.from_numpy(labels.astype(np.int64))
    return torch.from_numpy(labels.astype(np.float32))


def _amp_dtype(device: torch.device, mixed_precision: bool) -> torch.dtype | None:
    if device.type != "cuda" or not mixed_precision:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _place(array: np.ndarray, device: torch.device, budget: int) -> tuple[torch.Tensor, bool]:
    """The array as a tensor on ``device`` if it fits in ``budget`` bytes, else in (pinned)
    host memory; returns (tensor, on_device)."""
    tensor = torch.from_numpy(np.array(array))  # a writable copy in memory (splits are memory-mapped)
    if device.type == "cpu":
        return tensor, True
    if tensor.nbytes <= budget:
        return tensor.to(device), True
    return tensor.pin_memory(), False


def train_model(resolved: dict, train: Split, validation: Split, *, model_seed: int = 1, device=None,
                mixed_precision: bool = True, threads: int | None = None,
                module_file: str | Path | None = None) -> TrainResult:
    """Train a resolved architecture (:func:`grammarbench.models.architectures.resolve`).

    Parameters
    ----------
    resolved: dict
        The architecture fitted to the dataset, with its ``training`` options.
    train, validation: grammarbench.simulation.dataset.Split
        The training split (all of it is used) and the validation split.
    model_seed: int
        Seeds the weights, dropout and batch order. Default is 1.
    device: str, torch.device or None
        See :func:`grammarbench.runtime.resolve_device`. Default is None (CUDA if available).
    mixed_precision: bool
        Autocast on CUDA (ignored on the CPU). Default is True.
    threads: int or None
        CPU threads for torch. Default is None (torch's default).
    module_file: str or Path or None
        For ``module:`` architectures, the file to import. Default is None (the recorded one).

    Returns
    -------
    result: TrainResult
        The model (best epoch, eval mode), the history table and the summary.

    Raises
    ------
    TrainingDiverged
        When the loss becomes NaN or infinite.
    """
    started = time.perf_counter()
    device = resolve_device(device)
    use_threads(threads or None)
    for name, split in (("training", train), ("validation", validation)):
        ev.check_compatible(resolved, split.manifest, f"{name} split {split.path}")
    t = resolved["training"]
    task, K, A = resolved["task"], resolved["outputs"], resolved["input"]["alphabet_size"]
    n = len(train)
    if n < 2:
        raise ValueError(f"{train.path}: a training set needs at least 2 examples, got {n}")
    amp = _amp_dtype(device, mixed_precision)
    deterministic = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True
    try:
        torch.manual_seed(int(model_seed))
        model = build_model(resolved, module_file=module_file).to(device)
        params = count_parameters(model)
        optimizer = _optimizer(model, t)
        scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
        loss_fn = nn.CrossEntropyLoss() if task == "multi-class" else nn.BCEWithLogitsLoss()
        budget = 0
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            budget = int(DEVICE_DATA_FRACTION * free)
        seqs, on_device = _place(np.asarray(train.sequences), device, budget)
        val_seqs, _ = _place(np.asarray(validation.sequences), device, budget - seqs.nbytes * on_device)
        train_labels, val_labels = np.array(train.labels), np.array(validation.labels)
        labels = _labels_tensor(train_labels, task).to(seqs.device)
        generator = _shuffle_generator(model_seed)
        bounds = _batch_bounds(n, t["batch_size"])
        log.info("training %s (%s parameters) on %d examples, validating on %d; device %s%s; "
                 "batch size %d, at most %d epochs, patience %d", resolved["name"], f"{params['total']:,}",
                 n, len(validation), device_description(device), f", autocast {amp}" if amp else "",
                 t["batch_size"], t["max_epochs"], t["patience"])
        rows, best_loss, best_epoch, best_state, waited = [], math.inf, 0, None, 0
        stopped = "max_epochs"
        train_logits = torch.empty((n, K), device=device)
        for epoch in range(1, t["max_epochs"] + 1):
            epoch_start = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=generator).to(seqs.device)
            loss_sum = torch.zeros((), device=device)
            for lo, hi in bounds:
                idx = order[lo:hi]
                codes = seqs[idx].to(device, non_blocking=True)
                y = labels[idx].to(device, non_blocking=True)
                x = one_hot_batch(codes, A, torch.float32)                      # (B, A, L)
                with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                    logits = model(x)
                loss = loss_fn(logits.float(), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if t["gradient_clip"]:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), t["gradient_clip"])
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.detach() * (hi - lo)
                train_logits[idx.to(device)] = logits.detach().float()
            train_loss = float(loss_sum) / n  # one synchronisation per epoch, here
            train_seconds = time.perf_counter() - epoch_start
            if not math.isfinite(train_loss):
                raise TrainingDiverged(
                    f"{resolved['name']}: training diverged: the training loss is {train_loss} in epoch "
                    f"{epoch} (learning rate {t['learning_rate']}, optimizer {t['optimizer']}); lower "
                    f"training.learning_rate in {resolved['source']}, or set training.gradient_clip")
            probs = ev.probabilities(train_logits.cpu().numpy(), task)
            val_logits = predict(model, val_seqs, batch_size=2 * t["batch_size"], device=device,
                                 alphabet_size=A, autocast=amp).numpy()
            val_loss = ev.mean_loss(val_logits, val_labels, task)
            if not math.isfinite(val_loss):
                raise TrainingDiverged(f"{resolved['name']}: training diverged: the validation loss is "
                                       f"{val_loss} after epoch {epoch}; lower training.learning_rate in "
                                       f"{resolved['source']}")
            val_probs = ev.probabilities(val_logits, task)
            improved = val_loss < best_loss
            if improved:
                best_loss, best_epoch, waited = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
            row = {"epoch": epoch, "train_loss": train_loss,
                   "train_accuracy": ev.accuracy(probs, train_labels, task),
                   "train_auroc": ev.macro_auroc(probs, train_labels, task),
                   "validation_loss": val_loss,
                   "validation_accuracy": ev.accuracy(val_probs, val_labels, task),
                   "validation_auroc": ev.macro_auroc(val_probs, val_labels, task),
                   "learning_rate": optimizer.param_groups[0]["lr"],
                   "seconds": time.perf_counter() - epoch_start,
                   "examples_per_second": n / train_seconds, "best": int(improved)}
            rows.append(row)
            log.info("epoch %3d/%d  train loss %.4f acc %.4f auroc %.4f | validation loss %.4f acc %.4f "
                     "auroc %.4f | %.2f s, %.0f examples/s%s", epoch, t["max_epochs"], row["train_loss"],
                     row["train_accuracy"], row["train_auroc"], val_loss, row["validation_accuracy"],
                     row["validation_auroc"], row["seconds"], row["examples_per_second"],
                     "  * best" if improved else "")
            if waited and waited >= t["patience"] and epoch < t["max_epochs"]:
                stopped = "early_stopping"
                log.info("no lower validation loss for %d epochs: stopping", waited)
                break
        model.load_state_dict(best_state)
        model.eval()
    finally:
        torch.use_deterministic_algorithms(deterministic)
    history = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    wall = time.perf_counter() - started
    log.info("best epoch %d (validation loss %.4f) of %d; %.1f s in all", best_epoch, best_loss, len(rows), wall)
    summary = {
        "architecture": resolved["name"],
        "architecture_file": resolved["source"],
        "train": str(train.path), "validation": str(validation.path),
        "grammar": train.manifest["grammar"]["name"], "data_seed": train.manifest["seed"],
        "n_train": n, "n_validation": len(validation), "model_seed": int(model_seed),
        "parameters": params,
        "device": device.type, "device_name": device_description(device),
        "mixed_precision": str(amp).replace("torch.", "") if amp else None,
        "data_on_device": on_device,
        "epochs": len(rows), "best_epoch": best_epoch, "best_validation_loss": best_loss,
        "stopped": stopped,
        "wall_seconds": wall,
        "seconds_per_epoch": float(history["seconds"].mean()),
        "examples_per_second": float(history["examples_per_second"].mean()),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    return TrainResult(model=model, resolved=resolved, history=history, summary=summary)


def save_trained(result: TrainResult, out_dir: str | Path, module_file: str | Path | None = None) -> None:
    """Write a trained-model folder (see :mod:`grammarbench.models.networks`), each file atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    # Serialised in memory first: torch.save names the archive's records after the file it
    # writes, so saving to a temporary name would make identical models differ byte-wise.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(out / "model.pt") as tmp:
        tmp.write_bytes(buffer.getvalue())
    write_text(out / "architecture.yaml", yaml.safe_dump(result.resolved, sort_keys=False))
    write_tsv(result.history, out / "history.tsv")
    write_text(out / "summary.json", json.dumps(result.summary, indent=2) + "\n")
    if module_file is not None:
        shutil.copyfile(module_file, out / "module.py")


def fit(architecture: str | Path | Architecture, train_dir: str | Path, validation_dir: str | Path,
        out_dir: str | Path, *, model_seed: int = 1, device=None, gpu_allowed: bool = True,
        overrides: dict | None = None, mixed_precision: bool = True, threads: int | None = None) -> dict:
    """Train an architecture file on a simulated dataset and write the model folder: what
    the ``train`` rule and ``grammarbench train`` run.

    Parameters
    ----------
    architecture: str, Path or Architecture
        The architecture file (or a loaded one).
    train_dir, validation_dir: str or Path
        Split folders written by the simulator.
    out_dir: str or Path
        The trained-model folder to write.
    model_seed, device, mixed_precision, threads:
        As in :func:`train_model`.
    gpu_allowed: bool
        Whether ``device`` ``auto`` (or None) may pick CUDA; the ``train`` rule passes its
        ``gpu`` resource > 0. Default is True.
    overrides: dict or None
        Training options replacing the architecture's (``max_epochs``, ``patience``,
        ``batch_size``; None values are ignored). Default is None.

    Returns
    -------
    summary: dict
        What ``summary.json`` holds.
    """
    arch = architecture if isinstance(architecture, Architecture) else load_architecture(architecture)
    train, validation = load_split(train_dir), load_split(validation_dir)
    m = train.manifest
    resolved = resolve(arch, length=max(m["length"]), letters=m["letters"], alphabet=m["alphabet"],
                       classes=m["classes"], task=m["task"], overrides=overrides)
    module_file = arch.module[0] if arch.module else None
    device = resolve_device(device, gpu_allowed=gpu_allowed)
    result = train_model(resolved, train, validation, model_seed=model_seed, device=device,
                         mixed_precision=mixed_precision, threads=threads, module_file=module_file)
    save_trained(result, out_dir, module_file=module_file)
    return result.summary
