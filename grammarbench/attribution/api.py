# api.py
# grammarbench.attribution: attribute(), the one way to run a method of the registry.

"""The one entry point of the attribution methods, :func:`attribute`."""

from __future__ import annotations

import numpy as np
import torch

from grammarbench.attribution import references as refs_mod
from grammarbench.attribution.core import Run, model_state, prepare_sequences, prepare_targets, resolve_dtype
from grammarbench.attribution.backward_rules import UnsupportedModelError
from grammarbench.attribution.registry import METHODS, check_applicable
from grammarbench.attribution.settings import MethodSettings, method_settings
from grammarbench.runtime import resolve_device
from grammarbench.sequences import validation

__all__ = ["attribute"]


# ---------------------------------------------------------------------------------------
# attribute()
# ---------------------------------------------------------------------------------------


def attribute(model: torch.nn.Module, X, target, method: str | MethodSettings, reference: str | None = None, *,
              n_references: int | None = None, batch_size: int = 128, device=None,
              dtype=None, random_state: int | None = 0, index=None, lengths=None,
              alphabet_size: int | None = None, frequencies=None, hypothetical: bool = False,
              correction: bool = False, return_delta: bool = False, **options):
    r"""Attribution maps of one method for a batch of sequences.

    Each map explains the logit ``target[i]`` of sequence i. The work goes through the
    model in mini-batches on ``device``; the result does not depend on ``batch_size``
    (up to floating-point rounding). See :mod:`grammarbench.attribution.methods` for
    each method's formula and the map convention (by default a map holds each
    position's value at its observed letter).

    Parameters
    ----------
    model: torch.nn.Module
        Takes float one-hot input shape=(N, A, L), returns logits shape=(N, K). Its
        device and train/eval mode are restored afterwards.
    X: np.ndarray or torch.Tensor, shape=(N, L) uint8 codes or shape=(N, A, L) one-hot
        The sequences; unknown letters and padding are code A / all-zero columns.
    target: int or np.ndarray, shape=(N,)
        The class (logit) to explain for each sequence. For multi-label data explain
        each positive label: ``example, target = targets_from_labels(labels)`` and pass
        ``X[example]``, ``target`` and ``index=example``.
    method: str or MethodSettings
        Settings resolved before (:meth:`MethodSettings.resolve`, e.g. a configured
        run's), with no other method argument beside them; or one of :data:`METHODS`: ``saliency``, ``grad_x_input``, ``integrated_gradients``,
        ``deeplift``, ``deeplift_shap``, ``gradcam``, ``guided_backprop``,
        ``deconvolution``, ``smoothgrad``, ``occlusion``, ``ism``, ``sis``.
    reference: str or None
        ``zeros``, ``uniform``, ``mean_composition`` or ``shuffle`` (dinucleotide
        shuffles) for methods with a reference (integrated_gradients, deeplift,
        deeplift_shap, occlusion, sis); None gives the method's default. Default None.
    n_references: int or None
        References per sequence for the ``shuffle`` reference (maps are averaged over
        them). None: the method's default (20 for deeplift_shap, 10 for Integrated
        Gradients, 1 otherwise). Default None.
    batch_size: int
        Rows per forward pass: sequences, (sequence, reference) pairs, noisy copies,
        substituted or occluded copies, depending on the method (fast ISM: as many
        substitutions as fit in the memory of that many forward passes, up to 1,024).
        Default 128.
    device: str, torch.device or None
        None: CUDA when available, else CPU. Default None.
    dtype: torch.dtype, str or None
        Precision of the inputs (autocast when it differs from the model's). None: the
        model's parameter dtype. Default None.
    random_state: int or None
        Seed of shuffled references and SmoothGrad noise; reference j of sequence i
        depends only on (random_state, index[i], j). Default 0.
    index: np.ndarray or None, shape=(N,)
        Each sequence's identity in the seed scheme (its row in the split). Default
        None: ``arange(N)``.
    lengths: np.ndarray or None, shape=(N,)
        Sequence lengths; maps are zero past them. Default None (full width).
    alphabet_size: int or None
        A for code input (default 4).
    frequencies: np.ndarray or None, shape=(A,)
        Letter frequencies for the ``mean_composition`` reference.
    hypothetical: bool
        Return all-letter (hypothetical) maps where the method defines them. Default False.
    correction: bool
        Subtract the mean over letters from the gradients (Majdandzic et al. 2023);
        gradient methods only. Default False.
    return_delta: bool
        Also return the convergence deltas. Default False.
    **options:
        Method options: ``steps``, ``quadrature`` (integrated_gradients); ``eps``
        (deeplift, deeplift_shap); ``layer`` (gradcam); ``n_samples``, ``noise``
        (smoothgrad); ``window``, ``stride`` (occlusion); ``fast`` (ism);
        ``threshold``, ``output``, ``max_sis`` (sis).

    Returns
    -------
    maps: np.ndarray, dtype=float32, shape=(N, A, L)
        A new array; zero past each sequence's length.
    delta: np.ndarray, dtype=float32, shape=(N,), or None
        Only with ``return_delta=True``: for methods with completeness
        (integrated_gradients, deeplift, deeplift_shap), :math:`\sum_{a,l} C_{al} -
        (f(x) - \overline{f(r)})` of each map, where :math:`C` are the (projected)
        contributions; None for the others.

    Raises
    ------
    ValueError
        An unknown method or reference, a bad option, a target out of range, or a method
        that cannot apply to the model (e.g. DeepLIFT on a recurrent network, GradCAM
        on a layer that does not exist).
    """
    settings = method_settings(method, reference, n_references, hypothetical, correction, **options)
    method = settings.method
    spec = METHODS[method]
    codes, lengths, A = prepare_sequences(X, lengths, alphabet_size)
    N, L = codes.shape
    target = prepare_targets(target, N)
    batch_size = validation.validate_int(batch_size, "batch_size", 1)
    if index is None:
        index = np.arange(N, dtype=np.int64)
    else:
        index = np.asarray(index)
        if index.shape != (N,) or (index.size and (not np.issubdtype(index.dtype, np.integer)
                                                   or index.min() < 0)):
            raise ValueError(f"index must hold N={N} non-negative integers")
    if settings.reference == "mean_composition" and frequencies is None:
        raise ValueError("frequencies: the mean_composition reference needs the data set's "
                         "letter frequencies, shape=(A,)")
    check_applicable(method, model, settings.options)
    device = resolve_device(device)
    n_refs = settings.n_references  # references drawn per sequence; 0 without a reference
    per_chunk = max(1, spec.batches_per_call * batch_size // max(1, spec.rows(settings.options, n_refs, L)))

    maps = np.zeros((N, A, L), dtype=np.float32)
    delta = np.zeros(N, dtype=np.float32) if spec.completeness else None
    with model_state(model, device):
        run = Run(model, device, resolve_dtype(model, dtype), batch_size, A, settings.as_dict(),
                  random_state)
        with torch.no_grad():
            K = run.logits(run.one_hot(codes[:1])).shape[1]
        if target.max() >= K:
            raise ValueError(f"target holds class {int(target.max())} but the model has "
                             f"{K} outputs")
        try:
            for lo in range(0, N, per_chunk):
                sl = slice(lo, min(N, lo + per_chunk))
                x = run.one_hot(codes[sl])
                t = torch.as_tensor(target[sl], device=device)
                r = None
                if settings.reference is not None:
                    r = run.tensor(refs_mod.make_references(
                        settings.reference, codes[sl], n=n_refs,
                        lengths=lengths[sl], alphabet_size=A, random_state=random_state,
                        index=index[sl], frequencies=frequencies))
                out, d = spec.fn(run, x, codes[sl], lengths[sl], t, r, index[sl])
                maps[sl] = out.detach().float().cpu().numpy()
                if delta is not None:
                    delta[sl] = d.detach().float().cpu().numpy()
        except UnsupportedModelError as err:
            raise ValueError(f"method {method!r} cannot apply to this model: {err}") from None
    maps *= (np.arange(L) < lengths[:, None])[:, None, :]
    if return_delta:
        return maps, delta
    return maps
