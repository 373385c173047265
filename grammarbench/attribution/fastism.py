# fastism.py
# grammarbench.attribution: fast in-silico mutagenesis, recomputing only what a
# substitution can change (the idea of fastISM, Nair et al. 2022).

"""Fast in-silico mutagenesis.

A single-letter substitution at position p changes, in each convolutional layer, only
the positions whose receptive field contains p. fastISM (Nair, Shrikumar, Schreiber &
Kundaje, Bioinformatics 2022) caches every layer's activations on the unedited
sequence and recomputes, for each substitution, only that window; tangermeme (>= 1.6)
does the same through ``torch.export``. Here the model is traced with ``torch.fx`` and
its nodes are sorted into:

- static: independent of the input (parameters, constants): taken from the cache;
- local: each output position depends on a bounded window of input positions
  (``Conv1d``, max/average pooling, batch norm in eval mode, dropout in eval mode,
  element-wise activations, arithmetic with numbers, sums and products of two local
  tensors): only the window an edit reaches is computed, from the parent's window
  spliced into the parent's cached activations. A convolution of stride 1 is linear:
  its window is the cached output plus the convolution of the parent's change (edited
  minus cached), which is zero outside the parent's (narrower) window; a change one
  position wide (a substitution in the sequence) is convolved as a lookup of weight
  taps, a wider one through a real DFT when that takes fewer multiply-adds (one
  channel product per frequency instead of one per tap and position: Basset's second
  convolution 25 instead of 77), and an eval-mode batch norm after a convolution is
  folded into it (its window is its cached output plus the change convolved with the
  scaled weight). A max pool after activations that never decrease (ReLU) pools their
  input and applies them to the pooled window, and when that input is such a
  convolution, its change goes straight into the frame the pool reads: the
  convolution's and the activations' own windows are never built;
- global: everything else that depends on the input. A dense layer of the flattened
  positions of a local tensor (``Linear(Flatten(h))``, Basset's first dense layer) is
  the cached output plus the weight columns of the changed window times the change.
  A global max or mean over the positions of a local tensor (global max pooling,
  written as ``AdaptiveMaxPool1d(1)``, ``MaxPool1d(L)``, ``amax``/``max``/``mean`` over
  the last axis) is computed from the cache in O(channels) per edit: the maximum of
  the cached prefix maximum left of the window, the suffix maximum right of it and
  the new window (sums for the mean).
  Any other global node gets the full activations (cache with the window written in)
  and runs as usual.

Windows are (E, ch, W) tensors with channels last in memory: they are read from the
cached activations (kept as (b, L, ch)) as whole rows, and convolutions and pooling run
on them as 2-d channels-last operations.

A model that ``torch.fx`` cannot trace, or whose fast results disagree with full
forward passes on a check batch, falls back to full forward passes (with a warning in
the second case). Results match full forward passes up to floating-point rounding.

Geometry: a local node's output position j sees input positions ``[j*S + O, j*S + O +
R)``; an edit at p changes at most ``W = min(L_t, (R-1)//S + 1)`` consecutive positions,
starting at ``clamp(ceil((p - O - R + 1) / S), 0, L_t - W)``.
"""

from __future__ import annotations

import operator
import warnings
import weakref
from dataclasses import dataclass

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from grammarbench.attribution import backward_rules

_ACTIVATION_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Hardtanh, nn.Softsign, nn.Hardswish,
    nn.Hardsigmoid, nn.LogSigmoid, nn.Tanhshrink, nn.Identity, nn.Dropout, nn.Dropout1d,
    nn.AlphaDropout, nn.BatchNorm1d,
)
#: Element-wise modules that never decrease (max pooling commutes with them: the maximum
#: of f(x) over a window is f of the maximum), checked with their options by
#: :func:`_never_decreases`; GELU, SiLU, Mish and Hardswish dip below zero, batch norm's
#: scale may be negative.
_NEVER_DECREASING_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.Sigmoid, nn.Tanh,
    nn.Softplus, nn.Hardtanh, nn.Softsign, nn.Hardsigmoid, nn.LogSigmoid, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.AlphaDropout,
)
_NEVER_DECREASING_FUNCTIONS = {F.relu, torch.relu, F.relu_, torch.relu_, torch.sigmoid,
                               torch.sigmoid_, torch.tanh, torch.tanh_, F.relu6}
_NEVER_DECREASING_METHODS = {"relu", "relu_", "sigmoid", "tanh", "contiguous"}
_IDENTITY_METHODS = {"contiguous", "float", "half", "double", "bfloat16"}
_ARITH = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
          torch.mul, torch.div, operator.neg, torch.neg}
_ARITH_METHODS = {"add", "sub", "mul", "div", "neg", "__add__", "__mul__", "__sub__",
                  "__truediv__", "__radd__", "__rmul__"}
_BINARY_LOCAL = {operator.add, operator.sub, operator.mul, torch.add, torch.sub, torch.mul}
_BINARY_LOCAL_METHODS = {"add", "sub", "mul"}


class _Unsupported(Exception):
    pass


@dataclass
class _Geom:
    S: int      # stride in input positions
    O: int      # offset of the first input position seen by output position 0
    R: int      # number of input positions one output position sees
    L: int      # number of output positions

    @property
    def W(self) -> int:
        return max(1, min(self.L, (self.R - 1) // self.S + 1))

    def first(self, p: torch.Tensor) -> torch.Tensor:
        """The first output position whose input an edit at ``p`` reaches (unclamped:
        below 0, or past ``L - W``, near an end of the sequence)."""
        return -torch.div(-(p - self.O - self.R + 1), self.S, rounding_mode="floor")

    def start(self, p: torch.Tensor) -> torch.Tensor:
        return self.first(p).clamp(min=0, max=self.L - self.W)


def _pad_pair(padding, k: int, d: int):
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        total = d * (k - 1)
        return total // 2, total - total // 2
    p = padding[0] if isinstance(padding, (tuple, list)) else padding
    return int(p), int(p)


def _one(v):
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


class _Plan:
    """The traced model and the kind of each node."""

    def __init__(self, model: nn.Module):
        self.gm = torch.fx.symbolic_trace(model)
        self.modules = dict(self.gm.named_modules())
        self.nodes = list(self.gm.graph.nodes)
        placeholders = [n for n in self.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise _Unsupported("the model takes more than one input")
        self.input = placeholders[0]
        self.kind: dict = {}
        self.rule: dict = {}
        for node in self.nodes:
            if node.op == "output":
                continue
            if node is self.input:
                self.kind[node] = "local"
                self.rule[node] = ("input",)
                continue
            kinds = {self.kind[i] for i in node.all_input_nodes}
            if "local" not in kinds and "global" not in kinds:
                self.kind[node] = "static"
            elif "global" in kinds:
                self.kind[node] = "global"
                self.rule[node] = ("full",)
            else:
                rule = self._local_rule(node)
                self.kind[node] = "local" if rule is not None else "global"
                if rule is not None:
                    self.rule[node] = rule
                else:
                    self.rule[node] = self._global_rule(node)
        self.output = next(n for n in self.nodes if n.op == "output")
        self._constants: dict = {}
        self._dense_of_windows()
        self._convolutions_before_batch_norm()
        self._pools_through_activations()

    def _dense_of_windows(self):
        """Mark ``Linear(Flatten(local))``: the dense layer's output changes by its
        weight columns of the changed window times the change, added to the cached
        output, so the flattened activations need not be built per edit.

        Basset's first dense layer (1000 x 200*20) sees 200 x 4 changed values per edit:
        one fifth of the full product.
        """
        for node in self.nodes:
            if node.op != "call_module" or not isinstance(self.modules[node.target], nn.Linear) \
                    or len(node.args) != 1 or node.kwargs:
                continue
            flat = node.args[0]
            if not isinstance(flat, torch.fx.Node) or len(flat.users) != 1 \
                    or not self._flattens_positions(flat):
                continue
            source = flat.args[0]
            if self.kind.get(source) != "local":
                continue
            self.rule[flat] = ("skip",)
            self.rule[node] = ("dense_of_window", source)

    def _convolutions_before_batch_norm(self):
        """Map each batch norm whose input is a stride-1 convolution read by nothing
        else to that convolution: in eval mode the batch norm is affine, so its window
        is its own cached output plus the convolution of the input's change with the
        batch norm's scale folded into the weight, and the convolution's own window
        is never built (one pass over the window less per block)."""
        self.conv_of_batch_norm = {}
        for node in self.nodes:
            rule = self.rule.get(node)
            if not rule or rule[0] != "conv" or rule[3] != 1 or len(node.users) != 1:
                continue
            user = next(iter(node.users))
            if user.op == "call_module" and self.rule.get(user, ("",))[0] == "unary" \
                    and isinstance(self.modules[user.target], nn.BatchNorm1d):
                self.conv_of_batch_norm[user] = node

    def _pools_through_activations(self):
        """Map each max pooling whose input is a chain of never-decreasing element-wise
        nodes (a ReLU: ``conv, batch norm, ReLU, max pool``), each read by nothing else,
        to the chain's input and the chain: max pooling commutes with them, so the pool
        runs on the chain's input and the chain on the pooled window, a few positions
        instead of the whole window (Basset's first block: 7 instead of 19), and the
        chain's own windows are never built."""
        self.pool_through = {}
        for node in self.nodes:
            rule = self.rule.get(node)
            if not rule or rule[0] != "maxpool":
                continue
            chain, source = [], self._locals(node)[0]
            while self.rule.get(source, ("",))[0] == "unary" and len(source.users) == 1 \
                    and self._never_decreases(source) and len(self._locals(source)) == 1:
                chain.append(source)
                source = self._locals(source)[0]
            if chain:
                self.pool_through[node] = (source, chain[::-1])

    def _never_decreases(self, node) -> bool:
        """Whether the element-wise ``node`` is a function that never decreases."""
        if node.op == "call_module":
            mod = self.modules[node.target]
            if not isinstance(mod, _NEVER_DECREASING_MODULES) or \
                    (isinstance(mod, (nn.Dropout, nn.Dropout1d, nn.AlphaDropout)) and mod.training):
                return False
            return getattr(mod, "negative_slope", 0) >= 0 and getattr(mod, "alpha", 0) >= 0 \
                and getattr(mod, "beta", 1) > 0
        if node.op == "call_function":
            return node.target in _NEVER_DECREASING_FUNCTIONS
        return node.op == "call_method" and node.target in _NEVER_DECREASING_METHODS

    def constant(self, key, tensors, make):
        """``make()``, kept across calls while ``tensors`` (the weights it is made of) are
        unchanged: same memory, same version counter (which counts in-place updates).
        Calls of ISM on a few sequences at a time then build it once (Basset's DFT
        matrices: 25 ms)."""
        stamp = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
        have = self._constants.get(key)
        if have is None or have[0] != stamp:
            self._constants[key] = have = (stamp, make())
        return have[1]

    def weight_by_position(self, node, channels: int, L: int) -> torch.Tensor:
        """The weight of the dense layer ``node`` as (L, ch, out): the rows of a window
        of positions are one contiguous block, used by a matrix product as it is."""
        weight = self.modules[node.target].weight
        return self.constant(("by position", node), [weight], lambda: weight.detach().view(
            -1, channels, L).permute(2, 1, 0).contiguous())

    def _flattens_positions(self, node) -> bool:
        """Whether ``node`` flattens (N, C, L) to (N, C*L): nn.Flatten() or flatten(x, 1)."""
        if not node.args or not isinstance(node.args[0], torch.fx.Node):
            return False
        if node.op == "call_module":
            mod = self.modules[node.target]
            return isinstance(mod, nn.Flatten) and mod.start_dim == 1 and mod.end_dim == -1 \
                and len(node.args) == 1 and not node.kwargs
        is_flatten = (node.op == "call_method" and node.target == "flatten") or \
            (node.op == "call_function" and node.target is torch.flatten)
        if not is_flatten:
            return False
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return start == 1 and end == -1 and set(node.kwargs) <= {"start_dim", "end_dim"}

    # -- classification ----------------------------------------------------------------

    def _locals(self, node):
        return [i for i in node.all_input_nodes if self.kind.get(i) == "local"]

    def _local_rule(self, node):
        loc = self._locals(node)
        args, kwargs = node.args, node.kwargs
        if node.op == "call_module":
            mod = self.modules[node.target]
            if len(loc) != 1 or not args or args[0] is not loc[0] or len(args) > 1 or kwargs:
                return None
            if isinstance(mod, nn.Conv1d):
                if mod.padding_mode != "zeros":
                    return None
                k, s, d = mod.kernel_size[0], mod.stride[0], mod.dilation[0]
                left, _ = _pad_pair(mod.padding, k, d)
                return ("conv", mod, k, s, d, left)
            if isinstance(mod, (nn.MaxPool1d, nn.AvgPool1d)):
                if mod.ceil_mode or getattr(mod, "return_indices", False):
                    return None
                if isinstance(mod, nn.AvgPool1d) and _one(mod.padding) \
                        and not mod.count_include_pad:
                    return None
                k, s = _one(mod.kernel_size), _one(mod.stride or mod.kernel_size)
                d = _one(getattr(mod, "dilation", 1))
                kind = "maxpool" if isinstance(mod, nn.MaxPool1d) else "avgpool"
                return (kind, mod, k, s, d, _one(mod.padding))
            if isinstance(mod, nn.BatchNorm1d):
                return ("unary", lambda t, mod=mod: _batch_norm(mod, t))
            if isinstance(mod, _ACTIVATION_MODULES):
                return ("unary", lambda t, mod=mod: mod(t))
            return None
        if node.op == "call_function":
            fn = node.target
            if fn in (F.max_pool1d, F.avg_pool1d):
                return None  # functional pooling: computed in full (rare in practice)
            if fn in backward_rules.ELEMENTWISE or fn in (F.dropout, F.batch_norm, operator.neg, torch.neg):
                if len(loc) != 1 or not args or args[0] is not loc[0]:
                    return None
                extra = list(args[1:]) + list(kwargs.values())
                if any(isinstance(v, torch.fx.Node) for v in extra):
                    return None
                return ("unary", self._bind(fn, node, method=False))
            if fn in _ARITH:
                return self._arith(node, loc, fn in _BINARY_LOCAL)
            return None
        if node.op == "call_method":
            name = node.target
            if name in _IDENTITY_METHODS and len(args) == 1 and not kwargs:
                return ("unary", self._bind(name, node, method=True))
            if name in {"relu", "exp", "sigmoid", "tanh"} and len(args) == 1 and not kwargs:
                return ("unary", self._bind(name, node, method=True))
            if name in _ARITH_METHODS:
                return self._arith(node, loc, name in _BINARY_LOCAL_METHODS)
        return None

    def _bind(self, fn, node, method: bool):
        rest, kwargs = node.args[1:], dict(node.kwargs)
        kwargs.pop("inplace", None)
        fn = backward_rules.INPLACE_TO_OUTOFPLACE.get(fn, fn)
        if method:
            return lambda t: getattr(t, fn)(*rest, **kwargs)
        return lambda t: fn(t, *rest, **kwargs)

    def _arith(self, node, loc, binary_ok):
        args = node.args
        tensors = [a for a in list(args) + list(node.kwargs.values())
                   if isinstance(a, torch.fx.Node)]
        if any(self.kind[t] != "local" for t in tensors) or node.kwargs:
            return None
        others = [a for a in args if not isinstance(a, torch.fx.Node)]
        if any(not isinstance(o, (int, float)) for o in others):
            return None
        fn = node.target
        if len(tensors) == 1:
            if node.op == "call_method":
                return ("unary", lambda t, a=args, f=fn: getattr(t, f)(*a[1:]))
            i = args.index(tensors[0])
            return ("unary", lambda t, a=args, f=fn, i=i: f(*a[:i], t, *a[i + 1:]))
        if len(tensors) == 2 and binary_ok and len(args) == 2:
            if node.op == "call_method":
                return ("binary", lambda u, v, f=fn: getattr(u, f)(v))
            return ("binary", lambda u, v, f=fn: f(u, v))
        return None

    def _global_rule(self, node):
        """A cheap rule for a global max or mean over positions of one local tensor."""
        loc = self._locals(node)
        if len(loc) != 1 or node.all_input_nodes != [loc[0]] or node.args[0] is not loc[0]:
            return ("full",)
        args, kwargs = node.args, node.kwargs
        if node.op == "call_module":
            mod = self.modules[node.target]
            if isinstance(mod, nn.AdaptiveMaxPool1d) and _one(mod.output_size) == 1 \
                    and not mod.return_indices:
                return ("gmax", True)
            if isinstance(mod, nn.AdaptiveAvgPool1d) and _one(mod.output_size) == 1:
                return ("gmean", True)
            return ("full",)
        name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
        if node.op == "call_function" and node.target is F.adaptive_max_pool1d and \
                len(args) == 2 and args[1] == 1 and not kwargs:
            return ("gmax", True)
        if node.op == "call_function" and node.target is F.adaptive_avg_pool1d and \
                len(args) == 2 and args[1] == 1 and not kwargs:
            return ("gmean", True)
        if name in ("amax", "max", "mean") and node.op in ("call_method", "call_function"):
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
            if isinstance(dim, (tuple, list)) and len(dim) == 1:
                dim = dim[0]
            if dim in (-1, 2) and isinstance(keepdim, bool) and len(args) <= 3:
                kind = {"amax": "gmax", "mean": "gmean", "max": "gmax_tuple"}[name]
                return (kind, keepdim)
        return ("full",)


class _State:
    """Cached activations of one batch of unedited sequences."""

    def __init__(self, plan: _Plan, run, x: torch.Tensor):
        self.plan = plan
        self.env: dict = {}
        self.geom: dict = {}
        self.extra: dict = {}
        #: batch norm node -> the convolution folded into it (batch norms in eval mode)
        self.folded = {bn: conv for bn, conv in plan.conv_of_batch_norm.items()
                       if _affine(plan.modules[bn.target]) is not None}
        self.skipped = set(self.folded.values())
        with torch.no_grad(), run.autocast():
            for node in plan.nodes:
                if node.op == "output":
                    break
                if node is plan.input:
                    value = x
                else:
                    value = self._eval(node, self.env)
                self.env[node] = value
                if plan.kind[node] == "local":
                    if not isinstance(value, torch.Tensor) or value.ndim != 3:
                        raise _Unsupported(f"node {node.name} is not (N, C, L)")
                    self.geom[node] = self._geometry(node, value)
        #: max pool node -> (the input of the activations before it, those activations)
        #: (see _Plan._pools_through_activations), but for a pool over the whole length,
        #: which reads its input's window (see _Edits.local)
        self.pool_through = {pool: through for pool, through in plan.pool_through.items()
                             if not self._pools_whole_length(pool)}
        for _, chain in self.pool_through.values():
            self.skipped.update(chain)
        #: the input of such activations when it is a stride-1 convolution (or the batch
        #: norm it is folded into) read by nothing else -> (convolution, its module,
        #: dilation, left padding, batch norm or None): computed straight into the
        #: frame the pool reads (see _Edits.local)
        self.pool_frames = {}
        for source, _ in self.pool_through.values():
            conv = self.folded.get(source, source)
            rule = plan.rule.get(conv, ("",))
            if len(source.users) == 1 and rule[0] == "conv" and rule[3] == 1:
                _, mod, _, _, d, left = rule
                self.pool_frames[source] = (conv, mod, d, left, source if conv is not source else None)
        self.skipped.update(self.pool_frames)

    def cached(self, key, make):
        """``make()``, computed once per key for these sequences (weights folded with a
        batch norm, DFT matrices: constant within a call)."""
        if key not in self.extra:
            self.extra[key] = make()
        return self.extra[key]

    def _pools_whole_length(self, node) -> bool:
        """Whether the pooling ``node`` pools the whole length of its input (global pooling
        written as ``MaxPool1d(L)``)."""
        kind, mod, k, s, d, left = self.plan.rule[node]
        return self.geom[node].L == 1 and left == 0 and d == 1 and \
            k == self.env[self.plan._locals(node)[0]].shape[2]

    def positions_last(self, node) -> torch.Tensor:
        """Cached activations of ``node`` as (b, L, ch), contiguous.

        Per-edit windows are read from this layout: a window of every channel is then
        a block of whole rows, and reading (E, ch, W) windows from it is about five
        times faster than from (b, ch, L), where each channel's few columns lie apart.
        """
        return self.cached((node, "positions_last"),
                           lambda: self.env[node].transpose(1, 2).contiguous())

    def padded(self, node, pad: float, P: int) -> tuple[torch.Tensor, int]:
        """Cached activations of ``node`` as (b, L + 2w, ch) (positions before channels,
        as :meth:`positions_last`) with ``w >= P`` positions of ``pad`` on both sides, and
        ``w``: position q is row ``q + w``. Whole and contiguous, so :meth:`_Edits.rows`
        reads it in place (a slice of it would be copied whole on every read)."""
        key = (node, "pad", pad)
        have = self.extra.get(key)
        if have is None or have[0] < P:
            C = self.positions_last(node)
            width = max(P, 2 * (have[0] if have else 0))
            filler = C.new_full((C.shape[0], width, C.shape[2]), pad)
            self.extra[key] = have = (width, torch.cat([filler, C, filler], dim=1))
        width, C = have
        return C, width

    def _eval(self, node, env):
        args = torch.fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "call_module":
            return self.plan.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        if node.op == "get_attr":
            obj = self.plan.gm
            for part in node.target.split("."):
                obj = getattr(obj, part)
            return obj
        raise _Unsupported(f"node op {node.op}")

    def _geometry(self, node, value) -> _Geom:
        rule = self.plan.rule[node]
        L = value.shape[2]
        if rule[0] == "input":
            return _Geom(1, 0, 1, L)
        parents = self.plan._locals(node)
        g = self.geom[parents[0]]
        if rule[0] == "unary":
            if g.L != L:
                raise _Unsupported(f"node {node.name} changes the length")
            return _Geom(g.S, g.O, g.R, L)
        if rule[0] == "binary":
            h = self.geom[parents[1]] if len(parents) > 1 else g
            if g.S != h.S or g.L != h.L or L != g.L:
                raise _Unsupported(f"node {node.name} combines different geometries")
            O = min(g.O, h.O)
            return _Geom(g.S, O, max(g.O + g.R, h.O + h.R) - O, L)
        _, mod, k, s, d, left = rule
        return _Geom(g.S * s, g.O - left * g.S, d * (k - 1) * g.S + g.R, L)


_PLANS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_VERIFIED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _plan(model: nn.Module):
    if model not in _PLANS:
        try:
            _PLANS[model] = _Plan(model)
        except Exception as err:  # tracing fails on data-dependent Python control flow
            _PLANS[model] = err
    plan = _PLANS[model]
    return None if isinstance(plan, Exception) else plan


def _affine(mod: nn.BatchNorm1d):
    """(scale, shift) per channel of a batch norm in eval mode, or None in training
    mode (or without running statistics), when it depends on the batch."""
    if mod.training or mod.running_mean is None:
        return None
    scale = torch.rsqrt(mod.running_var + mod.eps)
    if mod.weight is not None:
        scale = scale * mod.weight
    shift = -mod.running_mean * scale
    if mod.bias is not None:
        shift = shift + mod.bias
    return scale, shift


def _batch_norm(mod: nn.BatchNorm1d, t: torch.Tensor) -> torch.Tensor:
    """``mod(t)``; in eval mode as one multiply-add per channel, which keeps the layout
    of ``t`` (torch's batch norm returns (E, ch, W) contiguous, and the next operation
    would have to reorder it)."""
    affine = _affine(mod)
    if affine is None:
        return mod(t)
    scale, shift = affine
    return torch.addcmul(shift[:, None].to(t.dtype), t, scale[:, None].to(t.dtype))


def _within_or_spare(index: torch.Tensor, n: int) -> torch.Tensor:
    """``index`` where it lies in [0, n), else ``n``: a spare (or zero) row after the ``n``
    real ones, for positions a window or a change does not reach."""
    return torch.where((index >= 0) & (index < n), index, n)


def _flipped_kernel(weight: torch.Tensor, dilation: int, dtype=None) -> torch.Tensor:
    """``weight`` (ch_out, ch_in, k) as the kernel of a convolution, not a correlation,
    over ``d*(k-1) + 1`` positions: tap t at position span - d*t, zeros between taps."""
    ch_out, ch_in, k = weight.shape
    span = dilation * (k - 1)
    kernel = weight.new_zeros(ch_out, ch_in, span + 1, dtype=dtype or weight.dtype)
    kernel[:, :, span - dilation * torch.arange(k, device=weight.device)] = weight.to(kernel.dtype)
    return kernel


def _column_taps(weight: torch.Tensor, dilation: int, first: int, offsets: int,
                 rows: int) -> torch.Tensor:
    """The convolution (no bias, ``d*(k-1)`` zero columns of padding on each side) of a
    window one position wide, placed in a window of ``rows`` positions, as a matrix:
    (offsets * ch_in, rows * ch_out).

    Output position j sees the column through tap (span - j) / d only, so a column
    times this matrix gives the output rows, positions before channels: for a
    substitution in the sequence (ch_in = 4) a lookup of weight columns, several times
    cheaper than the convolution call (oneDNN takes 7-19 ms per 1,024 edits for
    Basset's first layer, most of it overhead of a 4-channel input). Block o puts the
    outputs from row ``first + o`` on (those outside the rows dropped): a column placed
    in the block of its offset gives its outputs where they belong in the window.
    """
    kernel = _flipped_kernel(weight, dilation)                             # (out, in, n)
    ch_out, ch_in, n = kernel.shape
    tap = torch.arange(rows, device=weight.device) - \
        (first + torch.arange(offsets, device=weight.device))[:, None]      # (offsets, rows)
    placed = torch.cat([kernel, kernel.new_zeros(ch_out, ch_in, 1)], dim=2)[
        :, :, _within_or_spare(tap, n)]                                    # n: a zero tap
    return placed.permute(2, 1, 3, 0).reshape(offsets * ch_in, rows * ch_out)


#: A change wider than one position is convolved through a real DFT when that takes at
#: most this fraction of the multiply-adds of the direct convolution (see
#: :class:`_DftConvolution`; below about 0.7 the extra passes over memory eat the gain).
_DFT_AT_MOST = 0.7


class _DftConvolution:
    """The convolution of a change ``pW`` positions wide with a fixed weight, zero
    padding ``span = d*(k-1)`` on both sides (every output position the change
    reaches), through an ``N = pW + span`` point real DFT.

    A stride-1 convolution of a finite change is the polynomial product of the change
    and the flipped kernel, channel by channel, summed over input channels: ``N``
    outputs, so with ``N`` DFT points there is no wrap-around, and in the DFT domain it
    is one (ch_in x ch_out) product per frequency: N + (N - 1) // 2 real products of
    that size (1 for the constant term and the Nyquist frequency, 3 per complex
    frequency with Gauss's trick) instead of pW * k. Basset's second convolution (a
    change 7 positions wide, 11 taps) takes 25 instead of 77; its third (5 wide, 7
    taps) 16 instead of 35. The DFT is a real matrix (rows: constant, then cosine and
    minus sine of each frequency, then the alternating Nyquist row when N is even),
    applied to the change and inverted by its transpose scaled by the rows' squared
    norms: orthogonal up to scale, so no accuracy is lost (the same rounding as the
    direct convolution, a few 1e-7 relative).
    """

    def __init__(self, weight: torch.Tensor, dilation: int, width: int, dtype: torch.dtype):
        ch_out, ch_in, k = weight.shape
        span = dilation * (k - 1)
        N = width + span
        kernel = _flipped_kernel(weight, dilation, torch.float64)             # (out, in, span+1)
        spectrum = torch.fft.rfft(kernel, n=N, dim=-1)                       # (out, in, N//2+1)
        n = torch.arange(N, dtype=torch.float64, device=weight.device)
        bins = (N - 1) // 2                                                  # complex frequencies
        f = torch.arange(1, bins + 1, dtype=torch.float64, device=weight.device)
        angle = 2 * torch.pi * f[:, None] * n[None, :] / N
        rows = [torch.ones(1, N, dtype=torch.float64, device=weight.device),
                torch.stack([torch.cos(angle), -torch.sin(angle)], dim=1).reshape(-1, N)]
        real = [spectrum[:, :, 0].real]
        if N % 2 == 0:  # the Nyquist frequency, real like the constant term
            rows.append(torch.cos(torch.pi * n)[None, :])
            real.append(spectrum[:, :, N // 2].real)
        dft = torch.cat(rows)                                                # (N, N)
        inverse = dft.T / (dft * dft).sum(dim=1)                             # (N, N)
        re_rows = 1 + 2 * torch.arange(bins, device=weight.device)
        im_rows = re_rows + 1
        real_rows = [0] + ([N - 1] if N % 2 == 0 else [])
        # (a + ib)(c + id) in three real products (Gauss): k1 = (a + b) c, k2 = a (d - c),
        # k3 = b (c + d); real part k1 - k3, imaginary part k1 + k2. The forward rows
        # give a + b, a and b, and the inverse takes k1, k2 and k3 (its real-part column
        # and its imaginary-part column combined), so neither sum is ever formed: one
        # batched product for all of them, no pass over memory between the transforms
        forward = [dft[real_rows], dft[re_rows] + dft[im_rows], dft[re_rows], dft[im_rows]]
        back = [inverse[:, real_rows], inverse[:, re_rows] + inverse[:, im_rows],
                inverse[:, im_rows], -inverse[:, re_rows]]
        self.N, self.ch_in, self.ch_out = N, ch_in, ch_out
        self.forward_rows = torch.cat(forward)[:, :width].to(dtype)          # (K, pW)
        self.inverse = torch.cat(back, dim=1).to(dtype)                      # (N, K)
        #: rows of the real frequencies (constant, Nyquist) and their (in, out) weights
        self.real_weights = [w.T.contiguous().to(dtype) for w in real]
        c = spectrum[:, :, 1:bins + 1].real.permute(2, 1, 0)                 # (bins, in, out)
        d = spectrum[:, :, 1:bins + 1].imag.permute(2, 1, 0)
        self.gauss_weights = torch.cat([c, d - c, c + d]).contiguous().to(dtype)

    @staticmethod
    def pays(width: int, k: int, dilation: int, ch_in: int, ch_out: int) -> bool:
        """Whether the DFT takes at most ``_DFT_AT_MOST`` of the direct convolution's
        multiply-adds, the transforms counted."""
        N = width + dilation * (k - 1)
        K = N + (N - 1) // 2                                                # real products
        direct = width * k * ch_in * ch_out
        dft = K * ch_in * ch_out + K * width * ch_in + N * K * ch_out
        return width > 1 and dft <= _DFT_AT_MOST * direct

    def __call__(self, change: torch.Tensor, cached: torch.Tensor,
                 first: torch.Tensor | None = None) -> torch.Tensor:
        """``cached`` (E, W, ch_out), positions before channels, plus the convolution of
        ``change`` (E, ch_in, pW; channels last in memory), added in place (a window
        the caller has just read: adding there saves a pass over it) and returned.

        ``first`` (E,): the row of ``cached`` where each edit's convolution starts
        (outputs outside the rows are dropped); None: row 0 and W = N, every edit.
        """
        E = change.shape[0]
        spectrum = torch.matmul(self.forward_rows, change.transpose(1, 2))  # (E, K, in)
        products = spectrum.new_empty(E, len(self.forward_rows), self.ch_out)  # (E, K, out)
        for row, weight in enumerate(self.real_weights):
            torch.mm(spectrum[:, row], weight, out=products[:, row])
        real = len(self.real_weights)
        if real < len(self.forward_rows):
            # the Gauss products of every complex frequency, (3 bins, E, ch) each side,
            # read and written where they lie
            torch.bmm(spectrum[:, real:].transpose(0, 1), self.gauss_weights,
                      out=products[:, real:].transpose(0, 1))
        if first is None:
            inverse = self.inverse.expand(E, self.N, self.inverse.shape[1])
        else:  # each edit's inverse rows moved to where its window starts, zeros outside
            rows = torch.arange(cached.shape[1], device=first.device) - first[:, None]  # (E, W)
            inverse = torch.cat([self.inverse, self.inverse.new_zeros(1, self.inverse.shape[1])])[
                _within_or_spare(rows, self.N)]
        return cached.baddbmm_(inverse, products)


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    """``t`` (E, ch, W) with channels last in memory (each position a contiguous row).

    Windows are kept so: they are read from the cache as whole rows, and oneDNN's
    convolutions and torch's pooling run faster on that layout (Basset's second
    convolution 1.3x) and return it; element-wise operations keep it.
    """
    if t.transpose(1, 2).is_contiguous():
        return t
    return t.transpose(1, 2).contiguous().transpose(1, 2)


def _conv(x, weight, bias, stride, padding, dilation, groups):
    """``F.conv1d`` of ``x`` (E, ch, W) as a 2-d convolution over channels-last rows."""
    out = F.conv2d(_channels_last(x).unsqueeze(2), weight.unsqueeze(2), bias, (1, stride),
                   (0, padding), (1, dilation), groups)
    return _channels_last(out[:, :, 0])


#: Largest number of weights (edits x window columns x units) a batch of
#: Linear(Flatten(window)) products gathers per edit (64 MiB of float32).
_PER_EDIT_WEIGHTS = 1 << 24


class _Edits:
    """Windows of every local node for one batch of edits."""

    def __init__(self, state: _State, e, p, a, A):
        self.s = state
        self.e, self.p = e, p
        self.win: dict = {}
        x = state.env[state.plan.input]
        col = torch.zeros(len(e), A, 1, device=x.device, dtype=x.dtype)
        col[torch.arange(len(e), device=x.device), a, 0] = 1
        self.win[state.plan.input] = (col, p.clone(), 1)

    def rows(self, table, start, n):
        """Rows ``[start, start + n)`` of each edit's example in ``table`` (b, M, ch):
        (E, n, ch), every position a contiguous row of channels."""
        b, M, ch = table.shape
        first = self.e * M + start                                          # (E,)
        index = first[:, None] + torch.arange(n, device=table.device)
        return table.reshape(b * M, ch).index_select(0, index.reshape(-1)).view(-1, n, ch)

    def gather(self, node, q0, Q, pad, spare=False):
        """Activations of ``node`` at positions [q0, q0+Q) per edit, edit applied.

        Reads the window's rows of the cached activations (positions before channels,
        padded with ``pad``), then writes the node's changed window over them; window
        positions outside [q0, q0+Q) go to a spare last position, dropped unless
        ``spare`` (then the caller ignores it). Returned as (E, ch, Q) with channels
        last in memory (see :func:`_channels_last`).
        """
        V, w0, W = self.win[node]
        P = Q + 1
        table, shift = self.s.padded(node, pad, P)
        G = self.rows(table, q0 + shift, Q + 1)                             # (E, Q+1, ch)
        E, _, ch = G.shape
        t = _within_or_spare((w0 - q0)[:, None] + torch.arange(W, device=G.device), Q) + \
            (Q + 1) * torch.arange(E, device=G.device)[:, None]             # (E, W)
        # duplicate targets (the spare position) may take any of their values
        G.view(E * (Q + 1), ch).index_copy_(
            0, t.reshape(-1), V.transpose(1, 2).reshape(E * W, ch).to(G.dtype))
        G = G.transpose(1, 2)                                               # (E, ch, Q+1)
        return G if spare else G[:, :, :Q]

    def cached_window(self, node, w0, W):
        """Cached (unedited) activations of ``node`` at positions [w0, w0+W) per edit,
        (E, ch, W) with channels last in memory."""
        return self.rows(self.s.positions_last(node), w0, W).transpose(1, 2)

    def change(self, node):
        """What the edit changes in ``node``'s window: edited minus cached, (E, ch, W)."""
        V, w0, W = self.win[node]
        return V - self.cached_window(node, w0, W).to(V.dtype)

    def conv_by_change(self, node, mod, d, left, w0, W, batch_norm=None, pad=None):
        """Window [w0, w0+W) of a stride-1 convolution as its cached output plus the
        convolution of the parent's change.

        A convolution is linear, so the edited output is the cached output plus the
        convolution of (edited - cached) input, which is zero outside the parent's
        window. Convolving just that window with ``d*(k-1)`` zero columns of padding on
        each side gives every output position it reaches; oneDNN skips the padding, so
        this costs (parent window) x k taps per channel pair instead of (window) x k:
        for Basset's second convolution 7 x 11 instead of 17 x 11 (its three
        convolutions took 2.2x less CPU time than the window recomputed in full). A
        change one position wide is a lookup of weight taps; a wider one goes through
        :class:`_DftConvolution` where that takes fewer products (Basset's second
        convolution 25, its third 16 instead of 35). Both add into the cached window
        as it is read, each edit's outputs where its change puts them.

        ``batch_norm``: the eval-mode batch norm after the convolution, whose window
        this is (its scale folded into the weight). ``pad``: None for the node's own
        window (inside the sequence); a number for the frame a max pool reads (see
        :meth:`local`), where positions outside the sequence read ``pad``.
        Returned as (E, ch, W) with channels last in memory.
        """
        plan = self.s.plan
        parent = plan._locals(node)[0]
        _, pw0, pW = self.win[parent]
        span = d * (mod.kernel_size[0] - 1)
        weight, weights = mod.weight, [mod.weight]
        if batch_norm is not None:
            # the window of the batch norm that follows: its scale goes into the weight
            norm = plan.modules[batch_norm.target]
            weight = weight * _affine(norm)[0][:, None, None].to(weight.dtype)
            weights += [t for t in (norm.weight, norm.running_var) if t is not None]
        change = self.change(parent)
        out = node if batch_norm is None else batch_norm
        if pad is None:
            cached = self.rows(self.s.positions_last(out), w0, W)           # (E, W, ch)
        else:
            table, shift = self.s.padded(out, pad, W)
            cached = self.rows(table, w0 + shift, W)
        first = pw0 + left - span - w0          # (E,) the row of the change's first output
        E, ch = len(change), weight.shape[0]
        if pW == 1 and mod.groups == 1:  # cached + change @ taps in one matrix product
            change = change[:, :, 0].to(cached.dtype)
            lo = int(first.min())
            offsets = int(first.max()) - lo + 1
            taps = self.s.cached(("taps", node, batch_norm, lo, offsets, W),
                                 lambda: _column_taps(weight, d, lo, offsets, W).to(cached.dtype))
            if offsets > 1:  # edits placed differently: each change in the block of its offset
                spread = change.new_zeros(E, offsets, change.shape[1])
                spread[torch.arange(E, device=change.device), first - lo] = change
                change = spread.view(E, -1)
            cached.view(E, W * ch).addmm_(change, taps)
            return cached.transpose(1, 2)
        # the change's outputs fill the rows exactly (the usual case; one device sync per
        # layer and batch)
        exact = W == pW + span and not bool(first.any())
        if mod.groups == 1 and cached.dtype in (torch.float32, torch.float64) and \
                _DftConvolution.pays(pW, mod.kernel_size[0], d, weight.shape[1], ch):
            dft = plan.constant(("dft", node, batch_norm, pW, cached.dtype), weights,
                                lambda: _DftConvolution(weight, d, pW, cached.dtype))
            return dft(change.to(cached.dtype), cached, None if exact else first).transpose(1, 2)
        delta = _conv(change, weight, None, 1, span, d, mod.groups).to(cached.dtype)
        if exact:
            return cached.add_(delta.transpose(1, 2)).transpose(1, 2)
        # row c holds output position w0 + c, which is position c - first of the change;
        # a position the change does not reach reads a zero spare row
        n = delta.shape[2]
        rows = torch.cat([delta.transpose(1, 2), delta.new_zeros(E, 1, ch)], dim=1)
        t = _within_or_spare(torch.arange(W, device=delta.device) - first[:, None], n) + \
            (n + 1) * torch.arange(E, device=delta.device)[:, None]           # (E, W)
        return cached.add_(rows.view(E * (n + 1), ch).index_select(0, t.reshape(-1)).view(E, W, ch)
                           ).transpose(1, 2)

    def dense_of_window(self, node, source):
        """Output of ``Linear(Flatten(source))`` per edit: cached output plus the
        weight columns of ``source``'s window times its change.

        When the weight columns of all the batch's windows are small (at most
        ``_PER_EDIT_WEIGHTS`` numbers, a dense layer of a few units: fc10's first layer
        reads 4 x 10 per edit) each edit gathers its own and one batched product does
        the rest. Otherwise edits are grouped by where their window starts (at most
        L - W + 1 groups of the last local layer, a handful per batch for Basset, where
        a window's columns are 800 x 1,000): each group is one matrix product with one
        slice of the weight.
        """
        mod = self.s.plan.modules[node.target]
        change = self.change(source)                                        # (E, ch, W)
        _, w0, W = self.win[source]
        channels, L = self.s.env[source].shape[1:]
        weight = self.s.plan.weight_by_position(node, channels, L)          # (L, ch, out)
        E, out_features = len(change), mod.out_features
        change = change.transpose(1, 2).reshape(E, W * channels)            # (E, W*ch)
        cached = self.s.env[node][self.e]                                   # (E, out)
        if E * W * channels * out_features <= _PER_EDIT_WEIGHTS:
            positions = w0[:, None] + torch.arange(W, device=w0.device)     # (E, W)
            rows = weight[positions].reshape(E, W * channels, out_features)
            added = torch.bmm(change[:, None, :], rows.to(change.dtype))[:, 0]
            return cached.add_(added.to(cached.dtype))
        # sorted by window start, each group is a contiguous block of rows
        order = torch.argsort(w0, stable=True)
        starts, counts = torch.unique_consecutive(w0[order], return_counts=True)
        added = []
        for start, block in zip(starts.tolist(), torch.split(change[order], counts.tolist())):
            rows = weight[start:start + W].reshape(W * channels, out_features)
            added.append(block @ rows.to(block.dtype))
        added = torch.cat(added).to(cached.dtype)
        out = torch.empty_like(added)
        out[order] = added
        return cached.add_(out)

    def full(self, node):
        C = self.s.env[node]
        V, w0, W = self.win[node]
        out = C[self.e].clone()                                              # (E, ch, L)
        cols = (w0[:, None] + torch.arange(W, device=C.device))[:, None, :]
        out.scatter_(2, cols.expand(-1, C.shape[1], -1), V.to(out.dtype))
        return out

    def local(self, node):
        plan, geom = self.s.plan, self.s.geom[node]
        rule = plan.rule[node]
        parents = plan._locals(node)
        W = geom.W
        w0 = geom.start(self.p)
        if node in self.s.skipped:
            return  # a convolution its batch norm computes (see conv_by_change), or an
            # activation a max pool computes after pooling (see _pools_through_activations)
        if node in self.s.folded:
            conv = self.s.folded[node]
            _, mod, k, s, d, left = plan.rule[conv]
            self.win[node] = (self.conv_by_change(conv, mod, d, left, w0, W, node), w0, W)
            return
        if rule[0] == "unary":
            V, pw0, pW = self.win[parents[0]]
            self.win[node] = (rule[1](V), pw0, pW)
            return
        if rule[0] == "binary":
            u = self.gather(parents[0], w0, W, 0.0)
            v = self.gather(parents[1] if len(parents) > 1 else parents[0], w0, W, 0.0)
            self.win[node] = (rule[1](u, v), w0, W)
            return
        kind, mod, k, s, d, left = rule
        if kind in ("maxpool", "avgpool") and self.s._pools_whole_length(node):
            # pooling over the whole length (global pooling written as MaxPool1d(L))
            red = self.reduce(parents[0], "gmax" if kind == "maxpool" else "gmean", True)
            self.win[node] = (red, torch.zeros_like(self.p), 1)
            return
        if kind == "conv" and s == 1:
            self.win[node] = (self.conv_by_change(node, mod, d, left, w0, W), w0, W)
            return
        Q = (W - 1) * s + d * (k - 1) + 1
        pad = float("-inf") if kind == "maxpool" else 0.0
        source, activations = self.s.pool_through.get(node, (parents[0], ()))
        # the spare column G[:, :, Q] reaches only an output past the window (output W,
        # when s == 1), sliced off below
        if source in self.s.pool_frames:
            # the convolution's window is never built: its change goes straight into the
            # frame the pool reads
            conv, conv_mod, conv_d, conv_left, batch_norm = self.s.pool_frames[source]
            G = self.conv_by_change(conv, conv_mod, conv_d, conv_left, w0 * s - left, Q + 1,
                                    batch_norm, pad)
        else:
            G = self.gather(source, w0 * s - left, Q, pad, spare=True)
        if kind == "conv":
            V = _conv(G, mod.weight, mod.bias, s, 0, d, mod.groups)
        elif kind == "maxpool":
            V = _channels_last(F.max_pool2d(G.unsqueeze(2), (1, k), (1, s), 0, (1, d))[:, :, 0])
        else:
            V = _channels_last(F.avg_pool2d(G.unsqueeze(2), (1, k), (1, s), 0)[:, :, 0])
        V = V[:, :, :W]
        if V.shape[2] != W:
            raise _Unsupported(f"window of node {node.name} has the wrong width")
        for activation in activations:  # after the pooling: it commutes with them
            V = plan.rule[activation][1](V)
        self.win[node] = (V, w0, W)

    def reduce(self, node, kind, keepdim):
        """Global max / mean over positions of a local node from the cache, O(ch) per edit."""
        C = self.s.env[node]
        V, w0, W = self.win[node]
        L = C.shape[2]
        if kind == "gmax":
            def prefix_and_suffix_maxima():
                neg = C.new_full((C.shape[0], C.shape[1], 1), float("-inf"))
                pre = torch.cat([neg, torch.cummax(C, dim=2).values], dim=2)   # pre[j] = max C[:j]
                suf = torch.cat([torch.cummax(C.flip(2), dim=2).values.flip(2), neg], dim=2)
                return pre, suf                                               # suf[j] = max C[j:]
            pre, suf = self.s.cached((node, "max"), prefix_and_suffix_maxima)
            left = pre[self.e, :, w0]                                          # (E, ch)
            right = suf[self.e, :, w0 + W]
            out = torch.maximum(torch.maximum(left, right), V.amax(dim=2))
        else:
            total = self.s.cached((node, "sum"), lambda: C.sum(dim=2))
            cols = w0[:, None] + torch.arange(W, device=C.device)
            old = C[self.e[:, None], :, cols].sum(dim=1)                    # (E, ch)
            out = (total[self.e] - old + V.sum(dim=2)) / L
        return out[:, :, None] if keepdim else out


def _predict_fast(plan: _Plan, state: _State, run, e, p, a, target) -> torch.Tensor:
    ed = _Edits(state, e, p, a, run.A)
    env = {}
    for node in plan.nodes:
        if node.op == "output":
            break
        kind = plan.kind[node]
        if kind == "static" or node is plan.input:
            continue
        if kind == "local":
            ed.local(node)
            continue
        rule = plan.rule[node]
        if rule[0] == "skip":  # a flatten only a dense_of_window node reads
            continue
        if rule[0] == "dense_of_window":
            env[node] = ed.dense_of_window(node, rule[1])
            continue
        if rule[0] in ("gmax", "gmean"):
            env[node] = ed.reduce(node.args[0], rule[0], rule[1])
            continue
        if rule[0] == "gmax_tuple":
            v = ed.reduce(node.args[0], "gmax", rule[1])
            env[node] = torch.return_types.max((v, torch.full_like(v, -1, dtype=torch.long)))
            continue

        def value(n):
            if plan.kind[n] == "static":
                return state.env[n]
            if plan.kind[n] == "local":
                if n not in env:
                    env[n] = ed.full(n)
                return env[n]
            return env[n]

        src = node.args[0] if node.args else None
        if node.op == "call_method" and node.target == "size" and not node.kwargs \
                and plan.kind.get(src) == "local" and src not in env:
            # x.size(...) of a local tensor: its shape, without materialising it
            shape = torch.Size((len(e),) + tuple(state.env[src].shape[1:]))
            env[node] = shape if len(node.args) == 1 else shape[node.args[1]]
            continue
        args = torch.fx.node.map_arg(node.args, value)
        kwargs = torch.fx.node.map_arg(node.kwargs, value)
        if node.op == "call_module":
            env[node] = plan.modules[node.target](*args, **kwargs)
        elif node.op == "call_function":
            env[node] = node.target(*args, **kwargs)
        elif node.op == "call_method":
            env[node] = getattr(args[0], node.target)(*args[1:], **kwargs)
        else:
            raise _Unsupported(f"node op {node.op}")
    out = torch.fx.node.map_arg(plan.output.args[0],
                                lambda n: state.env[n] if plan.kind[n] == "static"
                                else (env[n] if n in env else ed.full(n)))
    return _target_logits(out, target[e])


def _target_logits(out, target: torch.Tensor) -> torch.Tensor:
    """The ``target`` column of the model's output ``out`` (one per row), float32."""
    if not isinstance(out, torch.Tensor):
        raise _Unsupported("the model does not return one tensor")
    if out.ndim == 1:
        out = out[:, None]
    elif out.ndim > 2:
        out = out.reshape(out.shape[0], out.shape[1])
    return out.float().gather(1, target[:, None])[:, 0]


def predict_edits(run, x, target, ex, pos, let):
    """Target logits of edited sequences with fastISM, or None to use full passes.

    Parameters
    ----------
    run: grammarbench.attribution.core.Run
    x: torch.Tensor, shape=(b, A, L)
        One-hot sequences on the device.
    target: torch.Tensor, shape=(b,)
    ex, pos, let: np.ndarray, shape=(E,)
        Example, position and new letter of each edit.

    Returns
    -------
    y, y0: torch.Tensor, dtype=float32, shape=(E,) and (b,), or None
        The edited sequences' target logits, and the unedited ones' (from the forward
        pass that filled the cache: no second pass).
    """
    plan = _plan(run.model)
    if plan is None:
        return None
    try:
        state = _State(plan, run, x)
    except _Unsupported:
        return None
    dev = run.device
    e_all = torch.as_tensor(ex, device=dev)
    p_all = torch.as_tensor(pos, device=dev)
    a_all = torch.as_tensor(let, device=dev).long()
    if run.model not in _VERIFIED:
        # check a few edits against full forward passes, both ends of the sequence
        # included (a rule the fast path gets wrong is wrong for almost every edit; each
        # edit checked is a full forward pass: 4 ms on Basset)
        n = len(ex)
        pick = sorted({0, n - 1, *range(0, n, max(1, n // 10))})
        idx = torch.as_tensor(pick, device=dev)
        try:
            with torch.no_grad(), run.autocast():
                fast = _predict_fast(plan, state, run, e_all[idx], p_all[idx], a_all[idx], target)
        except Exception as err:  # an op the rules do not cover after all
            _VERIFIED[run.model] = False
            warnings.warn(f"fast ISM is not used for this model ({type(err).__name__}: "
                          f"{err}); running full forward passes", RuntimeWarning)
            return None
        slow = run.edited_outputs(x, target, ex[pick], pos[pick], let[pick])
        tol = (3e-3 if dev.type == "cuda" else 1e-4) * max(1.0, float(slow.abs().max()))
        if run.dtype in (torch.float16, torch.bfloat16):
            tol *= 30
        ok = bool((fast - slow).abs().max() <= tol)
        _VERIFIED[run.model] = ok
        if not ok:
            warnings.warn("fast ISM disagreed with full forward passes on this model; "
                          "running full forward passes", RuntimeWarning)
    if not _VERIFIED[run.model]:
        return None
    # edits whose windows an end of the sequence clamps go last, in batches of their
    # own, so the other batches take the cheaper path (see _Edits.conv_by_change)
    order = torch.argsort(_near_an_end(state, p_all).to(torch.uint8), stable=True)
    e_all, p_all, a_all = e_all[order], p_all[order], a_all[order]
    out = []
    batch = _edits_per_batch(state, run.batch_size)
    with torch.no_grad(), run.autocast():
        for lo in range(0, len(ex), batch):
            sl = slice(lo, lo + batch)
            out.append(_predict_fast(plan, state, run, e_all[sl], p_all[sl], a_all[sl], target))
    y = torch.empty(len(ex), device=dev)
    y[order] = torch.cat(out)
    unedited = torch.fx.node.map_arg(plan.output.args[0], lambda n: state.env[n])
    return y, _target_logits(unedited, target)


#: Edits per batch when the batch size (of full forward passes) allows more: below about
#: a thousand the per-batch costs show (Basset ISM at batch size 128 took 1.67x the time
#: it takes at 1,024), above it nothing is gained and more memory is touched.
_EDITS_PER_BATCH = 1024


def _edits_per_batch(state: _State, batch_size: int) -> int:
    """Edits per batch of the fast path: as many as fit in the memory of ``batch_size``
    full forward passes (an edit holds windows: about a 27th of a pass's
    activations on Basset), at least ``batch_size``, at most
    ``max(batch_size, _EDITS_PER_BATCH)``."""
    full = per_edit = 0
    for node, value in state.env.items():
        if state.plan.kind[node] == "static" or not isinstance(value, torch.Tensor) or not value.ndim:
            continue
        per_row = value.numel() // max(1, value.shape[0])
        full += per_row
        per_edit += value.shape[1] * state.geom[node].W if node in state.geom else per_row
    return max(batch_size, min(_EDITS_PER_BATCH, batch_size * full // max(1, per_edit)))


def _near_an_end(state: _State, p: torch.Tensor) -> torch.Tensor:
    """Whether the window an edit at ``p`` changes is clamped to the sequence (see
    :meth:`_Geom.start`) in any local node, shape=(E,)."""
    near = torch.zeros(p.shape, dtype=torch.bool, device=p.device)
    for g in state.geom.values():
        first = g.first(p)
        near |= (first < 0) | (first > g.L - g.W)
    return near
