"""The config grid: check it, load its grammars and architectures, and expand it into one
table of runs.

The Snakefile calls :func:`check_config` then :func:`build_grid` while it parses, so a bad
config, grammar or architecture (one that does not fit a grammar's length, alphabet or
classes) stops the run before any job starts, with one message naming the file, the key
and the problem (:class:`~grammarbench.errors.InputError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

from grammarbench.models.architectures import Architecture, check_fit, load_architecture
from grammarbench.errors import InputError, key_path
from grammarbench.grammars.grammar import Grammar, load_grammar

@cache
def _read_schema(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def coerce_command_line(value):
    """Undo ``snakemake --config``'s strings inside lists and mappings.

    Snakemake parses ``--config n_train=[1000,10000]`` with YAML's base loader, which gives
    ``['1000', '10000']``: every scalar inside a list or mapping stays a string. Strings that
    YAML reads as a number, a boolean or null are turned into that; every other string (a
    path, a name) is kept. Top-level values, which Snakemake already types, pass through.
    Returns a new object; the input is unchanged.
    """

    def typed(item):
        if isinstance(item, dict):
            return {k: typed(v) for k, v in item.items()}
        if isinstance(item, list):
            return [typed(v) for v in item]
        if isinstance(item, str):
            try:
                parsed = yaml.safe_load(item)
            except yaml.YAMLError:
                return item
            return parsed if parsed is None or isinstance(parsed, (bool, int, float)) else item
        return item

    if isinstance(value, dict):
        return {k: typed(v) if isinstance(v, (list, dict)) else v for k, v in value.items()}
    return value


def check_config(config: dict, source: str, schema: str | Path) -> None:
    """Check the config's structure against ``schemas/config.schema.yaml``.

    Snakemake's own ``validate`` reports the same problems with a schema dump; this
    names the key and the problem in one line, then ``validate`` fills the defaults.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(_read_schema(str(schema)))
    errors = sorted(validator.iter_errors(config), key=lambda e: len(e.absolute_path))
    if errors:
        err = errors[0]
        message = err.message
        if err.validator == "oneOf":
            message = f"{err.instance!r} is not valid: {err.schema.get('description', '').strip()}"
        elif err.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown key(s)")
        raise InputError(source, key_path(err.absolute_path), message)


@dataclass
class Grid:
    """The expanded grid. ``datasets`` has one row per (grammar, seed, n_train); ``models``
    one per (grammar, seed, n_train, architecture, model_seed)."""

    config: dict
    grammars: dict[str, Grammar]
    grammar_paths: dict[str, str]
    n_train: dict[str, list[int]]
    heldout: dict[str, dict[str, int]]
    seeds: list[int]
    results: str
    architectures: dict[str, Architecture] = field(default_factory=dict)
    architecture_paths: dict[str, str] = field(default_factory=dict)
    #: the checked attribution section (runs expanded); None when no method is configured
    attribution: dict | None = None
    model_seeds: list[int] = field(default_factory=lambda: [1])

    @property
    def datasets(self) -> pd.DataFrame:
        rows = [(g, s, n) for g in self.grammars for s in self.seeds for n in self.n_train[g]]
        return pd.DataFrame(rows, columns=["grammar", "seed", "n_train"])

    @property
    def models(self) -> pd.DataFrame:
        rows = [(g, s, n, a, m) for g, s, n in self.datasets.itertuples(index=False)
                for a in self.architectures for m in self.model_seeds]
        return pd.DataFrame(rows, columns=["grammar", "seed", "n_train", "architecture", "model_seed"])


def _find(path: str, basedir) -> Path | None:
    """A file given in the config: from the working directory, else from the workflow's
    folder (so the bundled grammars and architectures work from any working directory)."""
    candidates = [Path(path)] + ([Path(basedir) / path] if basedir and not Path(path).is_absolute() else [])
    return next((p for p in candidates if p.is_file()), None)


def build_grid(config: dict, source: str, basedir: str | Path | None = None) -> Grid:
    """Load every grammar (validating it) and resolve the sizes of every split.

    Parameters
    ----------
    config: dict
        The config, after :func:`check_config` and default filling.
    source: str
        Where the config came from, for messages.
    basedir: str or Path, optional
        The workflow's folder: a relative grammar or architecture path not found from the
        working directory is looked up there.
    """
    grammars, paths = {}, {}
    for grammar_id, path in config["grammars"].items():
        found = _find(path, basedir)
        if found is None:
            raise InputError(source, f"grammars.{grammar_id}", f"grammar file not found: {path}")
        paths[grammar_id] = str(found)
        grammars[grammar_id] = load_grammar(found)
    n_train, heldout = {}, {}
    for grammar_id, grammar in grammars.items():
        sizes = config.get("n_train")
        if sizes is None:
            if "train" not in grammar.sizes:
                raise InputError(source, "n_train", f"is null, and grammar {grammar_id!r} "
                                 f"({grammar.source}) has no sizes.train of its own")
            sizes = [grammar.sizes["train"]]
        n_train[grammar_id] = sorted(sizes)
        heldout[grammar_id] = {}
        derived = grammar.heldout_sizes(max(sizes))
        for split in ("validation", "test"):
            given = config.get(f"n_{split}")
            heldout[grammar_id][split] = (given if given is not None
                                          else grammar.sizes.get(split, derived[split]))
    architectures, architecture_paths = {}, {}
    for arch_id, path in (config.get("architectures") or {}).items():
        found = _find(path, basedir)
        if found is None:
            raise InputError(source, f"architectures.{arch_id}", f"architecture file not found: {path}")
        arch = load_architecture(found)
        for grammar_id, grammar in grammars.items():
            check_fit(arch, length=grammar.max_length, alphabet_size=grammar.alphabet.size,
                      n_outputs=grammar.n_classes, task=grammar.task,
                      context=f"grammar {grammar_id!r}: {grammar.alphabet.name}, length "
                              f"{grammar.max_length}, {grammar.n_classes} classes, {grammar.task}")
        architectures[arch_id], architecture_paths[arch_id] = arch, str(found)
    attribution = None
    if (config.get("attribution") or {}).get("methods"):
        if not architectures:
            raise InputError(source, "attribution", "attribution methods need trained models: "
                             "the config has no architectures")
        attribution = check_attribution(config["attribution"], source, architectures, grammars)
    return Grid(config=config, grammars=grammars, grammar_paths=paths, n_train=n_train, heldout=heldout,
                seeds=list(config.get("seeds", [1])), results=config.get("results", "results"),
                architectures=architectures, architecture_paths=architecture_paths,
                model_seeds=list(config.get("model_seeds", [1])), attribution=attribution)


def check_attribution(section: dict, source: str, architectures: dict[str, Architecture],
                      grammars: dict[str, Grammar]) -> dict:
    """Check the ``attribution`` section against every architecture (a GradCAM layer that
    does not exist, a method that cannot apply to a network) and expand it into runs.

    Each architecture is built once, untrained, for the first grammar: its layer names and
    kinds do not depend on the grammar's length or classes.
    """
    from grammarbench.models.architectures import resolve
    from grammarbench.attribution import model_layers
    from grammarbench.attribution.settings import validate_attribution_config
    from grammarbench.models.networks import build_model

    grammar = next(iter(grammars.values()))
    checked = None
    for arch in architectures.values():
        resolved = resolve(arch, length=grammar.max_length, letters=grammar.alphabet.letters,
                           alphabet=grammar.alphabet.name, classes=grammar.class_names,
                           task=grammar.task)
        layers = model_layers(build_model(resolved))
        try:
            checked = validate_attribution_config(section, source, layers)
        except InputError as err:
            raise InputError(err.source, err.key, f"{err.problem} [architecture {arch.source}]") from None
    return checked
