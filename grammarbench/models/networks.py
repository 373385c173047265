# models.py
# grammarbench: PyTorch models from resolved architectures; loading trained models

"""PyTorch models built from architectures (:mod:`grammarbench.models.architectures`), and trained
models loaded back from their folders.

Every model takes one-hot input ``shape=(N, A, L)`` and returns logits ``shape=(N, K)``
(before softmax or sigmoid). A built model carries ``alphabet_size``, ``length``,
``n_outputs``, ``task`` and ``classes`` as attributes, which :func:`grammarbench.predict.predict`
and the attribution methods read.

A trained-model folder (written by :func:`grammarbench.models.train.train_model`) holds::

    model.pt            the state dict (best epoch)
    architecture.yaml   the resolved architecture: layers (or module), input length,
                        alphabet, classes, task, training options
    history.tsv         one row per epoch (see grammarbench.models.train)
    summary.json        parameter counts, wall time, device, epochs, best epoch
    module.py           a copy of the module file, for `module:` architectures

and :func:`load_trained` rebuilds the model from it.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections import OrderedDict
from pathlib import Path

import torch
import yaml
from torch import nn

from grammarbench.models.architectures import Architecture, walk_shapes
from grammarbench.errors import InputError


class Exp(nn.Module):
    """Exponential activation, exp(x) (Koo & Ploenzke 2021, Nat. Mach. Intell. 3:258).

    Notes
    -----
    Captum's DeepLIFT applies its rescale rule only to the non-linearities it knows
    (``captum.attr._core.deep_lift.SUPPORTED_NON_LINEAR``); register this class there
    (with the ``nonlinear`` rule) to explain models that use it.
    """

    def forward(self, x):
        return torch.exp(x)


class Residual(nn.Module):
    """``body(x) + skip(x)``: ``skip`` is the identity, or a 1-wide convolution (linear map
    for flat inputs) where the body changes the number of channels (He et al. 2016)."""

    def __init__(self, body: nn.Module, skip: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.skip = skip if skip is not None else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.skip(x)


class BiLSTM(nn.Module):
    """Bidirectional LSTM over positions: ``(N, C, L)`` → ``(N, 2·units, L)`` (DanQ,
    Quang & Xie 2016)."""

    def __init__(self, channels: int, units: int, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(channels, units, num_layers=layers, batch_first=True,
                            bidirectional=True, dropout=dropout if layers > 1 else 0.0)

    def forward(self, x):
        out, _ = self.lstm(x.transpose(1, 2))                                  # (N, L, 2H)
        return out.transpose(1, 2)                                             # (N, 2H, L)


class SequenceModel(nn.Module):
    """A model built from a layer list: ``self.layers`` is an ``nn.Sequential`` whose
    modules are named ``l<index>_<layer>`` after the architecture file's layers (e.g.
    ``l0_conv``), so a layer is easy to find for layer attributions (GradCAM)."""

    def __init__(self, layers: nn.Sequential):
        super().__init__()
        self.layers = layers

    def forward(self, x):
        return self.layers(x)


# --------------------------------------------------------------------------- building


def _activation(kind: str, options: dict) -> nn.Module:
    # A fresh module per activation site, never a shared one and never torch.nn.functional
    # in forward: Captum's DeepLIFT and guided backpropagation hook each non-linearity module
    # and store the inputs it saw; a module used twice would overwrite them (wrong
    # attributions, or errors), and a functional call would not be hooked at all. No
    # inplace=True either: hooks on in-place ops see the overwritten input.
    return {
        "relu": lambda: nn.ReLU(),
        "exp": lambda: Exp(),
        "sigmoid": lambda: nn.Sigmoid(),
        "tanh": lambda: nn.Tanh(),
        "softplus": lambda: nn.Softplus(),
        "elu": lambda: nn.ELU(alpha=options["alpha"]),
        "gelu": lambda: nn.GELU(),
        "leaky_relu": lambda: nn.LeakyReLU(negative_slope=options["slope"]),
    }[kind]()


def _sequential(layers: list, shape: tuple, n_outputs: int, prefix: str = "l") -> tuple[nn.Sequential, tuple]:
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for i, layer in enumerate(layers):
        (kind, o), = layer.items()
        name = f"{prefix}{i}_{kind}"
        seq = len(shape) == 2
        if kind == "residual":
            body, out = _sequential(o["layers"], shape, n_outputs, prefix=f"{name}_l")
            skip = None
            if out[0] != shape[0]:
                skip = nn.Conv1d(shape[0], out[0], 1) if seq else nn.Linear(shape[0], out[0])
            modules[name] = Residual(body, skip)
            shape = out
            continue
        out = walk_shapes([layer], shape, n_outputs)
        if kind == "conv":
            padding = 0 if o["padding"] == "valid" else o["padding"]
            modules[name] = nn.Conv1d(shape[0], o["filters"], o["width"], stride=o["stride"],
                                      padding=padding, dilation=o["dilation"], bias=o["bias"])
        elif kind == "max_pool":
            modules[name] = nn.MaxPool1d(o["size"], stride=o["stride"] or o["size"])
        elif kind == "avg_pool":
            modules[name] = nn.AvgPool1d(o["size"], stride=o["stride"] or o["size"])
        elif kind in ("global_max_pool", "global_avg_pool"):
            # A pooling window as wide as the input (its length is known here), not an
            # adaptive pool: Captum's DeepLIFT has a rule for MaxPool1d, none for adaptive ones.
            pool = nn.MaxPool1d if kind == "global_max_pool" else nn.AvgPool1d
            modules[name] = pool(shape[1])
            modules[f"{name}_flatten"] = nn.Flatten()
        elif kind == "flatten":
            modules[name] = nn.Flatten()
        elif kind == "dense":
            if seq:
                modules[f"{name}_flatten"] = nn.Flatten()
            features = shape[0] * (shape[1] if seq else 1)
            modules[name] = nn.Linear(features, out[0], bias=o["bias"])
        elif kind == "dropout":
            modules[name] = nn.Dropout(o["rate"])
        elif kind == "batch_norm":
            modules[name] = nn.BatchNorm1d(shape[0], eps=o["eps"], momentum=o["momentum"])
        elif kind == "bilstm":
            modules[name] = BiLSTM(shape[0], o["units"], o["layers"], o["dropout"])
        else:
            modules[name] = _activation(kind, o)
        shape = out
    return nn.Sequential(modules), shape


def _import_class(file: str, class_name: str, source: str):
    path = Path(file)
    module_name = f"grammarbench_user_{abs(hash(str(path.resolve())))}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as err:  # user code: report any failure as one line
        sys.modules.pop(module_name, None)
        raise InputError(source, "module", f"{path} does not import: {err.__class__.__name__}: {err}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise InputError(source, "module", f"no class {class_name!r} in {path}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise InputError(source, "module", f"{class_name} in {path} is not a torch.nn.Module")
    return cls


def _construct(cls, options: dict, length: int, alphabet_size: int, n_outputs: int, source: str) -> nn.Module:
    given = {"length": length, "alphabet_size": alphabet_size, "n_outputs": n_outputs}
    params = inspect.signature(cls).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in given.items() if takes_all or k in params}
    clash = sorted(set(options) & set(given))
    if clash:
        raise InputError(source, f"options.{clash[0]}", "is set from the grammar; remove it")
    try:
        return cls(**kwargs, **options)
    except Exception as err:  # user code
        raise InputError(source, "options", f"{cls.__name__}(...) fails with these options: "
                                            f"{err.__class__.__name__}: {err}") from None


def instantiate_module(arch: Architecture, *, length: int, alphabet_size: int, n_outputs: int) -> nn.Module:
    """Import and construct a ``module:`` architecture (errors as :class:`InputError`)."""
    cls = _import_class(arch.module[0], arch.module[1], arch.source)
    return _construct(cls, arch.options, length, alphabet_size, n_outputs, arch.source)


def build_model(resolved: dict, module_file: str | Path | None = None) -> nn.Module:
    """Build the (untrained) model of a resolved architecture
    (:func:`grammarbench.models.architectures.resolve`).

    Parameters
    ----------
    resolved: dict
        A resolved architecture (what ``architecture.yaml`` holds).
    module_file: str or Path, optional
        For ``module:`` architectures, the file to import instead of the recorded one
        (the copy in a model folder). Default is None.

    Returns
    -------
    model: torch.nn.Module
        Input ``shape=(N, A, L)``, output logits ``shape=(N, K)``, in train mode, with
        attributes ``alphabet_size``, ``length``, ``n_outputs``, ``task``, ``classes``.
    """
    A, L = resolved["input"]["alphabet_size"], resolved["input"]["length"]
    K = resolved["outputs"]
    source = resolved.get("source", "<architecture>")
    if "module" in resolved:
        spec = resolved["module"]
        cls = _import_class(str(module_file or spec["file"]), spec["class"], source)
        model = _construct(cls, spec.get("options") or {}, L, A, K, source)
    else:
        layers, out = _sequential(resolved["layers"], (A, L), K)
        if out != (K,):
            raise ValueError(f"{source}: the layers give shape {out}, not ({K},)")
        model = SequenceModel(layers)
    model.alphabet_size, model.length, model.n_outputs = A, L, K
    model.task, model.classes = resolved["task"], list(resolved["classes"])
    return model


def count_parameters(model: nn.Module) -> dict:
    """Parameter counts: ``total``, ``trainable`` and ``by_layer`` (top-level children)."""
    by_layer = {}
    root = model.layers if isinstance(model, SequenceModel) else model
    for name, child in root.named_children():
        n = sum(p.numel() for p in child.parameters())
        if n:
            by_layer[name] = n
    return {"total": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "by_layer": by_layer}


def read_resolved(folder: str | Path) -> dict:
    """The resolved architecture of a trained-model folder."""
    return yaml.safe_load((Path(folder) / "architecture.yaml").read_text())


def load_trained(folder: str | Path, device=None) -> nn.Module:
    """Rebuild a trained model from its folder, in eval mode.

    Parameters
    ----------
    folder: str or Path
        A trained-model folder (``model.pt`` and ``architecture.yaml`` inside).
    device: str, torch.device or None
        Where to put the model; None: CUDA if available, else the CPU. Default is None.

    Returns
    -------
    model: torch.nn.Module
        In eval mode, with the attributes of :func:`build_model`.
    """
    from grammarbench.runtime import resolve_device

    folder = Path(folder)
    resolved = read_resolved(folder)
    copy = folder / "module.py"
    model = build_model(resolved, module_file=copy if copy.is_file() else None)
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.to(resolve_device(device))
    model.eval()
    return model
