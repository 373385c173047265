"""Gapped k-mer SVMs (LS-GKM's kernels, a linear tier) and GkmExplain.

See :mod:`.features` for how the kernels are computed, :mod:`.svm` for the model and its
two tiers, :mod:`.explain` for the attributions.
"""

from .explain import gkmexplain, position_scores
from .features import KERNELS, KernelSpec, mismatch_table, subset_basis
from .kernel import cross_kernel_raw, kernel_matrix, self_kernel_raw
from .module import GkmSvmModule
from .svm import GkmSvm, encode_dna, read_lsgkm_model

__all__ = ["KERNELS", "KernelSpec", "GkmSvm", "GkmSvmModule", "gkmexplain", "position_scores", "mismatch_table",
           "subset_basis", "cross_kernel_raw", "kernel_matrix", "self_kernel_raw", "encode_dna",
           "read_lsgkm_model"]
