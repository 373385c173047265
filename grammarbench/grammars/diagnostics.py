"""Diagnostics of a grammar's elements: information content and pairwise similarity.

Similar elements make a grammar harder than its rules suggest (a model may confuse them),
and low-information elements are hard to find in any background; both belong beside
every benchmark result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from grammarbench.grammars import motifs
from grammarbench.grammars.grammar import Grammar


def element_table(grammar: Grammar) -> pd.DataFrame:
    """One row per element: kind, width, strand, source, information content (bits,
    against the global background's letter frequencies, and against uniform)."""
    size = grammar.alphabet.size
    background = grammar.background.letter_frequencies(size)
    rows = []
    for name, element in grammar.elements.items():
        ppm = element.probability_matrix(size)
        rows.append({
            "element": name, "kind": element.kind, "min_width": element.min_width,
            "max_width": element.max_width, "strand": element.strand, "source": element.source,
            "information_bits": float(motifs.information_content(ppm, background).sum()),
            "information_bits_uniform": float(motifs.information_content(ppm).sum()),
        })
    return pd.DataFrame(rows)


def similarity_table(grammar: Grammar) -> pd.DataFrame:
    """Element × element matrix of :func:`grammarbench.grammars.motifs.ppm_similarity` (best mean
    column correlation over alignments; both strands for DNA)."""
    size = grammar.alphabet.size
    names = list(grammar.elements)
    ppms = [grammar.elements[n].probability_matrix(size) for n in names]
    both_strands = grammar.alphabet.complement is not None
    matrix = np.ones((len(names), len(names)))
    for i in range(len(names)):  # pairs of elements: a handful, not a hot path
        for j in range(i + 1, len(names)):
            matrix[i, j] = matrix[j, i] = motifs.ppm_similarity(ppms[i], ppms[j], reverse_complement=both_strands)
    return pd.DataFrame(matrix, index=pd.Index(names, name="element"), columns=names)


def write_elements_meme(grammar: Grammar, path) -> None:
    """The grammar's elements as a MEME motif file (k-mer sets as their letter frequencies),
    for motif tools such as Tomtom or FIMO."""
    size = grammar.alphabet.size
    motifs.write_meme(path, {n: e.probability_matrix(size) for n, e in grammar.elements.items()},
                      grammar.alphabet)
