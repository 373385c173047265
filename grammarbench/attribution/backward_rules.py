# backward_rules.py
# grammarbench.attribution: modified backward rules (DeepLIFT rescale, guided backprop,
# deconvolution) applied to every nonlinearity a model calls.

r"""Backward rules that replace the gradient of a model's nonlinearities.

Why not Captum's ``DeepLift`` / ``GuidedBackprop`` / ``Deconvolution``: they attach
hooks to ``nn.Module`` instances of known classes. A nonlinearity called as a function
(``F.relu(x)``, ``torch.exp(x)``, ``x.amax(-1)``) has no module to hook, so it silently
keeps its ordinary gradient and the attributions are wrong (DeepLIFT loses
completeness). Captum's DeepLift also stores the module's input and output on the
module itself, so a module used twice in one forward pass (a reused ``nn.ReLU``)
overwrites its first call's values; and its DeepLiftShap shares one set of baselines
across the whole batch, where we need references per sequence.

Here the rules are applied with a :class:`torch.overrides.TorchFunctionMode`, which
sees every torch function call made during the forward pass, whether it comes from a
module or not. Each call to a known nonlinearity is replaced by a custom autograd
``Function`` whose forward is the nonlinearity and whose backward is the rule. Every
call gets its own ``Function`` node, so reused modules are no problem.

DeepLIFT needs each nonlinearity's input and output on the input and on the reference.
Instead of Captum's and tangermeme's ``cat([x, reference])`` batch, each input goes
through the model once, without autograd, while :class:`Recorder` records every
nonlinearity's input and output in call order; then its references go through with
:class:`DeepLiftMode`, which pairs the k-th nonlinearity call with the k-th recorded one
(broadcast over the input's references) and keeps the references' own forward values.
Linear operations have the same Jacobian wherever they are evaluated, so the gradient
of the output with respect to the references, with the rules in place, is the DeepLIFT
multiplier. An input's forward pass is shared by all its references (1/n of the
work), and the forward and backward passes with autograd run over one half of the
pairs, not both: what a gradient of the batch costs, plus 1/n of a forward pass.
An operation that is neither linear nor ruled (a product of two activations, a layer
norm) is differentiated at the reference, not at the input as Captum does; either
way DeepLIFT's completeness fails and the convergence delta shows it.

Rules: element-wise nonlinearities (ReLU family, ELU, GELU, SiLU, softplus, sigmoid,
tanh, exp, ...) get the rescale rule, :math:`m = \Delta y / \Delta a` (the ordinary
derivative where :math:`|\Delta a| < \epsilon`; for ReLU, whose ratio is bounded, only
where :math:`\Delta a = 0`); max pooling and max reductions get Captum's max rule (the
output difference routed to the argmax of the input and of the reference). Linear
operations (convolutions, dense layers, batch norm in eval mode, average pooling,
additions) keep their gradient, which is their exact multiplier. Recurrent layers,
attention and softmax inside the network raise :class:`UnsupportedModelError`; a
product of two activations (gating) has no rule and shows up as a convergence delta.
Known limitation: a model that calls an in-place nonlinearity method and ignores its
return value (``h.relu_(); return h``) is not supported (its result is computed out of
place).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

Tensor = torch.Tensor

# ---------------------------------------------------------------------------------------
# Tables of functions
# ---------------------------------------------------------------------------------------

#: Element-wise nonlinearities (DeepLIFT rescale rule). In-place variants map to the
#: out-of-place function; ``inplace=`` keywords are dropped.
_ELEMENTWISE_FNS = [
    F.relu, torch.relu, Tensor.relu, F.relu6, F.elu, F.selu, F.celu, F.leaky_relu,
    F.rrelu, F.gelu, F.silu, F.mish, F.softplus, F.sigmoid, torch.sigmoid, Tensor.sigmoid,
    F.tanh, torch.tanh, Tensor.tanh, torch.exp, Tensor.exp, F.hardtanh, F.softsign,
    F.logsigmoid, F.hardsigmoid, F.hardswish, F.tanhshrink, F.softshrink, F.hardshrink,
    F.threshold, torch.special.expit, torch.nn.functional.elu,
]
INPLACE_TO_OUTOFPLACE = {
    F.relu_: F.relu, torch.relu_: torch.relu, Tensor.relu_: Tensor.relu,
    F.elu_: F.elu, F.leaky_relu_: F.leaky_relu, F.rrelu_: F.rrelu, F.threshold_: F.threshold,
    F.hardtanh_: F.hardtanh, torch.sigmoid_: torch.sigmoid, Tensor.sigmoid_: Tensor.sigmoid,
    torch.tanh_: torch.tanh, Tensor.tanh_: Tensor.tanh, torch.exp_: torch.exp,
    Tensor.exp_: Tensor.exp, F.celu_: F.celu, F.selu_: F.selu,
}
ELEMENTWISE = frozenset(_ELEMENTWISE_FNS) | frozenset(INPLACE_TO_OUTOFPLACE)

#: ReLUs, for guided backpropagation and deconvolution.
_RELU_FNS = frozenset({F.relu, torch.relu, Tensor.relu, F.relu_, torch.relu_, Tensor.relu_})

#: Max-like selections (DeepLIFT max rule, as Captum's ``maxpool``): pooling, and
#: ``max``/``amax`` reductions over a dimension (global max pooling written by hand).
MAXLIKE = frozenset({
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d,
    F.adaptive_max_pool3d, torch.max_pool1d, torch.max_pool2d, torch.amax, Tensor.amax,
    torch.max, Tensor.max,
})

#: Calls inside which no rescale rule is defined (gated recurrences, attention).
_UNSUPPORTED_NAMES = frozenset({
    "lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell",
    "rnn_relu_cell", "scaled_dot_product_attention", "multi_head_attention_forward",
    "softmax", "log_softmax", "_softmax", "glu",
})


class UnsupportedModelError(ValueError):
    """A model uses an operation that a backward rule cannot handle."""


def _outofplace(func, kwargs):
    func = INPLACE_TO_OUTOFPLACE.get(func, func)
    if kwargs and "inplace" in kwargs:
        kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    return func, kwargs


def _first_tensor(args):
    return args[0] if args and isinstance(args[0], Tensor) else None


def _is_maxlike_call(func, args, kwargs) -> bool:
    """``torch.max(x, y)`` (two tensors) is an element-wise max, not a selection."""
    if func in (torch.max, Tensor.max):
        if len(args) > 1 and isinstance(args[1], Tensor):
            return False
        if kwargs and isinstance(kwargs.get("other"), Tensor):
            return False
    return True


def _values(result):
    """The values tensor of a max-like op's result (a tensor or a (values, indices) tuple)."""
    return result if isinstance(result, Tensor) else result[0]


def _rebuild(result, values):
    """Put ``values`` back where they came from in ``result``."""
    if isinstance(result, Tensor):
        return values
    rest = tuple(result[1:])
    try:
        return type(result)((values, *rest))
    except TypeError:
        return (values, *rest)


# ---------------------------------------------------------------------------------------
# DeepLIFT rules (Shrikumar et al. 2017): rescale for element-wise ops, Captum's max rule
# ---------------------------------------------------------------------------------------


def _local_vjp(fn, a: Tensor, g: Tensor) -> Tensor:
    """Ordinary gradient of ``fn`` at ``a`` times ``g`` (vector-Jacobian product)."""
    with torch.enable_grad():
        t = a.detach().requires_grad_(True)
        y = fn(t)
        (out,) = torch.autograd.grad(y, t, g)
    return out


def _pairs_view(t: Tensor, k: int, m: int) -> Tensor:
    """Rows ``k*m`` -> shape=(k, m, ...): the ``m`` reference rows of each of ``k`` inputs."""
    return t.reshape(k, m, *t.shape[1:])


def _input_rows(t: Tensor, m: int) -> Tensor:
    """An input's tensor, rows ``k``, repeated for its ``m`` references: rows ``k*m``."""
    return t if m == 1 else t.repeat_interleave(m, dim=0)


class _Rescale(torch.autograd.Function):
    """y = fn(a_ref) on the references; backward multiplies by (fn(a) - fn(a_ref)) / (a -
    a_ref) (rescale rule), with ``a`` the input's value paired with each reference row.

    ``a_ref`` has ``k*m`` rows, the ``m`` references of each of the ``k`` inputs whose
    values ``a`` and ``y = fn(a)`` (``k`` rows) were recorded before; the input's rows
    are broadcast, never repeated. Where ``|a - a_ref| < eps`` the ordinary derivative
    ``fn'(a)`` is used, as in Captum and tangermeme (for ReLU, whose ratio is bounded,
    only where ``a == a_ref``). The multiplier is computed in the forward pass and is all
    that is kept for the backward pass (one tensor instead of four).
    """

    @staticmethod
    def forward(ctx, a_ref, a, y, fn, eps, relu, m):
        y_ref = fn(a_ref)
        k = a.shape[0]
        # in place where possible: these tensors are as large as the activations, and
        # fresh allocations of that size cost more than the arithmetic on a CPU
        da = torch.sub(a.unsqueeze(1), _pairs_view(a_ref, k, m))            # (k, m, ...)
        mult = torch.sub(y.unsqueeze(1), _pairs_view(y_ref, k, m)).div_(da)  # inf/nan at da == 0
        if relu:
            # (relu(a) - relu(r)) / (a - r) lies in [0, 1] for any a != r, so only a == r
            # needs the derivative (a > 0)
            small = da == 0
            if bool(small.any()):
                mult = torch.where(small, (a > 0).to(mult.dtype).unsqueeze(1), mult)
        else:
            small = da.abs_() < eps
            if bool(small.any()):
                local = _local_vjp(fn, a, torch.ones_like(a))    # element-wise: f'(a)
                mult = torch.where(small, local.unsqueeze(1), mult)
        ctx.save_for_backward(mult.reshape(a_ref.shape))
        return y_ref

    @staticmethod
    def backward(ctx, g):
        (mult,) = ctx.saved_tensors
        return g * mult, None, None, None, None, None, None


class _MaxPool1dRule(torch.autograd.Function):
    """``F.max_pool1d`` on the references with Captum's DeepLIFT max rule (see
    :class:`_MaxRule`); rows as in :class:`_Rescale`.

    Routed with the pooling indices of the input (``ix``, recorded) and of the reference
    (``ir``) and computed at the size of the pooled output: at each routed position p,
    ``grad[p] = (sum of g * win over the windows routed to p) / (a[p] - a_ref[p])``, or
    the ordinary gradient (g routed by ``ix``) where ``a[p] == a_ref[p]``.
    """

    @staticmethod
    def forward(ctx, a_ref, a, y, ix, pool, eps, m):
        y_ref, ir = pool(a_ref)
        k, C = a.shape[:2]
        af = a.reshape(k, 1, C, -1).expand(k, m, C, -1)                    # (k, m, C, L)
        rf = a_ref.reshape(k, m, C, -1)
        ix4 = ix.reshape(k, 1, C, -1).expand(k, m, C, -1)                  # (k, m, C, L')
        ir4 = ir.reshape(k, m, C, -1)
        y4 = y.reshape(k, 1, C, -1)
        yr4 = y_ref.reshape(k, m, C, -1)
        top = torch.maximum(y4, yr4)
        # the input at its own argmax is y, the reference at its own argmax y_ref
        d_ix = y4 - rf.gather(3, ix4)
        d_ir = af.gather(3, ir4) - yr4
        # a routed share never exceeds the position's own change, so the ratio is
        # bounded and only an exact zero needs the fallback (as tangermeme); the
        # divisions by zero there are discarded by the where
        small_x = d_ix == 0
        small_r = d_ir == 0
        # per window: what goes to the input's argmax and to the reference's argmax
        to_x = torch.where(small_x, 1.0, (top - yr4).div_(d_ix))
        to_r = torch.where(small_r, 0.0, (y4 - top).div_(d_ir))
        shape = y_ref.shape
        ctx.save_for_backward(_input_rows(ix, m), ir, to_x.reshape(shape), to_r.reshape(shape))
        ctx.shape = a_ref.shape
        ctx.mark_non_differentiable(ir)
        return y_ref, ir

    @staticmethod
    def backward(ctx, g, _):
        ix, ir, to_x, to_r = ctx.saved_tensors
        shape = ctx.shape
        flat = (shape[0], shape[1], -1)
        grad = g.new_zeros(flat[:2] + (int(np.prod(shape[2:])),))
        grad.scatter_add_(2, ix.reshape(flat), (g * to_x).reshape(flat))
        grad.scatter_add_(2, ir.reshape(flat), (g * to_r).reshape(flat))
        return grad.view(shape), None, None, None, None, None, None


class _MaxRule(torch.autograd.Function):
    """y_ref = pool(a_ref) on the references; Captum's DeepLIFT rule for max pooling.

    The output difference is split into the part won by the input (routed to the input's
    argmax) and the part won by the reference (routed to the reference's argmax); the
    sum, divided by the input difference, is the multiplier (the ordinary gradient where
    the input does not change at all). Completeness holds exactly. ``a`` and ``y``, the
    input's values, come with as many rows as ``a_ref``.
    """

    @staticmethod
    def forward(ctx, a_ref, y_ref, a, y, fn, eps):
        ctx.save_for_backward(a, y, a_ref, y_ref)
        ctx.fn = fn
        ctx.eps = eps
        # a copy, so that a model that edits the output in place (``out += skip``) does
        # not change the saved ``y_ref``
        return y_ref.clone()

    @staticmethod
    def backward(ctx, g):
        a, y, a_ref, y_ref = ctx.saved_tensors
        top = torch.maximum(y, y_ref)
        routed = _local_vjp(ctx.fn, a, g * (top - y_ref)) + _local_vjp(ctx.fn, a_ref, g * (y - top))
        da = a - a_ref
        small = da == 0  # bounded ratio: only an exact zero needs the fallback
        grad = routed / torch.where(small, torch.ones_like(da), da)
        if bool(small.any()):
            grad = torch.where(small, _local_vjp(ctx.fn, a, g), grad)
        return grad, None, None, None, None, None


def _pool_call(rest, kwargs):
    """``F.max_pool1d`` arguments -> (whether indices were asked for, a pooling function
    that always returns (values, indices))."""
    wants = (len(rest) > 5 and rest[5]) or kwargs.get("return_indices", False)
    opts = {k: v for k, v in kwargs.items() if k != "return_indices"}

    def pool(t, _rest=rest[:5], _opts=opts):
        return F.max_pool1d(t, *_rest, **_opts, return_indices=True)

    return wants, pool


class Recorder(TorchFunctionMode):
    """Run the inputs: record each nonlinearity's (input, output) in call order.

    The recorded tensors are the model's own (no copies); :meth:`modified` tells whether
    the model changed one in place afterwards (``out += skip``), in which case the
    inputs are run again with ``copy=True``.
    """

    def __init__(self, copy: bool = False):
        super().__init__()
        self.records: list[tuple] = []
        self.copy = copy

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", None) in _UNSUPPORTED_NAMES:
            raise UnsupportedModelError(
                f"DeepLIFT has no rule for {func.__name__!r} (recurrent layers, attention "
                "and softmax inside the network are not supported); choose another method")
        if func in ELEMENTWISE or (func in MAXLIKE and _is_maxlike_call(func, args, kwargs)):
            func, kwargs = _outofplace(func, kwargs)
            a = _first_tensor(args)
            if a is not None and a.is_floating_point():
                extra = None
                if func is F.max_pool1d and a.ndim == 3:
                    wants, pool = _pool_call(args[1:], kwargs)
                    y, extra = pool(a)
                    result = (y, extra) if wants else y
                else:
                    result = func(*args, **kwargs)
                y = _values(result)
                if self.copy:
                    a, y = a.clone(), y.clone()
                self.records.append((func, a, y, extra, a._version, y._version))
                return result
        return func(*args, **kwargs)

    def modified(self) -> bool:
        return any(a._version != va or y._version != vy
                   for _, a, y, _, va, vy in self.records)


class DeepLiftMode(TorchFunctionMode):
    """Run the references: swap each nonlinearity for its DeepLIFT rule, paired by call
    order with the input's recorded call (:class:`Recorder`).

    The forward pass computes the references' own activations (the rules change only
    the backward pass), so the gradient of the output with respect to the references is
    the DeepLIFT multiplier: linear operations have the same Jacobian at the input and
    at the reference. The batch holds ``m`` references per recorded input, the ``m``
    rows of input i at rows ``i*m`` to ``i*m + m - 1``.
    """

    def __init__(self, records: list[tuple], eps: float = 1e-6, m: int = 1):
        super().__init__()
        self.records = records
        self.k = 0
        self.eps = eps
        self.m = m

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        elementwise = func in ELEMENTWISE
        if elementwise or (func in MAXLIKE and _is_maxlike_call(func, args, kwargs)):
            func, kwargs = _outofplace(func, kwargs)
            a_ref = _first_tensor(args)
            if a_ref is not None and a_ref.is_floating_point():
                if self.k >= len(self.records):
                    raise UnsupportedModelError(
                        "the model called more nonlinearities on the reference than on the "
                        "input (its forward pass depends on the data)")
                xfunc, a, y, extra = self.records[self.k][:4]
                self.k += 1
                m = self.m
                if (xfunc is not func or a.shape[1:] != a_ref.shape[1:]
                        or a.shape[0] * m != a_ref.shape[0]):
                    raise UnsupportedModelError(
                        "the model called different nonlinearities on the input and on the "
                        "reference (its forward pass depends on the data)")
                rest = args[1:]

                def fn(t, _func=func, _rest=rest, _kwargs=kwargs):
                    return _values(_func(t, *_rest, **_kwargs))

                if elementwise:
                    return _Rescale.apply(a_ref, a, y, fn, self.eps, func in _RELU_FNS, m)
                if func is F.max_pool1d and a_ref.ndim == 3:
                    wants, pool = _pool_call(rest, kwargs)
                    y_ref, ir = _MaxPool1dRule.apply(a_ref, a, y, extra, pool, self.eps, m)
                    return (y_ref, ir) if wants else y_ref
                with torch.no_grad():
                    result = func(a_ref.detach(), *rest, **kwargs)
                y_ref = _values(result)
                return _rebuild(result, _MaxRule.apply(a_ref, y_ref, _input_rows(a, m),
                                                       _input_rows(y, m), fn, self.eps))
        return func(*args, **kwargs)

    def check_complete(self):
        if self.k != len(self.records):
            raise UnsupportedModelError(
                "the model called fewer nonlinearities on the reference than on the input "
                "(its forward pass depends on the data)")


# ---------------------------------------------------------------------------------------
# Guided backpropagation (Springenberg et al. 2015) and deconvolution (Zeiler & Fergus 2014)
# ---------------------------------------------------------------------------------------


class _GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes ``relu(g) * (a > 0)`` (guided backpropagation)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g.clamp(min=0) * (a > 0).to(g.dtype)


class _DeconvReLU(torch.autograd.Function):
    """ReLU whose backward passes ``relu(g)`` (deconvolution)."""

    @staticmethod
    def forward(ctx, a):
        return a.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        return g.clamp(min=0)


class ModifiedReLUMode(TorchFunctionMode):
    """Swap every ReLU call (module or functional) for the guided or deconvolution ReLU."""

    def __init__(self, rule: str):
        super().__init__()
        self.fn = {"guided": _GuidedReLU, "deconv": _DeconvReLU}[rule]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELU_FNS:
            a = _first_tensor(args)
            if a is not None and a.is_floating_point():
                return self.fn.apply(a)
        return func(*args, **kwargs)
