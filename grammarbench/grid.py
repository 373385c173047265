"""The config grid: check it, load its grammars and architectures, and expand it into one
table of runs.

The Snakefile calls :func:`check_config` then :func:`build_grid` while it parses, so a bad
config, grammar or architecture (one that does not fit a grammar's length, alphabet or
classes) stops the run before any job starts, with one message naming the file, the key
and the problem (:class:`~grammarbench.errors.InputError`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from grammarbench.models.architectures import Architecture, check_fit, load_architecture
from grammarbench.errors import InputError, key_path
from grammarbench.grammars.grammar import Grammar, load_grammar
from grammarbench.io import plain_data, read_yaml, read_yaml_mapping

#: How the values of ``snakemake --config key=value`` are named in messages and on the
#: report's configuration page.
COMMAND_LINE = "command line (--config)"


if TYPE_CHECKING:  # the attribution package imports torch: only when a grid has methods
    import pandas as pd  # the grid's tables only (a simulate job never imports it)

    from grammarbench.attribution.settings import AttributionSettings

@cache
def _read_schema(path: str) -> dict:
    return read_yaml(path, "schema")


@dataclass
class ConfigSources:
    """Where a config came from: ``(label, mapping)`` layers in the order they apply, each
    later one overriding the earlier ones key by key (nested mappings merged, as Snakemake
    merges config files).

    :meth:`blame` names the layer a top-level key's value came from, so that a bad value
    given with ``--config`` is reported against the command line, not a file.
    """

    layers: list[tuple[str, Mapping]] = field(default_factory=list)

    @classmethod
    def single(cls, label: str) -> ConfigSources:
        return cls([(str(label), {})])

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.layers]

    def blame(self, key: str = "") -> str:
        """The label of the last layer that sets ``key``'s top-level part (``n_train`` of
        ``n_train[0]``, ``train`` of ``train.max_epochs``); every label joined when no
        layer sets it (a missing key is the config files' fault together)."""
        top = key.split(".")[0].split("[")[0]
        for label, data in reversed(self.layers):
            if top and top in data:
                return label
        files = [label for label in self.labels if label != COMMAND_LINE]
        return " + ".join(files or self.labels)

    def __str__(self) -> str:
        return " + ".join(self.labels)


def _sources(source: str | ConfigSources) -> ConfigSources:
    return source if isinstance(source, ConfigSources) else ConfigSources.single(source)


def merge_config(base: dict, update: Mapping) -> dict:
    """Merge ``update`` into ``base`` in place, as Snakemake merges config files: nested
    mappings key by key, every other value replaced. Returns ``base``."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = plain_data(value)
    return base


def _label(path: Path) -> str:
    """A config file as a user would name it: relative to the working directory when it
    lies below it, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def resolve_config(configfiles: Sequence[str | os.PathLike], command_line: Mapping | None,
                   default: str | os.PathLike) -> tuple[dict, ConfigSources]:
    """The config a run uses, and where each part of it came from.

    The config files given (``snakemake --configfile a.yaml b.yaml``), merged in order, are
    the whole grid: the ``default`` file (the workflow's ``config/config.yaml``) is read
    only when none is given, so a swapped grid is exactly that grid. ``command_line``
    (``--config key=value``, its values typed by :func:`coerce_command_line`) applies last.
    Defaults from the schema fill what is still missing afterwards (Snakemake's
    ``validate``). Every file is read strictly: a missing, binary or malformed file, or a
    key given twice, is one :class:`InputError` naming the file.

    Returns
    -------
    config: dict
        The merged config, plain dicts and lists.
    sources: ConfigSources
        The layers in the order they apply.
    """
    layers = []
    config: dict = {}
    for path in list(configfiles) or [default]:
        label = _label(path)
        data = read_yaml_mapping(label, "config file")
        layers.append((label, data))
        merge_config(config, data)
    if command_line:
        typed = coerce_command_line(plain_data(command_line))
        layers.append((COMMAND_LINE, typed))
        merge_config(config, typed)
    return config, ConfigSources(layers)


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


def check_config(config: dict, source: str | ConfigSources, schema: str | Path) -> None:
    """Check the config's structure against ``schemas/config.schema.yaml``, and that its
    results folder keeps every output inside it.

    Snakemake's own ``validate`` reports the same problems with a schema dump; this
    names the source (the file, or the command line, that set the key), the key and the
    violated bound in one line, then ``validate`` fills the defaults.
    """
    import jsonschema

    sources = _sources(source)
    if "results" in config and (config["results"] is None or isinstance(config["results"], str)):
        check_results(config["results"] or "", sources.blame("results"))
    validator = jsonschema.Draft202012Validator(_read_schema(str(schema)))
    errors = sorted(validator.iter_errors(config), key=lambda e: len(e.absolute_path))
    if errors:
        err = errors[0]
        path, message = list(err.absolute_path), err.message
        if err.validator == "oneOf":
            path, message = _one_of_problem(err)
        elif err.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown key(s)")
        key = key_path(path)
        raise InputError(sources.blame(key), key, message)


def _one_of_problem(err) -> tuple[list, str]:
    """The problem of a value that matches none of a ``oneOf``'s alternatives (a list of
    sizes, or null): the violated bound inside the alternative of the value's own type
    (``n_train[0]: -5 is less than the minimum of 1``), else the types allowed."""
    path = list(err.absolute_path)
    inner = [e for e in err.context if e.validator != "type" or len(e.relative_path) > 0]
    if inner:
        best = min(inner, key=lambda e: len(e.relative_path))
        return path + list(best.relative_path), best.message
    types = [e.validator_value for e in err.context if e.validator == "type"]
    return path, f"{err.instance!r} is not of type {' or '.join(repr(t) for t in types)}"


def check_results(results: str, source: str) -> str:
    """The results folder, normalised; an empty one, the file system's root or one that
    climbs out of the working directory (``..``) is an :class:`InputError`: every output
    goes below it, and nothing may be written outside it."""
    text = str(results).strip()
    if not text:
        raise InputError(source, "results", "is empty: every output would go to the file system's "
                                            "root (/datasets, /config.html); name a folder, e.g. results")
    norm = os.path.normpath(text)
    if Path(norm) == Path(Path(norm).anchor):
        raise InputError(source, "results", f"{results!r} is the file system's root; name a folder "
                                            "below it, e.g. results or /scratch/me/results")
    if not os.path.isabs(norm) and (norm == ".." or norm.startswith(".." + os.sep)):
        raise InputError(source, "results", f"{results!r} climbs out of the working directory; name "
                                            "a folder below it, or an absolute path")
    return norm


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
    attribution: AttributionSettings | None = None
    model_seeds: list[int] = field(default_factory=lambda: [1])
    #: the checked discovery section (grammarbench.discovery.config); None or no runs: off
    discovery: dict | None = None

    @property
    def datasets(self) -> pd.DataFrame:
        import pandas as pd

        rows = [(g, s, n) for g in self.grammars for s in self.seeds for n in self.n_train[g]]
        return pd.DataFrame(rows, columns=["grammar", "seed", "n_train"])

    def family(self, architecture: str) -> str:
        """The model family of an architecture id: ``gkmsvm`` (gapped k-mer SVM) or ``network``."""
        return "gkmsvm" if self.architectures[architecture].kind == "gkmsvm" else "network"

    def architectures_of(self, family: str) -> list[str]:
        """The grid's architecture ids of one model family, in config order."""
        return [arch for arch in self.architectures if self.family(arch) == family]

    def runs(self, architecture: str) -> tuple:
        """The attribution runs that explain this architecture (none without attribution)."""
        if self.attribution is None:
            return ()
        return self.attribution.for_family(self.family(architecture)).runs

    @property
    def models(self) -> pd.DataFrame:
        import pandas as pd

        rows = [(g, s, n, a, m) for g, s, n in self.datasets.itertuples(index=False)
                for a in self.architectures for m in self.model_seeds]
        return pd.DataFrame(rows, columns=["grammar", "seed", "n_train", "architecture", "model_seed"])


#: Training-set size the held-out sizes are derived from (with the grammar's split
#: proportions) when neither the config nor the grammar gives them.
HELDOUT_BASIS = 10_000


def heldout_sizes(grammar: Grammar, n_validation: int | None = None,
                  n_test: int | None = None) -> dict[str, int]:
    """Validation and test sizes of a grammar's held-out splits, shared by every
    training-set size of the sweep.

    A size given in the config wins; else the grammar's own ``sizes``; else the grammar's
    split proportions applied to its ``sizes.train``, or to :data:`HELDOUT_BASIS` when it
    has none. They never depend on the config's ``n_train``: extending a sweep must not
    re-simulate the held-out splits (and retrain every model already trained).
    """
    derived = grammar.heldout_sizes(grammar.sizes.get("train", HELDOUT_BASIS))
    given = {"validation": n_validation, "test": n_test}
    return {split: given[split] if given[split] is not None else grammar.sizes.get(split, derived[split])
            for split in ("validation", "test")}


def _find(path: str, basedir) -> Path | None:
    """A file given in the config: from the working directory, else from the workflow's
    folder (so the bundled grammars and architectures work from any working directory)."""
    candidates = [Path(path)] + ([Path(basedir) / path] if basedir and not Path(path).is_absolute() else [])
    return next((p for p in candidates if p.is_file()), None)


def check_downloads(downloads: dict, source: str | ConfigSources) -> None:
    """Refuse a remote input whose url or checksum is left null (to be filled in by the
    user: a config such as ``config/realistic-encode.yaml`` ships without what cannot be
    known offline). Nothing is fetched unchecked: a checksum is always required."""
    sources = _sources(source)
    for path, spec in downloads.items():
        if spec.get("url") is None:
            raise InputError(sources.blame("downloads"), f"downloads.{path}.url",
                             "not filled in (null): give the file's URL (the config's comment "
                             "beside it says where to find it)")
        algorithm = "sha256" if "sha256" in spec else "md5"
        if spec.get(algorithm) is None:
            raise InputError(sources.blame("downloads"), f"downloads.{path}.{algorithm}",
                             f"not filled in (null): give the {algorithm} its source publishes "
                             f"for {spec['url']}; a download is never installed unchecked")


def build_grid(config: dict, source: str | ConfigSources, basedir: str | Path | None = None) -> Grid:
    """Load every grammar (validating it) and resolve the sizes of every split.

    Parameters
    ----------
    config: dict
        The config, after :func:`check_config` and default filling.
    source: str or ConfigSources
        Where the config came from, for messages (each key blamed on the file, or the
        command line, that set it).
    basedir: str or Path, optional
        The workflow's folder: a relative grammar or architecture path not found from the
        working directory is looked up there.
    """
    sources = _sources(source)
    check_downloads(config.get("downloads") or {}, sources)
    grammars, paths = {}, {}
    # files a job downloads first (config downloads:): their checks wait for that job
    pending = {Path(p).resolve() for p in (config.get("downloads") or {})}
    for grammar_id, path in config["grammars"].items():
        found = _find(path, basedir)
        if found is None:
            raise InputError(sources.blame("grammars"), f"grammars.{grammar_id}",
                             f"grammar file not found: {path}")
        paths[grammar_id] = str(found)
        grammars[grammar_id] = load_grammar(found, pending=pending)
        check_labels_vary(grammars[grammar_id])
    n_train, heldout = {}, {}
    for grammar_id, grammar in grammars.items():
        sizes = config.get("n_train")
        if sizes is None:
            if "train" not in grammar.sizes:
                raise InputError(sources.blame("n_train"), "n_train", f"is null, and grammar {grammar_id!r} "
                                 f"({grammar.source}) has no sizes.train of its own")
            sizes = [grammar.sizes["train"]]
        n_train[grammar_id] = sorted(sizes)
        heldout[grammar_id] = heldout_sizes(grammar, config.get("n_validation"), config.get("n_test"))
    results = check_results(config.get("results", "results"), sources.blame("results"))
    seeds = list(config.get("seeds", [1]))
    check_split_sizes(grammars, n_train, heldout, sources)
    architectures, architecture_paths = {}, {}
    for arch_id, path in (config.get("architectures") or {}).items():
        found = _find(path, basedir)
        if found is None:
            raise InputError(sources.blame("architectures"), f"architectures.{arch_id}",
                             f"architecture file not found: {path}")
        arch = load_architecture(found)
        for grammar_id, grammar in grammars.items():
            check_fit(arch, length=grammar.max_length, alphabet_size=grammar.alphabet.size,
                      n_outputs=grammar.n_classes, task=grammar.task,
                      context=f"grammar {grammar_id!r}: {grammar.alphabet.name}, length "
                              f"{grammar.max_length}, {grammar.n_classes} classes, {grammar.task}")
        architectures[arch_id], architecture_paths[arch_id] = arch, str(found)
    attribution = None
    section = config.get("attribution") or {}
    if section.get("methods"):
        blame = sources.blame("attribution")
        if not architectures:
            raise InputError(blame, "attribution", "attribution methods need trained models: "
                             "the config has no architectures")
        attribution = check_attribution(section, blame, architectures, grammars)
        if "n_examples" in section:
            for grammar_id in grammars:
                n_test = heldout[grammar_id]["test"]
                if section["n_examples"] > n_test:
                    raise InputError(blame, "attribution.n_examples",
                                     f"{section['n_examples']} is more than the test set of grammar "
                                     f"{grammar_id!r} ({n_test} examples); lower it or raise n_test")
    # (imported here: the discovery package pulls in pandas, which `grammarbench simulate`,
    # a user of this module, does without)
    from grammarbench.discovery.config import validate_discovery_config

    discovery = validate_discovery_config(config.get("discovery"), sources.blame("discovery"), attribution)
    return Grid(config=config, grammars=grammars, grammar_paths=paths, n_train=n_train, heldout=heldout,
                seeds=seeds, results=results,
                architectures=architectures, architecture_paths=architecture_paths,
                model_seeds=list(config.get("model_seeds", [1])), attribution=attribution,
                discovery=discovery)


def check_labels_vary(grammar) -> None:
    """A grammar whose training examples all carry the same labels is a valid simulation but
    no benchmark: every model would learn a constant, and AUROC would be undefined for the
    whole grid. Stop before any job instead."""
    if not isinstance(grammar, Grammar):  # realistic grammars always have positives and negatives
        return
    labelsets = sorted({entry.labels for entry in grammar.composition["train"]})
    if len(labelsets) < 2:
        key = "composition" if "composition" in grammar.definition else "classes"
        shown = ", ".join("[" + ", ".join(labels) + "]" for labels in labelsets)
        raise InputError(grammar.source, key,
                         f"every training example carries the same labels ({shown}), so there is "
                         "nothing to tell apart; a benchmark needs at least 2 kinds of example "
                         "(for instance a background_only class as negatives)")


# Bytes a simulated example takes per letter: sequences.npy and mask.npy (one byte each);
# the FASTA export adds about one, seqgra's layout (x and annotation) about two.
_BYTES_PER_LETTER = {"base": 2, "fasta": 1, "seqgra": 2}


def dataset_bytes(n_examples: int, length: int, exports=()) -> int:
    """Estimated bytes on disk of ``n_examples`` simulated examples of ``length`` letters,
    with the ``exports`` (fasta, seqgra) beside them."""
    return n_examples * length * (_BYTES_PER_LETTER["base"] + sum(_BYTES_PER_LETTER.get(f, 0) for f in exports))


def _size(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000


def _free_bytes(folder: str | Path) -> int:
    """Free space of the file system that holds ``folder`` (or its nearest existing parent)."""
    path = Path(os.path.abspath(folder))
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def memory_bytes() -> int:
    """Physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_split_fits(n_examples: int, length: int, source: str, key: str, context: str = "",
                     memory: int | None = None) -> None:
    """One split's sequences (``n_examples`` × ``length`` bytes) are held in memory by the
    stages that read them (training keeps its split whole); more than the machine's memory
    is an :class:`InputError` before anything is written."""
    memory = memory_bytes() if memory is None else memory
    need = n_examples * length
    if need > memory:
        raise InputError(source, key, f"{n_examples} examples of {length} letters{context} need "
                                      f"{_size(need)} in memory, more than this machine's {_size(memory)}")


def check_disk(need: int, folder: str | Path, source: str, key: str) -> None:
    """``need`` bytes more than the free space under ``folder`` is an :class:`InputError`."""
    free = _free_bytes(folder)
    if need > free:
        raise InputError(source, key, f"the datasets need about {_size(need)} under {folder}/, "
                                      f"but only {_size(free)} is free there")


def check_split_sizes(grammars: dict[str, Grammar], n_train: dict[str, list[int]],
                      heldout: dict[str, dict[str, int]], sources: ConfigSources,
                      memory: int | None = None) -> None:
    """Every split of every grammar must fit in memory (:func:`check_split_fits`): checked
    while the grid is built, so a size that cannot work fails planning, not a job."""
    for grammar_id, grammar in grammars.items():
        sizes = [("n_train", n) for n in n_train[grammar_id]]
        sizes += [(f"n_{name}", n) for name, n in heldout[grammar_id].items()]
        for key, n in sizes:
            check_split_fits(n, grammar.max_length, sources.blame(key), key,
                             f" (grammar {grammar_id!r} in {grammar.source})", memory)


def bytes_to_simulate(grid: Grid) -> int:
    """Estimated bytes of the grid's simulated splits that do not exist yet."""
    exports = (grid.config.get("simulate") or {}).get("exports", ())
    total = 0
    for grammar_id, grammar in grid.grammars.items():
        folders = [(f"n{n}/train", n) for n in grid.n_train[grammar_id]]
        folders += [(f"heldout/{name}", n) for name, n in grid.heldout[grammar_id].items()]
        for seed in grid.seeds:
            for folder, n in folders:
                if not Path(grid.results, "datasets", grammar_id, f"seed{seed}", folder).exists():
                    total += dataset_bytes(n, grammar.max_length, exports)
    return total


def check_disk_space(grid: Grid, source: str | ConfigSources) -> None:
    """The splits still to simulate must fit on the disk under the results folder, else an
    :class:`InputError` naming the sizes (they would otherwise die mid-run with an
    ``OSError``). The workflow runs this when a run starts, before any job, not while
    planning: a grid may be planned on one machine and run on a bigger one."""
    check_disk(bytes_to_simulate(grid), grid.results, _sources(source).blame("n_train"), "n_train")


def check_attribution(section: dict, source: str, architectures: dict[str, Architecture],
                      grammars: dict[str, Grammar]) -> AttributionSettings:
    """Check the ``attribution`` section against every architecture and expand it into runs,
    each explaining the architectures of the families its method serves (networks, gapped
    k-mer SVMs: :mod:`grammarbench.attribution.settings`): a GradCAM layer that does not
    exist, a method asked for a family it cannot explain or applying to no architecture of
    the grid is an :class:`InputError` naming the method's key (and the architecture file).

    Each network's layers are those of the network built, untrained, for the first grammar
    (its layer names and kinds do not depend on the grammar's length or classes), read from a
    disk cache where it holds them (:func:`grammarbench.models.layer_names.network_layers`).
    """
    from grammarbench.attribution.settings import validate_attribution_config
    from grammarbench.models.architectures import resolve
    from grammarbench.models.layer_names import network_layers

    grammar = next(iter(grammars.values()))
    models = {}
    for arch in architectures.values():
        if arch.kind == "gkmsvm":
            from grammarbench.models.gkmsvm.module import LAYERS as layers   # no torch model to build
        else:
            resolved = resolve(arch, length=grammar.max_length, letters=grammar.alphabet.letters,
                               alphabet=grammar.alphabet.name, classes=grammar.class_names,
                               task=grammar.task)
            layers = network_layers(resolved)
        models[arch.source] = layers
    return validate_attribution_config(section, source, models=models)
