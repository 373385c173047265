# elements.py
# grammarbench: the element diagnostics of a realistic grammar (its kept motifs)

"""The same three element files a rule grammar gets (elements.tsv, similarity.tsv,
elements.meme), for the motifs a realistic grammar keeps after its filter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from grammarbench.grammars import motifs as motif_tools
from grammarbench.simulation.realistic.simulate import MotifTables

__all__ = ["element_table", "similarity_table", "write_element_files"]


def element_table(ppms: dict[str, np.ndarray], tables: MotifTables) -> pd.DataFrame:
    """One row per kept motif: width, information content (against the positive windows'
    letter frequencies, and against uniform) and the filter's numbers."""
    counts = np.bincount(tables.positives.codes.ravel(), minlength=4)[:4]
    background = counts / max(counts.sum(), 1)
    verdict = tables.table.set_index("motif")
    rows = []
    for name, ppm in ppms.items():
        rows.append({
            "element": name, "kind": "ppm", "min_width": len(ppm), "max_width": len(ppm),
            "strand": "both", "source": "scan of real windows",
            "information_bits": float(motif_tools.information_content(ppm, background).sum()),
            "information_bits_uniform": float(motif_tools.information_content(ppm).sum()),
            "hits_positive": int(verdict.loc[name, "hits_positive"]),
            "enrichment": float(verdict.loc[name, "enrichment"]),
        })
    return pd.DataFrame(rows)


def similarity_table(ppms: dict[str, np.ndarray]) -> pd.DataFrame:
    """Kept motif × kept motif :func:`grammarbench.grammars.motifs.ppm_similarity`, both strands."""
    names = list(ppms)
    matrix = np.ones((len(names), len(names)))
    for i in range(len(names)):  # pairs of kept motifs: a handful, not a hot path
        for j in range(i + 1, len(names)):
            matrix[i, j] = matrix[j, i] = motif_tools.ppm_similarity(
                ppms[names[i]], ppms[names[j]], reverse_complement=True)
    return pd.DataFrame(matrix, index=pd.Index(names, name="element"), columns=names)


def write_element_files(grammar, tables: MotifTables, elements, similarity, meme) -> None:
    ppms = {name: ppm for name, ppm in grammar.motifs().items() if name in set(tables.kept)}
    element_table(ppms, tables).to_csv(elements, sep="\t", index=False)
    similarity_table(ppms).to_csv(similarity, sep="\t")
    # MEME IDs may not hold whitespace; JASPAR-derived names (ID_TF) do not
    motif_tools.write_meme(meme, ppms)
