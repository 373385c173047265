"""The run's configuration as one page of the HTML report.

A figure is only reproducible with the config that made it: the page shows the config as the
workflow used it (after validation filled in every default), the files it was read from, and
the text and SHA-256 of every grammar and architecture definition the grid names, so that a
report handed around on its own still says exactly what was simulated and trained.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

__all__ = ["config_page", "write_config_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.15em; margin-top: 1.6em; } h3 { font-size: 1em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { font-size: 0.85em; } .sha { color: #666; }
"""


def _definition(title: str, name: str, path: Path) -> str:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    return (f"<h3>{html.escape(title)} <code>{html.escape(name)}</code>: "
            f"<code>{html.escape(str(path))}</code></h3>\n"
            f"<p class=\"sha\">sha256 {digest}</p>\n"
            f"<pre>{html.escape(data.decode('utf-8', errors='replace'))}</pre>")


def config_page(config: Mapping, sources: Sequence[str], grammars: Mapping[str, str],
                architectures: Mapping[str, str]) -> str:
    """One self-contained HTML page: the resolved config, where it came from, and every
    grammar (``name -> path``) and architecture (``name -> path``) file it names."""
    resolved = yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)
    parts = [
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Run configuration</title>"
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Run configuration</h1>",
        "<p>Config file(s): " + ", ".join(f"<code>{html.escape(s)}</code>" for s in sources)
        + " (later files and <code>--config</code> override earlier ones). Below: the config "
          "as the workflow used it, every default filled in.</p>",
        f"<pre>{html.escape(resolved)}</pre>",
        "<h2>Grammars</h2>",
        *(_definition("grammar", name, Path(path)) for name, path in grammars.items()),
        "<h2>Architectures</h2>",
        *(_definition("architecture", name, Path(path)) for name, path in architectures.items()),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_config_page(path, config: Mapping, sources: Sequence[str],
                      grammars: Mapping[str, str], architectures: Mapping[str, str]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(config_page(config, sources, grammars, architectures))


def _plain(value):
    """Snakemake's config holds its own Mapping and Namedlist types; YAML wants plain ones."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
