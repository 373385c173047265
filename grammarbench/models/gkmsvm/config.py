# config.py
# grammarbench: the `gkmsvm:` block of an architecture file, checked before any job runs

"""The options of a gapped k-mer SVM architecture, with their defaults and checks.

An architecture file of kind ``gkmsvm`` holds, instead of ``layers`` or ``module``::

    gkmsvm:
      l: 10                 # word length (LS-GKM -l), 3..12
      k: 6                  # informative columns (-k), 1..l
      d: 3                  # maximum mismatches (-d), 0..l-1
      kernel: esttrunc      # gkm | estfull | esttrunc | gkmrbf | wgkm | wgkmrbf | gkm-rbf
      gamma: 1.0            # RBF kernels (-g)
      M: 50                 # wgkm centre weighting (-M), 1..255
      H: 50.0               # wgkm half-life (-H)
      C: 1.0                # regularisation (-c)
      class_weight: null    # null | balanced
      tier: auto            # auto | kernel | linear
      kernel_max_examples: 20000

Any key left out takes the default above. A bad value raises
:class:`grammarbench.errors.InputError` naming the file and ``gkmsvm.<key>``.
"""

from __future__ import annotations

import math

from grammarbench.errors import InputError
from .features import KERNELS, KernelSpec
from .svm import CLASS_WEIGHTS, TIERS, GkmSvm

#: Option -> default.
DEFAULTS = {"l": 10, "k": 6, "d": 3, "kernel": "esttrunc", "gamma": 1.0, "M": 50, "H": 50.0, "C": 1.0,
            "class_weight": None, "tier": "auto", "kernel_max_examples": 20000, "tol": 1e-3,
            "linear_tol": 0.01, "max_epochs": 1000}
SPEC_KEYS = ("l", "k", "d", "kernel", "gamma", "M", "H")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def gkmsvm_settings(block, source) -> dict:
    """The ``gkmsvm:`` mapping checked and completed with :data:`DEFAULTS`.

    Raises
    ------
    InputError
        ``<source>: gkmsvm.<key>: <problem>`` for an unknown key or a bad value.
    """
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise InputError(source, "gkmsvm", "must be a mapping of options (l, k, d, kernel, C, ...)")
    unknown = sorted(set(block) - set(DEFAULTS))
    if unknown:
        raise InputError(source, f"gkmsvm.{unknown[0]}", f"unknown option; options: {', '.join(DEFAULTS)}")
    settings = {**DEFAULTS, **block}

    def fail(key, problem):
        raise InputError(source, f"gkmsvm.{key}", problem)

    for key in ("l", "k", "d", "M", "kernel_max_examples", "max_epochs"):
        if not _is_int(settings[key]):
            fail(key, f"must be an integer; got {settings[key]!r}")
    for key in ("gamma", "H", "C", "tol", "linear_tol"):
        if not _is_positive(settings[key]):
            fail(key, f"must be a positive number; got {settings[key]!r}")
    if settings["kernel"] not in KERNELS:
        fail("kernel", f"must be one of {', '.join(KERNELS)}; got {settings['kernel']!r}")
    if settings["class_weight"] not in CLASS_WEIGHTS:
        fail("class_weight", f"must be null or balanced; got {settings['class_weight']!r}")
    if settings["tier"] not in TIERS:
        fail("tier", f"must be one of {', '.join(TIERS)}; got {settings['tier']!r}")
    if settings["kernel_max_examples"] < 1 or settings["max_epochs"] < 1:
        fail("kernel_max_examples" if settings["kernel_max_examples"] < 1 else "max_epochs", "must be >= 1")
    try:
        KernelSpec(**{key: settings[key] for key in SPEC_KEYS})
    except ValueError as err:
        key = str(err).split(" ", 1)[0]
        fail(key if key in SPEC_KEYS else "kernel", str(err))
    return settings


def build_model(settings: dict, seed: int = 0) -> GkmSvm:
    """An untrained :class:`GkmSvm` with these settings (``seed`` drives the linear tier)."""
    spec = KernelSpec(**{key: settings[key] for key in SPEC_KEYS})
    return GkmSvm(spec, C=settings["C"], class_weight=settings["class_weight"], tier=settings["tier"],
                  kernel_max_examples=settings["kernel_max_examples"], tol=settings["tol"],
                  linear_tol=settings["linear_tol"], max_epochs=settings["max_epochs"], seed=seed)
