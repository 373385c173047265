# evaluate.py
# grammarbench: predictive performance of a model (or the oracle) on a split

"""Predictive evaluation: loss, accuracy, AUROC and AUPRC, predictions and curves.

Everything here takes logits ``shape=(N, K)`` and labels (class indices ``shape=(N,)`` for
a multi-class task, a multi-hot matrix ``shape=(N, K)`` for multi-label) and returns
tidy tables. Models and the oracle (:mod:`grammarbench.models.oracle`) are scored by the same
functions, so their tables line up row by row.

Tables written per model (or oracle) and split
----------------------------------------------
``<split>.metrics.tsv`` (long format), columns:

* ``metric``: ``n`` (examples), ``loss`` (mean cross-entropy for multi-class, mean binary
  cross-entropy over examples and classes for multi-label), ``accuracy`` (multi-class:
  the arg-max class is the label; multi-label: share of (example, class) pairs right at a
  0.5 threshold), ``subset_accuracy`` (multi-label: every class right), ``auroc``,
  ``auprc`` (average precision), ``positive_fraction`` (share of examples in the class:
  the AUPRC of a random ranking);
* ``class``: a class name (one-vs-rest), ``micro`` (every (example, class) pair pooled),
  ``macro`` (the mean over classes where the metric is defined) or ``all``;
* ``value``: the number (NaN where undefined, e.g. AUROC of a class absent from the split).

``<split>.predictions.tsv``: ``example`` (index in the split), ``label`` (class name;
multi-label: names joined with ``|``), ``predicted`` (arg-max class; multi-label: classes
with probability > 0.5, joined with ``|``), then ``p_<class>`` per class (softmax or
sigmoid probability).

``<split>.curves.tsv``: ``curve`` (``roc``: x = false positive rate, y = true positive
rate; ``pr``: x = recall, y = precision), ``class`` (a class name, or ``micro``), ``x``,
``y``, ``threshold`` (probability); at most ``MAX_CURVE_POINTS`` points per curve, evenly
thinned from scikit-learn's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grammarbench.metrics import auroc, average_precision
from grammarbench.io import write_tsv

METRIC_COLUMNS = ("metric", "class", "value")
CURVE_COLUMNS = ("curve", "class", "x", "y", "threshold")
MAX_CURVE_POINTS = 1000
EVAL_SPLITS = ("validation", "test")


# --------------------------------------------------------------------------- basics


def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return (np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top).squeeze(axis)


def probabilities(logits: np.ndarray, task: str) -> np.ndarray:
    """Softmax (multi-class) or sigmoid (multi-label) of logits, shape=(N, K)."""
    z = np.asarray(logits, dtype=np.float64)
    if task == "multi-class":
        return np.exp(z - _logsumexp(z)[:, None])
    return np.exp(-np.logaddexp(0.0, -z))


def label_matrix(labels: np.ndarray, task: str, n_classes: int) -> np.ndarray:
    """Labels as a 0/1 matrix, shape=(N, K)."""
    labels = np.asarray(labels)
    if task == "multi-class":
        out = np.zeros((len(labels), n_classes), dtype=np.uint8)
        out[np.arange(len(labels)), labels.astype(np.int64)] = 1
        return out
    return labels.astype(np.uint8)


def mean_loss(logits: np.ndarray, labels: np.ndarray, task: str) -> float:
    """Mean cross-entropy (multi-class) or binary cross-entropy (multi-label) of logits."""
    z = np.asarray(logits, dtype=np.float64)
    if not len(z):
        return float("nan")
    if task == "multi-class":
        log_p = z - _logsumexp(z)[:, None]
        return float(-log_p[np.arange(len(z)), np.asarray(labels).astype(np.int64)].mean())
    y = np.asarray(labels, dtype=np.float64)
    return float((y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)).mean())


def accuracy(probs: np.ndarray, labels: np.ndarray, task: str) -> float:
    """Arg-max accuracy (multi-class), or per-(example, class) accuracy at 0.5 (multi-label)."""
    if not len(probs):
        return float("nan")
    if task == "multi-class":
        return float((probs.argmax(1) == np.asarray(labels)).mean())
    return float(((probs > 0.5) == np.asarray(labels).astype(bool)).mean())


def _per_class(score_fn, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    out = np.full(y.shape[1], np.nan)
    for c in range(y.shape[1]):
        if 0 < y[:, c].sum() < len(y):
            out[c] = score_fn(y[:, c], p[:, c])
    return out


def macro_auroc(probs: np.ndarray, labels: np.ndarray, task: str) -> float:
    """Mean one-vs-rest AUROC over the classes present (NaN if none)."""
    y = label_matrix(labels, task, probs.shape[1])
    per = _per_class(auroc, y, probs)
    return float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")


# --------------------------------------------------------------------------- tables


def predictive_metrics(logits: np.ndarray, labels: np.ndarray, task: str, classes: list[str]) -> pd.DataFrame:
    """The metrics table (columns ``metric``, ``class``, ``value``; see the module docs).

    Parameters
    ----------
    logits: np.ndarray, shape=(N, K)
    labels: np.ndarray, shape=(N,) class indices, or (N, K) multi-hot
    task: str
        ``multi-class`` or ``multi-label``.
    classes: list of str, length K
    """
    probs = probabilities(logits, task)
    y = label_matrix(labels, task, len(classes))
    rows = [("n", "all", len(y)), ("loss", "all", mean_loss(logits, labels, task)),
            ("accuracy", "all", accuracy(probs, labels, task))]
    if task == "multi-label":
        rows.append(("subset_accuracy", "all", float(((probs > 0.5) == y.astype(bool)).all(1).mean())))
    pooled_ok = 0 < y.sum() < y.size
    # the one AUROC / average precision of the package (grammarbench.metrics, checked
    # against scikit-learn's in tests/test_metrics.py), for models and attributions alike
    for name, fn in (("auroc", auroc), ("auprc", average_precision)):
        per = _per_class(fn, y, probs)
        rows += [(name, c, v) for c, v in zip(classes, per)]
        rows.append((name, "micro", float(fn(y.ravel(), probs.ravel())) if pooled_ok else np.nan))
        rows.append((name, "macro", float(np.nanmean(per)) if np.isfinite(per).any() else np.nan))
    fractions = y.mean(0) if len(y) else np.full(len(classes), np.nan)
    rows += [("positive_fraction", c, float(f)) for c, f in zip(classes, fractions)]
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _joined(matrix: np.ndarray, classes: list[str]) -> list[str]:
    names = np.array(classes, dtype=object)
    return ["|".join(names[row]) for row in matrix.astype(bool)]


def predictions_table(logits: np.ndarray, labels: np.ndarray, task: str, classes: list[str]) -> pd.DataFrame:
    """One row per example: label, predicted class(es) and the probability of every class."""
    probs = probabilities(logits, task)
    names = np.array(classes, dtype=object)
    if task == "multi-class":
        label = names[np.asarray(labels).astype(np.int64)]
        predicted = names[probs.argmax(1)]
    else:
        label = _joined(np.asarray(labels), classes)
        predicted = _joined(probs > 0.5, classes)
    table = pd.DataFrame({"example": np.arange(len(probs)), "label": label, "predicted": predicted})
    for c, name in enumerate(classes):
        table[f"p_{name}"] = probs[:, c]
    return table


def _thin(n: int, max_points: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def curves_table(logits: np.ndarray, labels: np.ndarray, task: str, classes: list[str],
                 max_points: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """ROC and precision-recall curve points per class and pooled (``micro``)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    probs = probabilities(logits, task)
    y = label_matrix(labels, task, len(classes))
    parts = []
    targets = [(name, y[:, c], probs[:, c]) for c, name in enumerate(classes)]
    targets.append(("micro", y.ravel(), probs.ravel()))
    for name, truth, score in targets:
        if not 0 < truth.sum() < len(truth):
            continue
        fpr, tpr, thr = roc_curve(truth, score)
        keep = _thin(len(fpr), max_points)
        parts.append(pd.DataFrame({"curve": "roc", "class": name, "x": fpr[keep], "y": tpr[keep],
                                   "threshold": thr[keep]}))
        precision, recall, thr = precision_recall_curve(truth, score)
        thr = np.append(thr, np.nan)  # the last (recall 0) point has no threshold
        keep = _thin(len(precision), max_points)
        parts.append(pd.DataFrame({"curve": "pr", "class": name, "x": recall[keep], "y": precision[keep],
                                   "threshold": thr[keep]}))
    if not parts:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def write_evaluation(logits: np.ndarray, labels: np.ndarray, task: str, classes: list[str], *,
                     metrics: str | Path, predictions: str | Path, curves: str | Path) -> pd.DataFrame:
    """Write the three tables of one split; returns the metrics table."""
    table = predictive_metrics(logits, labels, task, classes)
    write_tsv(table, metrics)
    write_tsv(predictions_table(logits, labels, task, classes), predictions)
    write_tsv(curves_table(logits, labels, task, classes), curves)
    return table


def summary_line(table: pd.DataFrame) -> str:
    """``loss 0.123, accuracy 0.95, AUROC 0.99 (macro), AUPRC 0.98 (macro)`` for a log."""
    get = {(m, c): v for m, c, v in table.itertuples(index=False)}
    return (f"loss {get[('loss', 'all')]:.4f}, accuracy {get[('accuracy', 'all')]:.4f}, "
            f"AUROC {get[('auroc', 'macro')]:.4f} (macro), AUPRC {get[('auprc', 'macro')]:.4f} (macro)")


# --------------------------------------------------------------------------- models


def split_outputs(folder: str | Path, splits) -> dict[str, dict[str, Path]]:
    """The tables of an evaluation folder: split name → ``{"metrics": path, "predictions":
    path, "curves": path}``, named ``<split>.<kind>.tsv`` inside ``folder``."""
    return {split: {kind: Path(folder) / f"{split}.{kind}.tsv" for kind in ("metrics", "predictions", "curves")}
            for split in splits}


def evaluate_model(folder: str | Path, splits: dict[str, str | Path], outputs: dict[str, dict[str, str | Path]],
                   device=None, gpu_allowed: bool = True, batch_size: int | None = None,
                   threads: int | None = None, figure: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Evaluate a trained model on held-out splits and write the tables.

    Parameters
    ----------
    folder: str or Path
        The trained-model folder.
    splits: dict
        Split name (``validation``, ``test``) → split folder.
    outputs: dict
        Split name → ``{"metrics": path, "predictions": path, "curves": path}``.
    device: str or None
        See :func:`grammarbench.runtime.resolve_device`. Default is None.
    gpu_allowed: bool
        Whether ``device`` ``auto`` (or None) may pick CUDA. Default is True.
    batch_size: int or None
        Examples per batch; None: twice the training batch size. Default is None.
    threads: int or None
        CPU threads for torch. Default is None (torch's default).
    figure: str or Path or None
        Also draw the ROC and PR curves of the last split into this PNG. Default is None.

    Returns
    -------
    metrics: dict
        Split name → metrics table.
    """
    import logging

    from grammarbench.simulation.dataset import load_split
    from grammarbench.models.networks import load_trained, read_resolved
    from grammarbench.models.predict import predict
    from grammarbench.runtime import resolve_device, use_threads

    log = logging.getLogger("grammarbench")
    use_threads(threads or None)
    device = resolve_device(device, gpu_allowed=gpu_allowed)
    resolved = read_resolved(folder)
    model = load_trained(folder, device=device)
    batch_size = batch_size or 2 * resolved["training"]["batch_size"]
    results = {}
    for name, path in splits.items():
        data = load_split(path)
        check_compatible(resolved, data.manifest, path)
        logits = predict(model, np.asarray(data.sequences), batch_size=batch_size, device=device).numpy()
        table = write_evaluation(logits, np.asarray(data.labels), resolved["task"], resolved["classes"],
                                 **outputs[name])
        log.info("%s on %s (%d examples): %s", resolved["name"], name, len(data), summary_line(table))
        results[name] = table
    if figure is not None:
        from grammarbench.aggregate.figures import curves_figure

        last = list(splits)[-1]
        curves = pd.read_csv(outputs[last]["curves"], sep="\t")
        fig = curves_figure(curves, title=f"{resolved['name']} on {last}")
        fig.savefig(figure, dpi=100)
    return results


def evaluate_into_folder(model: str | Path, splits: dict[str, str | Path], folder: str | Path,
                         **options) -> dict[str, pd.DataFrame]:
    """Evaluate a trained model into one evaluation folder, as the workflow lays it out: the
    tables of :func:`split_outputs` per split and the ROC and PR curves of the last split as
    ``<split>.curves.png``. ``options``: those of :func:`evaluate_model` (device, gpu_allowed,
    batch_size, threads)."""
    folder = Path(folder)
    return evaluate_model(model, splits, split_outputs(folder, splits),
                          figure=folder / f"{list(splits)[-1]}.curves.png", **options)


def check_compatible(resolved: dict, manifest: dict, path) -> None:
    """A model and a dataset must share classes, letters and length."""
    problems = []
    if list(manifest["classes"]) != list(resolved["classes"]):
        problems.append(f"classes {manifest['classes']} vs the model's {resolved['classes']}")
    if manifest["letters"] != resolved["input"]["letters"]:
        problems.append(f"letters {manifest['letters']} vs the model's {resolved['input']['letters']}")
    if max(manifest["length"]) != resolved["input"]["length"]:
        problems.append(f"length {max(manifest['length'])} vs the model's {resolved['input']['length']}")
    if problems:
        raise ValueError(f"{path}: this dataset does not fit the model: " + "; ".join(problems))
