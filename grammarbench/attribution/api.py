# api.py
# grammarbench.attribution: the method registry and the one entry point, attribute().

"""The registry of attribution methods and :func:`attribute`, the one way to run them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from grammarbench.attribution import references as refs_mod
from grammarbench.sequences import validation
from grammarbench.attribution import methods as m
from grammarbench.runtime import resolve_device
from grammarbench.attribution._core import (Run, model_state, prepare_sequences, prepare_targets, resolve_dtype)

__all__ = ["Method", "METHODS", "get_method", "resolve_options", "attribute",
           "check_applicable", "model_layers"]


# ---------------------------------------------------------------------------------------
# option checkers: each returns the cleaned value or raises ValueError(problem)
# ---------------------------------------------------------------------------------------


def _int(minimum: int):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ValueError(f"must be an integer >= {minimum}; got {v!r}")
        return int(v)
    return check


def _float(low: float, high: float | None = None, open_low: bool = False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
            raise ValueError(f"must be a number; got {v!r}")
        v = float(v)
        bad = (v <= low if open_low else v < low) or (high is not None and v > high)
        if not np.isfinite(v) or bad:
            bound = f"{'>' if open_low else '>='} {low}"
            if high is not None:
                bound += f" and <= {high}"
            raise ValueError(f"must be a number {bound}; got {v!r}")
        return v
    return check


def _choice(*values):
    def check(v):
        if v not in values:
            raise ValueError(f"must be one of {', '.join(map(str, values))}; got {v!r}")
        return v
    return check


def _bool(v):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"must be true or false; got {v!r}")
    return bool(v)


def _layer_name(v):
    if v is not None and (not isinstance(v, str) or not v):
        raise ValueError(f"must be a module name from model.named_modules(); got {v!r}")
    return v


# ---------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """An attribution method: its function and what it supports.

    Attributes
    ----------
    name: str
        Config name (the registry key).
    fn: callable
        ``fn(run, x, codes, lengths, target, refs, index) -> (maps, delta)``.
    label: str
        Readable name for tables and figures.
    reference: str or None
        Default reference; None if the method takes no reference.
    n_references: int
        Default number of references per sequence for a random reference.
    completeness: bool
        Whether the maps sum to f(x) - f(reference) (a convergence delta is recorded).
    hypothetical: bool
        Whether ``hypothetical=True`` is defined.
    correction: bool
        Whether the gradient correction of Majdandzic et al. applies.
    options: dict
        Method option -> (default, checker).
    rows: callable
        ``rows(options, n_references, L)``: model rows per example, for batching.
    uses_captum: str
        What Captum provides ("" if custom).
    """

    name: str
    fn: Callable
    label: str
    reference: str | None = None
    n_references: int = 1
    completeness: bool = False
    hypothetical: bool = False
    correction: bool = False
    options: dict = field(default_factory=dict)
    rows: Callable = lambda opts, n, L: 1
    uses_captum: str = ""


METHODS: dict[str, Method] = {
    "saliency": Method("saliency", m.saliency, "Saliency", hypothetical=True,
                       correction=True, uses_captum="Saliency"),
    "grad_x_input": Method("grad_x_input", m.grad_x_input, "Gradient × input",
                           hypothetical=True, correction=True, uses_captum="Saliency"),
    "integrated_gradients": Method(
        "integrated_gradients", m.integrated_gradients, "Integrated Gradients",
        reference="zeros", n_references=10, completeness=True, hypothetical=True,
        correction=True,
        options={"steps": (50, _int(2)),
                 "quadrature": ("gausslegendre", _choice("gausslegendre", "riemann_trapezoid",
                                                         "riemann_middle", "riemann_left",
                                                         "riemann_right"))},
        rows=lambda o, n, L: n, uses_captum="IntegratedGradients"),
    "deeplift": Method("deeplift", m.deeplift, "DeepLIFT", reference="zeros",
                       completeness=True, hypothetical=True, correction=True,
                       options={"eps": (1e-6, _float(0.0, open_low=True))},
                       rows=lambda o, n, L: n),
    "deeplift_shap": Method("deeplift_shap", m.deeplift_shap, "DeepLIFT-SHAP",
                            reference="shuffle", n_references=20, completeness=True,
                            hypothetical=True, correction=True,
                            options={"eps": (1e-6, _float(0.0, open_low=True))},
                            rows=lambda o, n, L: n),
    "gradcam": Method("gradcam", m.gradcam, "GradCAM", options={"layer": (None, _layer_name)},
                      uses_captum="LayerGradCam"),
    "guided_backprop": Method("guided_backprop", m.guided_backprop, "Guided backprop",
                              hypothetical=True, correction=True),
    "deconvolution": Method("deconvolution", m.deconvolution, "Deconvolution",
                            hypothetical=True, correction=True),
    "smoothgrad": Method("smoothgrad", m.smoothgrad, "SmoothGrad", hypothetical=True,
                         correction=True,
                         options={"n_samples": (50, _int(1)),
                                  "noise": (0.15, _float(0.0, open_low=True))},
                         rows=lambda o, n, L: o["n_samples"]),
    "occlusion": Method("occlusion", m.occlusion, "Occlusion", reference="zeros",
                        options={"window": (5, _int(1)), "stride": (1, _int(1))},
                        rows=lambda o, n, L: n * max(1, L // o["stride"]),
                        uses_captum="Occlusion"),
    "ism": Method("ism", m.ism, "In-silico mutagenesis", hypothetical=True,
                  options={"fast": (True, _bool)}, rows=lambda o, n, L: 3 * L),
    "sis": Method("sis", m.sis, "Sufficient input subsets", reference="uniform",
                  options={"threshold": (0.9, _float(0.0)),
                           "output": ("softmax", _choice("softmax", "sigmoid", "logit")),
                           "max_sis": (5, _int(1))},
                  rows=lambda o, n, L: L),
}


def get_method(method: str) -> Method:
    """The registered :class:`Method` called ``method``; ValueError naming it otherwise."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return METHODS[method]


def resolve_options(method: str, reference: str | None = None, n_references: int | None = None,
                    hypothetical: bool = False, correction: bool = False, **options) -> dict:
    """Check a method's settings and fill in defaults.

    Parameters
    ----------
    method: str
        A key of :data:`METHODS`.
    reference: str or None
        Reference name; None gives the method's default (or none, for a method that
        takes no reference).
    n_references: int or None
        References per sequence (random references only); None gives the method's
        default. DeepLIFT takes exactly one.
    hypothetical, correction: bool
        See :func:`attribute`.
    **options:
        Method options (e.g. ``steps`` for Integrated Gradients).

    Returns
    -------
    settings: dict
        ``method``, ``reference`` (None if not used), ``n_references`` (the number
        actually drawn), ``hypothetical``, ``correction`` and every method option.

    Raises
    ------
    ValueError
        Naming the offending argument.
    """
    spec = get_method(method)
    out = {"method": method}
    if spec.reference is None:
        if reference is not None:
            raise ValueError(f"reference: method {method!r} takes no reference; got "
                             f"{reference!r}")
        if n_references is not None:
            raise ValueError(f"n_references: method {method!r} takes no reference")
        out["reference"] = None
        out["n_references"] = 0
    else:
        reference = spec.reference if reference is None else reference
        refs_mod.validate_reference(reference)
        if n_references is None:
            n_references = spec.n_references
        n_references = _checked("n_references", _int(1), n_references)
        if method == "deeplift" and n_references != 1:
            raise ValueError("n_references: deeplift uses one reference per sequence; use "
                             "deeplift_shap to average over several")
        out["reference"] = reference
        out["n_references"] = refs_mod.n_references(reference, n_references)
    hypothetical = _checked("hypothetical", _bool, hypothetical)
    correction = _checked("correction", _bool, correction)
    if hypothetical and not spec.hypothetical:
        raise ValueError(f"hypothetical: method {method!r} has no hypothetical "
                         "contributions")
    if correction and not spec.correction:
        raise ValueError(f"correction: the gradient correction applies to gradient methods "
                         f"({', '.join(n for n, s in METHODS.items() if s.correction)}), "
                         f"not to {method!r}")
    out["hypothetical"] = hypothetical
    out["correction"] = correction
    unknown = set(options) - set(spec.options)
    if unknown:
        known = ", ".join(spec.options) or "none"
        raise ValueError(f"{sorted(unknown)[0]}: not an option of method {method!r} "
                         f"(its options: {known})")
    for name, (default, check) in spec.options.items():
        out[name] = _checked(name, check, options.get(name, default))
    return out


def _checked(name, check, value):
    try:
        return check(value)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


_RECURRENT = (torch.nn.RNNBase, torch.nn.RNNCellBase, torch.nn.MultiheadAttention,
              torch.nn.Transformer, torch.nn.TransformerEncoderLayer,
              torch.nn.TransformerDecoderLayer)


#: Layers whose output has no position axis (GradCAM cannot use them).
_NOT_FEATURE_MAPS = {"Linear", "Flatten", "LSTM", "GRU", "RNN", "LazyLinear", "Bilinear",
                     "AdaptiveMaxPool1d", "AdaptiveAvgPool1d"}


def model_layers(model: torch.nn.Module) -> dict[str, str]:
    """Name -> class name of every submodule (what :func:`validate_attribution_config`
    checks GradCAM layers and method applicability against)."""
    return {name: type(mod).__name__ for name, mod in model.named_modules() if name}


def check_applicable(method: str, layers: dict[str, str] | list[str] | torch.nn.Module,
                     settings: dict | None = None) -> None:
    """Raise ValueError if ``method`` cannot apply to a model with these layers.

    Parameters
    ----------
    method: str
    layers: torch.nn.Module, dict name -> class name, or list of names
        The model, :func:`model_layers` of it, or only its module names (then only
        GradCAM's layer name can be checked).
    settings: dict or None
        Output of :func:`resolve_options` (for GradCAM's ``layer``).
    """
    if isinstance(layers, torch.nn.Module):
        types = {n: type(mod) for n, mod in layers.named_modules() if n}
        layers = {n: t.__name__ for n, t in types.items()}
    elif isinstance(layers, dict):
        types = None
    else:
        layers = {str(n): "" for n in layers}
        types = None
    settings = settings or {}
    known_types = any(layers.values())
    recurrent_names = {c.__name__ for c in _RECURRENT} | {"LSTM", "GRU", "RNN"}
    if method == "gradcam":
        layer = settings.get("layer")
        if layer is not None and layer not in layers:
            convs = [n for n, t in layers.items() if t == "Conv1d"]
            raise ValueError(f"layer: {layer!r} does not exist in the model; its "
                             f"convolutional layers are: {', '.join(convs) or '(none)'}")
        if known_types:
            if "Conv1d" not in layers.values():
                raise ValueError("method 'gradcam' cannot apply to this architecture: it "
                                 "needs a convolutional layer (Conv1d) and the model has none")
            if layer is not None and layers[layer] in _NOT_FEATURE_MAPS:
                raise ValueError(f"layer: {layer!r} is a {layers[layer]}, which has no "
                                 "positions; GradCAM needs a convolutional feature map")
    if method in ("deeplift", "deeplift_shap") and known_types:
        bad = [n for n, t in layers.items()
               if t in recurrent_names or (types and issubclass(types[n], _RECURRENT))]
        if bad:
            raise ValueError(f"method {method!r} cannot apply to this architecture: DeepLIFT "
                             f"has no rule for the recurrent/attention layer {bad[0]!r} "
                             f"({layers[bad[0]]}); use integrated_gradients or ism")


# ---------------------------------------------------------------------------------------
# attribute()
# ---------------------------------------------------------------------------------------


def attribute(model: torch.nn.Module, X, target, method: str, reference: str | None = None, *,
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
    method: str
        One of :data:`METHODS`: ``saliency``, ``grad_x_input``, ``integrated_gradients``,
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
        substituted or occluded copies, depending on the method. Default 128.
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
    settings = resolve_options(method, reference, n_references, hypothetical, correction,
                               **options)
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
    if settings["reference"] == "mean_composition" and frequencies is None:
        raise ValueError("frequencies: the mean_composition reference needs the data set's "
                         "letter frequencies, shape=(A,)")
    check_applicable(method, model, settings)
    device = resolve_device(device)
    n_refs = settings["n_references"]
    per_chunk = max(1, batch_size // max(1, spec.rows(settings, max(1, n_refs), L)))

    maps = np.zeros((N, A, L), dtype=np.float32)
    delta = np.zeros(N, dtype=np.float32) if spec.completeness else None
    with model_state(model, device):
        run = Run(model, device, resolve_dtype(model, dtype), batch_size, A, settings,
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
                if settings["reference"] is not None:
                    r = run.tensor(refs_mod.make_references(
                        settings["reference"], codes[sl], n=max(1, n_refs),
                        lengths=lengths[sl], alphabet_size=A, random_state=random_state,
                        index=index[sl], frequencies=frequencies))
                out, d = spec.fn(run, x, codes[sl], lengths[sl], t, r, index[sl])
                maps[sl] = out.detach().float().cpu().numpy()
                if delta is not None:
                    delta[sl] = d.detach().float().cpu().numpy()
        except m._rules.UnsupportedModelError as err:
            raise ValueError(f"method {method!r} cannot apply to this model: {err}") from None
    maps *= (np.arange(L) < lengths[:, None])[:, None, :]
    if return_delta:
        return maps, delta
    return maps
