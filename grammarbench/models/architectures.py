# architectures.py
# grammarbench: the architecture language: read, validate, fit to a grammar

"""Architectures: read a YAML definition, validate it, and fit it to a grammar.

An architecture file is either a list of layers or a reference to a PyTorch module, plus
the training hyperparameters. ``config/architectures/README.md`` documents the language;
in short::

    name: conv10w-gmp-fc10
    description: ...
    layers:                          # input: one-hot, shape=(N, A, L)
      - conv: {filters: 10, width: 21, padding: same}
      - relu
      - global_max_pool
      - dense: {units: 10}
      - relu
      - dense: {units: outputs}      # `outputs` = the grammar's number of classes
    training: {optimizer: adam, learning_rate: 0.001, batch_size: 100, max_epochs: 100, patience: 10}

or ``module: path/to/file.py:ClassName`` (relative to the architecture file) with optional
``options:`` passed to the constructor, which also receives ``length``, ``alphabet_size``
and ``n_outputs`` if its signature names them.

Nothing here imports torch: the Snakefile validates every architecture against every
grammar (shapes, receptive fields, pooling, the number of outputs) while it parses, before
any job starts, and each problem is one :class:`~grammarbench.errors.InputError` naming
the file and the key. Module architectures are imported and run on a dummy batch at that
point too when torch is importable (it is in the pip set-up); otherwise the file and the
class are checked and the rest is left to the job.
"""

from __future__ import annotations

import ast
import copy
import math
from dataclasses import dataclass, field
from pathlib import Path


from grammarbench.errors import InputError
from grammarbench.io import read_yaml_mapping

REQUIRED = object()

#: Options of each layer: name -> (kind, default). Kinds: int (>= 1 unless noted), int0
#: (>= 0), rate ([0, 1)), float, positive (> 0), bool, padding (valid | same | int >= 0),
#: units (int >= 1 | "outputs"), layers (a nested layer list), int_or_none.
LAYER_OPTIONS: dict[str, dict[str, tuple[str, object]]] = {
    "conv": {"filters": ("int", REQUIRED), "width": ("int", REQUIRED), "dilation": ("int", 1),
             "stride": ("int", 1), "padding": ("padding", "valid"), "bias": ("bool", True)},
    "max_pool": {"size": ("int", REQUIRED), "stride": ("int_or_none", None)},
    "avg_pool": {"size": ("int", REQUIRED), "stride": ("int_or_none", None)},
    "global_max_pool": {},
    "global_avg_pool": {},
    "flatten": {},
    "dense": {"units": ("units", REQUIRED), "bias": ("bool", True)},
    "dropout": {"rate": ("rate", REQUIRED)},
    "batch_norm": {"momentum": ("rate", 0.1), "eps": ("positive", 1e-5)},
    "relu": {},
    "exp": {},
    "sigmoid": {},
    "tanh": {},
    "softplus": {},
    "elu": {"alpha": ("positive", 1.0)},
    "gelu": {},
    "leaky_relu": {"slope": ("positive", 0.01)},
    "residual": {"layers": ("layers", REQUIRED)},
    "bilstm": {"units": ("int", REQUIRED), "layers": ("int", 1), "dropout": ("rate", 0.0)},
}
ACTIVATIONS = ("relu", "exp", "sigmoid", "tanh", "softplus", "elu", "gelu", "leaky_relu")

TRAINING_DEFAULTS: dict[str, object] = {
    "loss": "auto",             # auto | cross_entropy (multi-class) | binary_cross_entropy (multi-label)
    "optimizer": "adam",        # adam | adamw | sgd | rmsprop
    "learning_rate": 0.001,
    "weight_decay": 0.0,
    "momentum": 0.9,            # sgd and rmsprop only
    "batch_size": 128,
    "max_epochs": 100,
    "patience": 10,             # epochs without a lower validation loss before stopping
    "gradient_clip": None,      # max gradient norm, or null
}
LOSSES = {"multi-class": "cross_entropy", "multi-label": "binary_cross_entropy"}
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
TOP_KEYS = ("name", "description", "layers", "module", "options", "training")


@dataclass(frozen=True, eq=False)
class Architecture:
    """A validated architecture file (not yet fitted to a grammar; see :func:`resolve`).

    ``layers`` is the normalised layer list (every layer a one-key mapping with every
    option filled in), or None for a module architecture, whose ``module`` is
    ``(absolute file path, class name)`` and ``options`` its constructor options.
    """

    name: str
    source: str
    description: str
    layers: list | None
    module: tuple[str, str] | None
    options: dict
    training: dict
    definition: dict = field(repr=False, default_factory=dict)

    @property
    def kind(self) -> str:
        return "module" if self.module else "layers"


# --------------------------------------------------------------------------- loading


def load_architecture(path: str | Path) -> Architecture:
    """Read and validate an architecture file (its structure; shapes are checked against
    each grammar by :func:`check_fit`).

    Raises
    ------
    InputError
        Naming the file, the key and the problem.
    """
    path = Path(path)
    return architecture_from_dict(read_yaml_mapping(path, "architecture file"), source=path)


def architecture_from_dict(definition: dict, source: str | Path = "<architecture>") -> Architecture:
    """Validate an architecture given as a dict (see :func:`load_architecture`); a module
    path is resolved against ``source``'s folder."""
    source = str(source)

    def fail(key, problem):
        raise InputError(source, key, problem)

    unknown = [k for k in definition if k not in TOP_KEYS]
    if unknown:
        fail(unknown[0], f"unknown key; an architecture has {', '.join(TOP_KEYS)}")
    if ("layers" in definition) == ("module" in definition):
        fail("layers", "give exactly one of `layers` (a list of layers) or `module: file.py:ClassName`")
    name = definition.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        fail("name", "must be a non-empty string")
    training = _training(definition.get("training", {}), fail)
    layers, module, options = None, None, {}
    if "layers" in definition:
        if "options" in definition:
            fail("options", "only applies with `module`")
        layers = _layers(definition["layers"], "layers", fail)
        if not layers:
            fail("layers", "needs at least one layer")
    else:
        module = _module(definition["module"], source, fail)
        options = definition.get("options") or {}
        if not isinstance(options, dict):
            fail("options", "must be a mapping of constructor arguments")
    return Architecture(name=name, source=source, description=str(definition.get("description", "")),
                        layers=layers, module=module, options=dict(options), training=training,
                        definition=definition)


def _training(spec, fail) -> dict:
    if not isinstance(spec, dict):
        fail("training", "must be a mapping")
    out = dict(TRAINING_DEFAULTS)
    for key, value in spec.items():
        where = f"training.{key}"
        if key not in TRAINING_DEFAULTS:
            fail(where, f"unknown option; training options: {', '.join(TRAINING_DEFAULTS)}")
        if key == "loss":
            if value not in ("auto", *LOSSES.values()):
                fail(where, f"unknown loss {value!r}; one of auto, {', '.join(LOSSES.values())}")
        elif key == "optimizer":
            if value not in OPTIMIZERS:
                fail(where, f"unknown optimizer {value!r}; one of {', '.join(OPTIMIZERS)}")
        elif key in ("batch_size", "max_epochs"):
            _check_value("int", value, where, fail)
        elif key == "patience":
            _check_value("int0", value, where, fail)
        elif key == "learning_rate":
            _check_value("positive", value, where, fail)
        elif key in ("weight_decay", "momentum"):
            _check_value("float0", value, where, fail)
        elif key == "gradient_clip" and value is not None:
            _check_value("positive", value, where, fail)
        out[key] = value
    return out


def _check_value(kind: str, value, where: str, fail):
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_number = (is_int or isinstance(value, float)) and not isinstance(value, bool)
    if kind == "int" and not (is_int and value >= 1):
        fail(where, f"must be a whole number >= 1; got {value!r}")
    if kind == "int0" and not (is_int and value >= 0):
        fail(where, f"must be a whole number >= 0; got {value!r}")
    if kind == "int_or_none" and value is not None and not (is_int and value >= 1):
        fail(where, f"must be a whole number >= 1 (or null); got {value!r}")
    if kind == "rate" and not (is_number and 0 <= value < 1):
        fail(where, f"must be a number in [0, 1); got {value!r}")
    if kind == "positive" and not (is_number and value > 0 and math.isfinite(value)):
        fail(where, f"must be a number > 0; got {value!r}")
    if kind == "float0" and not (is_number and value >= 0 and math.isfinite(value)):
        fail(where, f"must be a number >= 0; got {value!r}")
    if kind == "bool" and not isinstance(value, bool):
        fail(where, f"must be true or false; got {value!r}")
    if kind == "padding" and not (value in ("valid", "same") or (is_int and value >= 0)):
        fail(where, f"must be valid, same or a whole number >= 0; got {value!r}")
    if kind == "units" and not (value == "outputs" or (is_int and value >= 1)):
        fail(where, f"must be a whole number >= 1 or `outputs` (the number of classes); got {value!r}")


def _layers(spec, key: str, fail) -> list:
    """Normalise a layer list: every layer becomes ``{type: {every option}}``."""
    if not isinstance(spec, list):
        fail(key, "must be a list of layers")
    out = []
    for i, layer in enumerate(spec):
        where = f"{key}[{i}]"
        if isinstance(layer, str):
            kind, options = layer, {}
        elif isinstance(layer, dict) and len(layer) == 1:
            (kind, options), = layer.items()
            options = {} if options is None else options
        else:
            fail(where, "a layer is a name (`relu`) or a one-key mapping (`conv: {filters: 10, width: 11}`)")
        if kind not in LAYER_OPTIONS:
            fail(where, f"unknown layer {kind!r}; layers: {', '.join(LAYER_OPTIONS)}")
        if not isinstance(options, dict):
            fail(f"{where}.{kind}", "options must be a mapping")
        allowed = LAYER_OPTIONS[kind]
        for name in options:
            if name not in allowed:
                known = ", ".join(allowed) or "none"
                fail(f"{where}.{kind}.{name}", f"unknown option of {kind}; its options: {known}")
        filled = {}
        for name, (kind_of, default) in allowed.items():
            if name not in options:
                if default is REQUIRED:
                    fail(f"{where}.{kind}", f"needs `{name}`")
                filled[name] = default
                continue
            value = options[name]
            if kind_of == "layers":
                value = _layers(value, f"{where}.{kind}.{name}", fail)
                if not value:
                    fail(f"{where}.{kind}.{name}", "needs at least one layer")
            else:
                _check_value(kind_of, value, f"{where}.{kind}.{name}", fail)
            filled[name] = value
        if kind == "conv" and filled["padding"] == "same" and filled["stride"] != 1:
            fail(f"{where}.conv.padding", "padding `same` needs stride 1")
        out.append({kind: filled})
    return out


def _module(spec, source: str, fail) -> tuple[str, str]:
    if not isinstance(spec, str) or ":" not in spec:
        fail("module", f"must read path/to/file.py:ClassName; got {spec!r}")
    file, _, class_name = spec.rpartition(":")
    path = Path(file)
    if not path.is_absolute():
        path = (Path(source).parent / path) if source != "<architecture>" else path
    if not path.is_file():
        fail("module", f"module file not found: {path}")
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as err:
        fail("module", f"{path} does not import: {err.__class__.__name__}: {err}")
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    if class_name not in classes:
        fail("module", f"no class {class_name!r} in {path}; classes there: {', '.join(classes) or 'none'}")
    return str(path.resolve()), class_name


# --------------------------------------------------------------------------- shapes


def layer_output_shape(kind: str, options: dict, shape: tuple, n_outputs: int) -> tuple:
    """The output shape of one layer, ``(channels, positions)`` or ``(features,)``.

    Raises ``ValueError`` with the problem (the caller adds file and key) when the layer
    cannot take this input.
    """
    seq = len(shape) == 2
    if kind == "conv":
        if not seq:
            raise ValueError("a convolution needs positions, but an earlier layer flattened them")
        c, length = shape
        reach = options["dilation"] * (options["width"] - 1) + 1
        if options["padding"] == "same":
            return (options["filters"], length)
        pad = 0 if options["padding"] == "valid" else options["padding"]
        out = (length + 2 * pad - reach) // options["stride"] + 1
        if out < 1:
            raise ValueError(f"its receptive field ({reach} letters) does not fit the {length + 2 * pad} "
                             f"positions left at this layer")
        return (options["filters"], out)
    if kind in ("max_pool", "avg_pool"):
        if not seq:
            raise ValueError("pooling needs positions, but an earlier layer flattened them")
        c, length = shape
        if options["size"] > length:
            raise ValueError(f"a pooling window of {options['size']} does not fit the {length} positions "
                             "left at this layer")
        stride = options["stride"] or options["size"]
        return (c, (length - options["size"]) // stride + 1)
    if kind in ("global_max_pool", "global_avg_pool"):
        if not seq:
            raise ValueError("global pooling needs positions, but an earlier layer flattened them")
        return (shape[0],)
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "dense":
        units = n_outputs if options["units"] == "outputs" else options["units"]
        return (units,)
    if kind == "bilstm":
        if not seq:
            raise ValueError("an LSTM needs positions, but an earlier layer flattened them")
        return (2 * options["units"], shape[1])
    return shape  # dropout, batch_norm, activations; residual is handled by walk_shapes


def walk_shapes(layers: list, shape: tuple, n_outputs: int, key: str = "layers", visit=None) -> tuple:
    """Run the shape inference through ``layers``; returns the output shape.

    ``visit(key, kind, options, in_shape, out_shape)`` is called for every layer (a
    residual block after its inner layers). Raises ``ValueError("<key>: <problem>")``.
    """
    for i, layer in enumerate(layers):
        (kind, options), = layer.items()
        where = f"{key}[{i}].{kind}"
        if kind == "residual":
            inner = walk_shapes(options["layers"], shape, n_outputs, f"{where}.layers", visit)
            if len(inner) != len(shape) or (len(shape) == 2 and inner[1] != shape[1]):
                raise ValueError(f"{where}: the block turns shape {_describe(shape)} into {_describe(inner)}; "
                                 "its output must keep the positions to be added to its input "
                                 "(use padding: same and no pooling inside)")
            out = inner
        else:
            try:
                out = layer_output_shape(kind, options, shape, n_outputs)
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
        if visit is not None:
            visit(where, kind, options, shape, out)
        shape = out
    return shape


def _describe(shape: tuple) -> str:
    return f"({shape[0]} channels × {shape[1]} positions)" if len(shape) == 2 else f"({shape[0]} features)"


def receptive_field(layers: list) -> int:
    """Letters of input that one position after the last positional layer sees (convolutions
    and pooling; residual blocks count their inner path)."""
    field_, jump = 1, 1
    for layer in layers:
        (kind, options), = layer.items()
        if kind == "conv":
            field_ += options["dilation"] * (options["width"] - 1) * jump
            jump *= options["stride"]
        elif kind in ("max_pool", "avg_pool"):
            stride = options["stride"] or options["size"]
            field_ += (options["size"] - 1) * jump
            jump *= stride
        elif kind == "residual":
            inner = receptive_field(options["layers"])
            field_ += (inner - 1) * jump
    return field_


# --------------------------------------------------------------------------- fitting to a grammar


def check_fit(arch: Architecture, *, length: int, alphabet_size: int, n_outputs: int, task: str,
              context: str = "") -> None:
    """Check that ``arch`` fits inputs ``shape=(N, alphabet_size, length)`` and gives
    ``n_outputs`` logits for ``task``.

    Raises
    ------
    InputError
        Naming the architecture file, the key and the problem (``context`` says for which
        grammar, e.g. ``"grammar 'one-motif' (length 200, 2 classes)"``).
    """
    suffix = f" [{context}]" if context else ""

    def fail(key, problem):
        raise InputError(arch.source, key, problem + suffix)

    loss = arch.training["loss"]
    if loss != "auto" and loss != LOSSES[task]:
        fail("training.loss", f"{loss} does not fit a {task} task (use {LOSSES[task]} or auto)")
    if arch.module:
        _check_module_fit(arch, length, alphabet_size, n_outputs, fail)
        return
    try:
        out = walk_shapes(arch.layers, (alphabet_size, length), n_outputs)
    except ValueError as err:
        key, _, problem = str(err).partition(": ")
        fail(key, problem)
    if len(out) != 1 or out[0] != n_outputs:
        last = len(arch.layers) - 1
        (kind, options), = arch.layers[last].items()
        if kind == "dense" and len(out) == 1:
            fail(f"layers[{last}].dense.units", f"the output layer has {out[0]} units but there are "
                                                f"{n_outputs} classes (write units: outputs)")
        fail("layers", f"the model's output is {_describe(out)}, but it must be one logit per class "
                       f"({n_outputs}); end with `dense: {{units: outputs}}`")


def _check_module_fit(arch, length, alphabet_size, n_outputs, fail):
    try:
        import torch
    except ImportError:  # the Snakemake process may run without torch (--sdm conda)
        return
    from grammarbench.models.networks import instantiate_module

    try:
        model = instantiate_module(arch, length=length, alphabet_size=alphabet_size, n_outputs=n_outputs)
    except InputError as err:
        fail(err.key, err.problem)

    x = torch.zeros((2, alphabet_size, length))
    try:
        with torch.no_grad():
            model.eval()
            out = model(x)
    except Exception as err:  # any failure of user code: report it, as one line
        fail("module", f"the forward pass fails on an input of shape (2, {alphabet_size}, {length}): "
                       f"{err.__class__.__name__}: {err}")
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_outputs):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        fail("module", f"the model returns {shape} for 2 examples, but there are {n_outputs} classes: "
                       f"it must return logits of shape (2, {n_outputs})")


def resolve(arch: Architecture, *, length: int, letters: str, alphabet: str, classes: list[str],
            task: str, overrides: dict | None = None) -> dict:
    """The architecture fitted to a dataset: what ``architecture.yaml`` in a model folder
    holds, and all :func:`grammarbench.models.networks.build_model` needs.

    ``overrides`` replaces training options (the config's ``train:`` keys max_epochs,
    patience, batch_size; None values are ignored).
    """
    n_outputs = len(classes)
    check_fit(arch, length=length, alphabet_size=len(letters), n_outputs=n_outputs, task=task)
    training = dict(arch.training)
    for key, value in (overrides or {}).items():
        if value is not None:
            if key not in TRAINING_DEFAULTS:
                raise ValueError(f"unknown training override {key!r}")
            training[key] = value
    if training["loss"] == "auto":
        training["loss"] = LOSSES[task]
    resolved = {
        "name": arch.name,
        "source": arch.source,
        "description": arch.description,
        "input": {"length": int(length), "alphabet": alphabet, "letters": letters,
                  "alphabet_size": len(letters)},
        "task": task,
        "classes": list(classes),
        "outputs": n_outputs,
    }
    if arch.module:
        resolved["module"] = {"file": arch.module[0], "class": arch.module[1], "options": arch.options}
    else:
        resolved["layers"] = _fill_outputs(copy.deepcopy(arch.layers), n_outputs)
        resolved["receptive_field"] = receptive_field(arch.layers)
    resolved["training"] = training
    return resolved


def _fill_outputs(layers: list, n_outputs: int) -> list:
    for layer in layers:
        (kind, options), = layer.items()
        if kind == "dense" and options["units"] == "outputs":
            options["units"] = n_outputs
        if kind == "residual":
            _fill_outputs(options["layers"], n_outputs)
    return layers
