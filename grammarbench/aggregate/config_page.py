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

from grammarbench.io import plain_data, write_text

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
    """One self-contained HTML page: the resolved config, where it came from (``sources``,
    in the order they apply: schema defaults, config files, the command line), and every
    grammar (``name -> path``) and architecture (``name -> path``) file it names."""
    resolved = yaml.safe_dump(plain_data(config), sort_keys=False, default_flow_style=False)
    parts = [
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Run configuration</title>"
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Run configuration</h1>",
        "<p>Sources of the config, in the order they apply (each later one overrides the "
        "earlier ones key by key):</p>",
        "<ol>" + "".join(f"<li><code>{html.escape(s)}</code></li>" for s in sources) + "</ol>",
        "<p>Below: the config as the workflow used it, every default filled in.</p>",
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
    write_text(path, config_page(config, sources, grammars, architectures))

