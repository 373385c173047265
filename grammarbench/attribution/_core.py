# _core.py
# grammarbench.attribution: inputs, targets, devices, model state and batching shared by
# every attribution method.

"""Shared machinery of the attribution methods (written once, used by all).

Conventions
-----------
- Sequences arrive as ``uint8`` letter codes, shape=(N, L), or one-hot, shape=(N, A, L)
  (alphabet axis second, as ``Conv1d`` expects); padding and unknown letters are
  all-zero columns. They are kept as codes on the host and one-hot encoded on the
  device one batch at a time.
- A model takes float input shape=(N, A, L) and returns logits shape=(N, K) (trailing
  axes of length 1 are dropped). Each map explains the logit ``target[i]`` of example i.
- ``device=None`` means CUDA when present, else CPU; ``dtype=None`` means the dtype of
  the model's parameters (another dtype runs under autocast). The model's device and
  train/eval mode are restored afterwards, also when an error is raised.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch

from grammarbench.sequences import validation
from grammarbench.runtime import resolve_device  # one device policy for training and attribution

__all__ = [
    "resolve_dtype",
    "model_state",
    "prepare_sequences",
    "prepare_targets",
    "targets_from_labels",
    "logits",
    "predict_logits",
]


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def resolve_dtype(model: torch.nn.Module, dtype=None) -> torch.dtype:
    """``None`` -> the dtype of the model's parameters; strings such as "float16" accepted."""
    if dtype is None:
        return _model_dtype(model)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be None or a floating-point torch dtype; got {dtype!r}")
    return dtype


def _model_device(model: torch.nn.Module) -> torch.device | None:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return None


@contextlib.contextmanager
def model_state(model: torch.nn.Module, device: torch.device):
    """Move ``model`` to ``device`` in eval mode; restore its device and mode on exit."""
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    was_training = model.training
    before = _model_device(model)
    model.to(device).eval()
    try:
        yield model
    finally:
        model.train(was_training)
        if before is not None and before != device:
            model.to(before)


def prepare_sequences(X, lengths=None, alphabet_size: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """Check sequences and return them as codes.

    Parameters
    ----------
    X: np.ndarray or torch.Tensor, shape=(N, L) integer codes or shape=(N, A, L) one-hot
        Codes ``>= A`` (and all-zero one-hot columns) are unknown letters or padding.
    lengths: np.ndarray or None, shape=(N,)
        Sequence lengths; positions past them are padding. Default is None: full width.
    alphabet_size: int or None
        A for code input (default 4); for one-hot input it must match ``X.shape[1]``.

    Returns
    -------
    codes: np.ndarray, dtype=uint8, shape=(N, L)
    lengths: np.ndarray, dtype=int64, shape=(N,)
    A: int
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim == 2:
        A = validation.validate_alphabet_size(4 if alphabet_size is None else alphabet_size)
        codes = validation.validate_codes(X, "X", ndim=2)
    elif X.ndim == 3:
        A = X.shape[1]
        if alphabet_size is not None and alphabet_size != A:
            raise ValueError(f"X has {A} letters on axis 1 but alphabet_size={alphabet_size}")
        if X.dtype == bool:
            X = X.astype(np.int8)
        if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
            raise ValueError(f"X must be numeric one-hot; got dtype {X.dtype}")
        if X.size and not np.isin(X, (0, 1)).all():
            raise ValueError("X must be one-hot, shape=(N, A, L) with values 0 or 1 "
                             "(or uint8 codes, shape=(N, L))")
        column = X.sum(axis=1)                                               # (N, L)
        if X.size and column.max() > 1:
            raise ValueError("X must be one-hot: at most one letter per position (axis 1)")
        codes = np.where(column == 1, X.argmax(axis=1), A).astype(np.uint8)
    else:
        raise ValueError(f"X must be codes, shape=(N, L), or one-hot, shape=(N, A, L); "
                         f"got shape {X.shape}")
    N, L = codes.shape
    if N == 0:
        raise ValueError("X holds no sequences (N == 0)")
    lengths = validation.validate_lengths(lengths, (N,), L)
    return codes, lengths, A


def prepare_targets(target, n: int) -> np.ndarray:
    """An int or shape=(N,) integers -> int64 array shape=(N,)."""
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full(n, t)
    if t.shape != (n,):
        raise ValueError(f"target must be an int or have shape ({n},), one class per "
                         f"sequence; got shape {t.shape}. For multi-label data, expand the "
                         "positive labels with targets_from_labels")
    if t.size and (not np.issubdtype(t.dtype, np.integer) or t.min() < 0):
        raise ValueError("target must hold non-negative class indices")
    return t.astype(np.int64)


def targets_from_labels(labels) -> tuple[np.ndarray, np.ndarray]:
    """The (example, target) pairs to explain: the true class, or each positive label.

    Parameters
    ----------
    labels: np.ndarray, shape=(N,) class indices (multi-class) or shape=(N, K) multi-hot
        (multi-label).

    Returns
    -------
    example: np.ndarray, dtype=int64, shape=(M,)
        Row of each map's example (M = N for multi-class; the number of positive labels
        for multi-label, in row-major order; examples without a positive label are
        not explained).
    target: np.ndarray, dtype=int64, shape=(M,)
        The class whose logit each map explains.
    """
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return np.arange(labels.shape[0], dtype=np.int64), labels.astype(np.int64)
    if labels.ndim == 2:
        example, target = np.nonzero(labels)
        return example.astype(np.int64), target.astype(np.int64)
    raise ValueError(f"labels must have shape (N,) or (N, K); got {labels.shape}")


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` as shape=(N, K), dropping trailing axes of length 1."""
    y = model(x)
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"the model must return one tensor of logits, shape=(N, K); got "
                         f"{type(y).__name__}")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim > 2:
        if y.shape[2:].numel() != 1:
            raise ValueError(f"the model must return logits shape=(N, K); got shape "
                             f"{tuple(y.shape)}")
        y = y.reshape(y.shape[0], y.shape[1])
    return y


@dataclass
class Run:
    """What one call of :func:`attribute` works with (model on its device, options)."""

    model: torch.nn.Module
    device: torch.device
    dtype: torch.dtype
    batch_size: int
    A: int
    options: dict = field(default_factory=dict)
    random_state: object = 0

    def autocast(self):
        if self.dtype == _model_dtype(self.model):
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def one_hot(self, codes: np.ndarray) -> torch.Tensor:
        """Codes shape=(b, L) -> one-hot on the device, shape=(b, A, L), in ``dtype``."""
        c = torch.from_numpy(np.array(codes, dtype=np.uint8)).to(self.device)  # a copy: codes
        # may be a read-only memory map
        letters = torch.arange(self.A, device=self.device, dtype=c.dtype)
        return (c[:, None, :] == letters[None, :, None]).to(self.dtype)

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(array)).to(self.device, self.dtype)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return logits(self.model, x).float()

    def output(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The target logit of each row, shape=(b,), float32."""
        return self.logits(x).gather(1, target[:, None])[:, 0]

    def outputs(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:meth:`output` without autograd, in chunks of ``batch_size`` rows."""
        out = []
        with torch.no_grad():
            for lo in range(0, x.shape[0], self.batch_size):
                out.append(self.output(x[lo:lo + self.batch_size],
                                       target[lo:lo + self.batch_size]))
        return torch.cat(out) if out else x.new_zeros(0, dtype=torch.float32)

    def gradient(self, x: torch.Tensor, target: torch.Tensor, mode=None) -> torch.Tensor:
        """d logit_target / d x for each row, shape=x.shape, float32.

        ``mode`` is an optional TorchFunctionMode (modified backward rules).
        """
        x = x.detach().requires_grad_(True)
        with torch.enable_grad(), (mode if mode is not None else contextlib.nullcontext()):
            y = self.output(x, target)
            (g,) = torch.autograd.grad(y.sum(), x)
        return g.float()


def predict_logits(model: torch.nn.Module, X, batch_size: int = 256, device=None, dtype=None,
                   alphabet_size: int | None = None) -> np.ndarray:
    """Logits of every sequence, shape=(N, K), float32 (batched; the model is restored).

    Parameters
    ----------
    model: torch.nn.Module
    X: np.ndarray, shape=(N, L) codes or shape=(N, A, L) one-hot
    batch_size: int
        Sequences per forward pass. Default is 256.
    device, dtype:
        As in :func:`grammarbench.attribution.attribute`.
    alphabet_size: int or None
        A for code input. Default is None (4).

    Returns
    -------
    logits: np.ndarray, dtype=float32, shape=(N, K)
    """
    from grammarbench.models.predict import predict  # the package's one batching primitive

    codes, _, A = prepare_sequences(X, None, alphabet_size)
    batch_size = validation.validate_int(batch_size, "batch_size", 1)
    return predict(model, codes, batch_size, device=resolve_device(device),
                   dtype=resolve_dtype(model, dtype), alphabet_size=A).numpy()
