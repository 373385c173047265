# oracle.py
# grammarbench: the grammar's own classifier, the ceiling every trained model is compared to

r"""The oracle: the class posterior computed from the grammar itself.

For an example ``x`` the oracle scores every composition entry ``e`` of the split (a label
set with a weight) by the likelihood of ``x`` under the process that simulated it, and
returns the posterior ``P(class | x) = Σ_{e ∋ class} w_e P(x | e) / Σ_e w_e P(x | e)``.
On data the grammar generated this is the Bayes-optimal classifier: no model can beat it
in expectation, so a trained model that does (by more than noise, on a large test set) is
a bug in one of them.

How ``P(x | e)`` is computed
----------------------------
*Background.* ``log P_bg(x) = Σ_i log P(x_i | x_{i-o} .. x_{i-1})`` over the example's
length: the letter probabilities for an i.i.d. background, the chain's conditionals (and
its initial distribution, split into conditionals) for a Markov background.

*One element instance.* An element inserted at ``t`` replaces the background letters
there, so for an i.i.d. background ``P(x | instance at t) = P_bg(x) · LR(t)`` exactly, with
the likelihood ratio ``LR(t) = Π_j p_elem(x_{t+j}) / p_bg(x_{t+j})``. ``log p_elem`` of every
window comes from a convolution of the one-hot batch with the log-probability matrix of
every variant of the element (the PPM and its reverse complement, weighted by the strand
probabilities; each k-mer of a k-mer set, weighted), combined by log-sum-exp.

*A block.* Elements tied by spacing constraints are placed as the simulator does: gaps
uniform in [min_gap, max_gap], each `either` constraint in one order or the other with
probability 1/2, redrawn when the block does not fit or its elements overlap — i.e. uniform
over the valid (width, gap, order) combinations — and the block's start uniform over the
starts its position allows (random: anywhere it fits; window: inside the window; start,
end, center, fixed: one start). So ``M_block = Σ_combos P(combo) · mean_t Π_j LR_j(t +
offset_j)``: for each combination the element tracks are shifted by their offsets and added
in log space (a banded convolution), then averaged over the allowed starts.

*A rule.* Fired with probability ``p`` (sequential mode) with ``k`` copies (uniform in
[min, max]) of each block: ``LR_rule = (1 - p) + p · Σ_k P(k) Π_blocks M_block^k``.
A class multiplies its rules' ratios (sequential) or mixes them with weights
``p_r / Σ p`` (mutually exclusive); a background-only class has ratio 1; an example with
several labels multiplies the ratios of its classes. Priors are the entries' weights.

Where this is exact, and what is approximated
---------------------------------------------
Exact (up to floating point) for an i.i.d. background and classes whose examples hold one
block instance: one rule with one block (any spacing constraints, strands, k-mer sets,
positions and variable lengths), fired with any probability, and any class priors. That
covers ``one-motif`` and ``spacing``. The approximations, each reported by
:meth:`Oracle.approximations` for the grammar at hand:

* ``independent-placements``: several block instances in one example (several rules, blocks
  or copies, or several labels) are scored as independent placements; the simulator's
  resampling of overlapping placements (and, with ``overlap: allow``, letters written over
  an earlier instance) is ignored. The error is of the order of (total element width /
  length).
* ``markov-background``: element ratios use the chain's per-position conditionals; the
  letters right after an element are scored as if the element had not replaced the
  background (their context changed).
* ``shuffle-background``: k-let shuffles of FASTA windows are scored as an order k-1 Markov
  chain estimated from the FASTA.
* ``shuffled-negatives``: examples made by k-let shuffling an example are scored as the
  background of their source, without grammar (the residual k-let signal of shuffled
  elements is ignored).
* ``floored-probabilities``: probabilities of 0 (in elements or backgrounds; JASPAR matrices
  often have some) are floored at ``FLOOR`` = 1e-12, so that every score stays finite. This
  changes no likelihood by more than a factor 1 + 1e-12·L and is reported, but does not
  count against :attr:`Oracle.exact`.
* ``sampled-combinations``: a block with more than ``max_combinations`` (width, gap, order)
  combinations is averaged over a seeded uniform sample of them.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grammarbench.grammars.grammar import Background, Element, Grammar, Rule, load_grammar
from grammarbench.simulation.simulate import _label_weight, _placement_plan, _place_relative

log = logging.getLogger("grammarbench")

FLOOR = 1e-12
LOG_FLOOR = math.log(FLOOR)
NEG_INF = -math.inf
#: Logits are clipped to ±LOGIT_CLIP so that a posterior of exactly 0 or 1 stays finite.
LOGIT_CLIP = 50.0

APPROXIMATIONS = {
    "independent-placements": "several block instances in one example are scored as independent "
                              "placements (overlap resampling between them is ignored)",
    "markov-background": "element ratios use the Markov chain's per-position conditionals; the letters "
                         "after an element are scored in their original context",
    "shuffle-background": "k-let shuffles of FASTA windows are scored as an order k-1 Markov chain "
                          "estimated from the FASTA",
    "shuffled-negatives": "k-let shuffled examples are scored as their source's background, without grammar",
    "floored-probabilities": f"probabilities of 0 are floored at {FLOOR:g}",
    "sampled-combinations": "blocks with too many (width, gap, order) combinations are averaged over a "
                            "seeded uniform sample of them",
}


def _log(p) -> np.ndarray:
    return np.log(np.maximum(np.asarray(p, dtype=np.float64), FLOOR))


# --------------------------------------------------------------------------- backgrounds


@dataclass
class _Chain:
    """A background as a Markov chain of order ``order`` (0: i.i.d. letters)."""

    order: int
    log_initial: np.ndarray      # (A**order,)
    log_transition: np.ndarray   # (A**order, A)
    has_zero: bool


def _chain(background: Background, A: int) -> _Chain:
    from grammarbench.sequences import kernels as seq

    if background.kind == "letters":
        probs = np.asarray(background.probs, dtype=np.float64)
        return _Chain(0, np.zeros(1), _log(probs)[None, :], bool((probs <= 0).any()))
    if background.kind == "markov":
        initial, transition = background.initial, background.transition
        order = background.order
    else:  # k-let shuffles: an order k-1 chain estimated from the FASTA
        order = background.k - 1
        lengths = np.array([len(s) for s in background.sequences])
        padded = np.full((len(lengths), lengths.max()), A, dtype=np.uint8)
        padded[np.arange(lengths.max())[None, :] < lengths[:, None]] = np.concatenate(background.sequences)
        initial, transition = seq.estimate_markov(padded, order, lengths=lengths, alphabet_size=A)
    return _Chain(order, _log(initial), _log(transition),
                  bool((np.asarray(transition) <= 0).any() or (np.asarray(initial) <= 0).any()))


def _background_track(chain: _Chain, codes: torch.Tensor, inside: torch.Tensor, A: int) -> torch.Tensor:
    """``log P(x_i | previous letters)`` per position, shape=(n, L) float64; 0 past the end."""
    n, L = codes.shape
    device = codes.device
    safe = codes.clamp(max=A - 1).long()                                          # (n, L)
    T = torch.from_numpy(chain.log_transition).to(device)
    o = chain.order
    track = torch.zeros((n, L), dtype=torch.float64, device=device)
    if o == 0:
        track = T[0][safe]
    elif L > o:
        ctx = torch.zeros((n, L - o), dtype=torch.long, device=device)
        for j in range(o):
            ctx = ctx * A + safe[:, j: j + L - o]
        track[:, o:] = T[ctx, safe[:, o:]]
    if o > 0:
        # the initial distribution over the first `order` letters, split into conditionals
        # log P(x_i | x_0..x_{i-1}) = log P(x_0..x_i) - log P(x_0..x_{i-1})
        joint = np.exp(chain.log_initial).reshape((A,) * o)
        previous = torch.zeros(n, dtype=torch.float64, device=device)
        prefix = torch.zeros(n, dtype=torch.long, device=device)
        for i in range(min(o, L)):
            marginal = joint.sum(axis=tuple(range(i + 1, o))).reshape(-1) if i + 1 < o else joint.reshape(-1)
            prefix = prefix * A + safe[:, i]
            current = torch.from_numpy(_log(marginal)).to(device)[prefix]
            track[:, i] = current - previous
            previous = current
    return torch.where(inside, track, torch.zeros((), dtype=torch.float64, device=device))


# --------------------------------------------------------------------------- elements


@dataclass
class _Variants:
    """The variants of an element of one width: log-probability matrices for the
    convolution, shape=(V, A+1, w) (the last channel is the unknown letter), and their
    log-weights, shape=(V,)."""

    width: int
    weight: torch.Tensor
    log_weight: torch.Tensor


def _element_variants(element: Element, A: int, complement: np.ndarray | None) -> tuple[list[_Variants], bool]:
    """The element's variants grouped by width; and whether any probability was 0."""
    strands = {"forward": [(1, 1.0)], "reverse": [(-1, 1.0)], "either": [(1, 0.5), (-1, 0.5)]}[element.strand]
    by_width: dict[int, list[tuple[np.ndarray, float]]] = {}
    if element.kind == "ppm":
        probs = [(np.asarray(element.ppm, dtype=np.float64), 1.0)]
    else:
        probs = []
        for codes, width, weight in zip(element.kmers, element.kmer_lengths, element.kmer_weights):
            onehot = np.zeros((int(width), A))
            onehot[np.arange(width), codes[:width]] = 1.0
            probs.append((onehot, float(weight)))
    has_zero = element.kind == "ppm" and bool((probs[0][0] <= 0).any())
    for matrix, weight in probs:
        for strand, p_strand in strands:
            m = matrix if strand > 0 else matrix[::-1][:, complement[:A]]
            table = np.full((len(m), A + 1), LOG_FLOOR)
            table[:, :A] = _log(m)
            by_width.setdefault(len(m), []).append((table.T, weight * p_strand))   # (A+1, w)
    out = []
    for width, items in sorted(by_width.items()):
        tables = torch.from_numpy(np.stack([t for t, _ in items]).astype(np.float32))  # (V, A+1, w)
        log_w = torch.from_numpy(np.log(np.array([w for _, w in items], dtype=np.float64)))
        out.append(_Variants(width, tables, log_w))
    return out, has_zero


# --------------------------------------------------------------------------- blocks


@dataclass
class _Combo:
    widths: tuple[int, ...]
    offsets: np.ndarray     # (m,)
    extent: int
    clash: bool


def _combos(component: list[str], edges: list, widths: dict[str, list[int]], max_combos: int,
            rng: np.random.Generator) -> tuple[list[_Combo], dict[tuple, _Combo], bool]:
    """Every (width, gap, order) combination of a block, with its offsets; plus the
    simulator's fallback (minimum gaps, in order) per width combination, and whether the
    combinations were sampled."""
    m = len(component)
    width_sets = [widths[e] for e in component]
    gap_sets = [range(e[2].min_gap, e[2].max_gap + 1) for e in edges]
    order_sets = [(True,) if e[2].order == "in-order" else (True, False) for e in edges]
    sets = width_sets + gap_sets + order_sets
    total = math.prod(len(s) for s in sets)
    sampled = total > max_combos
    if sampled:
        picks = [tuple(s[rng.integers(len(s))] for s in sets) for _ in range(max_combos)]
    else:
        picks = list(itertools.product(*sets))
    k = len(picks)
    picked = np.array(picks, dtype=np.int64).reshape(k, len(sets))
    width = picked[:, :m]
    gaps, orders = picked[:, m: m + len(edges)], picked[:, m + len(edges):].astype(bool)

    def offsets_of(width, gaps, orders):
        rows = np.arange(len(width))
        off = np.zeros((len(width), m), dtype=np.int64)
        for i, edge in enumerate(edges):  # the simulator's own placement arithmetic
            off[:, edge[1]] = _place_relative(off, width, rows, edge, gaps[:, i], orders[:, i])
        return off - off.min(1, keepdims=True)

    off = offsets_of(width, gaps, orders)
    ends = off + width
    order_ = np.argsort(off, axis=1, kind="stable")
    s_start = np.take_along_axis(off, order_, 1)
    s_end = np.take_along_axis(ends, order_, 1)
    clash = (s_start[:, 1:] < np.maximum.accumulate(s_end, axis=1)[:, :-1]).any(1)
    combos = [_Combo(tuple(width[i]), off[i], int(ends[i].max()), bool(clash[i])) for i in range(k)]
    fallbacks = {}
    for w in {c.widths for c in combos}:
        w_arr = np.array([w])
        fo = offsets_of(w_arr, np.array([[e[2].min_gap for e in edges]]).reshape(1, -1),
                        np.ones((1, len(edges)), dtype=bool))[0]
        fallbacks[w] = _Combo(w, fo, int((fo + w_arr[0]).max()), False)
    return combos, fallbacks, sampled


def _max_instances(gclass) -> int:
    """The most block instances a class puts in one example."""
    counts = [len(_placement_plan(r)) * r.copies[1] for r in gclass.rules if r.probability > 0]
    if not counts:
        return 0
    return sum(counts) if gclass.mode == "sequential" else max(counts)


def _start_bounds(position, lengths: torch.Tensor, extent: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """First and last allowed start (inclusive) of a block of ``extent`` letters, and the
    room the simulator checks the block's fit against, each shape=(n,)."""
    kind = position.kind
    if kind == "random":
        return torch.zeros_like(lengths), lengths - extent, lengths
    if kind == "start":
        return torch.zeros_like(lengths), torch.zeros_like(lengths), lengths
    if kind == "end":
        return lengths - extent, lengths - extent, lengths
    if kind == "center":
        c = torch.div(lengths - extent, 2, rounding_mode="floor")
        return c, c, lengths
    if kind == "fixed":
        s = torch.full_like(lengths, position.start)
        return s, s, lengths - position.start
    end = torch.clamp(lengths, max=position.end)
    return torch.full_like(lengths, position.start), end - extent, end - position.start


# --------------------------------------------------------------------------- the oracle


class Oracle:
    """The grammar's posterior for the examples of one split.

    Parameters
    ----------
    grammar: Grammar
    split: str
        ``train``, ``validation`` or ``test``: its composition and backgrounds are used.
    device: str or torch.device
        Where to compute. Default is ``"cpu"``.
    max_combinations: int
        Largest number of (width, gap, order) combinations of a block scored exactly;
        larger blocks are sampled. Default is 4096.
    """

    def __init__(self, grammar: Grammar, split: str = "test", device="cpu", max_combinations: int = 4096):
        self.grammar = g = grammar
        self.split = split
        self.device = torch.device(device)
        self.A = A = g.alphabet.size
        self._notes: set[str] = set()
        complement = g.alphabet.complement_codes if g.alphabet.complement is not None else None
        self.variants: dict[str, list[_Variants]] = {}
        for name, element in g.elements.items():
            self.variants[name], zero = _element_variants(element, A, complement)
            if zero:
                self._notes.add("floored-probabilities")
        widths = {name: [v.width for v in vs] for name, vs in self.variants.items()}
        rng = np.random.default_rng(0)
        # per class: per rule: per block: (component, combos, fallbacks)
        self.blocks: dict[tuple[str, int], list] = {}
        for cname, gclass in g.classes.items():
            for r, rule in enumerate(gclass.rules):
                plan = []
                for component, edges in _placement_plan(rule):
                    combos, fallbacks, sampled = _combos(component, edges, widths, max_combinations, rng)
                    if sampled:
                        self._notes.add("sampled-combinations")
                    plan.append((component, combos, fallbacks))
                self.blocks[(cname, r)] = plan
        # composition entries: (log prior, background index, class names, shuffle sources)
        entries = g.composition[split]
        weights = np.array([e.weight for e in entries], dtype=np.float64)
        self.backgrounds: list[Background] = []
        self.entries = []
        for entry, w in zip(entries, weights / weights.sum()):
            if entry.shuffle_of is None:
                self.entries.append((math.log(w), self._background_index(entry.labels), entry.labels, None))
                continue
            self._notes.add("shuffled-negatives")
            src_w = np.array([_label_weight(entries, s) for s in entry.shuffle_of], dtype=np.float64)
            sources = [(math.log(p), self._background_index(s)) for s, p in zip(entry.shuffle_of, src_w / src_w.sum())]
            self.entries.append((math.log(w), None, entry.labels, sources))
        self.chains = [_chain(b, A) for b in self.backgrounds]
        for b, chain in zip(self.backgrounds, self.chains):
            if b.kind == "markov" and chain.order > 0:
                self._notes.add("markov-background")
            if b.kind == "shuffle":
                self._notes.add("shuffle-background")
            if chain.has_zero:
                self._notes.add("floored-probabilities")
        for labels in {e.labels for e in entries if e.shuffle_of is None}:
            if sum(_max_instances(g.classes[label]) for label in labels) > 1:
                self._notes.add("independent-placements")
        self.class_index = {name: i for i, name in enumerate(g.class_names)}

    def _background_index(self, labels) -> int:
        background = self.grammar.background_for(self.split, labels[0] if labels else None)
        for i, b in enumerate(self.backgrounds):
            if b is background:
                return i
        self.backgrounds.append(background)
        return len(self.backgrounds) - 1

    # ---- what is approximated

    def approximations(self) -> dict[str, str]:
        """The approximations that apply to this grammar and split (name → what); see
        :attr:`exact`."""
        return {k: APPROXIMATIONS[k] for k in APPROXIMATIONS if k in self._notes}

    @property
    def exact(self) -> bool:
        """Whether the posterior is exact: no approximation applies other than flooring
        zero probabilities (which changes likelihoods by at most a factor 1 + 1e-12·L)."""
        return not (self._notes - {"floored-probabilities"})

    # ---- scores

    def _element_tracks(self, onehot: torch.Tensor) -> dict[tuple[str, int], torch.Tensor]:
        """``log Σ_v w_v p_v(window at t)`` per element and width, shape=(n, L-w+1) float64."""
        out = {}
        for name, groups in self.variants.items():
            for v in groups:
                conv = torch.nn.functional.conv1d(onehot, v.weight.to(self.device))       # (n, V, L-w+1)
                out[(name, v.width)] = torch.logsumexp(conv.double() + v.log_weight.to(self.device)[None, :, None], 1)
        return out

    def _block_log_mean(self, component, combos, fallbacks, position, ratio, lengths, L: int) -> torch.Tensor:
        """``log M_block`` per example, shape=(n,) (``L``: the row width)."""
        n, dev = lengths.shape[0], self.device
        result = torch.full((n,), NEG_INF, dtype=torch.float64, device=dev)
        groups: dict[tuple, list[_Combo]] = {w: [] for w in fallbacks}
        for c in combos:
            if c.extent <= L and not c.clash:
                groups[c.widths].append(c)
        for widths, group in groups.items():
            count = torch.zeros(n, dtype=torch.float64, device=dev)
            if group:
                extent = torch.tensor([c.extent for c in group], device=dev)
                lo, hi, room = torch.broadcast_tensors(*_start_bounds(position, lengths[:, None], extent[None, :]))
                fit = room >= extent[None, :]                                      # (n, C)
                count = fit.double().sum(1)
                terms = self._mean_over_starts(component, group, lo, hi, ratio, L)   # (n, C)
                terms = terms.masked_fill(~fit, NEG_INF) - count.clamp(min=1).log()[:, None]
                result = torch.logaddexp(result, terms.logsumexp(1))
            # where no combination fits, the simulator falls back to minimum gaps, in order
            none = count == 0
            fallback = fallbacks[widths]
            if bool(none.any()) and fallback.extent <= L:
                extent = torch.tensor([fallback.extent], device=dev)
                lo, hi, _ = torch.broadcast_tensors(*_start_bounds(position, lengths[:, None], extent[None, :]))
                value = self._mean_over_starts(component, [fallback], lo, hi, ratio, L)[:, 0]
                result = torch.where(none, torch.logaddexp(result, value), result)
        return result

    def _mean_over_starts(self, component, combos, lo, hi, ratio, L: int) -> torch.Tensor:
        """``log mean_{t in [lo, hi]} Π_j LR_j(t + offset_j)`` for combinations of one width
        combination, shape=(n, C) (``lo``, ``hi`` shape=(n, C))."""
        n, dev = lo.shape[0], self.device
        offsets = torch.tensor(np.stack([c.offsets for c in combos]), device=dev)     # (C, m)
        extent = torch.tensor([c.extent for c in combos], device=dev)                # (C,)
        T = L - int(extent.min()) + 1
        t = torch.arange(T, device=dev)
        tracks = [ratio[(name, combos[0].widths[j])] for j, name in enumerate(component)]
        out = []
        step = max(1, (1 << 22) // max(1, n * T))  # combinations per chunk: ~32 MB of float64
        for a in range(0, len(combos), step):
            b = min(a + step, len(combos))
            s = torch.zeros((n, b - a, T), dtype=torch.float64, device=dev)
            for j, track in enumerate(tracks):
                idx = (t[None, :] + offsets[a:b, j, None]).clamp(max=track.shape[1] - 1)  # (c, T)
                s += track[:, idx]                                                   # (n, c, T)
            allowed = ((t[None, None, :] >= lo[:, a:b, None]) & (t[None, None, :] <= hi[:, a:b, None])
                       & (t[None, :] <= L - extent[a:b, None])[None])
            n_allowed = (hi[:, a:b] - lo[:, a:b] + 1).clamp(min=1).double()
            out.append(s.masked_fill_(~allowed, NEG_INF).logsumexp(2) - n_allowed.log())
        return torch.cat(out, 1)

    def _rule_log_lr(self, cname: str, r: int, rule: Rule, ratio, lengths, L: int, fired: bool) -> torch.Tensor:
        """``log LR`` of a rule; ``fired``: given that it fires (mutually exclusive mode)."""
        log_m = sum(self._block_log_mean(component, combos, fallbacks, rule.position, ratio, lengths, L)
                    for component, combos, fallbacks in self.blocks[(cname, r)])
        lo, hi = rule.copies
        ks = torch.arange(lo, hi + 1, dtype=torch.float64, device=self.device)
        with_copies = torch.logsumexp(ks[None, :] * log_m[:, None], 1) - math.log(hi - lo + 1)
        if fired or rule.probability >= 1:
            return with_copies
        if rule.probability <= 0:
            return torch.zeros_like(with_copies)
        return torch.logaddexp(torch.full_like(with_copies, math.log1p(-rule.probability)),
                               with_copies + math.log(rule.probability))

    def _class_log_lr(self, cname: str, ratio, lengths, L: int) -> torch.Tensor:
        """``log LR`` of a class (its rules against the background), shape=(n,)."""
        gclass = self.grammar.classes[cname]
        n = lengths.shape[0]
        if gclass.background_only or not gclass.rules:
            return torch.zeros(n, dtype=torch.float64, device=self.device)
        if gclass.mode == "sequential":
            return sum(self._rule_log_lr(cname, r, rule, ratio, lengths, L, fired=False)
                       for r, rule in enumerate(gclass.rules))
        p = np.array([rule.probability for rule in gclass.rules], dtype=np.float64)
        p = p / p.sum()
        parts = [self._rule_log_lr(cname, r, rule, ratio, lengths, L, fired=True) + math.log(p[r])
                 for r, rule in enumerate(gclass.rules) if p[r] > 0]
        return torch.logsumexp(torch.stack(parts, 1), 1)

    def log_joint(self, codes, lengths) -> torch.Tensor:
        """``log (w_e P(x | e))`` for every example and composition entry (up to a constant
        shared by all entries), shape=(N, n_entries) float64.

        Parameters
        ----------
        codes: np.ndarray or torch.Tensor, dtype=uint8, shape=(N, L)
        lengths: np.ndarray or torch.Tensor, shape=(N,)
        """
        codes = torch.from_numpy(np.array(codes, dtype=np.uint8)).to(self.device)   # a copy: memmaps are read-only
        lengths = torch.from_numpy(np.array(lengths, dtype=np.int64)).to(self.device)
        n, L = codes.shape
        A = self.A
        inside = torch.arange(L, device=self.device)[None, :] < lengths[:, None]
        letters = torch.arange(A + 1, device=self.device, dtype=codes.dtype)
        onehot = (codes.unsqueeze(1) == letters.view(1, -1, 1)).float()                  # (n, A+1, L)
        elements = self._element_tracks(onehot)
        scores = torch.empty((n, len(self.entries)), dtype=torch.float64, device=self.device)
        cache: dict[int, tuple] = {}

        def background(b):
            if b not in cache:
                track = _background_track(self.chains[b], codes, inside, A)
                csum = torch.nn.functional.pad(track.cumsum(1), (1, 0))                # (n, L+1)
                total = csum[:, -1]
                ratio = {key: e - (csum[:, key[1]:] - csum[:, :-key[1]])[:, : e.shape[1]]
                         for key, e in elements.items()}
                cache[b] = (total, ratio, {})
            return cache[b]

        for i, (log_w, b, labels, sources) in enumerate(self.entries):
            if sources is not None:
                parts = [lw + background(sb)[0] for lw, sb in sources]
                scores[:, i] = log_w + torch.logsumexp(torch.stack(parts, 1), 1)
                continue
            total, ratio, class_cache = background(b)
            value = log_w + total
            for label in labels:
                if label not in class_cache:
                    class_cache[label] = self._class_log_lr(label, ratio, lengths, L)
                value = value + class_cache[label]
            scores[:, i] = value
        return scores

    def _membership(self) -> np.ndarray:
        member = np.zeros((len(self.entries), len(self.class_index)), dtype=bool)
        for i, (_, _, labels, _) in enumerate(self.entries):
            for label in labels:
                member[i, self.class_index[label]] = True
        return member

    def logits(self, codes, lengths, batch_size: int = 512) -> np.ndarray:
        """Logits of the posterior, shape=(N, K) float64, to be scored like a model's:
        ``log P(class | x)`` for a multi-class grammar (softmax gives the posterior back);
        ``log P(c | x) - log P(not c | x)`` for a multi-label one (sigmoid gives it back).
        Clipped to ±``LOGIT_CLIP``."""
        codes, lengths = np.asarray(codes), np.asarray(lengths)
        member = torch.from_numpy(self._membership()).to(self.device)                  # (E, K)
        out = []
        for lo in range(0, len(codes), batch_size):
            joint = self.log_joint(codes[lo: lo + batch_size], lengths[lo: lo + batch_size])  # (n, E)
            inf = torch.tensor(NEG_INF, dtype=torch.float64, device=self.device)
            within = torch.where(member[None], joint[:, :, None], inf).logsumexp(1)      # (n, K)
            if self.grammar.task == "multi-class":
                logits = within - joint.logsumexp(1, keepdim=True)
            else:
                without = torch.where(~member[None], joint[:, :, None], inf).logsumexp(1)
                logits = within - without
            out.append(logits.clamp(-LOGIT_CLIP, LOGIT_CLIP).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.class_index)))

    def posterior(self, codes, lengths, batch_size: int = 512) -> np.ndarray:
        """``P(class | x)`` (multi-class, rows sum to 1) or ``P(c ∈ labels | x)``
        (multi-label), shape=(N, K)."""
        from grammarbench.models.evaluate import probabilities

        return probabilities(self.logits(codes, lengths, batch_size), self.grammar.task)


def evaluate_oracle(grammar: Grammar | str | Path, splits: dict[str, str | Path],
                    outputs: dict[str, dict[str, str | Path]], notes: str | Path | None = None,
                    device="cpu", batch_size: int = 512, threads: int | None = None) -> dict:
    """Score the oracle on simulated splits and write the same tables as a model's
    (:func:`grammarbench.models.evaluate.write_evaluation`).

    Parameters
    ----------
    grammar: Grammar, str or Path
    splits: dict
        Split name → split folder (simulated from this grammar).
    outputs: dict
        Split name → ``{"metrics": path, "predictions": path, "curves": path}``.
    notes: str or Path or None
        Also write a JSON file saying whether the posterior is exact and which
        approximations apply. Default is None.

    Returns
    -------
    metrics: dict
        Split name → metrics table.
    """
    from grammarbench.simulation.dataset import load_split
    from grammarbench.models.evaluate import summary_line, write_evaluation
    from grammarbench.io import write_text
    from grammarbench.runtime import use_threads

    use_threads(threads or None)
    g = grammar if isinstance(grammar, Grammar) else load_grammar(grammar)
    results, approximations, exact = {}, {}, True
    for name, path in splits.items():
        data = load_split(path)
        if data.manifest["grammar"]["sha256"] != g.digest:
            log.warning("%s was simulated from a different version of %s", path, g.source)
        oracle = Oracle(g, split=data.manifest["split"], device=device)
        approximations.update(oracle.approximations())
        exact &= oracle.exact
        logits = oracle.logits(np.asarray(data.sequences), np.asarray(data.lengths), batch_size=batch_size)
        table = write_evaluation(logits, np.asarray(data.labels), g.task, g.class_names, **outputs[name])
        log.info("oracle on %s (%d examples): %s", name, len(data), summary_line(table))
        results[name] = table
    log.info("the oracle's posterior for %s is %s%s", g.name, "exact" if exact else "approximate",
             "".join(f"; {text}" for text in approximations.values()))
    if notes is not None:
        write_text(notes, json.dumps({"grammar": g.name, "exact": exact, "approximations": approximations},
                                     indent=2) + "\n")
    return results
