# module.py
# grammarbench: a trained gkm-SVM behind the torch interface every network has

r"""A :class:`~.svm.GkmSvm` as a ``torch.nn.Module``, so model-agnostic code runs on it.

Prediction (``grammarbench.models.predict``), evaluation and the model-agnostic
attribution methods (ISM, occlusion) call a model on one-hot batches ``(N, 4, L)`` and read
logits ``(N, C)``.
This wrapper turns each batch back into letter codes and returns the SVM's decision
values. A position whose column is not exactly one-hot (an occluded or reference column:
all zeros, uniform 0.25, ...) becomes an unknown letter, so no window covering it counts:
the gapped k-mer model is only defined on letters.

It has no gradient: gradient methods do not apply to a gkm-SVM (the attribution config
check says so before any job runs), and ``forward`` refuses inputs that require one.
"""

from __future__ import annotations

import numpy as np
import torch

from .features import ALPHABET_SIZE
from .svm import GkmSvm


class GappedKmerKernel(torch.nn.Module):
    """Marks a model as a gapped k-mer SVM in :func:`grammarbench.attribution.model_layers`
    (``{"kernel": "GappedKmerKernel"}``), which is how the attribution config check tells
    it from a network, before any job runs and without building it."""

    def forward(self, x):  # pragma: no cover - never called
        raise NotImplementedError


#: What :func:`grammarbench.attribution.model_layers` reports for every gkm-SVM.
LAYERS = {"kernel": "GappedKmerKernel"}


class GkmSvmModule(torch.nn.Module):
    """``forward(x)``: x shape=(N, 4, L) float → decision values shape=(N, C), same dtype.

    Parameters
    ----------
    model: GkmSvm
        Trained.
    """

    def __init__(self, model: GkmSvm):
        super().__init__()
        model._require_fitted()
        self.svm = model
        self.alphabet_size = ALPHABET_SIZE
        self.n_outputs = model.n_classes
        self.kernel = GappedKmerKernel()
        # A buffer so that device helpers find where the module "lives" (it computes on the CPU).
        self.register_buffer("anchor", torch.zeros(1), persistent=False)

    @staticmethod
    def codes_of(x: torch.Tensor) -> np.ndarray:
        """Letter codes of one-hot columns; anything not one-hot becomes unknown (4)."""
        values = x.detach().float().cpu()
        letter = values.argmax(dim=1)
        one_hot = (values.max(dim=1).values == 1) & (values.sum(dim=1) == 1)
        return torch.where(one_hot, letter, torch.full_like(letter, ALPHABET_SIZE)).to(torch.uint8).numpy()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            raise ValueError("a gapped k-mer SVM has no gradient: use gkmexplain, ISM or occlusion")
        if x.ndim != 3 or x.shape[1] != ALPHABET_SIZE:
            raise ValueError(f"input must have shape (N, {ALPHABET_SIZE}, L); got {tuple(x.shape)}")
        decision = self.svm.decision_function(self.codes_of(x))
        return torch.from_numpy(decision).to(device=x.device, dtype=x.dtype)
