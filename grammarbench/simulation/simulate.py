"""The simulator: examples from a grammar, vectorised across examples, with ground truth.

Examples are made in chunks of ``CHUNK_SIZE``. Chunk ``c`` of split ``s`` draws every random
number from its own generator, seeded by ``SeedSequence(seed, spawn_key=(s, c))``, so

* the first n examples of a split are the same whatever the total size (a size sweep
  trains on nested sets), and
* the output is byte-identical whatever the number of threads (chunks are independent).

Which composition entry (label set) each example gets is a function of its index alone
(:func:`entry_assignment`): consecutive blocks of examples hold the entries in exact
proportion, so a split of a definition's own size (seqgra's ``samples``) has exactly the
class counts the definition gives.

An example with several labels is simulated as seqgra simulates it: its labels are put in
a random order (uniform, per example), the background is that of the first label in this
order, and the labels' rules are applied in this order, later instances writing over
earlier ones.

Inside a chunk nothing loops over letters or positions: backgrounds are drawn for the
whole chunk at once, and each rule is applied to every example it fires in at once.
Loops run over classes, rules, copies and the elements of a rule — all small.

Placement of a rule's elements: the elements tied together by spacing constraints form a
block (offsets from gaps drawn uniformly in [min_gap, max_gap], redrawn where the block
would not fit or its own elements would overlap); the block is placed as the rule's
position says. When an instance would overlap one placed earlier in the same example, the
grammar's ``overlap`` policy decides: ``resample`` draws the block's position again (up to
``MAX_ATTEMPTS`` times; positions other than random / window cannot move), ``allow``
writes over the earlier letters. Either way the instance table records the attempts and
whether the instance overlaps another: both the instance written over (damaged) and the
one that wrote over it are flagged.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from itertools import islice
from math import gcd, lcm
from pathlib import Path

import numpy as np

from grammarbench.grammars.grammar import SPLITS, Background, Element, Grammar, Rule
from grammarbench.grammars.placement import label_weight, place_relative, placement_plan
from grammarbench.io import atomic_directory

#: Examples per chunk. Part of the data's identity: changing it changes every dataset.
CHUNK_SIZE = 2048
#: Placement attempts before an overlapping instance is kept and flagged.
MAX_ATTEMPTS = 100
#: Resolution of the letter lookup table: letter probabilities are rounded to 1/65536
#: (error < 8e-6), which lets one 16-bit random number pick one letter.
LUT_BITS = 16

#: Longest block of the entry assignment (weights whose exact ratio needs longer blocks are
#: rounded to this many examples per block).
MAX_PERIOD = 1 << 16
#: The second spawn-key word of the entry assignment's stream (chunk indices stay below).
ASSIGNMENT_STREAM = 1 << 32

SPLIT_KEYS = {split: i for i, split in enumerate(SPLITS)}
INSTANCE_COLUMNS = ("example", "element", "start", "end", "strand", "class", "rule",
                    "copy", "attempts", "overlaps")


@dataclass
class Chunk:
    """One chunk of simulated examples (arrays shape=(C, ...), C = chunk size)."""

    sequences: np.ndarray  # (C, L) uint8 letter codes, padded with the unknown code
    lengths: np.ndarray  # (C,) int32
    entries: np.ndarray  # (C,) int16 composition entry of each example
    labels: np.ndarray  # (C,) int16 class index, or (C, K) uint8 multi-hot
    mask: np.ndarray  # (C, L) uint8, 1 at grammar positions
    instances: dict[str, np.ndarray]  # INSTANCE_COLUMNS → (n_instances,)
    positional: np.ndarray  # (K, L) int64 grammar positions per class and position
    class_counts: np.ndarray  # (K,) int64 examples per class


# --------------------------------------------------------------------------- randomness


def chunk_rng(seed: int, split: str, chunk: int) -> np.random.Generator:
    """The generator of chunk ``chunk`` of ``split``: independent of every other chunk."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(SPLIT_KEYS[split], chunk)))


@cache
def block_counts(weights: tuple[float, ...]) -> np.ndarray:
    """Examples of each entry per block of the entry assignment, shape=(E,): the weights'
    exact ratio in the smallest whole numbers (seqgra's samples 5000 and 5000 give 1 and
    1), or, where that needs more than ``MAX_PERIOD`` examples, the weights rounded to
    ``MAX_PERIOD`` (largest remainders)."""
    exact = [Fraction(repr(float(w))) for w in weights]
    scale = lcm(*(f.denominator for f in exact))
    counts = [int(f * scale) for f in exact]
    divisor = gcd(*counts)
    counts = np.array([c // divisor for c in counts], dtype=np.int64)
    if counts.sum() > MAX_PERIOD:
        share = MAX_PERIOD * np.asarray(weights, float) / np.sum(weights)
        counts = np.floor(share).astype(np.int64)
        counts[np.argsort(counts - share, kind="stable")[: MAX_PERIOD - counts.sum()]] += 1
    return counts


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on uint64 (wrapping arithmetic): a bijection
    whose outputs for consecutive inputs look independent and uniform."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def entry_assignment(weights, seed: int, split: str, start: int, n: int) -> np.ndarray:
    """The composition entry of examples ``start`` .. ``start + n - 1`` of a split,
    shape=(n,) int64.

    Examples come in consecutive blocks of P = ``block_counts(weights).sum()``; each
    block holds exactly ``block_counts`` examples of each entry, in an order drawn per
    block (from a hash of the data seed, the split and the example's index, so any range
    of examples is computed alone, whatever the chunking). Every prefix of a split is
    within one block of exact proportions, and exactly proportional at every multiple
    of P: a seqgra definition at its own sizes gets exactly its ``samples``.
    """
    counts = block_counts(tuple(float(w) for w in weights))
    if len(counts) == 1 or n <= 0:
        return np.zeros(max(n, 0), dtype=np.int64)
    period = int(counts.sum())
    first, last = start // period, (start + n - 1) // period
    state = np.random.SeedSequence(int(seed), spawn_key=(SPLIT_KEYS[split], ASSIGNMENT_STREAM))
    base = state.generate_state(1, np.uint64)[0]
    index = np.arange(first * period, (last + 1) * period, dtype=np.uint64)
    keys = _mix64(_mix64(index) ^ base).reshape(-1, period)               # (blocks, P)
    rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
    pattern = np.repeat(np.arange(len(counts), dtype=np.int64), counts)     # (P,)
    offset = start - first * period
    return pattern[rank].ravel()[offset: offset + n]


@cache
def _letter_table(probs: tuple[float, ...]) -> np.ndarray:
    """Lookup table 16-bit random number → letter code with the given probabilities."""
    slots = 1 << LUT_BITS
    share = np.asarray(probs) * slots
    counts = np.floor(share).astype(int)
    counts[np.argsort(counts - share, kind="stable")[: slots - counts.sum()]] += 1
    return np.repeat(np.arange(len(probs), dtype=np.uint8), counts)


def draw_letters(probs: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """i.i.d. letter codes, shape=``shape``, uint8: a 16-bit random number per letter mapped
    through a lookup table, one generator per row seeded from ``rng`` (the numbers of the numba
    kernel seq.iid_letters, drawn in numpy so that a simulate job never loads numba)."""
    from grammarbench.sequences import xoshiro

    return xoshiro.iid_letters(_letter_table(tuple(float(p) for p in probs)), draw_seeds(shape[0], rng), shape[1])


# numba's default thread pool (workqueue) must not be entered from two Python threads at
# once; its parallel kernels (k-let shuffle, Markov sampling) run one call at a time, each
# on all of numba's threads.
_NUMBA_LOCK = threading.Lock()


def draw_seeds(n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-sequence uint64 seeds for the numba kernels (see grammarbench.sequences.kernels)."""
    return rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)


# --------------------------------------------------------------------------- backgrounds


def draw_background(background: Background, lengths: np.ndarray, width: int, alphabet_size: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Background sequences, shape=(len(lengths), width) uint8, padded past each length
    with the unknown code."""
    n = len(lengths)
    if background.kind == "letters":
        out = draw_letters(background.probs, (n, width), rng)
        if (lengths < width).any():
            out[np.arange(width)[None, :] >= lengths[:, None]] = alphabet_size
        return out
    # numba's kernels: imported only by a grammar that draws these backgrounds
    from grammarbench.sequences import kernels as seq

    if background.kind == "markov":
        seeds = draw_seeds(n, rng)
        with _NUMBA_LOCK:
            out = seq.sample_markov(background.initial, background.transition, lengths,
                                    seeds, width=width, alphabet_size=alphabet_size)
    else:  # k-let shuffles of random windows of real sequences
        source = background.sequences
        sizes = np.array([len(s) for s in source])
        # a window of each example's length from a sequence long enough for it, chosen
        # with chance proportional to its number of windows, so every window is equally likely
        windows = np.maximum(sizes[None, :] - lengths[:, None] + 1, 0)
        cumulative = np.cumsum(windows, axis=1)
        pick = (rng.random(n) * cumulative[:, -1]).astype(np.int64)
        which = (pick[:, None] >= cumulative).sum(1)
        offset = pick - np.where(which > 0, cumulative[np.arange(n), which - 1], 0)
        flat = np.concatenate(source)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])[which] + offset
        cols = np.arange(width)
        out = flat[np.minimum(starts[:, None] + cols, len(flat) - 1)]
        out[cols[None, :] >= lengths[:, None]] = alphabet_size
        seeds = draw_seeds(n, rng)
        with _NUMBA_LOCK:
            out = seq.kshuffle(out, background.k, seeds, lengths=lengths, alphabet_size=alphabet_size)
    return out


# --------------------------------------------------------------------------- elements


def sample_element(element: Element, n: int, complement: np.ndarray | None,
                   rng: np.random.Generator):
    """``n`` instances of an element.

    Returns
    -------
    codes: np.ndarray, shape=(n, element.max_width), uint8
        Letters of each instance, left-aligned (past its width: unspecified).
    widths: np.ndarray, shape=(n,)
    strands: np.ndarray, shape=(n,), int8
        +1 forward, -1 reverse complement.
    """
    if element.kind == "ppm":
        cumulative = np.cumsum(element.ppm, axis=1)[:, :-1]  # (w, A-1)
        u = rng.random((n, len(element.ppm)))
        codes = (u[:, :, None] >= cumulative[None]).sum(-1).astype(np.uint8)
        widths = np.full(n, len(element.ppm))
    else:
        pick = rng.choice(len(element.kmers), size=n, p=element.kmer_weights)
        codes, widths = element.kmers[pick], element.kmer_lengths[pick]
    if element.strand == "forward":
        strands = np.ones(n, dtype=np.int8)
    elif element.strand == "reverse":
        strands = -np.ones(n, dtype=np.int8)
    else:
        strands = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    flip = strands < 0
    if flip.any():
        cols = np.arange(codes.shape[1])
        src = np.clip(widths[flip, None] - 1 - cols, 0, codes.shape[1] - 1)
        codes = codes.copy()
        codes[flip] = complement[np.take_along_axis(codes[flip], src, axis=1)]
    return codes, widths, strands


# --------------------------------------------------------------------------- placement


def _block_offsets(edges, widths: list[np.ndarray], room: np.ndarray, rng) -> np.ndarray:
    """Offsets of a block's elements, shape=(n, m), from gaps drawn per constraint;
    rows whose block would not fit in ``room`` or whose elements overlap are drawn again."""
    n, m = len(room), len(widths)
    offsets = np.zeros((n, m), dtype=np.int64)
    if not edges:
        return offsets
    width = np.stack(widths, axis=1)
    todo = np.arange(n)
    for _ in range(MAX_ATTEMPTS):
        k = len(todo)
        off = np.zeros((k, m), dtype=np.int64)
        for edge in edges:
            s = edge[2]
            gap = rng.integers(s.min_gap, s.max_gap + 1, size=k)
            in_order = np.ones(k, bool) if s.order == "in-order" else rng.random(k) < 0.5
            off[:, edge[1]] = place_relative(off, width, todo, edge, gap, in_order)
        off -= off.min(1, keepdims=True)
        ends = off + width[todo]
        # elements of one block must not overlap each other (possible with `either` chains)
        order = np.argsort(off, axis=1, kind="stable")
        sorted_start = np.take_along_axis(off, order, 1)
        sorted_end = np.take_along_axis(ends, order, 1)
        clash = (sorted_start[:, 1:] < np.maximum.accumulate(sorted_end, axis=1)[:, :-1]).any(1)
        ok = (ends.max(1) <= room[todo]) & ~clash
        offsets[todo[ok]] = off[ok]
        todo = todo[~ok]
        if not len(todo):
            return offsets
    # Still unplaced after MAX_ATTEMPTS (huge max_gap against little room): the grammar
    # check guarantees the block fits at its minimum gaps in order, so use those.
    off = np.zeros((len(todo), m), dtype=np.int64)
    for edge in edges:
        off[:, edge[1]] = place_relative(off, width, todo, edge, edge[2].min_gap,
                                          np.ones(len(todo), bool))
    offsets[todo] = off - off.min(1, keepdims=True)
    return offsets


def _block_starts(position, lengths: np.ndarray, extent: np.ndarray, rng) -> np.ndarray:
    """Start of each block, shape=(n,), as the rule's position says."""
    kind = position.kind
    if kind == "random":
        return (rng.random(len(lengths)) * (lengths - extent + 1)).astype(np.int64)
    if kind == "start":
        return np.zeros(len(lengths), dtype=np.int64)
    if kind == "end":
        return (lengths - extent).astype(np.int64)
    if kind == "center":
        return ((lengths - extent) // 2).astype(np.int64)
    if kind == "fixed":
        return np.full(len(lengths), position.start, dtype=np.int64)
    end = np.minimum(position.end, lengths)
    return position.start + (rng.random(len(lengths)) * (end - extent - position.start + 1)).astype(np.int64)


def _room(position, lengths: np.ndarray) -> np.ndarray:
    if position.kind == "fixed":
        return lengths - position.start
    if position.kind == "window":
        return np.minimum(position.end, lengths) - position.start
    return lengths


class _ChunkBuilder:
    """Applies rules to one chunk's sequences, recording instances and the mask."""

    def __init__(self, grammar: Grammar, sequences, lengths, rng):
        self.g = grammar
        self.seq = sequences
        self.lengths = lengths
        self.rng = rng
        self.mask = np.zeros_like(sequences)
        self.n_placed = np.zeros(len(sequences), dtype=np.int32)
        self.complement = (grammar.alphabet.complement_codes
                           if grammar.alphabet.complement is not None else None)
        self.element_index = {name: i for i, name in enumerate(grammar.elements)}
        self.records: list[tuple] = []
        # the instance each letter belongs to (-1: background), to flag every instance an
        # overlap touches: the one written over as well as the one that wrote
        self.owner = np.full(sequences.shape, -1, dtype=np.int32)
        self.n_instances = 0
        self.overlapping: list[np.ndarray] = []

    def apply_class(self, class_index: int, rows: np.ndarray):
        gclass = self.g.classes[self.g.class_names[class_index]]
        rules = gclass.rules
        if not rules or not len(rows):
            return
        if gclass.mode == "mutually-exclusive":
            p = np.array([r.probability for r in rules])
            chosen = self.rng.choice(len(rules), size=len(rows), p=p / p.sum())
        for r, rule in enumerate(rules):
            if gclass.mode == "mutually-exclusive":
                fired = rows[chosen == r]
            else:
                fired = rows[self.rng.random(len(rows)) < rule.probability]
            lo, hi = rule.copies
            copies = self.rng.integers(lo, hi + 1, size=len(fired)) if hi > lo else np.full(len(fired), lo)
            for copy in range(hi):
                self.place_rule(rule, fired[copies > copy], class_index, r, copy)

    def place_rule(self, rule: Rule, rows: np.ndarray, class_index: int, rule_index: int, copy: int):
        if not len(rows):
            return
        room = _room(rule.position, self.lengths[rows])
        for component, edges in placement_plan(rule):
            samples = [sample_element(self.g.elements[e], len(rows), self.complement, self.rng)
                       for e in component]
            widths = [w for _, w, _ in samples]
            offsets = _block_offsets(edges, widths, room, self.rng)
            extent = (offsets + np.stack(widths, 1)).max(1)
            starts, attempts, _ = self.find_starts(rule, rows, offsets, widths, extent)
            for j, name in enumerate(component):
                codes, width, strands = samples[j]
                ids = self.write(rows, starts + offsets[:, j], codes, width)
                self.records.append((rows, np.full(len(rows), self.element_index[name]),
                                     starts + offsets[:, j], starts + offsets[:, j] + width, strands,
                                     class_index, rule_index, copy, attempts, ids))
            self.n_placed[rows] += 1

    def find_starts(self, rule, rows, offsets, widths, extent):
        """Block starts; with overlap=resample, drawn again where an instance would land on
        letters of an earlier instance."""
        starts = _block_starts(rule.position, self.lengths[rows], extent, self.rng)
        attempts = np.ones(len(rows), dtype=np.int16)
        movable = rule.position.kind in ("random", "window")
        todo = np.flatnonzero(self.n_placed[rows] > 0)  # empty examples cannot clash
        for attempt in range(MAX_ATTEMPTS):
            if not len(todo):
                break
            clash = self.overlaps(rows[todo], starts[todo, None] + offsets[todo], [w[todo] for w in widths])
            todo = todo[clash]
            if not len(todo) or self.g.overlap == "allow" or not movable or attempt == MAX_ATTEMPTS - 1:
                break
            starts[todo] = _block_starts(rule.position, self.lengths[rows[todo]], extent[todo], self.rng)
            attempts[todo] += 1
        overlaps = np.zeros(len(rows), dtype=bool)
        overlaps[todo] = True
        return starts, attempts, overlaps

    def overlaps(self, rows, starts, widths) -> np.ndarray:
        """Whether any element of each row's block lands on an existing grammar position."""
        clash = np.zeros(len(rows), dtype=bool)
        L = self.mask.shape[1]
        for j, width in enumerate(widths):
            cols = starts[:, j, None] + np.arange(width.max())
            inside = cols < (starts[:, j] + width)[:, None]
            hits = self.mask[rows[:, None], np.minimum(cols, L - 1)].astype(bool) & inside
            clash |= hits.any(1)
        return clash

    def write(self, rows, starts, codes, widths) -> np.ndarray:
        """Write one instance per row; returns the instances' ids, shape=(len(rows),)."""
        ids = self.n_instances + np.arange(len(rows), dtype=np.int64)
        self.n_instances += len(rows)
        cols = starts[:, None] + np.arange(codes.shape[1])
        inside = np.arange(codes.shape[1])[None, :] < widths[:, None]
        r = np.broadcast_to(rows[:, None], cols.shape)[inside]
        c = cols[inside]
        below = self.owner[r, c]
        hit = below >= 0
        if hit.any():  # the instances written over, and those writing over them
            self.overlapping += [below[hit], np.broadcast_to(ids[:, None], cols.shape)[inside][hit]]
        self.seq[r, c] = codes[inside]
        self.mask[r, c] = 1
        self.owner[r, c] = np.broadcast_to(ids[:, None], cols.shape)[inside]
        return ids

    def instances(self) -> dict[str, np.ndarray]:
        if not self.records:
            return {name: np.zeros(0, dtype=np.int64) for name in INSTANCE_COLUMNS}
        columns = list(zip(*self.records))
        n_per = [len(r) for r in columns[0]]
        out = {}
        for name, values in zip(INSTANCE_COLUMNS, columns):
            out[name] = np.concatenate([np.broadcast_to(v, (n,)) for v, n in zip(values, n_per)])
        flagged = np.zeros(self.n_instances, dtype=bool)
        if self.overlapping:
            flagged[np.concatenate(self.overlapping)] = True
        out["overlaps"] = flagged[out["overlaps"]]  # the column held the instances' ids
        return out


# --------------------------------------------------------------------------- chunks


def simulate_chunk(grammar: Grammar, split: str, seed: int, chunk: int,
                   chunk_size: int = CHUNK_SIZE) -> Chunk:
    """Simulate chunk ``chunk`` of ``split``: examples chunk*chunk_size ... +chunk_size-1."""
    rng = chunk_rng(seed, split, chunk)
    g = grammar
    A, K = g.alphabet.size, g.n_classes
    entries = g.composition[split]
    entry_of = entry_assignment([e.weight for e in entries], seed, split, chunk * chunk_size,
                                chunk_size)
    if g.max_length > g.min_length:
        lengths = rng.integers(g.min_length, g.max_length + 1, size=chunk_size).astype(np.int32)
    else:
        lengths = np.full(chunk_size, g.min_length, dtype=np.int32)
    width = g.max_length

    # The label set each example is simulated with: its own, or for a shuffled negative
    # one of the label sets it is a shuffle of.
    labelsets, labelset_index = _labelsets(g, split)
    source = np.array([labelset_index[e.labels] for e in entries])[entry_of]
    for i, entry in enumerate(entries):
        if entry.shuffle_of is None:
            continue
        rows = np.flatnonzero(entry_of == i)
        weights = np.array([label_weight(entries, s) for s in entry.shuffle_of])
        pick = rng.choice(len(entry.shuffle_of), size=len(rows), p=weights / weights.sum())
        source[rows] = np.array([labelset_index[s] for s in entry.shuffle_of])[pick]

    # Each example's labels in the order their rules apply: a uniform random order per
    # example, as seqgra shuffles an example's conditions (drawn only where some example
    # has several labels). order[i, r] is the class applied r-th, valid for r < n_labels[i].
    member = np.zeros((len(labelsets), K), dtype=bool)
    for s, labels in enumerate(labelsets):
        member[s, [g.class_names.index(label) for label in labels]] = True
    n_labels = member.sum(1)[source]
    if n_labels.max(initial=0) > 1:
        keys = np.where(member[source], rng.random((chunk_size, K)), np.inf)
        order = np.argsort(keys, axis=1, kind="stable")[:, : int(n_labels.max())]
    else:
        order = member[source].argmax(1)[:, None]

    # Backgrounds: that of the first label in the example's order (seqgra's rule); one draw
    # per distinct background, for all its examples at once.
    firsts = list(dict.fromkeys(label for s in labelsets for label in (s or (None,))))
    background_of = [g.background_for(split, label) for label in firsts]
    distinct = list({id(b): b for b in background_of}.values())
    first_of_class = np.array([firsts.index(name) if name in firsts else 0
                               for name in g.class_names] + [firsts.index(None) if None in firsts else 0])
    first = first_of_class[np.where(n_labels > 0, order[:, 0], K)]
    which = np.array([distinct.index(b) for b in background_of])[first]
    if len(distinct) == 1:  # the common case: no copy
        sequences = draw_background(distinct[0], lengths, width, A, rng)
    else:
        sequences = np.empty((chunk_size, width), dtype=np.uint8)
        for b, background in enumerate(distinct):
            rows = np.flatnonzero(which == b)
            if len(rows):
                sequences[rows] = draw_background(background, lengths[rows], width, A, rng)

    # Rules: in round r, each example's r-th label; within a round, class by class.
    builder = _ChunkBuilder(g, sequences, lengths, rng)
    for r in range(order.shape[1]):
        applied = np.where(r < n_labels, order[:, r], -1)
        for c in range(K):
            builder.apply_class(c, np.flatnonzero(applied == c))
    mask = builder.mask
    instances = builder.instances()

    # Shuffled negatives: k-let shuffles of what was just simulated; no grammar is left.
    for i, entry in enumerate(entries):
        rows = np.flatnonzero(entry_of == i)
        if entry.shuffle_of is None or not len(rows):
            continue
        from grammarbench.sequences import kernels as seq  # numba: only for shuffled negatives

        seeds = draw_seeds(len(rows), rng)
        with _NUMBA_LOCK:
            sequences[rows] = seq.kshuffle(sequences[rows], entry.k, seeds,
                                           lengths=lengths[rows], alphabet_size=A)
        mask[rows] = 0
    shuffled = np.array([e.shuffle_of is not None for e in entries])[entry_of]
    keep = ~shuffled[instances["example"]]
    instances = {name: values[keep] for name, values in instances.items()}

    own = np.zeros((len(entries), K), dtype=bool)
    for i, entry in enumerate(entries):
        own[i, [g.class_names.index(label) for label in entry.labels]] = True
    multi_hot = own[entry_of]
    if g.task == "multi-class":
        labels = multi_hot.argmax(1).astype(np.int16)
    else:
        labels = multi_hot.astype(np.uint8)
    positional = _positional_counts(mask, multi_hot, instances)
    return Chunk(sequences, lengths, entry_of.astype(np.int16), labels, mask, instances,
                 positional, multi_hot.sum(0).astype(np.int64))


def _positional_counts(mask: np.ndarray, members: np.ndarray, instances: dict | None = None) -> np.ndarray:
    """Grammar positions per class and position, shape=(K, L) int64: the sum over examples of
    class c of their mask rows.

    With ``instances`` (the chunk's instance table, example indices into ``mask``'s rows),
    from the table rather than the mask: the mask is 1 exactly on the union of an example's
    instances, which is the sum of their intervals wherever none of them overlaps another
    (a difference array per class, a few thousand entries instead of a pass over the mask's
    millions). The examples whose instances overlap (flagged in ``overlaps``) are counted
    from their mask rows.
    """
    K, L = members.shape[1], mask.shape[1]
    if instances is None:
        rows, cols = np.nonzero(mask)
        return np.stack([np.bincount(cols[members[rows, c]], minlength=L)
                         for c in range(K)]).astype(np.int64)
    example = instances["example"]
    damaged = np.zeros(len(mask), dtype=bool)
    damaged[example[instances["overlaps"].astype(bool)]] = True
    clean = ~damaged[example]
    start, end = instances["start"][clean], instances["end"][clean]
    classes = members[example[clean]]                                       # (I, K)
    counts = np.empty((K, L), dtype=np.int64)
    for c in range(K):
        edges = (np.bincount(start[classes[:, c]], minlength=L + 1)
                 - np.bincount(end[classes[:, c]], minlength=L + 1))
        counts[c] = np.cumsum(edges[:L])
    if damaged.any():
        counts += _positional_counts(mask[damaged], members[damaged])
    return counts


def _labelsets(g: Grammar, split: str):
    labelsets: list[tuple[str, ...]] = []
    for entry in g.composition[split]:
        for labels in [entry.labels] + list(entry.shuffle_of or []):
            if labels not in labelsets:
                labelsets.append(labels)
    return labelsets, {s: i for i, s in enumerate(labelsets)}


# --------------------------------------------------------------------------- splits


def _run_chunk(grammar, split, seed, chunk, chunk_size, n):
    """Simulate one chunk: examples chunk*chunk_size..., rows past ``n`` dropped. Returns
    its sequences and mask (written to the split's files in chunk order), the small
    per-example arrays and its instances (example numbers within the split)."""
    result = simulate_chunk(grammar, split, seed, chunk, chunk_size)
    lo = chunk * chunk_size
    take = min(chunk_size, n - lo)
    keep = result.instances["example"] < take
    instances = {k: v[keep] for k, v in result.instances.items()}
    positional, counts = result.positional, result.class_counts
    if take < chunk_size:  # the last chunk of the split: count only the rows kept
        labels = result.labels[:take]
        members = (labels[:, None] == np.arange(len(counts)) if labels.ndim == 1
                   else labels.astype(bool))
        positional = _positional_counts(result.mask[:take], members, instances)
        counts = members.sum(0).astype(np.int64)
    instances["example"] = instances["example"] + lo
    return (result.sequences[:take], result.mask[:take], result.lengths[:take], result.entries[:take],
            result.labels[:take], instances, positional, counts)


def _in_order(function, items, threads: int):
    """``function`` over ``items`` on ``threads`` threads, results yielded in order, at most
    2 x threads computed ahead of the consumer (memory stays a few chunks, whatever the size)."""
    if threads == 1:
        yield from map(function, items)
        return
    items = iter(items)
    with ThreadPoolExecutor(threads) as pool:
        ahead = deque(pool.submit(function, item) for item in islice(items, 2 * threads))
        while ahead:
            result = ahead.popleft().result()
            for item in islice(items, 1):
                ahead.append(pool.submit(function, item))
            yield result


def _npy_header(file, shape: tuple[int, ...], dtype=np.uint8) -> None:
    """The header ``np.save`` (and ``open_memmap``) writes for a C-order array."""
    np.lib.format.write_array_header_1_0(file, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                "fortran_order": False, "shape": tuple(shape)})


def simulate_split(grammar: Grammar, split: str, n: int, seed: int, out_dir: str | Path,
                   threads: int = 1, chunk_size: int = CHUNK_SIZE,
                   exports: tuple[str, ...] = ()) -> dict:
    """Simulate ``n`` examples of ``split`` and write them to the folder ``out_dir``.

    The folder is written under a temporary name and renamed when complete, so an
    interrupted run leaves nothing that looks finished.

    Parameters
    ----------
    grammar: Grammar
    split: str
        ``train``, ``validation`` or ``test``.
    n: int
        Number of examples.
    seed: int
        Data seed; with the split and the chunk index it determines every random draw.
    out_dir: str or Path
        Folder to create (replaced if it exists).
    threads: int, optional
        Chunks simulated at once. The output does not depend on it. Default is 1.
    chunk_size: int, optional
        Examples per chunk; part of the data's identity. Default is CHUNK_SIZE.
    exports: tuple of str, optional
        Extra formats to write beside the arrays: ``fasta`` (FASTA + BED of instances)
        and/or ``seqgra`` (seqgra's tab-separated layout). Default is none.

    Returns
    -------
    manifest: dict
        What ``manifest.json`` in the folder holds.
    """
    from grammarbench.simulation import dataset

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if n < 1:
        raise ValueError(f"n must be a positive number of examples, got {n}")
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        shape = (n, grammar.max_length)
        n_chunks = -(-n // chunk_size)

        def run(chunk):
            return _run_chunk(grammar, split, seed, chunk, chunk_size, n)

        # Threads, not processes: numpy's random draws, lookups and copies release the GIL,
        # and threads need no pickling, no start-up and no fork (unsafe once numba's thread
        # pool runs; and spawn would re-run a Snakemake script's top level in each worker).
        # The two big arrays are written chunk by chunk, in order, with plain writes (no
        # memory map: its page faults and msync cost more than the writes).
        threads = max(1, min(threads, n_chunks))
        results = []
        with open(tmp / "sequences.npy", "wb") as seq_file, open(tmp / "mask.npy", "wb") as mask_file:
            _npy_header(seq_file, shape)
            _npy_header(mask_file, shape)
            for chunk_sequences, chunk_mask, *small in _in_order(run, range(n_chunks), threads):
                seq_file.write(np.ascontiguousarray(chunk_sequences).data)
                mask_file.write(np.ascontiguousarray(chunk_mask).data)
                results.append(small)
        lengths, entries, labels, instance_parts, positional, counts = zip(*results)
        instances = {k: np.concatenate([p[k] for p in instance_parts]) for k in INSTANCE_COLUMNS}
        manifest = dataset.write_split(
            tmp, grammar=grammar, split=split, seed=seed, chunk_size=chunk_size,
            lengths=np.concatenate(lengths), entries=np.concatenate(entries),
            labels=np.concatenate(labels), instances=instances,
            positional=np.sum(positional, axis=0), class_counts=np.sum(counts, axis=0),
            exports=exports)
    return manifest


def split_sizes(grammar: Grammar, n_train: int | None = None, n_validation: int | None = None,
                n_test: int | None = None) -> dict[str, int]:
    """Sizes of the three splits: given ones win; otherwise the grammar's own ``sizes``
    (seqgra definitions have them); otherwise held-out sizes from the split proportions."""
    sizes = dict(grammar.sizes)
    if n_train is not None:
        sizes["train"] = n_train
    if "train" not in sizes:
        raise ValueError(f"{grammar.source}: no training-set size given and the grammar has no sizes.train")
    derived = grammar.heldout_sizes(sizes["train"])
    for split, given in (("validation", n_validation), ("test", n_test)):
        if given is not None:
            sizes[split] = given
        elif split not in sizes or n_train is not None and split not in grammar.sizes:
            sizes[split] = derived[split]
    return sizes


def simulate_dataset(grammar: Grammar, out_dir: str | Path, seed: int, n_train: int | None = None,
                     n_validation: int | None = None, n_test: int | None = None,
                     threads: int = 1, exports: tuple[str, ...] = ()) -> dict[str, dict]:
    """All three splits into ``out_dir/{train,validation,test}`` (the CLI's layout)."""
    sizes = split_sizes(grammar, n_train, n_validation, n_test)
    out_dir = Path(out_dir)
    manifests = {split: simulate_split(grammar, split, sizes[split], seed, out_dir / split,
                                       threads=threads, exports=exports)
                 for split in SPLITS}
    (out_dir / "dataset.json").write_text(json.dumps(
        {"grammar": grammar.name, "seed": seed, "sizes": sizes}, indent=2) + "\n")
    return manifests
