# modules.py
# grammarbench.models: architectures given as a PyTorch module (`module: file.py:ClassName`).

"""Architectures written as a PyTorch module: import the class from its file, construct it
for a grammar, and check it on a dummy batch. Every failure of user code is one
:class:`~grammarbench.errors.InputError` naming the architecture file and the key.

:mod:`grammarbench.models.architectures` calls :func:`check_module` when it checks an
architecture against a grammar (only where torch is importable);
:mod:`grammarbench.models.networks` builds the model with :func:`import_class` and
:func:`construct`.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import torch
from torch import nn

from grammarbench.errors import InputError

__all__ = ["import_class", "construct", "check_module"]


def import_class(file: str, class_name: str, source: str) -> type[nn.Module]:
    """The ``torch.nn.Module`` subclass ``class_name`` of the Python file ``file``; any
    failure as one :class:`InputError` naming ``source`` and the ``module`` key."""
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


def construct(cls, options: dict, length: int, alphabet_size: int, n_outputs: int, source: str) -> nn.Module:
    """``cls(**options)``, with whichever of ``length``, ``alphabet_size`` and ``n_outputs``
    its signature takes set from the grammar."""
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


def check_module(file: str, class_name: str, options: dict, source: str, *, length: int,
                 alphabet_size: int, n_outputs: int) -> None:
    """Import and construct a module architecture for a grammar and run it on a batch of
    two all-zero inputs, shape=(2, A, L): it must return logits, shape=(2, K).

    Raises
    ------
    InputError
        Naming ``source`` and the key (``module`` or ``options...``).
    """
    model = construct(import_class(file, class_name, source), options, length, alphabet_size, n_outputs,
                      source)
    x = torch.zeros((2, alphabet_size, length))
    try:
        with torch.no_grad():
            model.eval()
            out = model(x)
    except Exception as err:  # any failure of user code: report it, as one line
        raise InputError(source, "module", f"the forward pass fails on an input of shape "
                                           f"(2, {alphabet_size}, {length}): {err.__class__.__name__}: {err}"
                         ) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_outputs):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(source, "module", f"the model returns {shape} for 2 examples, but there are "
                                           f"{n_outputs} classes: it must return logits of shape (2, {n_outputs})")
