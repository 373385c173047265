"""Gapped k-mer SVMs (LS-GKM's kernels, a linear tier) and GkmExplain.

See :mod:`.features` for how the kernels are computed, :mod:`.svm` for the model and its
two tiers, :mod:`.explain` for the attributions, :mod:`.config` for the architecture
settings and :mod:`.folder` for trained-model folders.

Names are imported on first use, so that checking an architecture's settings (in the
Snakemake process, which may run without torch) does not import torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "KERNELS": "features", "KernelSpec": "features", "mismatch_table": "features", "subset_basis": "features",
    "cross_kernel_raw": "kernel", "kernel_matrix": "kernel", "self_kernel_raw": "kernel",
    "GkmSvm": "svm", "encode_dna": "svm", "read_lsgkm_model": "svm",
    "gkmexplain": "explain", "position_scores": "explain",
    "GkmSvmModule": "module",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
