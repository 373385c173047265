# registry.py
# grammarbench.attribution: the registry of attribution methods and what each supports.

"""The registry of attribution methods, :data:`METHODS` (config name → :class:`Method`),
and the checks of what a method supports on a given model (:func:`check_applicable`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import importlib

import numpy as np

__all__ = ["Method", "METHODS", "FAMILIES", "get_method", "check_applicable", "model_layers", "model_family",
           "family_problem", "at_least", "number", "one_of", "boolean", "layer_name"]

#: The model families of the grid, each served by its own attribution methods: neural
#: networks (any architecture with ``layers`` or a ``module``) and gapped k-mer SVMs
#: (architecture kind ``gkmsvm``).
FAMILIES = ("network", "gkmsvm")


# ---------------------------------------------------------------------------------------
# option checkers: each returns the cleaned value or raises ValueError(problem)
# ---------------------------------------------------------------------------------------


def at_least(minimum: int):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ValueError(f"must be an integer >= {minimum}; got {v!r}")
        return int(v)
    return check


def number(low: float, high: float | None = None, open_low: bool = False):
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


def one_of(*values):
    def check(v):
        if v not in values:
            raise ValueError(f"must be one of {', '.join(map(str, values))}; got {v!r}")
        return v
    return check


def boolean(v):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"must be true or false; got {v!r}")
    return bool(v)


def layer_name(v):
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
    function: str
        Name of its function in :mod:`grammarbench.attribution.methods` (imported on first
        use of :attr:`fn`, so that checking a config does not import torch).
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
    batches_per_call: int
        How many batches of rows one call of the method may hold (its sequences are
        ``batches_per_call * batch_size // rows``, at least one): 1 for methods whose
        rows go to the model as they are; more for ISM, which batches its substitutions
        itself, so that its fast path fills batches with edits from the middles of
        several sequences instead of a batch of one sequence's ends.
    uses_captum: str
        What Captum provides ("" if custom).
    families: tuple of str
        The model families (:data:`FAMILIES`) it can explain: gradient methods networks
        only, GkmExplain gapped k-mer SVMs only, methods that only call the model both.
    """

    name: str
    function: str
    label: str
    reference: str | None = None
    n_references: int = 1
    completeness: bool = False
    hypothetical: bool = False
    correction: bool = False
    options: dict = field(default_factory=dict)
    rows: Callable = lambda opts, n, L: 1
    batches_per_call: int = 1
    uses_captum: str = ""
    families: tuple[str, ...] = ("network",)

    @property
    def fn(self) -> Callable:
        """``fn(run, x, codes, lengths, target, refs, index) -> (maps, delta)``."""
        return getattr(importlib.import_module("grammarbench.attribution.methods"), self.function)


#: Families of a method that only calls the model (no gradient, no layer).
_ANY_MODEL = ("network", "gkmsvm")

METHODS: dict[str, Method] = {
    "saliency": Method("saliency", "saliency", "Saliency", hypothetical=True,
                       correction=True, uses_captum="Saliency"),
    "grad_x_input": Method("grad_x_input", "grad_x_input", "Gradient × input",
                           hypothetical=True, correction=True, uses_captum="Saliency"),
    "integrated_gradients": Method(
        "integrated_gradients", "integrated_gradients", "Integrated Gradients",
        reference="zeros", n_references=10, completeness=True, hypothetical=True,
        correction=True,
        options={"steps": (50, at_least(2)),
                 "quadrature": ("gausslegendre", one_of("gausslegendre", "riemann_trapezoid",
                                                         "riemann_middle", "riemann_left",
                                                         "riemann_right"))},
        rows=lambda o, n, L: n, uses_captum="IntegratedGradients"),
    "deeplift": Method("deeplift", "deeplift", "DeepLIFT", reference="zeros",
                       completeness=True, hypothetical=True, correction=True,
                       options={"eps": (1e-6, number(0.0, open_low=True))},
                       rows=lambda o, n, L: n),
    "deeplift_shap": Method("deeplift_shap", "deeplift_shap", "DeepLIFT-SHAP",
                            reference="shuffle", n_references=20, completeness=True,
                            hypothetical=True, correction=True,
                            options={"eps": (1e-6, number(0.0, open_low=True))},
                            rows=lambda o, n, L: n),
    "gradcam": Method("gradcam", "gradcam", "GradCAM", options={"layer": (None, layer_name)},
                      uses_captum="LayerGradCam"),
    "guided_backprop": Method("guided_backprop", "guided_backprop", "Guided backprop",
                              hypothetical=True, correction=True),
    "deconvolution": Method("deconvolution", "deconvolution", "Deconvolution",
                            hypothetical=True, correction=True),
    "smoothgrad": Method("smoothgrad", "smoothgrad", "SmoothGrad", hypothetical=True,
                         correction=True,
                         options={"n_samples": (50, at_least(1)),
                                  "noise": (0.15, number(0.0, open_low=True))},
                         rows=lambda o, n, L: o["n_samples"]),
    "occlusion": Method("occlusion", "occlusion", "Occlusion", reference="zeros",
                        options={"window": (5, at_least(1)), "stride": (1, at_least(1))},
                        rows=lambda o, n, L: n * max(1, L // o["stride"]),
                        uses_captum="Occlusion", families=_ANY_MODEL),
    "ism": Method("ism", "ism", "In-silico mutagenesis", hypothetical=True,
                  options={"fast": (True, boolean)}, rows=lambda o, n, L: 3 * L, batches_per_call=16,
                  families=_ANY_MODEL),
    "gkmexplain": Method("gkmexplain", "gkmexplain", "GkmExplain", completeness=True, families=("gkmsvm",)),
    "sis": Method("sis", "sis", "Sufficient input subsets", reference="uniform",
                  options={"threshold": (0.9, number(0.0)),
                           "output": ("softmax", one_of("softmax", "sigmoid", "logit")),
                           "max_sis": (5, at_least(1))},
                  rows=lambda o, n, L: L, families=_ANY_MODEL),
}


def get_method(method: str) -> Method:
    """The registered :class:`Method` called ``method``; ValueError naming it otherwise."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return METHODS[method]


def _recurrent_types() -> tuple[type, ...]:
    """torch's recurrent and attention layer classes (for a model given as a module, so
    torch is already imported)."""
    import torch

    return (torch.nn.RNNBase, torch.nn.RNNCellBase, torch.nn.MultiheadAttention,
            torch.nn.Transformer, torch.nn.TransformerEncoderLayer,
            torch.nn.TransformerDecoderLayer)


#: Their names, and those of torch's recurrent layers (for models given by layer kinds).
_RECURRENT_NAMES = frozenset({"RNNBase", "RNNCellBase", "MultiheadAttention", "Transformer",
                              "TransformerEncoderLayer", "TransformerDecoderLayer", "LSTM", "GRU",
                              "RNN"})


def _is_module(model) -> bool:
    """A torch module, told apart without importing torch: a module is what has them."""
    return hasattr(model, "named_modules")


#: Layers whose output has no position axis (GradCAM cannot use them).
_NOT_FEATURE_MAPS = {"Linear", "Flatten", "LSTM", "GRU", "RNN", "LazyLinear", "Bilinear",
                     "AdaptiveMaxPool1d", "AdaptiveAvgPool1d"}


def model_layers(model: torch.nn.Module) -> dict[str, str]:
    """Name -> class name of every submodule (what :func:`validate_attribution_config`
    checks GradCAM layers and method applicability against)."""
    return {name: type(mod).__name__ for name, mod in model.named_modules() if name}


#: The methods that apply to a gapped k-mer SVM: GkmExplain and those that only call the model.
MODEL_AGNOSTIC = tuple(name for name, method in METHODS.items() if "gkmsvm" in method.families)


def family_problem(method: str, family: str) -> str | None:
    """Why ``method`` cannot explain a model of ``family`` (:data:`FAMILIES`); None if it can."""
    if family in get_method(method).families:
        return None
    if family == "gkmsvm":
        return (f"method {method!r} cannot apply to a gapped k-mer SVM: it has no gradient; "
                f"use {', '.join(MODEL_AGNOSTIC)}")
    served = ", ".join(n for n, m in METHODS.items() if family in m.families)
    return f"method {method!r} explains gapped k-mer SVMs only, not networks: use {served}"


def model_family(layers: dict[str, str] | list[str] | torch.nn.Module) -> str:
    """The family (:data:`FAMILIES`) of a model given as in :func:`check_applicable`: a gapped
    k-mer SVM reports the layer ``GappedKmerKernel``, anything else is a network."""
    if _is_module(layers):
        layers = model_layers(layers)
    kinds = layers.values() if isinstance(layers, dict) else ()
    return "gkmsvm" if "GappedKmerKernel" in kinds else "network"


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
        A method's options (:attr:`MethodSettings.options`; GradCAM's ``layer``).
    """
    if _is_module(layers):
        types = {n: type(mod) for n, mod in layers.named_modules() if n}
        layers = {n: t.__name__ for n, t in types.items()}
    elif isinstance(layers, dict):
        types = None
    else:
        layers = {str(n): "" for n in layers}
        types = None
    settings = settings or {}
    known_types = any(layers.values())
    family = model_family(layers)
    # A list of names says nothing of the kinds: only a gapped k-mer SVM is told apart then.
    if known_types or family == "gkmsvm":
        problem = family_problem(method, family)
        if problem:
            raise ValueError(problem)
    recurrent_names = _RECURRENT_NAMES
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
        recurrent_types = _recurrent_types() if types else ()
        bad = [n for n, t in layers.items()
               if t in recurrent_names or (types and issubclass(types[n], recurrent_types))]
        if bad:
            raise ValueError(f"method {method!r} cannot apply to this architecture: DeepLIFT "
                             f"has no rule for the recurrent/attention layer {bad[0]!r} "
                             f"({layers[bad[0]]}); use integrated_gradients or ism")
