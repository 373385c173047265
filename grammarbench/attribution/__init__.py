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
any job starts and expands it into runs. The ``attribute`` rule is then::

    attribute_split(model, test_split, run["method"], n_examples=..., batch_size=...,
            random_state=..., **run["settings"]).save(output)

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

from grammarbench.attribution._core import predict_logits, targets_from_labels
from grammarbench.attribution.api import (METHODS, Method, attribute, check_applicable, get_method, model_layers,
                  resolve_options)
from grammarbench.attribution.settings import validate_attribution_config
from grammarbench.attribution.results import AttributionResult, attribute_split, attribute_model, score_runs

__all__ = [
    "METHODS",
    "Method",
    "attribute",
    "attribute_split",
    "attribute_model",
    "score_runs",
    "AttributionResult",
    "get_method",
    "resolve_options",
    "check_applicable",
    "model_layers",
    "validate_attribution_config",
    "targets_from_labels",
    "predict_logits",
]
