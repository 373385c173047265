"""One-hot encoding on the device, and :func:`predict`, the one batching primitive.

Every model in grammarbench takes float input ``shape=(N, A, L)`` (``A`` = alphabet size,
one-hot along axis 1, an unknown or padding letter as an all-zero column) and returns
logits ``shape=(N, K)``. Data stay ``uint8`` letter codes ``shape=(N, L)`` until a batch
is about to enter the model: :func:`one_hot_batch` encodes it where it lies (on the GPU
when training there), so nothing is re-encoded in Python per epoch.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch

from grammarbench.runtime import resolve_device

log = logging.getLogger("grammarbench")

def one_hot_batch(codes: torch.Tensor, alphabet_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot encode a batch of letter codes on the device they lie on.

    Parameters
    ----------
    codes: torch.Tensor, dtype=uint8, shape=(N, L)
        Letter codes; codes ``>= alphabet_size`` (unknown letters, padding) give all-zero
        columns.
    alphabet_size: int
        Number of letters A.
    dtype: torch.dtype
        Output dtype. Default is ``torch.float32``.

    Returns
    -------
    X: torch.Tensor, shape=(N, A, L)
        A new tensor on ``codes.device``; the input is unchanged.
    """
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (N, L); got {tuple(codes.shape)}")
    if codes.dtype.is_floating_point:
        raise ValueError(f"codes must hold integer letter codes; got dtype {codes.dtype}")
    letters = torch.arange(alphabet_size, device=codes.device, dtype=codes.dtype)
    return (codes.unsqueeze(1) == letters.view(1, -1, 1)).to(dtype)              # (N, A, L)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with none)."""
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (float32 for none)."""
    for p in model.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.float32


@contextlib.contextmanager
def evaluating(model: torch.nn.Module, device: torch.device):
    """Move ``model`` to ``device`` in eval mode; restore its device and mode afterwards."""
    original, training = model_device(model), model.training
    model.to(device)
    model.eval()
    try:
        yield model
    finally:
        model.to(original)
        model.train(training)


def _as_tensor(codes) -> torch.Tensor:
    if isinstance(codes, torch.Tensor):
        return codes
    arr = np.asarray(codes)
    if not arr.flags.writeable:  # a memory-mapped split: torch wants writable memory
        arr = np.array(arr)
    return torch.from_numpy(np.ascontiguousarray(arr))


def predict(model: torch.nn.Module, codes, batch_size: int = 256, device=None, dtype=None, *,
            alphabet_size: int | None = None, autocast: torch.dtype | None = None) -> torch.Tensor:
    """Logits of ``model`` for a set of sequences, computed in batches.

    Each batch is moved to ``device``, one-hot encoded there (when given as codes), cast to
    ``dtype`` and run through the model in eval mode with gradients off; the outputs come
    back to the CPU. The model's device and train/eval mode are restored afterwards. The
    result does not depend on ``batch_size`` (up to floating-point summation order).

    Parameters
    ----------
    model: torch.nn.Module
        Takes ``shape=(n, A, L)`` and returns logits ``shape=(n, K)``.
    codes: np.ndarray or torch.Tensor, dtype=uint8, shape=(N, L); or float, shape=(N, A, L)
        Letter codes (encoded batch by batch on the device), or inputs already one-hot
        (or otherwise continuous, e.g. references) in the model's layout.
    batch_size: int
        Examples per batch. Default is 256.
    device: str, torch.device or None
        Where to run; None: CUDA if available, else the CPU (see :func:`resolve_device`).
        Default is None.
    dtype: torch.dtype or None
        Input dtype; None takes the dtype of the model's parameters. Default is None.
    alphabet_size: int or None
        Letters A, for codes; None reads ``model.alphabet_size`` (set by
        :func:`grammarbench.models.networks.build_model`), else 4. Default is None.
    autocast: torch.dtype or None
        Run under ``torch.autocast`` with this dtype (mixed precision on CUDA); outputs are
        returned as float32. Default is None (no autocast).

    Returns
    -------
    logits: torch.Tensor, dtype=float32, shape=(N, K)
        On the CPU; a new tensor.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    device = resolve_device(device)
    dtype = dtype or model_dtype(model)
    data = _as_tensor(codes)
    if data.ndim not in (2, 3):
        raise ValueError(f"codes must have shape (N, L) (letter codes) or (N, A, L) (one-hot); "
                         f"got {tuple(data.shape)}")
    is_codes = data.ndim == 2
    A = alphabet_size or getattr(model, "alphabet_size", 4)
    outputs = []
    with evaluating(model, device), torch.no_grad():
        for lo in range(0, len(data), batch_size):
            batch = data[lo: lo + batch_size].to(device, non_blocking=True)
            x = one_hot_batch(batch, A, dtype) if is_codes else batch.to(dtype)
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                out = model(x)
            outputs.append(out.float().cpu())
    if not outputs:
        return torch.zeros((0, getattr(model, "n_outputs", 0)), dtype=torch.float32)
    return torch.cat(outputs)
