# results.py
# grammarbench.attribution: run one method on a simulated split; store its maps.

"""One (model, method, reference) on a split: :func:`attribute_split` and its stored result."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from grammarbench.attribution import references as refs_mod
from grammarbench.attribution.core import predict_logits, targets_from_labels
from grammarbench.attribution.api import attribute
from grammarbench.attribution.settings import AttributionSettings, MethodSettings, method_settings
from grammarbench.io import atomic_path

__all__ = ["AttributionResult", "attribute_split", "attribute_model", "score_runs"]


@dataclass
class AttributionResult:
    """Attribution maps with the examples and classes they explain.

    Attributes
    ----------
    maps: np.ndarray, dtype=float32, shape=(M, A, L)
    example: np.ndarray, dtype=int64, shape=(M,)
        Row of the split each map explains.
    target: np.ndarray, dtype=int64, shape=(M,)
        Class whose logit each map explains.
    correct: np.ndarray, dtype=bool, shape=(M,)
        Whether the model classified that (example, class) correctly: the argmax is
        the true class (multi-class), or the positive label's logit is > 0
        (multi-label).
    delta: np.ndarray, dtype=float32, shape=(M,), or None
        Convergence deltas (methods with completeness).
    settings: dict
        Method, reference, n_references, hypothetical, correction and method options.
    info: dict
        Anything else worth keeping (seconds, batch size, device, random_state).
    """

    maps: np.ndarray
    example: np.ndarray
    target: np.ndarray
    correct: np.ndarray
    delta: np.ndarray | None
    settings: dict
    info: dict = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.settings["method"]

    @property
    def reference(self) -> str | None:
        return self.settings.get("reference")

    def __len__(self) -> int:
        return len(self.example)

    def score(self, split, labels: dict | None = None, truth: str = "rescan", **options):
        """Score the maps against ``split``'s ground truth (the split they explain).

        Parameters
        ----------
        split: grammarbench.simulation.dataset.Split, str or os.PathLike
        labels: dict or None
            Constant columns to put first (e.g. ``{"model": ...}``); ``method`` and
            ``reference`` are added unless given.
        truth: str
            ``rescan`` (``mask.npy``, default) or ``implanted`` (``mask_implanted.npy``):
            :meth:`grammarbench.simulation.dataset.Split.truth`.
        **options:
            Options of :func:`grammarbench.scoring.recovery.score_maps` (``score``, ``absolute``,
            ``agreement_threshold``, ``threshold_on``, ``subsets``).

        Returns
        -------
        table: pandas.DataFrame
            :func:`grammarbench.scoring.recovery.score_maps`'s long table.
        """
        from grammarbench.scoring import recovery
        from grammarbench.simulation.dataset import Split, load_split

        if not isinstance(split, Split):
            split = load_split(split)
        labels = dict(labels or {})
        labels.setdefault("method", self.method)
        labels.setdefault("reference", self.reference or "")
        ex = self.example
        mask, instances = split.truth(truth)
        return recovery.score_maps(self.maps, np.asarray(split.sequences)[ex],
                                  np.asarray(mask)[ex], np.asarray(split.lengths)[ex],
                                  instances, ex, self.correct, self.delta,
                                  labels=labels, **options)

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` file (maps as float16, compressed), atomically.

        Arrays: ``maps`` (float16), ``example``, ``target``, ``correct``, ``delta``
        (float32; empty if none) and ``meta`` (JSON of ``settings`` and ``info``).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"settings": self.settings, "info": self.info})
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(
                tmp, maps=self.maps.astype(np.float16), example=self.example,
                target=self.target, correct=self.correct,
                delta=(np.zeros(0, np.float32) if self.delta is None
                       else self.delta.astype(np.float32)),
                meta=np.array(meta))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AttributionResult":
        """Read a file written by :meth:`save` (maps come back as float32)."""
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            delta = f["delta"]
            return cls(maps=f["maps"].astype(np.float32), example=f["example"],
                       target=f["target"], correct=f["correct"].astype(bool),
                       delta=delta if delta.size else None, settings=meta["settings"],
                       info=meta["info"])


def attribute_split(model: torch.nn.Module, split, method: str | MethodSettings, reference: str | None = None, *,
                    n_examples: int | None = None, frequencies=None, n_references: int | None = None,
                    batch_size: int = 128, device=None, dtype=None, random_state: int | None = 0,
                    hypothetical: bool = False, correction: bool = False, **options
                    ) -> AttributionResult:
    """Explain the first ``n_examples`` examples of a split with one method.

    Each example's true class is explained (multi-class), or each of its positive
    labels (multi-label). The model's predictions decide which maps are of correctly
    classified examples, so that :func:`grammarbench.scoring.recovery.score_maps` can score both
    subsets. :func:`attribute_model` (the ``attribute`` rule) calls it once per run.

    Parameters
    ----------
    model: torch.nn.Module
    split: grammarbench.simulation.dataset.Split, str or os.PathLike
        A split (or its folder), usually the test split.
    method, reference, n_references, batch_size, device, dtype, random_state,
    hypothetical, correction, **options:
        As in :func:`grammarbench.attribution.attribute`: a method's name and settings,
        or its :class:`~grammarbench.attribution.settings.MethodSettings` alone.
    n_examples: int or None
        How many examples, from the first row. Default None: all.
        (For ``sis`` on multi-label data, ``output`` defaults to ``sigmoid``.)
    frequencies: np.ndarray or None, shape=(A,)
        Letter frequencies for the ``mean_composition`` reference, from the training
        split (:func:`grammarbench.attribution.references.letter_frequencies`). None: those of
        ``split`` itself.

    Returns
    -------
    result: AttributionResult
    """
    from grammarbench.simulation.dataset import Split, load_split

    if not isinstance(split, Split):
        split = load_split(split)
    if method == "sis" and np.asarray(split.labels).ndim == 2:
        options.setdefault("output", "sigmoid")  # multi-label: one sigmoid per class
    settings = method_settings(method, reference, n_references, hypothetical, correction, **options)
    A = len(split.manifest["letters"])
    N = len(split)
    if n_examples is not None:
        if isinstance(n_examples, bool) or not isinstance(n_examples, (int, np.integer)) \
                or n_examples < 1:
            raise ValueError(f"n_examples must be a positive integer or None; got {n_examples!r}")
        N = min(N, int(n_examples))
    codes = np.asarray(split.sequences[:N])
    lengths = np.asarray(split.lengths[:N]).astype(np.int64)
    labels = np.asarray(split.labels[:N])
    example, target = targets_from_labels(labels)
    if settings.reference == "mean_composition" and frequencies is None:
        frequencies = refs_mod.letter_frequencies(codes, lengths, A)

    start = time.perf_counter()
    logits = predict_logits(model, codes, batch_size=batch_size, device=device, dtype=dtype,
                            alphabet_size=A)
    if labels.ndim == 1:
        correct = logits.argmax(axis=1)[example] == target
    else:
        correct = logits[example, target] > 0
    maps, delta = attribute(
        model, codes[example], target, settings, batch_size=batch_size, device=device, dtype=dtype,
        random_state=random_state, index=example, lengths=lengths[example], alphabet_size=A,
        frequencies=frequencies, return_delta=True)
    seconds = time.perf_counter() - start
    info = {"seconds": seconds, "batch_size": batch_size, "random_state": random_state,
            "device": str(device if device is not None
                          else ("cuda" if torch.cuda.is_available() else "cpu")),
            "split": str(split.path), "n_examples": int(N)}
    return AttributionResult(maps=maps, example=example, target=target,
                             correct=np.asarray(correct, dtype=bool), delta=delta,
                             settings=settings.as_dict(), info=info)


# --------------------------------------------------------------------------- a model's runs


def attribute_model(model_dir, test_dir, train_dir, settings: AttributionSettings, out_dir, *,
                    device=None, gpu_allowed: bool = True, threads: int | None = None,
                    model=None) -> list[str]:
    """Every configured run (method × reference) on one trained model: the ``attribute``
    rule. Writes ``<out_dir>/<run name>.npz`` per run (see :meth:`AttributionResult.save`).

    Parameters
    ----------
    model_dir, test_dir, train_dir: str or os.PathLike
        The trained-model folder, the split to explain (the test split) and the training
        split, whose letter frequencies make the ``mean_composition`` reference.
    settings: AttributionSettings
        The checked ``attribution`` section
        (:func:`grammarbench.attribution.settings.validate_attribution_config`): its runs,
        ``n_examples``, ``batch_size`` and ``random_state``.
    out_dir: str or os.PathLike
    device: str, torch.device or None
        ``auto``/None: CUDA when available and ``gpu_allowed``, else the CPU
        (:func:`grammarbench.runtime.resolve_device`).
    gpu_allowed: bool
        Whether the job may use a GPU (the rule's ``gpu`` resource). Default True.
    threads: int or None
        CPU threads for PyTorch; None leaves its default.
    model: torch.nn.Module or None
        ``load_trained(model_dir, device)`` already called on the same device (the
        command line loads the model to check the settings); None: loaded here.

    Returns
    -------
    paths: list of str
    """
    from grammarbench.models.networks import load_trained
    from grammarbench.runtime import resolve_device, use_threads
    from grammarbench.simulation.dataset import load_split

    use_threads(threads)
    device = resolve_device(device, gpu_allowed=gpu_allowed)
    model = load_trained(model_dir, device=device) if model is None else model
    test, train = load_split(test_dir), load_split(train_dir)
    frequencies = None
    if any(run.settings.reference == "mean_composition" for run in settings.runs):
        # only then: a pass over the training split (and numba's import, 0.2 s)
        frequencies = refs_mod.letter_frequencies(np.asarray(train.sequences),
                                                  np.asarray(train.lengths),
                                                  len(train.manifest["letters"]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for run in settings.runs:
        result = attribute_split(model, test, run.settings, n_examples=settings.n_examples,
                                 frequencies=frequencies, batch_size=settings.batch_size, device=device,
                                 random_state=settings.random_state)
        result.info["run"] = run.name
        path = out_dir / f"{run.name}.npz"
        result.save(path)
        paths.append(str(path))
    return paths


def score_runs(paths, test_dir, labels: dict | None = None, truth: str = "rescan", **options):
    """Score saved runs against the ground truth of the split they explain: the
    ``attribute`` rule's last step. One long table
    (:func:`grammarbench.scoring.recovery.score_maps`'s columns after ``run``, ``method``,
    ``reference``, ``n_references`` and ``truth``), all runs stacked. ``truth``: ``rescan``
    or ``implanted`` (:meth:`AttributionResult.score`).
    """
    import pandas as pd

    from grammarbench.simulation.dataset import load_split

    test = load_split(test_dir)
    tables = []
    for path in paths:
        result = AttributionResult.load(path)
        run_labels = {**(labels or {}), "run": result.info.get("run", Path(path).stem),
                      "method": result.method, "reference": result.reference or "",
                      "n_references": int(result.settings.get("n_references") or 0),
                      "truth": truth}
        tables.append(result.score(test, labels=run_labels, truth=truth, **options))
    return pd.concat(tables, ignore_index=True)
