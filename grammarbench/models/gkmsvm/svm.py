# svm.py
# grammarbench: gapped k-mer SVMs, kernel tier (libsvm on the exact Gram) and linear tier

r"""Gapped k-mer SVM classifiers, one-vs-rest, in two tiers.

*Kernel tier* (LS-GKM's model): the exact ``N × N`` kernel matrix (:mod:`.kernel`) and
libsvm's C-SVC through scikit-learn's ``SVC(kernel="precomputed")``, which is the solver
LS-GKM itself wraps (same ``C``, tolerance 1e-3, no shrinking, as ``gkmtrain``'s
defaults). Prediction collapses the support vectors into key tables (:mod:`.tables`), so
it costs the same whatever their number; the RBF kernels keep the support vectors (as
do kernels whose tables would exceed ``MAX_TABLE_ENTRIES`` keys: l = 12 with d >= 3).

*Linear tier*: a linear SVM on explicit normalised, strand-merged gapped k-mer counts
(:mod:`.linear`), linear in N, for training sets whose Gram matrix does not fit. Its
features are those of the ``gkm`` kernel with ``d = l - k``, whatever ``kernel`` says
(the truncated and estimated tables have negative subset coefficients, so no real feature
map), with LS-GKM's centre weights for the ``wgkm`` kernels.

``tier="auto"`` takes the kernel tier up to ``kernel_max_examples`` training examples.

Outputs
-------
One decision value per class (multi-class: one-vs-rest; two classes: one SVM ``f``, with
``[-f, f]``, which is exactly what one-vs-rest gives; multi-label: one SVM per label).
They play the role of a network's logits: ranking scores for AUROC/AUPRC, and what
:func:`.explain.gkmexplain` explains.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace

import numpy as np

from .features import (ALPHABET_SIZE, LSGKM_KERNEL_NAMES, MAX_TABLE_ENTRIES, KernelSpec, SubsetBasis, Windows,
                       check_codes, subset_basis, symmetrise_over_strands, windows)
from .kernel import cross_kernel_raw, gram_matrix, normalise, rbf, self_kernel_raw
from .linear import fit_linear
from .tables import support_table, table_scores

log = logging.getLogger("grammarbench")

TIERS = ("auto", "kernel", "linear")
CLASS_WEIGHTS = (None, "balanced")
#: Key tables of all classes are kept while they take at most this many bytes.
TABLE_CACHE_BYTES = 1 << 30


def linear_spec(spec: KernelSpec) -> KernelSpec:
    """The kernel whose explicit features the linear tier uses (see the module docstring)."""
    return replace(spec, kernel="wgkm-count" if spec.centre_weighted else "gkm", d=spec.l - spec.k)


def _binary_problems(labels: np.ndarray, task: str, n_classes: int) -> tuple[np.ndarray, list[int]]:
    """(N, P) ±1 targets of the binary problems to train, and the output column of each."""
    if task == "multi-label":
        hot = np.asarray(labels).astype(bool)
        if hot.ndim != 2 or hot.shape[1] != n_classes:
            raise ValueError(f"multi-label labels must have shape (N, {n_classes}); got {hot.shape}")
        return np.where(hot, 1.0, -1.0), list(range(n_classes))
    if task != "multi-class":
        raise ValueError(f"task must be 'multi-class' or 'multi-label'; got {task!r}")
    index = np.asarray(labels).astype(np.int64)
    if index.ndim != 1 or (index.size and (index.min() < 0 or index.max() >= n_classes)):
        raise ValueError(f"multi-class labels must be class indices in [0, {n_classes}); got shape "
                         f"{index.shape}")
    columns = [1] if n_classes == 2 else list(range(n_classes))
    return np.stack([np.where(index == c, 1.0, -1.0) for c in columns], axis=1), columns


def _class_weights(signs: np.ndarray, class_weight) -> np.ndarray:
    """Per-example weight: 1, or scikit-learn's 'balanced' n / (2 n_class)."""
    if class_weight is None:
        return np.ones_like(signs)
    n_pos = max(int((signs > 0).sum()), 1)
    n_neg = max(int((signs < 0).sum()), 1)
    return np.where(signs > 0, len(signs) / (2 * n_pos), len(signs) / (2 * n_neg))


class GkmSvm:
    """A gapped k-mer SVM classifier (LS-GKM's model, plus a linear tier).

    Parameters
    ----------
    spec: KernelSpec
    C: float
        SVM regularisation. Default is 1.0 (LS-GKM's ``-c``).
    class_weight: None or "balanced"
        ``"balanced"`` scales ``C`` per binary problem by ``n / (2 n_class)``. Default None.
    tier: "auto", "kernel" or "linear"
        Default is "auto": the kernel tier up to ``kernel_max_examples`` examples.
    kernel_max_examples: int
        Default is 20000 (a 3.2 GB float64 Gram matrix).
    tol: float
        libsvm's stopping tolerance (kernel tier). Default is 1e-3 (LS-GKM's ``-e``).
    linear_tol, max_epochs: float, int
        Stopping rule of the linear tier's coordinate descent. Defaults 0.01 and 1000.
    seed: int
        Seeds the linear tier's visiting order (the kernel tier draws nothing).
    """

    def __init__(self, spec: KernelSpec, *, C: float = 1.0, class_weight=None, tier: str = "auto",
                 kernel_max_examples: int = 20000, tol: float = 1e-3, linear_tol: float = 0.01,
                 max_epochs: int = 1000, seed: int = 0):
        if not (isinstance(C, (int, float)) and C > 0):
            raise ValueError(f"C must be a positive number; got {C!r}")
        if class_weight not in CLASS_WEIGHTS:
            raise ValueError(f"class_weight must be null or 'balanced'; got {class_weight!r}")
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}; got {tier!r}")
        self.spec = spec
        self.C = float(C)
        self.class_weight = class_weight
        self.tier = tier
        self.kernel_max_examples = int(kernel_max_examples)
        self.tol = float(tol)
        self.linear_tol = float(linear_tol)
        self.max_epochs = int(max_epochs)
        self.seed = int(seed)
        self.fitted_tier: str | None = None
        self._tables: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ training

    def fit(self, codes, labels, *, task: str = "multi-class", n_classes: int | None = None) -> GkmSvm:
        """Train on ``codes`` (N, L) uint8 with ``labels`` (N,) class indices or (N, C) multi-hot."""
        codes = check_codes(codes)
        labels = np.asarray(labels)
        if n_classes is None:
            n_classes = labels.shape[1] if task == "multi-label" else int(labels.max()) + 1
        signs, columns = _binary_problems(labels, task, n_classes)
        self.task, self.n_classes = task, int(n_classes)
        tier = self.tier
        if tier == "auto":
            tier = "kernel" if len(codes) <= self.kernel_max_examples else "linear"
        self.fitted_tier = tier
        self.bias = np.zeros(n_classes)
        self._tables = {}
        if tier == "kernel":
            self._fit_kernel(codes, signs, columns)
        else:
            self._fit_linear(codes, signs, columns)
        if task == "multi-class" and n_classes == 2:
            self._mirror_binary()
        return self

    def _fit_kernel(self, codes, signs, columns):
        from sklearn.svm import SVC

        gram, diagonal = gram_matrix(self.spec, codes)
        dual = np.zeros((len(codes), self.n_classes))
        for problem, column in enumerate(columns):
            y = signs[:, problem]
            if (y > 0).all() or (y < 0).all():
                # A class without positives (or negatives) is a constant, not an SVM.
                self.bias[column] = float(y[0])
                continue
            weights = _class_weights(y, self.class_weight)
            svc = SVC(C=self.C, kernel="precomputed", tol=self.tol, shrinking=False,
                      class_weight={-1.0: float(weights[y < 0][0]), 1.0: float(weights[y > 0][0])})
            svc.fit(gram, y)
            # classes_ = [-1, 1]: sklearn's decision value is positive for +1.
            dual[svc.support_, column] = svc.dual_coef_[0]
            self.bias[column] = float(svc.intercept_[0])
        keep = np.flatnonzero(np.abs(dual).sum(axis=1) > 0)
        self.support = codes[keep]
        self.dual = dual[keep]
        self.support_self = diagonal[keep]
        log.info("gkm-SVM kernel tier: %d examples, %d support vectors", len(codes), len(keep))

    def _fit_linear(self, codes, signs, columns):
        spec = linear_spec(self.spec)
        basis = subset_basis(spec)
        data = windows(spec, codes)
        self_raw = self_kernel_raw(spec, data, basis.table)
        # ||c(x) + c(rc x)||² = 2 K_raw(x, x) (module docstring of .features).
        inverse_norm = np.divide(1.0, np.sqrt(2 * self_raw), out=np.zeros_like(self_raw), where=self_raw > 0)
        tables = np.zeros((self.n_classes, basis.n_keys))
        for problem, column in enumerate(columns):
            y = signs[:, problem]
            upper = self.C * _class_weights(y, self.class_weight)
            weights, bias, _, epochs = fit_linear(basis, data, inverse_norm, y, upper, self.linear_tol,
                                                   self.max_epochs, self.seed + problem)
            if epochs >= self.max_epochs:
                log.warning("gkm-SVM linear tier: class %d stopped at max_epochs=%d before tol=%g",
                            column, self.max_epochs, self.linear_tol)
            # f = b + Σ_p Σ_s w_p (W[key(x_p)] + W[key(rc x_p)]) / sqrt(2 K_raw(x,x))
            #   = b + Σ_p Σ_s w_p V[key(x_p)] / sqrt(K_raw(x,x)), V = symmetrised W / sqrt(2).
            tables[column] = symmetrise_over_strands(basis, weights) / math.sqrt(2.0)
            self.bias[column] = bias
        self.linear_tables = tables
        log.info("gkm-SVM linear tier: %d examples, %d features", len(codes), basis.n_keys)

    def _mirror_binary(self):
        """Two classes: column 0 is the one-vs-rest SVM of class 0, which is -f."""
        self.bias[0] = -self.bias[1]
        if self.fitted_tier == "kernel":
            self.dual[:, 0] = -self.dual[:, 1]
        else:
            self.linear_tables[0] = -self.linear_tables[1]

    # ------------------------------------------------------------------ the fitted function

    @property
    def scoring_spec(self) -> KernelSpec:
        return self.spec if self.fitted_tier == "kernel" else linear_spec(self.spec)

    def _basis(self) -> SubsetBasis:
        if getattr(self, "_basis_cache", None) is None:
            self._basis_cache = subset_basis(self.scoring_spec)
        return self._basis_cache

    def _support_windows(self) -> Windows:
        if getattr(self, "_support_cache", None) is None:
            self._support_cache = windows(self.spec, self.support)
        return self._support_cache

    @property
    def uses_tables(self) -> bool:
        """Whether prediction and GkmExplain go through key tables (see :mod:`.tables`).

        Not for the RBF kernels (each support vector keeps its own factor), nor where the
        tables would hold more than ``MAX_TABLE_ENTRIES`` keys (l = 12 with d >= 3): the
        kernel expansion is computed pair by pair then, exactly, and more slowly.
        """
        return self.fitted_tier == "linear" or (not self.spec.rbf and self._basis().n_keys <= MAX_TABLE_ENTRIES)

    def table(self, column: int) -> np.ndarray:
        """Key table ``V`` of one output, shape=(n_keys,) (not for RBF kernels)."""
        self._require_fitted()
        if self.fitted_tier == "linear":
            return self.linear_tables[column]
        if not self.uses_tables:
            raise ValueError("this SVM has no key table (RBF kernel, or too many keys)")
        if column not in self._tables:
            scale = np.divide(self.dual[:, column], np.sqrt(self.support_self),
                              out=np.zeros(len(self.support)), where=self.support_self > 0)
            table = support_table(self._basis(), self._support_windows(), scale)
            if (len(self._tables) + 1) * table.nbytes > TABLE_CACHE_BYTES:
                self._tables.clear()
            self._tables[column] = table
        return self._tables[column]

    def _require_fitted(self):
        if self.fitted_tier is None:
            raise ValueError("the gkm-SVM is not trained: call fit() or load() first")

    def _query(self, codes) -> tuple[Windows, np.ndarray]:
        spec = self.scoring_spec
        data = windows(spec, codes)
        return data, self_kernel_raw(spec, data, self._basis().table)

    def _pair_kernel(self, data: Windows, self_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``K_raw`` and the kernel the SVM sees between a batch and the support vectors, (B, S)."""
        raw = cross_kernel_raw(self.spec, data, self._support_windows(), self._basis())
        kernel = normalise(raw, self_raw, self.support_self)
        return raw, (rbf(self.spec, kernel) if self.spec.rbf else kernel)

    def decision_function(self, codes, batch_size: int = 4096) -> np.ndarray:
        """Decision value of every class, shape=(N, C), float64."""
        self._require_fitted()
        codes = check_codes(codes)
        out = np.zeros((len(codes), self.n_classes))
        for start in range(0, len(codes), batch_size):
            batch = slice(start, start + batch_size)
            data, self_raw = self._query(codes[batch])
            if not self.uses_tables:
                out[batch] = self._pair_kernel(data, self_raw)[1] @ self.dual + self.bias
                continue
            inverse = np.divide(1.0, np.sqrt(self_raw), out=np.zeros_like(self_raw), where=self_raw > 0)
            for column in range(self.n_classes):
                totals, _ = table_scores(self._basis(), data, self.table(column)[None, :])
                out[batch, column] = totals * inverse + self.bias[column]
        return out

    def attribution_offset(self) -> np.ndarray:
        """What GkmExplain's scores leave out of each class's decision value, shape=(C,).

        The bias; for the RBF kernels also ``e^{-γ} Σ_j y_j α_j``, the part of each support
        vector's term that a sequence sharing no window with it still gets (LS-GKM's
        GkmExplain takes that as its reference).
        """
        self._require_fitted()
        if self.fitted_tier == "kernel" and self.spec.rbf:
            return self.bias + math.exp(-self.spec.gamma) * self.dual.sum(axis=0)
        return self.bias.copy()

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict:
        """The fitted model as arrays (and one JSON string, ``meta``): what :meth:`save` writes."""
        self._require_fitted()
        meta = {"spec": self.spec.as_dict(), "C": self.C, "class_weight": self.class_weight,
                "tier": self.tier, "fitted_tier": self.fitted_tier, "task": self.task,
                "n_classes": self.n_classes, "kernel_max_examples": self.kernel_max_examples,
                "tol": self.tol, "linear_tol": self.linear_tol, "max_epochs": self.max_epochs,
                "seed": self.seed}
        state = {"meta": json.dumps(meta), "bias": self.bias}
        if self.fitted_tier == "kernel":
            state.update(support=self.support, dual=self.dual, support_self=self.support_self)
        else:
            state.update(linear_tables=self.linear_tables)
        return state

    @classmethod
    def from_state(cls, state: dict) -> GkmSvm:
        """The model :meth:`state` described (arrays may be numpy arrays or CPU tensors)."""
        meta = json.loads(str(state["meta"]))
        model = cls(KernelSpec(**meta["spec"]), C=meta["C"], class_weight=meta["class_weight"],
                    tier=meta["tier"], kernel_max_examples=meta["kernel_max_examples"], tol=meta["tol"],
                    linear_tol=meta["linear_tol"], max_epochs=meta["max_epochs"], seed=meta["seed"])
        model.fitted_tier, model.task, model.n_classes = meta["fitted_tier"], meta["task"], meta["n_classes"]
        arrays = {key: value.numpy().copy() if hasattr(value, "numpy") else np.array(value)
                  for key, value in state.items() if key != "meta"}
        model.bias = arrays["bias"]
        if model.fitted_tier == "kernel":
            model.support, model.dual, model.support_self = arrays["support"], arrays["dual"], arrays["support_self"]
        else:
            model.linear_tables = arrays["linear_tables"]
        return model

    def save(self, path) -> None:
        """Write the fitted model to one ``.npz`` file."""
        state = self.state()
        state["meta"] = np.array(state["meta"])
        with open(path, "wb") as handle:
            np.savez(handle, **state)

    @classmethod
    def load(cls, path) -> GkmSvm:
        with np.load(path, allow_pickle=False) as stored:
            return cls.from_state({key: stored[key] for key in stored.files})


# ---------------------------------------------------------------------- LS-GKM model files

_LETTER_CODES = np.full(256, ALPHABET_SIZE, dtype=np.uint8)
for _code, _letter in enumerate("ACGT"):
    _LETTER_CODES[ord(_letter)] = _code
    _LETTER_CODES[ord(_letter.lower())] = _code


def encode_dna(sequences: list[str]) -> np.ndarray:
    """Letters to codes (A=0, C=1, G=2, T=3, anything else unknown), padded to the longest."""
    width = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), width), ALPHABET_SIZE, dtype=np.uint8)
    for row, sequence in enumerate(sequences):
        out[row, :len(sequence)] = _LETTER_CODES[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
    return out


def read_lsgkm_model(path) -> GkmSvm:
    """An LS-GKM ``gkmtrain`` model file (``*.model.txt``) as a two-class :class:`GkmSvm`.

    Column 1 is LS-GKM's positive class (label 1), column 0 the negative one.
    """
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    header, alphas, sequences = {}, [], []
    with opener(path, "rt") as handle:
        for line in handle:
            line = line.strip()
            if line == "SV":
                break
            key, _, value = line.partition(" ")
            header[key] = value
        for line in handle:
            if line.strip():
                alpha, sequence = line.split()
                alphas.append(float(alpha))
                sequences.append(sequence)
    names = {v: k for k, v in LSGKM_KERNEL_NAMES.items()}
    kernel = names.get(header.get("kernel_type", ""))
    if kernel is None:
        raise ValueError(f"{path}: kernel_type: unknown LS-GKM kernel {header.get('kernel_type')!r}")
    spec = KernelSpec(l=int(header["L"]), k=int(header["k"]), d=int(header["d"]), kernel=kernel,
                      gamma=float(header.get("gamma", 1.0)), M=int(header.get("M", 50)),
                      H=float(header.get("H", 50.0)))
    if header.get("label", "1 -1").split() != ["1", "-1"]:
        raise ValueError(f"{path}: label: expected '1 -1'; got {header.get('label')!r}")
    model = GkmSvm(spec, tier="kernel")
    model.fitted_tier, model.task, model.n_classes = "kernel", "multi-class", 2
    model.support = encode_dna(sequences)
    dual = np.asarray(alphas)
    model.dual = np.stack([-dual, dual], axis=1)
    rho = float(header["rho"])
    model.bias = np.array([rho, -rho])
    model.support_self = self_kernel_raw(spec, model.support)
    return model
