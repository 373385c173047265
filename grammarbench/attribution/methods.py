# methods.py
# grammarbench.attribution: the attribution methods, one function each, one signature.

r"""The attribution methods.

Every method here has the same signature::

    fn(run, x, codes, lengths, target, refs, index) -> (maps, delta)

with ``x`` the one-hot batch on the device, shape=(b, A, L); ``codes`` shape=(b, L) and
``lengths`` shape=(b,) on the host; ``target`` shape=(b,) on the device; ``refs`` the
references, shape=(b, n, A, L), or None for a method without references; ``index``
shape=(b,), each example's identity for seeding. They return the maps, shape=(b, A, L),
and the convergence deltas shape=(b,) (None where completeness is not defined). The
public entry point, :func:`grammarbench.attribution.attribute`, does the batching,
devices and validation for all of them.

Map convention. A method defines a value per position, :math:`P_l`; unless
``hypothetical=True`` the returned map holds :math:`P_l` at the observed letter and zero
elsewhere (:math:`M_{al} = x_{al} P_l`), so the sum over letters *is* the position's
score and maps of different methods are comparable. With ``hypothetical=True`` (where
defined) the map holds a value for every letter. With ``correction=True`` (gradient
methods) the gradient :math:`g` is first replaced by :math:`g_{al} - \frac{1}{A}\sum_b
g_{bl}` (Majdandzic et al. 2023), which removes the component orthogonal to the
simplex of one-hot inputs.

Notation: :math:`f` is the target logit, :math:`x` the one-hot input, :math:`r` a
reference, :math:`g = \partial f/\partial x`.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from grammarbench.attribution import backward_rules, fastism
from grammarbench.attribution.core import Run

# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _captum(name: str):
    """A class of ``captum.attr``, imported on first use: Captum pulls in matplotlib
    and takes a second or more to import, which a job running DeepLIFT-SHAP or ISM (no
    Captum) should not pay."""
    import captum.attr

    return getattr(captum.attr, name)


def _leaf(x: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` that autograd tracks (Captum differentiates with respect to it)."""
    return x.detach().requires_grad_(True)


def _centre(g: torch.Tensor) -> torch.Tensor:
    """Majdandzic et al. (2023) gradient correction: subtract the mean over letters."""
    return g - g.mean(dim=1, keepdim=True)


def _place(x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Per-position values shape=(b, L) at the observed letters of x shape=(b, A, L)."""
    return x.float() * value[:, None, :]


def _gradient_map(run: Run, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Common tail of the gradient-like methods: correction, then projection."""
    if run.options.get("correction"):
        g = _centre(g)
    if run.options.get("hypothetical"):
        return g
    return _place(x, (x.float() * g).sum(dim=1))


def _pairs(x, target, refs):
    """Repeat each example once per reference: rows shape=(b*n, ...)."""
    b, n = refs.shape[:2]
    xr = x.repeat_interleave(n, dim=0)                                      # (b*n, A, L)
    r = refs.reshape(b * n, *refs.shape[2:])                                # (b*n, A, L)
    return xr, r, target.repeat_interleave(n), b, n


def _contributions(run, x, r, mult, b, n):
    """Contributions from multipliers ``mult`` (rows b*n), averaged over references.

    ``x`` holds the examples, shape=(b, A, L), ``r`` their references, shape=(b*n, A, L),
    the n of example i at rows ``i*n`` to ``i*n + n - 1`` (as ``mult``). Returns the map
    (projected or hypothetical) and the per-example sum of the contributions,
    shape=(b,).
    """
    A, L = x.shape[1:]
    if run.options.get("correction"):
        mult = _centre(mult)
    x, r = x.float(), r.float()
    diff = torch.sub(x[:, None], r.reshape(b, n, A, L))                     # (b, n, A, L)
    per_position = diff.mul_(mult.reshape(b, n, A, L)).sum(dim=2).mean(dim=1)  # (b, L)
    if run.options.get("hypothetical"):
        # hypothetical contribution of letter a: m_a - sum_b r_b m_b (Shrikumar et al.,
        # TF-MoDISco), the contribution the position would make were a the letter there
        hyp = mult - (r * mult).sum(dim=1, keepdim=True)                    # (b*n, A, L)
        maps = hyp.reshape(b, n, A, L).mean(dim=1)
    else:
        maps = _place(x, per_position)
    return maps, per_position.sum(dim=1)


def _output_difference(run, x, target, r, t_rep, b, n):
    """f(x) - mean_j f(r_j), shape=(b,)."""
    y_x = run.outputs(x, target)
    y_r = run.outputs(r, t_rep).reshape(b, n).mean(dim=1)
    return y_x - y_r


# ---------------------------------------------------------------------------------------
# gradient methods
# ---------------------------------------------------------------------------------------


def saliency(run: Run, x, codes, lengths, target, refs, index):
    r"""Saliency (Simonyan, Vedaldi & Zisserman 2014).

    :math:`P_l = \max_a |g_{al}|`, the largest absolute gradient over letters at position
    l (Simonyan et al.'s map for multi-channel input). Hypothetical: the gradient
    :math:`g` itself. Completeness: no. The gradient is Captum's ``Saliency`` (abs=False).
    """
    g = _captum("Saliency")(run.logits).attribute(_leaf(x), target=target,
                                       abs=False).float()
    if run.options.get("correction"):
        g = _centre(g)
    if run.options.get("hypothetical"):
        return g, None
    return _place(x, g.abs().amax(dim=1)), None


def grad_x_input(run: Run, x, codes, lengths, target, refs, index):
    r"""Gradient × input (Shrikumar et al. 2016).

    :math:`M_{al} = x_{al} g_{al}`, so :math:`P_l = g_{x_l, l}`, the gradient at the
    observed letter. Hypothetical: :math:`g` (the contribution each letter would make
    against an all-zero reference, to first order). Completeness: only for a linear
    model with zero bias and an all-zero reference. The gradient is Captum's ``Saliency``.
    """
    g = _captum("Saliency")(run.logits).attribute(_leaf(x), target=target,
                                       abs=False).float()
    return _gradient_map(run, x, g), None


def integrated_gradients(run: Run, x, codes, lengths, target, refs, index):
    r"""Integrated Gradients (Sundararajan, Taly & Yan 2017), via Captum.

    :math:`IG_{al} = (x_{al} - r_{al}) \int_0^1 \partial f(r + \alpha(x - r)) / \partial
    x_{al} \, d\alpha`, the integral by Captum's quadrature (``steps`` points,
    ``quadrature`` rule); :math:`P_l = \sum_a IG_{al}`, averaged over the references.
    Completeness: yes, :math:`\sum_l P_l = f(x) - \overline{f(r)}` up to the quadrature
    error, which the convergence delta reports. Hypothetical: :math:`\bar g_{al} -
    \sum_b r_{bl} \bar g_{bl}` with :math:`\bar g` the path-averaged gradient.
    """
    xr, r, t, b, n = _pairs(x, target, refs)
    ig = _captum("IntegratedGradients")(run.logits, multiply_by_inputs=False)
    avg = []
    # Captum splits the steps so that each forward has internal_batch_size rows, but
    # never fewer rows than inputs: hand it at most batch_size (input, reference) pairs
    for lo in range(0, xr.shape[0], run.batch_size):
        sl = slice(lo, lo + run.batch_size)
        avg.append(ig.attribute(_leaf(xr[sl]), baselines=r[sl], target=t[sl],
                                n_steps=run.options["steps"], method=run.options["quadrature"],
                                internal_batch_size=run.batch_size).float())
    avg = torch.cat(avg)                                                    # (b*n, A, L)
    maps, total = _contributions(run, x, r, avg, b, n)
    return maps, total - _output_difference(run, x, target, r, t, b, n)


def _deeplift_slices(b: int, n: int, batch_size: int):
    """Batches of (example, reference) pairs: (examples, references) slices, each of
    whole examples with all their references, or of one example and some of them."""
    if n <= batch_size:
        per = batch_size // n
        for lo in range(0, b, per):
            yield slice(lo, min(b, lo + per)), slice(0, n)
    else:
        for i in range(b):
            for lo in range(0, n, batch_size):
                yield slice(i, i + 1), slice(lo, min(n, lo + batch_size))


def _deeplift_multipliers(run: Run, x, refs, t):
    """DeepLIFT multipliers of each (input, reference) pair, rescale rule.

    Custom, not Captum (see :mod:`.backward_rules`): references per sequence, functional and
    reused nonlinearities, one forward pass of each input shared by its references, and
    autograd over the references' half of the pairs only.

    Parameters
    ----------
    x: torch.Tensor, shape=(b, A, L)
    refs: torch.Tensor, shape=(b, n, A, L)
    t: torch.Tensor, shape=(b,)

    Returns
    -------
    mult: torch.Tensor, shape=(b*n, A, L)
        Rows as ``refs.reshape(b*n, A, L)``.
    y_x: torch.Tensor, shape=(b,)
    y_r: torch.Tensor, shape=(b*n,)
        The target logits of the inputs and of the references (the rules change only
        the backward pass, so these are the model's outputs).
    """
    b, n = refs.shape[:2]
    eps = run.options.get("eps", 1e-6)
    mult, y_x, y_r = [], [], []
    for ex, rf in _deeplift_slices(b, n, run.batch_size):
        xs, ts = x[ex], t[ex]
        m = rf.stop - rf.start
        recorder = backward_rules.Recorder()
        with torch.no_grad(), recorder:
            y = run.output(xs, ts)
        if recorder.modified():  # the model edits activations in place: keep copies
            recorder = backward_rules.Recorder(copy=True)
            with torch.no_grad(), recorder:
                y = run.output(xs, ts)
        if rf.start == 0:
            y_x.append(y)
        mode = backward_rules.DeepLiftMode(recorder.records, eps, m)
        rs = refs[ex, rf].reshape(-1, *refs.shape[2:]).detach().requires_grad_(True)
        with torch.enable_grad():
            with mode:
                yr = run.output(rs, ts.repeat_interleave(m))
            mode.check_complete()
            (g,) = torch.autograd.grad(yr.sum(), rs)
        mult.append(g.float())
        y_r.append(yr.detach())
    # the slices cover the pairs in row order (example-major): concatenating is enough
    return _cat(mult), _cat(y_x), _cat(y_r)


def _cat(parts: list) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def deeplift(run: Run, x, codes, lengths, target, refs, index):
    r"""DeepLIFT with the rescale rule (Shrikumar, Greenside & Kundaje 2017).

    Each nonlinearity's gradient is replaced by :math:`\Delta y / \Delta a` (its output
    difference over its input difference between input and reference; the ordinary
    derivative where :math:`|\Delta a| < \epsilon`), max pooling by Captum's max rule,
    and the chain rule gives multipliers :math:`m`. :math:`C_{al} = (x_{al} -
    r_{al}) m_{al}`, :math:`P_l = \sum_a C_{al}`. One reference per sequence.
    Completeness: yes, :math:`\sum_l P_l = f(x) - f(r)` exactly for networks of linear
    layers, the supported nonlinearities and max pooling (the delta says how far off
    it is). Hypothetical: :math:`m_{al} - \sum_b r_{bl} m_{bl}`.
    """
    b, n = refs.shape[:2]
    mult, y_x, y_r = _deeplift_multipliers(run, x, refs, target)
    maps, total = _contributions(run, x, refs.reshape(b * n, *refs.shape[2:]), mult, b, n)
    diff = (y_x[:, None] - y_r.reshape(b, n)).mean(dim=1)                   # f(x) - mean f(r)
    delta = total - diff
    # float32 rounding leaves ~1e-7 of the output; an unhandled op leaves far more
    tol = 1e-3 * torch.maximum(diff.abs(), diff.abs().mean()) + 1e-5
    if not run.options.get("correction") and bool((delta.abs() > tol).any()):
        warnings.warn(f"DeepLIFT's contributions miss f(x) - f(reference) by up to "
                      f"{float(delta.abs().max()):.3g}: the model uses an operation without "
                      "a DeepLIFT rule (e.g. a product of two activations), which is "
                      "treated as linear", RuntimeWarning, stacklevel=2)
    return maps, delta


def deeplift_shap(run: Run, x, codes, lengths, target, refs, index):
    r"""DeepLIFT-SHAP (Lundberg & Lee 2017; Shrikumar et al. 2017): DeepLIFT averaged over
    ``n_references`` references per sequence (dinucleotide shuffles by default).

    :math:`P_l = \frac{1}{n}\sum_j \sum_a (x_{al} - r^j_{al}) m^j_{al}`. Completeness: yes,
    :math:`\sum_l P_l = f(x) - \frac1n \sum_j f(r^j)`. Hypothetical:
    :math:`\frac1n \sum_j (m^j_{al} - \sum_b r^j_{bl} m^j_{bl})`, as TF-MoDISco expects.
    ``batch_size`` counts (sequence, reference) pairs.
    """
    return deeplift(run, x, codes, lengths, target, refs, index)


def guided_backprop(run: Run, x, codes, lengths, target, refs, index):
    r"""Guided backpropagation (Springenberg et al. 2015).

    The gradient with every ReLU's backward replaced by :math:`\mathrm{relu}(g) \cdot
    [a > 0]`; :math:`P_l` = that modified gradient at the observed letter.
    Hypothetical: the modified gradient. Completeness: no. Custom rather than Captum's
    ``GuidedBackprop`` so that functional ReLUs get the rule too (see :mod:`.backward_rules`).
    """
    g = run.gradient(x, target, mode=backward_rules.ModifiedReLUMode("guided"))
    return _gradient_map(run, x, g), None


def deconvolution(run: Run, x, codes, lengths, target, refs, index):
    r"""Deconvolution (Zeiler & Fergus 2014).

    The gradient with every ReLU's backward replaced by :math:`\mathrm{relu}(g)`;
    :math:`P_l` = that at the observed letter. Hypothetical: the modified gradient.
    Completeness: no. Custom rather than Captum's ``Deconvolution`` for functional ReLUs.
    """
    g = run.gradient(x, target, mode=backward_rules.ModifiedReLUMode("deconv"))
    return _gradient_map(run, x, g), None


def _noise_seeds(random_state, index) -> np.ndarray:
    """One uint64 seed per example for SmoothGrad, from (random_state, index) only."""
    # imported here: numba's import (0.2 s) is for the methods that draw random numbers
    from grammarbench.sequences import kernels as seq

    key = None if random_state is None else np.random.SeedSequence([int(random_state), 0x5347])
    return seq.shuffle_seeds(key, len(index), 1, index=np.asarray(index))[:, 0]


def smoothgrad(run: Run, x, codes, lengths, target, refs, index):
    r"""SmoothGrad (Smilkov et al. 2017).

    :math:`\bar g = \frac1S \sum_{s=1}^S g(x + \epsilon_s)`, :math:`\epsilon_s \sim
    N(0, \sigma^2)` inside the sequence (padding stays zero), :math:`\sigma` = ``noise``
    × (max − min of the input) = ``noise`` for one-hot input; :math:`P_l = \bar g` at the
    observed letter (SmoothGrad × input). Hypothetical: :math:`\bar g`. Completeness: no.
    Custom rather than Captum's ``NoiseTunnel``, which draws the noise from the global
    RNG one batch at a time: here example i's noise depends only on (random_state,
    index[i]), so the maps do not depend on ``batch_size``.
    """
    b, A, L = x.shape
    S = run.options["n_samples"]
    sigma = run.options["noise"]
    inside = torch.as_tensor(np.arange(L) < lengths[:, None], device=run.device)  # (b, L)
    seeds = _noise_seeds(run.random_state, index)
    mean = torch.zeros(b, A, L, device=run.device)
    for i in range(b):
        gen = torch.Generator(device=run.device)
        gen.manual_seed(int(seeds[i]) & 0x7FFF_FFFF_FFFF_FFFF)
        noise = torch.randn((S, A, L), generator=gen, device=run.device) * sigma
        noisy = (x[i:i + 1].float() + noise * inside[i]).to(run.dtype)      # (S, A, L)
        t = target[i:i + 1].expand(S)
        for lo in range(0, S, run.batch_size):
            mean[i] += run.gradient(noisy[lo:lo + run.batch_size],
                                    t[lo:lo + run.batch_size]).sum(dim=0)
    return _gradient_map(run, x, mean / S), None


# ---------------------------------------------------------------------------------------
# GradCAM
# ---------------------------------------------------------------------------------------


class _Stop(Exception):
    """Raised by a forward hook to end a forward pass early."""


_FEATURE_MAP_FOLLOWERS = (torch.nn.BatchNorm1d, torch.nn.ReLU, torch.nn.ELU, torch.nn.GELU,
                          torch.nn.SiLU, torch.nn.LeakyReLU, torch.nn.Softplus,
                          torch.nn.Sigmoid, torch.nn.Tanh)


def default_gradcam_layer(model: torch.nn.Module) -> str:
    """GradCAM's default layer: the last ``nn.Conv1d``'s rectified feature map.

    That is the last ``Conv1d`` in ``model.named_modules()`` order, or the batch norm
    and activation modules listed right after it (the last of them), as GradCAM uses
    the rectified feature maps of the last convolutional layer (Selvaraju et al. 2017).
    """
    items = list(model.named_modules())
    convs = [i for i, (_, mod) in enumerate(items) if isinstance(mod, torch.nn.Conv1d)]
    if not convs:
        raise ValueError("gradcam needs a convolutional layer (nn.Conv1d) and the model "
                         "has none")
    i = convs[-1]
    while i + 1 < len(items) and isinstance(items[i + 1][1], _FEATURE_MAP_FOLLOWERS):
        i += 1
    return items[i][0]


def _layer(model: torch.nn.Module, name: str) -> torch.nn.Module:
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        convs = [n for n, m in modules.items() if isinstance(m, torch.nn.Conv1d)]
        raise ValueError(f"layer {name!r} does not exist in the model; its convolutional "
                         f"layers are: {', '.join(convs) or '(none)'}")
    return modules[name]


_RF_CACHE: dict = {}


def receptive_fields(run: Run, layer: torch.nn.Module, L: int) -> torch.Tensor:
    """Which input positions each position of ``layer``'s output sees.

    Found by propagating NaN: sequence p of a batch of L random sequences has a NaN
    column at position p, and output position j of the layer sees p exactly when its
    activations on sequence p are NaN (convolution, pooling, batch norm and the
    activations all propagate NaN, even through zero weights). This needs no
    knowledge of the architecture, and handles padding, strides, dilation and
    branches.

    Returns
    -------
    field: torch.Tensor, dtype=bool, shape=(L_layer, L), on the run's device
    """
    key = (id(run.model), id(layer), L, run.A, str(run.device))
    if key in _RF_CACHE:
        return _RF_CACHE[key]
    captured = []

    def hook(module, inputs, output):
        captured.append(torch.isnan(output).any(dim=1))                    # (b, L_layer)
        raise _Stop

    handle = layer.register_forward_hook(hook)
    rows = []
    try:
        gen = torch.Generator().manual_seed(0)
        base = torch.randint(0, run.A, (L,), generator=gen)
        x0 = torch.nn.functional.one_hot(base, run.A).T.float().to(run.device)  # (A, L)
        step = max(1, min(L, run.batch_size))
        for lo in range(0, L, step):
            pos = torch.arange(lo, min(L, lo + step), device=run.device)
            xb = x0.expand(len(pos), -1, -1).clone()
            xb[torch.arange(len(pos)), :, pos] = float("nan")
            captured.clear()
            try:
                with torch.no_grad():
                    run.logits(xb.to(run.dtype))
            except _Stop:
                pass
            if not captured:
                raise ValueError("the GradCAM layer was not called in the forward pass")
            rows.append(captured[0])
    finally:
        handle.remove()
    field = torch.cat(rows).T.contiguous()                                  # (L_layer, L)
    _RF_CACHE.clear()  # keep one entry: the cache is for the batches of one call
    _RF_CACHE[key] = field
    return field


def gradcam(run: Run, x, codes, lengths, target, refs, index):
    r"""GradCAM (Selvaraju et al. 2017), at a convolutional layer, via Captum.

    With :math:`A^c_j` the layer's activation of channel c at layer position j,
    :math:`\alpha_c = \frac{1}{L'} \sum_j \partial f / \partial A^c_j` (the gradient
    averaged over positions) and :math:`G_j = \mathrm{relu}(\sum_c \alpha_c A^c_j)`
    (Captum's ``LayerGradCam`` with ``relu_attributions=True``). Mapped back to letters
    through the receptive field: :math:`P_l` = the mean of :math:`G_j` over the layer
    positions j whose receptive field contains l (:func:`receptive_fields`).
    ``layer``: a module name from ``model.named_modules()``; default the last
    ``Conv1d``'s rectified feature map (:func:`default_gradcam_layer`). Hypothetical: no.
    Completeness: no.
    """
    name = run.options.get("layer") or default_gradcam_layer(run.model)
    layer = _layer(run.model, name)
    cam = _captum("LayerGradCam")(run.logits, layer).attribute(_leaf(x), target=target,
                                                     relu_attributions=True)
    if not isinstance(cam, torch.Tensor) or cam.ndim != 3:
        raise ValueError(f"gradcam layer {name!r} must output (N, channels, positions); "
                         "pick a convolutional layer")
    field = receptive_fields(run, layer, x.shape[2]).float()                # (L', L)
    if field.shape[0] != cam.shape[2]:
        raise ValueError(f"gradcam layer {name!r} is called more than once per forward "
                         "pass; pick a layer used once")
    cover = field.sum(dim=0).clamp(min=1)                                   # (L,)
    per_position = (cam[:, 0].float() @ field) / cover                      # (b, L)
    return _place(x, per_position), None


# ---------------------------------------------------------------------------------------
# perturbation methods
# ---------------------------------------------------------------------------------------


def occlusion(run: Run, x, codes, lengths, target, refs, index):
    r"""Occlusion (Zeiler & Fergus 2014), via Captum's ``Occlusion``.

    Windows of ``window`` positions (all letters), moved by ``stride``, are replaced by
    the reference; :math:`P_l` = the mean, over the windows w containing l, of
    :math:`f(x) - f(x_{w \leftarrow r})`, averaged over the references. Hypothetical:
    no. Completeness: no.
    """
    xr, r, t, b, n = _pairs(x, target, refs)
    A, L = x.shape[1:]
    per_eval = max(1, run.batch_size // xr.shape[0])
    occ = _captum("Occlusion")(run.logits).attribute(
        xr, sliding_window_shapes=(A, run.options["window"]),
        strides=(A, run.options["stride"]), baselines=r, target=t,
        perturbations_per_eval=per_eval).float()                           # (b*n, A, L)
    per_position = occ.mean(dim=1).reshape(b, n, L).mean(dim=1)
    return _place(x, per_position), None


def _edits(codes: np.ndarray, lengths: np.ndarray, A: int):
    """Every single-letter substitution: example, position, letter; shape=(E,) each.

    A known letter gets A-1 substitutions (the identity edit changes nothing), an
    unknown one all A; padding none.
    """
    b, L = codes.shape
    inside = np.arange(L) < lengths[:, None]                                # (b, L)
    letters = np.arange(A, dtype=np.uint8)
    edit = inside[:, :, None] & (codes[:, :, None] != letters)              # (b, L, A)
    ex, pos, let = np.nonzero(edit)
    return ex, pos, let


def ism(run: Run, x, codes, lengths, target, refs, index):
    r"""In-silico mutagenesis: every single-letter substitution (batched).

    :math:`\Delta_{al} = f(x^{l \leftarrow a}) - f(x)`, mean-centred across letters:
    :math:`ISM_{al} = \Delta_{al} - \frac1A \sum_b \Delta_{bl}`. :math:`P_l =
    ISM_{x_l,l} = -\frac1A\sum_b \Delta_{bl}` (minus the mean effect of mutating l).
    Hypothetical: :math:`ISM` for every letter. Completeness: no. Custom: no library
    batches substitutions across sequences; with ``fast=True`` (default) the changed
    activations are computed only where a substitution can reach (fastISM, Nair et al.
    2022; see :mod:`.fastism`), falling back to full forward passes.
    """
    b, A, L = x.shape
    ex, pos, let = _edits(codes, lengths, A)
    predicted = None
    if run.options.get("fast", True) and len(ex):
        predicted = fastism.predict_edits(run, x, target, ex, pos, let)
    if predicted is None:
        predicted = run.edited_outputs(x, target, ex, pos, let), run.outputs(x, target)
    y, y0 = predicted                                                       # (E,), (b,)
    ex_t = torch.as_tensor(ex, device=run.device)
    delta = torch.zeros(b, A, L, device=run.device)
    delta[ex_t, torch.as_tensor(let, device=run.device).long(),
          torch.as_tensor(pos, device=run.device)] = y - y0[ex_t]
    inside = torch.as_tensor(np.arange(L) < lengths[:, None], device=run.device)
    effect = (delta - delta.mean(dim=1, keepdim=True)) * inside[:, None, :]
    if run.options.get("hypothetical"):
        return effect, None
    return _place(x, (x.float() * effect).sum(dim=1)), None


def gkmexplain(run: Run, x, codes, lengths, target, refs, index):
    r"""GkmExplain (Shrikumar, Prakash & Kundaje 2019) of a gapped k-mer SVM.

    The decision value :math:`f(x) = b + \sum_j y_j \alpha_j K(x, z_j)` is a sum over
    window pairs that match in all but :math:`m` positions; each pair's kernel weight is
    split equally over its :math:`l - m` matching positions of :math:`x` (for the linear
    tier, each gapped k-mer's weight over its :math:`k` positions). :math:`P_l` is the sum
    of the shares at position :math:`l`. Completeness: yes, :math:`\sum_l P_l = f(x) - b`
    (for the RBF kernels :math:`b` also holds :math:`e^{-\gamma}\sum_j y_j\alpha_j`).
    Custom: only gkm-SVMs have it (:mod:`grammarbench.models.gkmsvm.explain`).
    """
    from grammarbench.models.gkmsvm import GkmSvmModule, position_scores

    if not isinstance(run.model, GkmSvmModule):
        raise ValueError("method 'gkmexplain' explains gapped k-mer SVMs only")
    svm = run.model.svm
    target_np = target.detach().cpu().numpy().astype(np.int64)
    scores = position_scores(svm, codes, target_np, batch_size=run.batch_size)
    scores = scores * (np.arange(scores.shape[1]) < lengths[:, None])
    maps = _place(x, torch.as_tensor(scores, dtype=torch.float32, device=x.device))
    decision = run.outputs(x, target).float()
    offset = torch.as_tensor(svm.attribution_offset()[target_np], dtype=torch.float32, device=x.device)
    return maps, maps.sum(dim=(1, 2)) - (decision - offset)


def _sis_score(run: Run, xs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """SIS's model score of rows: softmax or sigmoid probability, or the logit."""
    out = []
    kind = run.options["output"]
    with torch.no_grad():
        for lo in range(0, xs.shape[0], run.batch_size):
            z = run.logits(xs[lo:lo + run.batch_size])
            tt = t[lo:lo + run.batch_size]
            if kind == "softmax":
                z = torch.softmax(z, dim=1)
            elif kind == "sigmoid":
                z = torch.sigmoid(z)
            out.append(z.gather(1, tt[:, None])[:, 0])
    return torch.cat(out) if out else xs.new_zeros(0, dtype=torch.float32)


def sis(run: Run, x, codes, lengths, target, refs, index):
    r"""Sufficient input subsets (Carter, Mueller, Jain & Gifford 2019), as seqgra runs it.

    A position is masked by replacing its column with the reference (``uniform`` by
    default, as seqgra). Backward selection masks, one at a time, the position whose
    masking leaves the highest score; the SIS is the shortest tail of that order which
    alone (everything else masked) keeps the score :math:`\ge` ``threshold``. The
    collection repeats this with the earlier SISes masked, while the remaining input
    still scores :math:`\ge` ``threshold`` (at most ``max_sis`` subsets). The score is
    the target's ``softmax`` probability by default (``sigmoid`` for multi-label, or the
    raw ``logit``). :math:`P_l` = 1 if l is in a SIS of the collection, else 0.
    Hypothetical: no. Completeness: no. Cost: O(L^2) forward passes per subset.
    """
    b, A, L = x.shape
    ref = refs[:, 0].to(x.dtype)                                            # (b, A, L)
    tau = run.options["threshold"]
    inside = np.arange(L) < lengths[:, None]
    selected = torch.zeros(b, L, dtype=torch.bool, device=run.device)
    masked = torch.zeros(b, L, dtype=torch.bool, device=run.device)         # earlier SISes
    dev = run.device

    def apply(mask_rows, rows_ex):
        return torch.where(mask_rows[:, None, :], ref[rows_ex], x[rows_ex])

    active = np.ones(b, dtype=bool)
    for _ in range(run.options["max_sis"]):
        all_ex = torch.arange(b, device=dev)
        score = _sis_score(run, apply(masked, all_ex), target).cpu().numpy()
        active &= score >= tau
        ids = np.nonzero(active)[0]
        if not len(ids):
            break
        # backward selection, all active examples in lockstep
        avail = [list(np.nonzero(inside[i] & ~masked[i].cpu().numpy())[0]) for i in ids]
        cur = masked[torch.as_tensor(ids, device=dev)].clone()              # (k, L)
        order = [[] for _ in ids]
        while any(avail):
            rex, rpos = [], []
            for k, cand in enumerate(avail):
                rex += [k] * len(cand)
                rpos += cand
            rex_t = torch.as_tensor(rex, device=dev)
            rows = cur[rex_t].clone()
            rows[torch.arange(len(rex), device=dev), torch.as_tensor(rpos, device=dev)] = True
            ex_global = torch.as_tensor(ids, device=dev)[rex_t]
            s = _sis_score(run, apply(rows, ex_global), target[ex_global]).cpu().numpy()
            lo = 0
            for k, cand in enumerate(avail):
                if not cand:
                    continue
                best = cand[int(np.argmax(s[lo:lo + len(cand)]))]
                lo += len(cand)
                order[k].append(best)
                cand.remove(best)
                cur[k, best] = True
        # the shortest tail of each order that is sufficient on its own
        for k, i in enumerate(ids):
            tail = order[k][::-1]
            n = len(tail)
            keep = torch.ones(n, L, dtype=torch.bool, device=dev)           # True = masked
            tri = torch.tril(torch.ones(n, n, dtype=torch.bool, device=dev))  # row m keeps m+1
            keep[:, torch.as_tensor(tail, device=dev)] = ~tri
            ex_rows = torch.full((n,), int(i), device=dev)
            s = _sis_score(run, apply(keep, ex_rows), target[ex_rows]).cpu().numpy()
            ok = np.nonzero(s >= tau)[0]
            size = int(ok[0]) + 1 if len(ok) else n
            subset = torch.as_tensor(tail[:size], device=dev)
            selected[i, subset] = True
            masked[i, subset] = True
    return _place(x, selected.float()), None
