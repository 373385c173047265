# settings.py
# grammarbench.attribution: attribution settings, checked and resolved once.

"""Attribution settings, checked and resolved once into objects that every caller shares:
the workflow's config check, :func:`grammarbench.attribution.attribute`,
:func:`~grammarbench.attribution.attribute_split`, the ``attribute`` rule and the CLI.

* :class:`MethodSettings`: one method with its reference, number of references and
  options, every default filled in (:meth:`MethodSettings.resolve`);
* :class:`AttributionRun`: a named :class:`MethodSettings` (one file per model);
* :class:`AttributionSettings`: the ``attribution`` section of the workflow config, its
  runs expanded (:func:`validate_attribution_config`).

The section::

    attribution:
      n_examples: 500          # test examples explained per model (the first n)
      batch_size: 128          # rows per forward pass (fast ISM: edits in that memory)
      random_state: 0          # seed of shuffled references and SmoothGrad noise
      device: auto             # where the attribute rule runs (schema default; auto, cpu, cuda)
      threads: 1               # CPU threads per attribute job (schema default)
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
        truth: rescan          # or implanted: a realistic grammar's implanted hits only

``methods`` may also be a list, whose items are a method name or a mapping with
``method:`` (and an optional unique ``name:``), to run one method with several
settings. A method's settings are ``reference`` (one name) or ``references`` (a list;
one run each), ``n_references``, ``hypothetical``, ``correction``, ``families`` and the
method's options (:data:`grammarbench.attribution.METHODS`).

Model families. A grid may mix neural networks with gapped k-mer SVMs
(:data:`~grammarbench.attribution.registry.FAMILIES`: ``network``, ``gkmsvm``), and each
method explains the families it can: gradient methods networks, ``gkmexplain`` gapped
k-mer SVMs, methods that only call the model (``ism``, ``occlusion``, ``sis``) both. A
run explains every model of the grid whose family its method serves; ``families:`` (one
name or a list) restricts it to those families, e.g. ``ism: {families: [network]}``. The
check stops with one line when a method applies to no model of the grid, or ``families``
names a family the method cannot explain or the grid does not have.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from grammarbench.attribution import references as refs_mod
from grammarbench.attribution.registry import (FAMILIES, METHODS, at_least, boolean, check_applicable,
                                               family_problem, get_method, model_family)
from grammarbench.errors import InputError

__all__ = ["MethodSettings", "method_settings", "AttributionRun", "AttributionSettings", "validate_attribution_config",
           "METRIC_OPTIONS", "has_reference_sweep"]

#: Options of the score stage that ``metrics:`` may set (of
#: :func:`grammarbench.scoring.recovery.score_maps`, and ``truth``, the ground truth):
#: name -> allowed values (None: any value of the option's type).
METRIC_OPTIONS = {"score": ("sum", "observed"), "absolute": None,
                  "agreement_threshold": None, "threshold_on": ("raw", "normalized"),
                  # the ground truth: the split's mask.npy (for a realistic grammar the
                  # re-scan, as the paper scored) or mask_implanted.npy (implanted hits only)
                  "truth": ("rescan", "implanted")}
#: Keys of the section that say where the ``attribute`` rule runs (the schema fills them).
_JOB_KEYS = {"device", "threads"}
_TOP_KEYS = {"n_examples", "batch_size", "random_state", "methods", "metrics"} | _JOB_KEYS


@dataclass(frozen=True)
class MethodSettings:
    """One attribution method with every setting resolved: what :func:`attribute` runs.

    Attributes
    ----------
    method: str
        A key of :data:`grammarbench.attribution.METHODS`.
    reference: str or None
        The reference (None for a method that takes none).
    n_references: int
        References actually drawn per sequence: 0 without a reference, 1 for a
        deterministic one (zeros, uniform, mean_composition).
    hypothetical, correction: bool
    options: dict
        Every option of the method, defaults filled in.
    """

    method: str
    reference: str | None = None
    n_references: int = 0
    hypothetical: bool = False
    correction: bool = False
    options: dict = field(default_factory=dict)

    @classmethod
    def resolve(cls, method: str, reference: str | None = None, n_references: int | None = None,
                hypothetical: bool = False, correction: bool = False, **options) -> "MethodSettings":
        """Check a method's settings and fill in defaults: the one place they are checked.

        Parameters
        ----------
        method: str
            A key of :data:`grammarbench.attribution.METHODS`.
        reference: str or None
            Reference name; None gives the method's default (or none, for a method that
            takes no reference).
        n_references: int or None
            References per sequence (random references only); None gives the method's
            default. DeepLIFT takes exactly one.
        hypothetical, correction: bool
            See :func:`grammarbench.attribution.attribute`.
        **options:
            Method options (e.g. ``steps`` for Integrated Gradients).

        Raises
        ------
        ValueError
            ``<argument>: <problem>``, naming the offending argument.
        """
        spec = get_method(method)
        if spec.reference is None:
            if reference is not None:
                raise ValueError(f"reference: method {method!r} takes no reference; got "
                                 f"{reference!r}")
            if n_references is not None:
                raise ValueError(f"n_references: method {method!r} takes no reference")
            n_drawn = 0
        else:
            reference = spec.reference if reference is None else reference
            refs_mod.validate_reference(reference)
            if n_references is None:
                n_references = spec.n_references
            n_references = _checked("n_references", at_least(1), n_references)
            if method == "deeplift" and n_references != 1:
                raise ValueError("n_references: deeplift uses one reference per sequence; use "
                                 "deeplift_shap to average over several")
            n_drawn = refs_mod.n_references(reference, n_references)
        hypothetical = _checked("hypothetical", boolean, hypothetical)
        correction = _checked("correction", boolean, correction)
        if hypothetical and not spec.hypothetical:
            raise ValueError(f"hypothetical: method {method!r} has no hypothetical "
                             "contributions")
        if correction and not spec.correction:
            raise ValueError(f"correction: the gradient correction applies to gradient methods "
                             f"({', '.join(n for n, s in METHODS.items() if s.correction)}), "
                             f"not to {method!r}")
        unknown = set(options) - set(spec.options)
        if unknown:
            known = ", ".join(spec.options) or "none"
            raise ValueError(f"{sorted(unknown)[0]}: not an option of method {method!r} "
                             f"(its options: {known})")
        resolved = {name: _checked(name, check, options.get(name, default))
                    for name, (default, check) in spec.options.items()}
        return cls(method, reference, n_drawn, hypothetical, correction, resolved)

    def as_dict(self) -> dict:
        """``method``, ``reference``, ``n_references``, ``hypothetical``, ``correction``
        and every method option, flat (as stored with a result)."""
        return {"method": self.method, "reference": self.reference, "n_references": self.n_references,
                "hypothetical": self.hypothetical, "correction": self.correction, **self.options}


def method_settings(method: "str | MethodSettings", reference: str | None = None,
                    n_references: int | None = None, hypothetical: bool = False,
                    correction: bool = False, **options) -> MethodSettings:
    """``method`` itself when it is a :class:`MethodSettings` (resolved before; nothing may
    be given beside it), else :meth:`MethodSettings.resolve` of the arguments."""
    if not isinstance(method, MethodSettings):
        return MethodSettings.resolve(method, reference, n_references, hypothetical, correction, **options)
    loose = {"reference": reference, "n_references": n_references, "hypothetical": hypothetical or None,
             "correction": correction or None, **options}
    given = [name for name, value in loose.items() if value is not None]
    if given:
        raise ValueError(f"{given[0]}: give it in the MethodSettings, not beside them")
    return method


def _checked(name, check, value):
    try:
        return check(value)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


@dataclass(frozen=True)
class AttributionRun:
    """A named method setting: one ``<name>.npz`` per model of its ``families``."""

    name: str
    settings: MethodSettings
    #: The model families (:data:`~grammarbench.attribution.registry.FAMILIES`) it explains.
    families: tuple[str, ...] = FAMILIES

    @property
    def method(self) -> str:
        return self.settings.method

    @property
    def reference(self) -> str | None:
        return self.settings.reference


@dataclass(frozen=True)
class AttributionSettings:
    """The ``attribution`` section, checked, with its runs expanded.

    Attributes
    ----------
    runs: tuple of AttributionRun
        One per (method setting, reference), names unique.
    n_examples: int
        Test examples explained per model (the first n). Default 500.
    batch_size: int
        Rows per forward pass. Default 128.
    random_state: int
        Seed of shuffled references and SmoothGrad noise. Default 0.
    metrics: dict
        Options of :func:`grammarbench.scoring.recovery.score_maps` (:data:`METRIC_OPTIONS`).
    """

    runs: tuple[AttributionRun, ...]
    n_examples: int = 500
    batch_size: int = 128
    random_state: int = 0
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data (for Snakemake params and JSON); :meth:`from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AttributionSettings":
        """The object :meth:`to_dict` wrote (already checked: nothing is checked again)."""
        runs = tuple(AttributionRun(r["name"], MethodSettings(**r["settings"]),
                                    tuple(r.get("families", FAMILIES))) for r in data["runs"])
        return cls(**{**data, "runs": runs})

    def for_family(self, family: str) -> "AttributionSettings":
        """The same settings with only the runs that explain models of ``family``."""
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")
        return replace(self, runs=tuple(run for run in self.runs if family in run.families))


_DEFAULTS = {name: f.default for name, f in AttributionSettings.__dataclass_fields__.items()
             if name in ("n_examples", "batch_size", "random_state")}


def _positive_int(value, source, key, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(source, key, f"must be an integer >= {minimum}; got {value!r}")
    return value


def validate_attribution_config(cfg: dict, source: str,
                                model_layers: list[str] | dict[str, str] | None = None,
                                prefix: str = "attribution",
                                models: dict[str, list[str] | dict[str, str]] | None = None
                                ) -> AttributionSettings:
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
    models: dict of str to layers, or None
        The models of a grid, each as ``model_layers`` (label, e.g. the architecture
        file -> layers), instead of one ``model_layers``: each run is checked against the
        models of the families it explains (module docstring). None (and no
        ``model_layers``): every run keeps its method's families, unchecked.

    Returns
    -------
    settings: AttributionSettings
        Its ``runs`` one per (method settings, reference), with unique names (``method``,
        or ``method-reference`` when a method lists several references), each with the
        families of the given models it explains.

    Raises
    ------
    grammarbench.errors.InputError
        ``<source>: <key>: <problem>`` for an unknown method, reference or option, a bad
        value, a GradCAM layer that does not exist, a method that cannot apply to an
        architecture it is asked for, or one that applies to none of the models.
    """
    if not isinstance(cfg, dict):
        raise InputError(source, prefix, f"must be a mapping; got {type(cfg).__name__}")
    if model_layers is not None and models is not None:
        raise ValueError("give model_layers (one model) or models (a grid's), not both")
    if model_layers is not None:
        models = {"": model_layers}
    # family -> [(label, layers)] of the models given (None: nothing to check against)
    by_family = None
    if models is not None:
        by_family = {}
        for label, layers in models.items():
            # Module names alone (no class names) do not tell the family: check against both.
            typed = isinstance(layers, dict) and any(layers.values())
            for family in (model_family(layers),) if typed else FAMILIES:
                by_family.setdefault(family, []).append((label, layers))
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
        families = _families(settings.pop("families", None), method, by_family, source, f"{key}.families")
        if by_family is not None and not families:
            why = family_problem(method, sorted(by_family)[0]) if by_family else "there are no models"
            raise InputError(source, key, f"applies to no model of the grid (its models: "
                             f"{' and '.join(sorted(by_family)) or 'none'}): {why}")
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
                resolved = MethodSettings.resolve(method, reference, **settings)
            except ValueError as err:
                field, _, problem = str(err).partition(": ")
                if not problem:
                    field, problem = "", str(err)
                if field == "reference":
                    field = rkey.rsplit(".", 1)[1]
                raise InputError(source, f"{key}.{field}" if field else key, problem) from None
            for family in families if by_family is not None else ():
                for label, layers in by_family[family]:
                    try:
                        check_applicable(method, layers, resolved.options)
                    except ValueError as err:
                        where = f" [architecture {label}]" if label else ""
                        field, _, problem = str(err).partition(": ")
                        if field == "layer" and problem:
                            raise InputError(source, f"{key}.layer", problem + where) from None
                        raise InputError(source, key, str(err) + where) from None
            label = name or method
            if len(references) > 1:
                label = f"{label}-{resolved.reference}"
            if label in names:
                raise InputError(source, key, f"run name {label!r} is used twice; give "
                                 "each setting of a method its own name:")
            names.add(label)
            runs.append(AttributionRun(label, resolved, families))
    return AttributionSettings(runs=tuple(runs), **out)


def _families(given, method: str, by_family: dict | None, source: str, key: str) -> tuple[str, ...]:
    """The families a run explains: those asked for (``families:``, checked), else every
    family of its method; only the families of the given models (when given)."""
    served = get_method(method).families
    if given is None:
        wanted = served
    else:
        wanted = [given] if isinstance(given, str) else given
        if not isinstance(wanted, list) or not wanted or not all(isinstance(f, str) for f in wanted):
            raise InputError(source, key, f"must be a family or a list of families ({', '.join(FAMILIES)})")
        for family in wanted:
            if family not in FAMILIES:
                raise InputError(source, key, f"unknown model family {family!r}; families: {', '.join(FAMILIES)}")
            problem = family_problem(method, family)
            if problem:
                raise InputError(source, key, problem)
            if by_family is not None and family not in by_family:
                raise InputError(source, key, f"asks for family {family!r}, and no architecture of the grid "
                                 f"is one (its models: {' and '.join(sorted(by_family)) or 'none'})")
    return tuple(f for f in FAMILIES if f in wanted and (by_family is None or f in by_family))


def has_reference_sweep(runs) -> bool:
    """Whether some method is run with two or more reference settings (a reference, or
    a different number of shuffles): what a reference-sweep figure needs to show more
    than one point per method.

    Parameters
    ----------
    runs: iterable of AttributionRun
        The ``runs`` of :func:`validate_attribution_config`.
    """
    settings: dict[str, set] = {}
    for run in runs:
        if run.reference is None:
            continue
        settings.setdefault(run.method, set()).add((run.reference, run.settings.n_references))
    return any(len(s) > 1 for s in settings.values())


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
        if k not in METRIC_OPTIONS:
            raise InputError(source, f"{key}.{k}", "unknown key; known keys: "
                             f"{', '.join(METRIC_OPTIONS)}")
        allowed = METRIC_OPTIONS[k]
        if allowed is not None and v not in allowed:
            raise InputError(source, f"{key}.{k}", f"must be one of {', '.join(allowed)}; "
                             f"got {v!r}")
        if k == "absolute" and not isinstance(v, bool):
            raise InputError(source, f"{key}.{k}", f"must be true or false; got {v!r}")
        if k == "agreement_threshold" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise InputError(source, f"{key}.{k}", f"must be a number; got {v!r}")
        out[k] = v
    return out
