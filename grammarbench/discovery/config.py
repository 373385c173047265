# config.py
# grammarbench.discovery: check the workflow's `discovery` section before any job starts.

"""Validation of the ``discovery`` section of the workflow config.

The section::

    discovery:
      runs: [deeplift_shap, ism]   # attribution runs (their names) to search; [] = off
      n_examples: 2000             # the first n maps of each run
      alpha: 0.05                  # Tomtom q-value threshold of a match
      threads: 1                   # numba threads per discover job
      modisco: {}                  # modisco-lite settings (TFMoDISco keywords);
                                   # n_leiden_runs: 10 unless given (modisco.N_LEIDEN_RUNS)
      decoys: CORE                 # the JASPAR collection used as Tomtom decoys

``runs`` name runs of the ``attribution`` section (``method``, ``method-reference`` or
the ``name:`` given there; :func:`grammarbench.attribution.validate_attribution_config`).
"""

from __future__ import annotations

from ..errors import InputError
from .scores import ALPHA

__all__ = ["validate_discovery_config", "DISCOVERY_DEFAULTS"]

DISCOVERY_DEFAULTS = {"runs": [], "n_examples": 2000, "alpha": ALPHA, "threads": 1,
                      "modisco": {}, "decoys": "CORE"}


def validate_discovery_config(cfg: dict | None, source: str, attribution=None,
                              prefix: str = "discovery") -> dict:
    """Check the ``discovery`` section against the attribution runs; fill defaults.

    Parameters
    ----------
    cfg: dict or None
        The section (see the module docstring); None or {} turns discovery off.
    source: str
        The config file(s), for messages.
    attribution: grammarbench.attribution.settings.AttributionSettings or None
        The validated ``attribution`` section (its ``runs``), or None when there is none.

    Returns
    -------
    config: dict
        Every key of :data:`DISCOVERY_DEFAULTS`; ``runs`` as the attribution runs' dicts
        (``name``, ``method``, ``reference``, ``settings``).

    Raises
    ------
    grammarbench.errors.InputError
        ``<source>: discovery.<key>: <problem>``: an unknown key or run, a bad value, or
        discovery without an attribution stage.
    """
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, dict):
        raise InputError(source, prefix, f"must be a mapping; got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - set(DISCOVERY_DEFAULTS))
    if unknown:
        raise InputError(source, f"{prefix}.{unknown[0]}", "unknown key; known keys: "
                         + ", ".join(DISCOVERY_DEFAULTS))
    out = {**DISCOVERY_DEFAULTS, **cfg}
    names = out["runs"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(source, f"{prefix}.runs", "must be a list of attribution run names")
    # the attribution runs as plain records (name, method, reference, n_references)
    known = {run.name: {"name": run.name, "method": run.method, "reference": run.reference,
                        "n_references": run.settings.n_references}
             for run in (attribution.runs if attribution else ())}
    if names and not known:
        raise InputError(source, f"{prefix}.runs", "motif discovery searches attribution "
                         "maps: configure the attribution section too")
    for i, name in enumerate(names):
        if name not in known:
            raise InputError(source, f"{prefix}.runs[{i}]", f"unknown attribution run "
                             f"{name!r}; known: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise InputError(source, f"{prefix}.runs", "names a run twice")
    out["runs"] = [known[name] for name in names]
    for key in ("n_examples", "threads"):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(source, f"{prefix}.{key}", f"must be an integer >= 1; got {value!r}")
    alpha = out["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError(source, f"{prefix}.alpha", f"must be a number in (0, 1); got {alpha!r}")
    if not isinstance(out["modisco"], dict):
        raise InputError(source, f"{prefix}.modisco", "must be a mapping of modisco-lite settings")
    if out["modisco"] and names:
        _check_modisco_keys(out["modisco"], source, f"{prefix}.modisco")
    if not isinstance(out["decoys"], str) or not out["decoys"]:
        raise InputError(source, f"{prefix}.decoys", "must name a JASPAR collection, e.g. CORE")
    return out


def _check_modisco_keys(settings: dict, source: str, key: str) -> None:
    try:
        from .modisco import check_modisco_keys
    except ImportError:  # planning without modisco-lite (conda envs): the job checks them
        return
    check_modisco_keys(settings, source, key)
