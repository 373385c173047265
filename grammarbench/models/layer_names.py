"""The layers of a network architecture, without importing torch when they are known.

Planning a grid checks every attribution setting against every network's layers (a GradCAM
layer must exist, DeepLIFT cannot apply to recurrent layers), which meant importing torch and
building each network in every ``snakemake`` start, dry runs included: about 1.5 s of the
seqgra-paper plan. The layer listing depends only on the architecture and on the code that
builds it, so it is kept in a small disk cache keyed by both.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from grammarbench.io import write_text

__all__ = ["network_layers", "cache_folder"]

#: The modules whose code decides a network's layer names and kinds.
_BUILDERS = ("networks.py", "modules.py", "architectures.py")


def cache_folder() -> Path:
    """``$GRAMMARBENCH_CACHE`` or ``$XDG_CACHE_HOME/grammarbench`` (``~/.cache/grammarbench``),
    then ``network-layers``."""
    root = os.environ.get("GRAMMARBENCH_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grammarbench"
    return Path(root) / "network-layers"


@functools.cache
def _builders_digest() -> bytes:
    """The code that builds networks, and torch's version: read once per process."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _BUILDERS:
        digest.update((here / name).read_bytes())
    digest.update(metadata.version("torch").encode())
    return digest.digest()


def _key(resolved: dict) -> str:
    digest = hashlib.sha256(_builders_digest())
    digest.update(json.dumps(resolved, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def network_layers(resolved: dict) -> dict[str, str]:
    """Name -> class name of every submodule of the network ``resolved`` builds
    (:func:`grammarbench.attribution.registry.model_layers` of
    :func:`grammarbench.models.networks.build_model`), from the cache when it holds them.

    A ``module:`` architecture (a user's class) is always built: importing its file is
    itself a check. A cache that cannot be read or written is passed over.
    """
    if "module" in resolved:
        return _built(resolved)
    path = cache_folder() / f"{_key(resolved)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    layers = _built(resolved)
    try:
        write_text(path, json.dumps(layers))
    except OSError:
        pass
    return layers


def _built(resolved: dict) -> dict[str, str]:
    from grammarbench.attribution.registry import model_layers
    from grammarbench.models.networks import build_model

    return model_layers(build_model(resolved))
