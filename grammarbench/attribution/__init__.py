# grammarbench.attribution
# Attribution methods, one signature, one registry.

"""Attribution methods that explain a model's logits, scored later by
:mod:`grammarbench.scoring.recovery`.

One entry point, :func:`attribute`, runs any method of the registry :data:`METHODS`
(keys are the config names) on a batch of sequences; :func:`attribute_split` runs one method on
a simulated split and returns an :class:`AttributionResult` that knows which examples
its maps explain, saves itself compactly (``.npz``, float16 maps) and scores itself
(:meth:`AttributionResult.score`, via :func:`grammarbench.scoring.recovery.score_maps`);
:func:`validate_attribution_config` checks the workflow's ``attribution`` section before
any job starts and resolves it, once, into an :class:`AttributionSettings` whose runs
carry :class:`MethodSettings` (:mod:`grammarbench.attribution.settings`). The ``attribute``
rule is then, for each run::

    attribute_split(model, test_split, run.settings, n_examples=settings.n_examples,
                    batch_size=settings.batch_size, random_state=settings.random_state).save(output)

What comes from Captum, and what is written here (and why):

================================ =========================================================
method                           implementation
================================ =========================================================
saliency, grad_x_input           Captum ``Saliency`` (the gradient)
integrated_gradients             Captum ``IntegratedGradients`` (quadrature, batching)
gradcam                          Captum ``LayerGradCam``; receptive field mapping here
occlusion                        Captum ``Occlusion``
deeplift, deeplift_shap          here: per-sequence references, functional and reused
                                 nonlinearities (Captum hooks modules only)
guided_backprop, deconvolution   here: the same, for functional ReLUs
smoothgrad                       here: noise seeded per example, batch-size independent
ism                              here: batched across sequences, fastISM (torch.fx)
sis                              here: no Captum equivalent
================================ =========================================================
"""

import importlib

from grammarbench.attribution.registry import METHODS, Method, check_applicable, get_method, model_layers
from grammarbench.attribution.settings import (AttributionRun, AttributionSettings, MethodSettings,
                                               validate_attribution_config)

# Names that need torch, imported on first use: checking a config's attribution section (every
# `snakemake` start, dry runs included) reads only the registry and the settings.
_NEEDS_TORCH = {"predict_logits": "core", "targets_from_labels": "core", "attribute": "api",
                "AttributionResult": "results", "attribute_model": "results",
                "attribute_split": "results", "score_runs": "results"}


def __getattr__(name):
    if name in _NEEDS_TORCH:
        return getattr(importlib.import_module(f"{__name__}.{_NEEDS_TORCH[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "METHODS",
    "Method",
    "attribute",
    "attribute_split",
    "attribute_model",
    "score_runs",
    "AttributionResult",
    "get_method",
    "MethodSettings",
    "AttributionRun",
    "AttributionSettings",
    "check_applicable",
    "model_layers",
    "validate_attribution_config",
    "targets_from_labels",
    "predict_logits",
]
