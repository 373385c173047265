"""Grammars: read, validate and resolve a grammar into the objects the simulator uses.

A grammar is a YAML file in the language that ``config/grammars/reference.yaml`` documents,
or a seqgra XML data definition (read by :mod:`grammarbench.grammars.seqgra_xml` into the same
language). :func:`load_grammar` checks it in two passes — structure against
``grammar.schema.yaml`` (beside this module), then everything a schema cannot see (references between
keys, lengths that must fit, probabilities that must sum to one) — and raises one
:class:`~grammarbench.errors.InputError` naming the file, the key and the problem.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from grammarbench.sequences.alphabet import ALPHABETS, Alphabet
from grammarbench.errors import InputError, key_path
from grammarbench.grammars.placement import components
from grammarbench.io import parse_yaml, read_yaml_mapping

SPLITS = ("train", "validation", "test")
# Tolerance on probabilities that must sum to one: published matrices are rounded to
# three decimals, so their rows sum to 1 only within ~1e-3.
SUM_TOLERANCE = 1e-2


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True, eq=False)
class Background:
    """Where the letters of an example come from before any element is inserted.

    ``kind`` is ``letters`` (i.i.d. with ``probs``), ``markov`` (``initial`` over the
    first ``order`` letters and ``transition`` rows P(next | previous ``order`` letters))
    or ``shuffle`` (k-let shuffles of windows of the ``sequences`` of a FASTA file).
    """

    kind: str
    probs: np.ndarray | None = None
    order: int = 0
    initial: np.ndarray | None = None
    transition: np.ndarray | None = None
    sequences: tuple[np.ndarray, ...] = ()
    k: int = 2
    spec: str = ""

    def letter_frequencies(self, alphabet_size: int) -> np.ndarray:
        """Expected letter frequencies, shape=(alphabet_size,) (used by the oracle and
        the diagnostics)."""
        if self.kind == "letters":
            return self.probs
        if self.kind == "markov":
            if self.order == 0:
                return self.transition[0]
            # stationary distribution of the letter chain, from the transition rows
            # weighted by the initial distribution: good enough for a diagnostic
            return (self.initial[:, None] * self.transition).sum(0)
        counts = np.bincount(np.concatenate(self.sequences), minlength=alphabet_size + 1)
        counts = counts[:alphabet_size].astype(float)
        return counts / counts.sum()


@dataclass(frozen=True, eq=False)
class Element:
    """A sequence element: a position probability matrix or a weighted k-mer set.

    ``ppm`` shape=(width, alphabet size); ``kmers`` shape=(n_kmers, max_k) uint8 codes with
    ``kmer_lengths`` shape=(n_kmers,) and ``kmer_weights`` summing to one.
    """

    name: str
    kind: str  # "ppm" | "kmers"
    strand: str = "forward"
    ppm: np.ndarray | None = None
    kmers: np.ndarray | None = None
    kmer_lengths: np.ndarray | None = None
    kmer_weights: np.ndarray | None = None
    source: str = ""

    @property
    def min_width(self) -> int:
        return len(self.ppm) if self.kind == "ppm" else int(self.kmer_lengths.min())

    @property
    def max_width(self) -> int:
        return len(self.ppm) if self.kind == "ppm" else int(self.kmer_lengths.max())

    def probability_matrix(self, alphabet_size: int) -> np.ndarray:
        """The element as a PPM, shape=(max_width, alphabet_size); a k-mer set becomes the
        weighted letter frequencies of its (left-aligned) k-mers."""
        if self.kind == "ppm":
            return self.ppm
        onehot = np.zeros(self.kmers.shape + (alphabet_size,))
        valid = np.arange(self.kmers.shape[1])[None, :] < self.kmer_lengths[:, None]
        rows, cols = np.nonzero(valid)
        onehot[rows, cols, self.kmers[rows, cols]] = 1.0
        ppm = (onehot * self.kmer_weights[:, None, None]).sum(0)
        return ppm / np.maximum(ppm.sum(1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Spacing:
    """Gap (letters between the end of ``first`` and the start of ``second``) in
    [min_gap, max_gap]; ``either`` lets ``second`` come before ``first``."""

    first: str
    second: str
    min_gap: int
    max_gap: int
    order: str = "in-order"


@dataclass(frozen=True)
class Position:
    """Where a rule's block of elements goes: ``kind`` random | start | center | end |
    fixed (``start`` = 0-based position) | window ([start, end), half-open)."""

    kind: str
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Rule:
    elements: tuple[str, ...]
    position: Position
    probability: float = 1.0
    copies: tuple[int, int] = (1, 1)
    spacing: tuple[Spacing, ...] = ()


@dataclass(frozen=True)
class GrammarClass:
    name: str
    rules: tuple[Rule, ...]
    mode: str = "sequential"
    description: str = ""
    background_only: bool = False


@dataclass(frozen=True)
class CompositionEntry:
    """One kind of example: its labels, its weight, and — for shuffled negatives — the
    label sets it is simulated from before being k-let shuffled."""

    labels: tuple[str, ...]
    weight: float = 1.0
    shuffle_of: tuple[tuple[str, ...], ...] | None = None
    k: int = 2

    def describe(self) -> str:
        text = "|".join(self.labels) if self.labels else "(unlabelled)"
        if self.shuffle_of is not None:
            sources = ", ".join("|".join(s) or "(unlabelled)" for s in self.shuffle_of)
            text += f" <- {self.k}-let shuffle of {sources}"
        return text


@dataclass(frozen=True, eq=False)
class Grammar:
    """A validated, resolved grammar. Build it with :func:`load_grammar`."""

    name: str
    source: str
    task: str
    alphabet: Alphabet
    min_length: int
    max_length: int
    background: Background
    backgrounds: tuple[tuple[str | None, str | None, Background], ...]
    elements: dict[str, Element]
    classes: dict[str, GrammarClass]
    composition: dict[str, tuple[CompositionEntry, ...]]
    splits: dict[str, float]
    sizes: dict[str, int]
    overlap: str
    seed: int | None
    digest: str
    description: str = ""
    definition: dict = field(default_factory=dict, repr=False)

    @property
    def class_names(self) -> list[str]:
        return list(self.classes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def background_for(self, split: str, label: str | None) -> Background:
        """The background of an example of ``split`` whose first label (after the
        simulator's per-example shuffle of its labels) is ``label``: the
        most specific match among split+class, class, split, global."""
        best, best_score = self.background, -1
        for sel_split, sel_class, background in self.backgrounds:
            if sel_split is not None and sel_split != split:
                continue
            if sel_class is not None and sel_class != label:
                continue
            score = 2 * (sel_class is not None) + (sel_split is not None)
            if score > best_score:
                best, best_score = background, score
        return best

    def heldout_sizes(self, n_train: int) -> dict[str, int]:
        """Validation and test sizes for a training set of ``n_train`` examples, from the
        split proportions."""
        return {s: max(1, round(n_train * self.splits[s] / self.splits["train"]))
                for s in ("validation", "test")}


# --------------------------------------------------------------------------- loading


@cache
def _schema() -> dict:
    text = resources.files("grammarbench.grammars").joinpath("grammar.schema.yaml").read_text()
    return parse_yaml(text, "grammar.schema.yaml")


def read_grammar_definition(path: str | Path) -> dict:
    """Read a grammar file (YAML, or seqgra XML when it ends in ``.xml``) as a dict."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "", "grammar file not found")
    if path.suffix.lower() == ".xml":
        from grammarbench.grammars.seqgra_xml import read_seqgra_xml

        return read_seqgra_xml(path)
    return read_yaml_mapping(path, "grammar file")


def load_grammar(path: str | Path, pending=frozenset()) -> Grammar:
    """Read, validate and resolve a grammar file.

    Parameters
    ----------
    path: str or Path
        A YAML grammar, or a seqgra XML data definition (``.xml``).
    pending: set of Path, optional
        Absolute paths of files a job will download first: a realistic grammar's checks of
        them wait for the job that reads them. Default is none.

    Returns
    -------
    grammar: Grammar
        Or a :class:`~grammarbench.simulation.realistic.grammar.RealisticGrammar` when the
        file says ``kind: realistic``.

    Raises
    ------
    InputError
        Naming the file, the key and the problem, for anything wrong with the grammar.
    """
    path = Path(path)
    definition = read_grammar_definition(path)
    if definition.get("kind") == "realistic":
        # real DNA windows, scanned, filtered, shuffled and re-implanted (issue 12)
        from grammarbench.simulation.realistic.grammar import realistic_grammar_from_dict

        return realistic_grammar_from_dict(definition, source=path, pending=pending)
    return grammar_from_dict(definition, source=path)


def grammar_from_dict(definition: dict, source: str | Path = "<grammar>") -> Grammar:
    """Validate and resolve a grammar given as a dict (see :func:`load_grammar`).

    Relative file paths inside the grammar are resolved against ``source``'s folder.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(definition), key=lambda e: len(e.absolute_path))
    if errors:
        err = errors[0]
        raise InputError(source, key_path(err.absolute_path), _schema_message(err))
    return _Resolver(definition, source).grammar()


def _schema_message(err) -> str:
    if err.validator == "additionalProperties":
        return err.message.replace("Additional properties are not allowed", "unknown key(s)")
    if err.validator == "oneOf":
        return f"{err.instance!r} is not valid here ({err.schema.get('description', 'see reference.yaml')})"
    return err.message


class _Resolver:
    """Semantic checks and resolution of a schema-valid grammar dict."""

    def __init__(self, definition: dict, source):
        self.d = definition
        self.source = str(source)
        self.folder = Path(source).parent if source != "<grammar>" else Path(".")
        self.files: list[Path] = []

    def fail(self, key, problem):
        raise InputError(self.source, key, problem)

    # -- top level
    def grammar(self) -> Grammar:
        d = self.d
        self.alphabet = ALPHABETS[d.get("alphabet", "DNA")]
        self.task = d.get("task", "multi-class")
        length = d["length"]
        self.min_length, self.max_length = (length, length) if isinstance(length, int) else length
        if self.min_length > self.max_length:
            self.fail("length", f"minimum {self.min_length} is larger than maximum {self.max_length}")
        if self.min_length < 1:
            self.fail("length", "must be at least 1")
        background = self.background(d.get("background", {"letters": self.uniform_letters()}),
                                     "background")
        elements = {name: self.element(name, spec) for name, spec in d["elements"].items()}
        self.elements = elements
        classes = {name: self.grammar_class(name, spec) for name, spec in d["classes"].items()}
        backgrounds = []
        for i, spec in enumerate(d.get("backgrounds", [])):
            spec = dict(spec)
            split, label = spec.pop("split", None), spec.pop("class", None)
            if label is not None and label not in classes:
                self.fail(f"backgrounds[{i}].class", f"unknown class {label!r}; classes: {', '.join(classes)}")
            if len(spec) != 1:
                self.fail(f"backgrounds[{i}]", "needs exactly one of letters, gc, markov, shuffle")
            backgrounds.append((split, label, self.background(spec, f"backgrounds[{i}]")))
        for name, spec in d["classes"].items():
            if "background" in spec:
                backgrounds.append((None, name, self.background(spec["background"], f"classes.{name}.background")))
        composition = self.composition(classes)
        splits = d.get("splits", {"train": 0.7, "validation": 0.1, "test": 0.2})
        sizes = dict(d.get("sizes", {}))
        digest = self.digest()
        return Grammar(
            name=d.get("name", Path(self.source).stem), source=self.source, task=self.task,
            alphabet=self.alphabet, min_length=self.min_length, max_length=self.max_length,
            background=background, backgrounds=tuple(backgrounds), elements=elements,
            classes=classes, composition=composition, splits=splits, sizes=sizes,
            overlap=d.get("overlap", "resample"), seed=d.get("seed"), digest=digest,
            description=d.get("description", ""), definition=d)

    def uniform_letters(self) -> dict:
        return {letter: 1.0 / self.alphabet.size for letter in self.alphabet.letters}

    def path(self, value: str) -> Path:
        path = Path(value)
        path = path if path.is_absolute() else self.folder / path
        return path

    def digest(self) -> str:
        """sha256 of the definition and of every file it reads: any change to either gives
        a new digest (recorded in every dataset manifest)."""
        h = hashlib.sha256(json.dumps(self.d, sort_keys=True, default=str).encode())
        for path in sorted(set(self.files)):
            h.update(path.read_bytes())
        return h.hexdigest()

    # -- backgrounds
    def background(self, spec: dict, key: str) -> Background:
        from grammarbench.sequences import fasta

        (kind, value), = spec.items()
        if kind == "letters":
            return Background("letters", probs=self.letter_probs(value, f"{key}.letters"),
                              spec=json.dumps(value, sort_keys=True))
        if kind == "gc":
            if self.alphabet.name != "DNA":
                self.fail(f"{key}.gc", "a GC fraction needs the DNA alphabet")
            probs = np.array([(1 - value) / 2, value / 2, value / 2, (1 - value) / 2])
            return Background("letters", probs=probs, spec=f"gc={value}")
        path = self.path(value["fasta"])
        if not path.is_file():
            self.fail(f"{key}.{kind}.fasta", f"FASTA file not found: {path}")
        self.files.append(path)
        try:
            _, sequences = fasta.read_fasta(path, self.alphabet)
        except ValueError as err:
            self.fail(f"{key}.{kind}.fasta", str(err))
        if kind == "markov":
            from grammarbench.sequences import kernels as seq  # numba: only where a grammar needs it

            order = value["order"]
            initial, transition = seq.estimate_markov(
                _pad(sequences, self.alphabet.unknown_code), order,
                lengths=np.array([len(s) for s in sequences]), alphabet_size=self.alphabet.size,
                pseudocount=value.get("pseudocount", 1.0))
            return Background("markov", order=order, initial=initial, transition=transition,
                              spec=f"markov order {order} from {path.name}")
        k = value.get("k", 2)
        longest = max(len(s) for s in sequences)
        if longest < self.max_length:
            self.fail(f"{key}.shuffle.fasta",
                      f"the longest sequence in {path.name} has {longest} letters; "
                      f"windows of {self.max_length} letters are needed")
        return Background("shuffle", sequences=tuple(sequences), k=k,
                          spec=f"{k}-let shuffles of {path.name}")

    def letter_probs(self, letters: dict, key: str) -> np.ndarray:
        unknown = sorted(set(letters) - set(self.alphabet.letters))
        if unknown:
            self.fail(key, f"letters {unknown} are not in the {self.alphabet.name} alphabet "
                           f"({self.alphabet.letters})")
        probs = np.array([float(letters.get(letter, 0.0)) for letter in self.alphabet.letters])
        if abs(probs.sum() - 1) > SUM_TOLERANCE:
            self.fail(key, f"letter probabilities sum to {probs.sum():.4g}, not 1")
        return probs / probs.sum()

    # -- elements
    def element(self, name: str, spec: dict) -> Element:
        from grammarbench.grammars import motifs

        key = f"elements.{name}"
        sources = [s for s in ("ppm", "jaspar", "file", "kmers") if s in spec]
        if len(sources) != 1:
            self.fail(key, "needs exactly one of ppm, jaspar, file, kmers "
                           f"(found {', '.join(sources) or 'none'})")
        strand = spec.get("strand", "forward")
        if strand != "forward" and self.alphabet.complement is None:
            self.fail(f"{key}.strand", f"strand {strand!r} needs the DNA alphabet (protein has no reverse strand)")
        for option in ("format", "motif"):
            if option in spec and "file" not in spec:
                self.fail(f"{key}.{option}", "only applies with `file`")
        kind = sources[0]
        if kind == "kmers":
            element = self.kmer_element(name, spec["kmers"], strand, f"{key}.kmers")
        else:
            if kind == "ppm":
                matrix, origin = np.array(spec["ppm"], dtype=float), "inline"
                if matrix.ndim != 2:
                    self.fail(f"{key}.ppm", "rows must all have the same length")
            elif kind == "jaspar":
                if self.alphabet.name != "DNA":
                    self.fail(f"{key}.jaspar", "JASPAR matrices are DNA")
                motif_name, matrix = motifs.jaspar_matrix(spec["jaspar"], source=self.source, key=f"{key}.jaspar")
                origin = f"JASPAR {spec['jaspar']} ({motif_name})"
            else:
                if "format" not in spec:
                    self.fail(f"{key}.format", "a motif file needs format: meme, jaspar or homer")
                path = self.path(spec["file"])
                if not path.is_file():
                    self.fail(f"{key}.file", f"motif file not found: {path}")
                self.files.append(path)
                _, matrix = motifs.read_motif_file(path, spec["format"], motif=spec.get("motif"),
                                                source=self.source, key=f"{key}.file")
                origin = f"{path.name}:{spec.get('motif', '')}"
            element = Element(name, "ppm", strand, ppm=self.check_ppm(matrix, f"{key}.{kind}"),
                              source=origin)
        if element.max_width > self.min_length:
            self.fail(key, f"element is {element.max_width} letters long, longer than the "
                           f"shortest sequence ({self.min_length})")
        return element

    def check_ppm(self, matrix: np.ndarray, key: str) -> np.ndarray:
        if matrix.shape[1] != self.alphabet.size:
            self.fail(key, f"each row needs {self.alphabet.size} probabilities "
                           f"({self.alphabet.letters}), found {matrix.shape[1]}")
        sums = matrix.sum(1)
        bad = np.flatnonzero(np.abs(sums - 1) > SUM_TOLERANCE)
        if len(bad):
            self.fail(f"{key}[{bad[0]}]", f"probabilities sum to {sums[bad[0]]:.4g}, not 1")
        return matrix / sums[:, None]

    def kmer_element(self, name, kmers: dict, strand, key) -> Element:
        for kmer in kmers:
            codes = self.alphabet.encode(kmer)
            if not len(kmer) or (codes >= self.alphabet.size).any():
                self.fail(f"{key}.{kmer}", f"k-mer has letters outside the {self.alphabet.name} "
                                           f"alphabet ({self.alphabet.letters})")
        lengths = np.array([len(k) for k in kmers])
        table = np.zeros((len(kmers), lengths.max()), dtype=np.uint8)
        for i, kmer in enumerate(kmers):  # once per k-mer at load time, not per letter simulated
            table[i, : len(kmer)] = self.alphabet.encode(kmer)
        weights = np.array(list(kmers.values()), dtype=float)
        return Element(name, "kmers", strand, kmers=table, kmer_lengths=lengths,
                       kmer_weights=weights / weights.sum(), source="k-mers")

    # -- classes and rules
    def grammar_class(self, name: str, spec: dict) -> GrammarClass:
        key = f"classes.{name}"
        rules_spec = spec.get("rules", [])
        background_only = spec.get("background_only", False)
        if background_only and rules_spec:
            self.fail(f"{key}.rules", "a background_only class cannot have rules")
        if not background_only and not rules_spec:
            self.fail(f"{key}.rules", "class has no rules (set background_only: true for a "
                                      "negative class made of background alone)")
        rules = tuple(self.rule(r, f"{key}.rules[{i}]") for i, r in enumerate(rules_spec))
        mode = spec.get("mode", "sequential")
        if mode == "mutually-exclusive" and not any(r.probability > 0 for r in rules):
            self.fail(f"{key}.rules", "mutually-exclusive rules need a probability above 0")
        return GrammarClass(name, rules, mode, spec.get("description", ""), background_only)

    def rule(self, spec: dict, key: str) -> Rule:
        names = tuple(spec["elements"])
        for i, element in enumerate(names):
            if element not in self.elements:
                self.fail(f"{key}.elements[{i}]", f"unknown element {element!r}; elements: "
                                                  f"{', '.join(self.elements)}")
        copies = spec.get("copies", 1)
        copies = (copies, copies) if isinstance(copies, int) else tuple(copies)
        if copies[0] > copies[1] or copies[0] < 1:
            self.fail(f"{key}.copies", f"needs 1 <= min <= max, got {list(copies)}")
        spacing = tuple(self.spacing(s, names, f"{key}.spacing[{i}]")
                        for i, s in enumerate(spec.get("spacing", [])))
        _check_forest(spacing, lambda problem: self.fail(f"{key}.spacing", problem))
        position = self.position(spec.get("position", "random"), f"{key}.position")
        rule = Rule(names, position, float(spec.get("probability", 1.0)), copies, spacing)
        self.check_fit(rule, key)
        return rule

    def spacing(self, spec: dict, names, key) -> Spacing:
        for end in ("first", "second"):
            if spec[end] not in names:
                self.fail(f"{key}.{end}", f"{spec[end]!r} is not one of this rule's elements {list(names)}")
        if spec["first"] == spec["second"]:
            self.fail(key, "first and second must be different elements")
        min_gap = spec.get("min_gap", 0)
        max_gap = spec.get("max_gap", min_gap)
        if min_gap > max_gap:
            self.fail(key, f"min_gap {min_gap} is larger than max_gap {max_gap}")
        return Spacing(spec["first"], spec["second"], min_gap, max_gap, spec.get("order", "in-order"))

    def position(self, spec, key) -> Position:
        if isinstance(spec, str):
            return Position(spec)
        if "fixed" in spec:
            if spec["fixed"] >= self.min_length:
                self.fail(f"{key}.fixed", f"position {spec['fixed']} is past the end of the "
                                          f"shortest sequence ({self.min_length} letters)")
            return Position("fixed", spec["fixed"])
        start, end = spec["window"]
        if start >= end:
            self.fail(f"{key}.window", f"window start {start} must be before its end {end}")
        if end > self.min_length:
            self.fail(f"{key}.window", f"window end {end} is past the end of the shortest "
                                       f"sequence ({self.min_length} letters)")
        return Position("window", start, end)

    def check_fit(self, rule: Rule, key: str):
        """Every group of elements tied by spacing constraints must fit where the rule puts
        it, at its smallest extent, in the shortest sequence."""
        room = {"fixed": self.min_length - rule.position.start,
                "window": rule.position.end - rule.position.start}.get(rule.position.kind, self.min_length)
        for component in components(rule):
            extent = sum(self.elements[e].min_width for e in component)
            extent += sum(s.min_gap for s in rule.spacing if s.first in component)
            if extent > room:
                where = _where(rule.position)
                what = ("spacing constraints need" if len(component) > 1 else "element needs")
                self.fail(f"{key}.spacing" if len(component) > 1 else f"{key}.elements",
                          f"cannot fit: {' + '.join(component)} with its {what} at least "
                          f"{extent} letters, but only {room} are available {where}")
        self.check_copies_fit(rule, key, room)

    def check_copies_fit(self, rule: Rule, key: str, room: int):
        """The most copies a rule places in one example must fit side by side where the rule
        puts them; when they cannot, every such example holds overlapping instances, which
        damage each other and blur the ground truth."""
        copies = rule.copies[1]
        if copies < 2:
            return
        extent = sum(self.elements[e].min_width for e in rule.elements) + sum(s.min_gap for s in rule.spacing)
        if copies * extent > room:
            self.fail(f"{key}.copies", f"cannot fit without overlap: {copies} copies of "
                                       f"{' + '.join(rule.elements)} need at least {copies * extent} "
                                       f"letters, but only {room} are available {_where(rule.position)}")

    # -- composition
    def composition(self, classes) -> dict[str, tuple[CompositionEntry, ...]]:
        spec = self.d.get("composition")
        if spec is None:
            default = tuple(CompositionEntry((name,)) for name in classes)
            return {split: default for split in SPLITS}
        if isinstance(spec, list):
            spec = {split: spec for split in SPLITS}
            prefix = lambda split: "composition"  # noqa: E731
        else:
            missing = [s for s in SPLITS if s not in spec]
            if missing:
                self.fail("composition", f"a per-split composition needs every split; missing {missing}")
            prefix = lambda split: f"composition.{split}"  # noqa: E731
        out = {}
        for split in SPLITS:
            entries = []
            for i, entry in enumerate(spec[split]):
                key = f"{prefix(split)}[{i}]"
                labels = self.labelset(entry["labels"], classes, f"{key}.labels")
                shuffle_of = None
                if "shuffle_of" in entry:
                    shuffle_of = tuple(self.labelset(s, classes, f"{key}.shuffle_of[{j}]")
                                       for j, s in enumerate(entry["shuffle_of"]))
                elif "k" in entry:
                    self.fail(f"{key}.k", "only applies with shuffle_of")
                entries.append(CompositionEntry(labels, float(entry.get("weight", 1.0)),
                                                shuffle_of, entry.get("k", 2)))
            out[split] = tuple(entries)
        return out

    def labelset(self, labels, classes, key) -> tuple[str, ...]:
        for i, label in enumerate(labels):
            if label not in classes:
                self.fail(f"{key}[{i}]", f"unknown class {label!r}; classes: {', '.join(classes)}")
        if self.task == "multi-class" and len(labels) != 1:
            self.fail(key, f"a multi-class grammar needs exactly one label per example, got {list(labels)} "
                           "(use task: multi-label, or a background_only class for negatives)")
        return tuple(labels)


def _where(position: Position) -> str:
    """Where a rule puts its elements, for messages."""
    return {"fixed": f"after position {position.start}",
            "window": f"in the window {[position.start, position.end]}"}.get(position.kind,
                                                                          "in the shortest sequence")


def _check_forest(spacing: tuple[Spacing, ...], fail):
    """Spacing constraints must tie elements into trees: no element constrained twice
    against the same other, and no cycle (a cycle over-determines the gaps)."""
    parent: dict[str, str] = {}

    def root(e):
        while parent.get(e, e) != e:
            e = parent[e]
        return e

    for s in spacing:
        a, b = root(s.first), root(s.second)
        if a == b:
            fail(f"constraints between {s.first} and {s.second} form a cycle; tie each "
                 "element to the group by one constraint only")
        parent[b] = a


def _pad(sequences: list[np.ndarray], fill: int) -> np.ndarray:
    """Stack sequences of different lengths into shape=(N, max length), padded with ``fill``."""
    lengths = np.array([len(s) for s in sequences])
    out = np.full((len(sequences), lengths.max()), fill, dtype=np.uint8)
    out[np.arange(lengths.max())[None, :] < lengths[:, None]] = np.concatenate(sequences)
    return out
