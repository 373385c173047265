# config.py
# grammarbench.attribution: check the workflow's `attribution` section before any job starts.

"""Validation of the ``attribution`` section of the workflow config.

The section::

    attribution:
      n_examples: 500          # test examples explained per model (the first n)
      batch_size: 128          # rows per forward pass
      random_state: 0          # seed of shuffled references and SmoothGrad noise
      methods:                 # method -> settings; {} or null for the defaults
        grad_x_input: {}
        saliency: {correction: true}
        integrated_gradients: {references: [zeros, shuffle], steps: 50}
        deeplift_shap: {n_references: 20}       # reference: shuffle by default
        gradcam: {layer: conv2}
        ism: {}
      metrics:                 # options of grammarbench.scoring.recovery.score_maps
        score: sum             # or observed
        agreement_threshold: 0.01

``methods`` may also be a list, whose items are a method name or a mapping with
``method:`` (and an optional unique ``name:``), to run one method with several
settings. A method's settings are ``reference`` (one name) or ``references`` (a list;
one run each), ``n_references``, ``hypothetical``, ``correction`` and the method's
options (:data:`grammarbench.attribution.METHODS`).
"""

from __future__ import annotations

from grammarbench.attribution import references as refs_mod
from grammarbench.errors import InputError
from grammarbench.attribution.api import METHODS, check_applicable, resolve_options

__all__ = ["validate_attribution_config"]

_TOP_KEYS = {"n_examples", "batch_size", "random_state", "methods", "metrics"}
_METRIC_KEYS = {"score": ("sum", "observed"), "absolute": None,
                "agreement_threshold": None, "threshold_on": ("raw", "normalized")}
_DEFAULTS = {"n_examples": 500, "batch_size": 128, "random_state": 0}


def _positive_int(value, source, key, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(source, key, f"must be an integer >= {minimum}; got {value!r}")
    return value


def validate_attribution_config(cfg: dict, source: str,
                                model_layers: list[str] | dict[str, str] | None = None,
                                prefix: str = "attribution") -> dict:
    """Check the ``attribution`` config section and expand it into runs.

    Parameters
    ----------
    cfg: dict
        The section (see the module docstring).
    source: str
        The config file it came from, for messages.
    model_layers: list of str, dict of str to str, or None
        The model's module names (``[n for n, _ in model.named_modules()]``) or, better,
        :func:`grammarbench.attribution.model_layers` (name -> class name), which also
        lets architecture-dependent methods be checked (GradCAM needs a ``Conv1d``,
        DeepLIFT cannot apply to recurrent layers). None skips those checks.
    prefix: str
        Dotted key of the section in the file, for messages. Default ``attribution``.

    Returns
    -------
    config: dict
        ``n_examples``, ``batch_size``, ``random_state``, ``metrics`` (dict) and
        ``runs``: a list of ``{"name", "method", "reference", "settings"}``, one per
        (method settings, reference), with unique names (``method`` or
        ``method-reference`` when a method lists several references), and
        ``settings`` the complete keyword arguments of
        :func:`grammarbench.attribution.explain` for the run.

    Raises
    ------
    grammarbench.errors.InputError
        ``<source>: <key>: <problem>`` for an unknown method, reference or option, a bad
        value, a GradCAM layer that does not exist, or a method that cannot apply to the
        architecture.
    """
    if not isinstance(cfg, dict):
        raise InputError(source, prefix, f"must be a mapping; got {type(cfg).__name__}")
    unknown = set(cfg) - _TOP_KEYS
    if unknown:
        raise InputError(source, f"{prefix}.{sorted(unknown)[0]}",
                         f"unknown key; known keys: {', '.join(sorted(_TOP_KEYS))}")
    out = dict(_DEFAULTS)
    for key in ("n_examples", "batch_size"):
        if key in cfg:
            out[key] = _positive_int(cfg[key], source, f"{prefix}.{key}")
    if "random_state" in cfg:
        out["random_state"] = _positive_int(cfg["random_state"], source,
                                            f"{prefix}.random_state", minimum=0)
    out["metrics"] = _metrics(cfg.get("metrics") or {}, source, f"{prefix}.metrics")
    if "methods" not in cfg or not cfg["methods"]:
        raise InputError(source, f"{prefix}.methods", "is required: at least one method "
                         f"(known: {', '.join(METHODS)})")
    entries = _entries(cfg["methods"], source, f"{prefix}.methods")
    runs, names = [], set()
    for key, method_key, name, method, settings in entries:
        if not isinstance(method, str) or method not in METHODS:
            raise InputError(source, method_key,
                             f"unknown method {method!r}; known: {', '.join(METHODS)}")
        settings = dict(settings or {})
        if "reference" in settings and "references" in settings:
            raise InputError(source, f"{key}.references",
                             "give either reference or references, not both")
        references = settings.pop("references", None)
        if references is None:
            references = [settings.pop("reference", None)]
        elif not isinstance(references, list) or not references:
            raise InputError(source, f"{key}.references", "must be a non-empty list of "
                             f"references ({', '.join(refs_mod.REFERENCES)})")
        for j, reference in enumerate(references):
            rkey = f"{key}.references[{j}]" if len(references) > 1 else f"{key}.reference"
            if reference is not None and reference not in refs_mod.REFERENCES:
                raise InputError(source, rkey, f"unknown reference {reference!r}; known: "
                                 f"{', '.join(refs_mod.REFERENCES)}")
            try:
                resolved = resolve_options(method, reference, **settings)
            except ValueError as err:
                field, _, problem = str(err).partition(": ")
                if not problem:
                    field, problem = "", str(err)
                if field == "reference":
                    field = rkey.rsplit(".", 1)[1]
                raise InputError(source, f"{key}.{field}" if field else key, problem) from None
            if model_layers is not None:
                try:
                    check_applicable(method, model_layers, resolved)
                except ValueError as err:
                    field, _, problem = str(err).partition(": ")
                    if field == "layer" and problem:
                        raise InputError(source, f"{key}.layer", problem) from None
                    raise InputError(source, key, str(err)) from None
            label = name or method
            if len(references) > 1:
                label = f"{label}-{resolved['reference']}"
            if label in names:
                raise InputError(source, key, f"run name {label!r} is used twice; give "
                                 "each setting of a method its own name:")
            names.add(label)
            kwargs = {k: v for k, v in resolved.items() if k != "method"}
            if kwargs.get("reference") is None:
                kwargs.pop("reference", None)
                kwargs.pop("n_references", None)
            runs.append({"name": label, "method": method,
                         "reference": resolved["reference"], "settings": kwargs})
    out["runs"] = runs
    return out


def _entries(methods, source, key):
    """(key, key of the method name, name, method, settings) of each entry."""
    out = []
    if isinstance(methods, dict):
        for method, settings in methods.items():
            k = f"{key}.{method}"
            if settings is not None and not isinstance(settings, dict):
                raise InputError(source, k, "settings must be a mapping (or empty)")
            out.append((k, k, None, method, settings))
        return out
    if not isinstance(methods, list):
        raise InputError(source, key, "must be a mapping of method -> settings or a list")
    for i, item in enumerate(methods):
        k = f"{key}[{i}]"
        if isinstance(item, str):
            out.append((k, k, None, item, None))
        elif isinstance(item, dict):
            if "method" not in item:
                raise InputError(source, k, "needs a 'method:' key")
            settings = {a: b for a, b in item.items() if a not in ("method", "name")}
            name = item.get("name")
            if name is not None and (not isinstance(name, str) or not name):
                raise InputError(source, f"{k}.name", "must be a non-empty string")
            out.append((k, f"{k}.method", name, item["method"], settings))
        else:
            raise InputError(source, k, "must be a method name or a mapping with 'method:'")
    return out


def _metrics(cfg, source, key):
    if not isinstance(cfg, dict):
        raise InputError(source, key, "must be a mapping")
    out = {}
    for k, v in cfg.items():
        if k not in _METRIC_KEYS:
            raise InputError(source, f"{key}.{k}", "unknown key; known keys: "
                             f"{', '.join(_METRIC_KEYS)}")
        allowed = _METRIC_KEYS[k]
        if allowed is not None and v not in allowed:
            raise InputError(source, f"{key}.{k}", f"must be one of {', '.join(allowed)}; "
                             f"got {v!r}")
        if k == "absolute" and not isinstance(v, bool):
            raise InputError(source, f"{key}.{k}", f"must be true or false; got {v!r}")
        if k == "agreement_threshold" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise InputError(source, f"{key}.{k}", f"must be a number; got {v!r}")
        out[k] = v
    return out
