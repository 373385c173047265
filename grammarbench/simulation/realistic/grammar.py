# grammar.py
# grammarbench: the realistic grammar file (kind: realistic), validated and resolved

"""A realistic grammar: where the real windows come from, which motifs to scan for, how
to filter them and how to simulate.

It answers the questions the workflow asks of every grammar (name, task, alphabet,
length, classes, split sizes, digest), so a realistic grammar flows through the same
rules as a rule grammar. Everything a user can get wrong is checked when it is loaded,
before any job starts: missing or unindexed FASTA files, peaks past a chromosome's end,
summits outside their peaks, chromosomes absent from the genome, a width larger than
every window, unknown JASPAR IDs or collections, and held-out chromosomes without peaks.
The one check that needs the scan, that some motif passes the filter, runs in the job
that scans (with the same one-line message).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from grammarbench.sequences.alphabet import DNA
from grammarbench.errors import InputError, key_path

__all__ = ["RealisticGrammar", "WindowSource", "realistic_grammar_from_dict", "CLASSES"]

#: Class names of a realistic grammar, in label order (label 1 = a positive window).
CLASSES = ["negative", "positive"]
SPLITS = ("train", "validation", "test")
DEFAULT_PROPORTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


@dataclass(frozen=True)
class WindowSource:
    """Where one set of windows comes from (positives or background)."""

    key: str  # grammar key, e.g. "positives"
    fasta: Path | None = None
    janggu: str | None = None
    genome: Path | None = None
    peaks: tuple[Path, ...] | None = None  # one file or several (concatenated)
    listed: bool = False  # the grammar gave a list of peak files

    def describe(self) -> str:
        if self.janggu:
            return f"janggu {self.janggu}"
        if self.fasta:
            return str(self.fasta)
        return f"{' + '.join(map(str, self.peaks))} on {self.genome}"

    def peak_keys(self) -> list[tuple[Path, str]]:
        """Each peak file with its grammar key (``background.peaks[2]`` in a list)."""
        return [(path, f"{self.key}.peaks[{i}]" if self.listed else f"{self.key}.peaks")
                for i, path in enumerate(self.peaks or ())]


@dataclass(frozen=True, eq=False)
class RealisticGrammar:
    """A validated realistic grammar. Build it with :func:`realistic_grammar_from_dict` (or
    :func:`grammarbench.grammars.grammar.load_grammar`, which dispatches on ``kind``)."""

    name: str
    source: str
    digest: str
    width: int
    positives: WindowSource
    background: WindowSource
    motif_source: dict
    p_threshold: float
    pseudocount: float
    min_hits: int
    min_enrichment: float
    shuffle_k: int
    negatives: str
    negative_fraction: float
    controls: bool
    split_mode: str
    proportions: dict[str, float]
    validation_chromosomes: tuple[str, ...]
    test_chromosomes: tuple[str, ...]
    sizes: dict[str, int]
    seed: int | None
    description: str = ""
    definition: dict = field(default_factory=dict, repr=False)

    kind = "realistic"
    task = "multi-class"
    alphabet = DNA

    @property
    def min_length(self) -> int:
        return self.width

    @property
    def max_length(self) -> int:
        return self.width

    @property
    def class_names(self) -> list[str]:
        return list(CLASSES)

    @property
    def n_classes(self) -> int:
        return len(CLASSES)

    @property
    def splits(self) -> dict[str, float]:
        return dict(self.proportions)

    def heldout_sizes(self, n_train: int) -> dict[str, int]:
        """Validation and test sizes for a training set of ``n_train`` examples, from the
        split proportions."""
        return {s: max(1, round(n_train * self.proportions[s] / self.proportions["train"]))
                for s in ("validation", "test")}

    # ------------------------------------------------------------------ inputs

    def load_windows(self, source: WindowSource):
        """The windows of ``positives`` or ``background`` (a :class:`Windows`)."""
        from grammarbench.simulation.realistic import windows

        where = (self.source, source.key)
        if source.janggu:
            try:
                path = windows.janggu_fasta(source.janggu)
            except RuntimeError as err:
                raise InputError(*where, str(err)) from None
            return windows.read_window_fasta(path, self.width, *where)
        if source.fasta:
            return windows.read_window_fasta(source.fasta, self.width, *where)
        parts = [windows.genome_windows(source.genome, windows.read_peaks(path, self.source, key),
                                        self.width, self.source, f"{source.key}.genome",
                                        peaks_path=str(path))
                 for path, key in source.peak_keys()]
        return windows.concatenate(parts) if len(parts) > 1 else parts[0]

    def input_files(self) -> list[str]:
        """Every local file the grammar reads (genome and its index, peaks, FASTA, MEME
        file), relative to the working directory where they lie under it: what a job that
        reads the windows must wait for (a download, say)."""
        files = []
        for spec in (self.positives, self.background):
            if spec.genome is not None:
                files += [spec.genome, Path(f"{spec.genome}.fai")]
            files += list(spec.peaks or ()) + ([spec.fasta] if spec.fasta is not None else [])
        if "meme" in self.motif_source:
            files.append(Path(self.motif_source["meme"]))
        here = Path.cwd().resolve()
        out = []
        for path in files:
            absolute = path.resolve()
            text = str(absolute.relative_to(here)) if absolute.is_relative_to(here) else str(absolute)
            if text not in out:
                out.append(text)
        return out

    def motifs(self) -> dict[str, np.ndarray]:
        """Motif name → PPM, shape=(w, 4), in the order the grammar gives them."""
        return _resolve_motifs(self.motif_source, self.source)


# --------------------------------------------------------------------------- loading


@cache
def _schema() -> dict:
    text = resources.files("grammarbench").joinpath("grammars/realistic.schema.yaml").read_text()
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 10x faster


def _fill_defaults(schema: dict, instance: dict) -> dict:
    """The schema's ``default:`` values filled in, one level of nesting deep."""
    out = dict(instance)
    for name, prop in schema.get("properties", {}).items():
        if name not in out and "default" in prop:
            out[name] = json.loads(json.dumps(prop["default"]))
        if isinstance(out.get(name), dict) and "properties" in prop:
            out[name] = _fill_defaults(prop, out[name])
    return out


def realistic_grammar_from_dict(definition: dict, source="<grammar>",
                                pending=frozenset()) -> RealisticGrammar:
    """Validate (schema, then files and sizes) and resolve a realistic grammar.

    Files in ``pending`` (absolute paths a job downloads first) are checked when the job
    that reads them loads the grammar again, not now. A relative path in the grammar is
    taken from the grammar's folder, except one that names a download: that is taken from
    the working directory, where the download lands.
    """
    import jsonschema

    source = str(source)
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(definition), key=lambda e: len(e.absolute_path))
    if errors:
        err = errors[0]
        message = err.message
        if err.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown key(s)")
        elif err.validator == "oneOf":
            message = f"{err.instance!r} is not valid here ({err.schema.get('description', '')})"
        raise InputError(source, key_path(err.absolute_path), message)
    d = _fill_defaults(_schema(), definition)
    folder = Path(source).parent if source != "<grammar>" else Path(".")
    downloads = {Path(p).resolve() for p in pending}

    def windows(key: str, fallback_genome: Path | None = None) -> WindowSource:
        spec = d[key]
        def local(name):
            # relative to the grammar's folder, except a download's path (config downloads:),
            # which is relative to the working directory, where the download lands
            if Path(name).is_absolute():
                return Path(name)
            here = Path.cwd() / name
            return here if here.resolve() in downloads else folder / name

        paths = {name: local(spec[name]) for name in ("fasta", "genome") if name in spec}
        listed = isinstance(spec.get("peaks"), list)
        peaks = (tuple(local(p) for p in (spec["peaks"] if listed else [spec["peaks"]]))
                 if "peaks" in spec else None)
        genome = paths.get("genome", fallback_genome if "peaks" in spec else None)
        if "peaks" in spec and genome is None:
            raise InputError(source, f"{key}.genome", "peaks need a genome FASTA (genome:)")
        return WindowSource(key, fasta=paths.get("fasta"), janggu=spec.get("janggu"),
                            genome=genome, peaks=peaks, listed=listed)

    positives = windows("positives")
    background = windows("background", positives.genome)
    splits = d["splits"]
    proportions = dict(splits.get("proportions", DEFAULT_PROPORTIONS))
    if splits["mode"] == "chromosomes":
        for name in ("validation_chromosomes", "test_chromosomes"):
            if not splits.get(name):
                raise InputError(source, f"splits.{name}", "split mode 'chromosomes' needs at "
                                                          "least one chromosome here")
        both = set(splits["validation_chromosomes"]) & set(splits["test_chromosomes"])
        if both:
            raise InputError(source, "splits.test_chromosomes",
                             f"{sorted(both)} also held out for validation")
    elif "validation_chromosomes" in splits or "test_chromosomes" in splits:
        raise InputError(source, "splits.mode", "held-out chromosomes are given but mode is "
                                                "'random' (set mode: chromosomes)")
    motif_source = dict(d["motifs"])
    if "meme" in motif_source:
        path = Path(motif_source["meme"])
        motif_source["meme"] = str(path if path.is_absolute() else folder / path)
    digest = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()
    grammar = RealisticGrammar(
        name=d.get("name") or (Path(source).stem if source != "<grammar>" else "realistic"),
        source=source, digest=digest, width=int(d["width"]), positives=positives,
        background=background, motif_source=motif_source,
        p_threshold=float(d["scan"]["p_threshold"]), pseudocount=float(d["scan"]["pseudocount"]),
        min_hits=int(d["filter"]["min_hits"]), min_enrichment=float(d["filter"]["min_enrichment"]),
        shuffle_k=int(d["shuffle_k"]), negatives=d["negatives"],
        negative_fraction=float(d["negative_fraction"]), controls=bool(d["controls"]),
        split_mode=splits["mode"],
        proportions=proportions,
        validation_chromosomes=tuple(splits.get("validation_chromosomes", ())),
        test_chromosomes=tuple(splits.get("test_chromosomes", ())),
        sizes=dict(d.get("sizes", {})), seed=d.get("seed"), description=d.get("description", ""),
        definition=d)
    _check_inputs(grammar, {Path(p).resolve() for p in pending})
    return grammar


def _check_inputs(grammar: RealisticGrammar, pending: set[Path]) -> None:
    """The checks that read files: everything but the filter, before any job."""
    from grammarbench.simulation.realistic import windows

    source = grammar.source
    chromosomes = {}
    for spec in (grammar.positives, grammar.background):
        if spec.janggu:
            continue  # fetched (and so checked) when the windows are read
        waiting = {name for name in ("fasta", "genome")
                   if getattr(spec, name) is not None and getattr(spec, name).resolve() in pending}
        if spec.fasta:
            if "fasta" not in waiting:
                found = windows.read_window_fasta(spec.fasta, grammar.width, source, f"{spec.key}.fasta")
                chromosomes[spec.key] = set(found.chroms) - {""}
            continue
        # what is not downloaded first is checked now; the rest when the job reads it
        faidx = None if "genome" in waiting else windows._faidx(spec.genome, source, f"{spec.key}.genome")
        found, complete = set(), True
        for path, key in spec.peak_keys():
            if path.resolve() in pending:
                complete = False  # its chromosomes are known once it is downloaded
                continue
            peaks = windows.read_peaks(path, source, key)
            if faidx is not None:
                windows.check_peaks_against_genome(peaks, faidx.index, source, key, str(path),
                                                   str(spec.genome))
            found |= set(peaks["chrom"])
        if complete:
            chromosomes[spec.key] = found
    _resolve_motifs(grammar.motif_source, source)
    if grammar.split_mode == "chromosomes":
        known = chromosomes.get("positives")
        if known is not None and not known:
            raise InputError(source, "splits.mode", "split mode 'chromosomes' needs windows "
                                                    "named chrom:start-end (the positives' names "
                                                    "carry no locus)")
        for name in ("validation_chromosomes", "test_chromosomes"):
            for chrom in getattr(grammar, name):
                if known is not None and chrom not in known:
                    raise InputError(source, f"splits.{name}",
                                     f"held-out chromosome {chrom!r} has no peaks in the positives "
                                     f"({grammar.positives.describe()})")


def _resolve_motifs(motif_source: dict, source) -> dict[str, np.ndarray]:
    from grammarbench.grammars import motifs as motif_files

    if "jaspar" in motif_source:
        out = {}
        for i, matrix_id in enumerate(motif_source["jaspar"]):
            name, ppm = motif_files.jaspar_matrix(matrix_id, source, f"motifs.jaspar[{i}]")
            out[f"{str(matrix_id).upper()}_{name}"] = ppm
        return out
    if "collection" in motif_source:
        spec = motif_source["collection"]
        collection, tax_group = spec.get("collection", "CORE"), spec.get("tax_group", "vertebrates")
        try:
            found = motif_files.jaspar_collection(collection, tax_group)
        except Exception as err:  # pyjaspar raises assorted errors for a bad name
            raise InputError(source, "motifs.collection", f"JASPAR collection {collection!r} / "
                                                          f"{tax_group!r}: {err}") from None
        if not found:
            raise InputError(source, "motifs.collection",
                             f"unknown JASPAR collection {collection!r} with tax_group "
                             f"{tax_group!r} (no matrices)")
        return {f"{matrix_id}_{name}": ppm for matrix_id, (name, ppm) in found.items()}
    path = Path(motif_source["meme"])
    found = motif_files.read_meme(path) if path.is_file() else None
    if found is None:
        raise InputError(source, "motifs.meme", f"MEME file {path} does not exist")
    if found.alphabet.name != "DNA":
        raise InputError(source, "motifs.meme", f"{path} is not a DNA motif file")
    return dict(found)
