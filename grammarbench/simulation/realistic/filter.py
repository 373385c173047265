# filter.py
# grammarbench: which scanned motifs a realistic simulation keeps

"""Keep the motifs that are frequent in the positive windows and enriched towards their
centres over the background windows (Prakash, Shrikumar & Kundaje 2021).

A motif is kept when it has at least ``min_hits`` hits in the positives and a
centre-weighted enrichment of at least ``min_enrichment``. Each hit is weighted by
``(L/2 - |L/2 - start|)**2`` (L the window width, start the hit's first letter), which
is largest at the centre, where a peak's summit sits, and zero at the edges. The
enrichment is the mean weight per positive window over the mean weight per background
window, so the two sets may differ in size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from grammarbench.errors import InputError

__all__ = ["FILTER_COLUMNS", "centre_weights", "filter_motifs", "require_kept"]

FILTER_COLUMNS = ("motif", "hits_positive", "hits_background", "weight_positive",
                  "weight_background", "enrichment", "kept", "reason")


def centre_weights(starts, width: int) -> np.ndarray:
    """(L/2 - |L/2 - start|)**2 per hit, shape=(n,) float64."""
    half = width / 2
    return (half - np.abs(half - np.asarray(starts, dtype=np.float64))) ** 2


def filter_motifs(motifs, positive_hits: pd.DataFrame, background_hits: pd.DataFrame,
                  n_positive: int, n_background: int, width: int, min_hits: int,
                  min_enrichment: float) -> pd.DataFrame:
    """One row per motif: its hits in both window sets, the enrichment and the verdict.

    Parameters
    ----------
    motifs: list of str
        Every scanned motif (a motif without hits still gets a row).
    positive_hits, background_hits: pd.DataFrame
        Hit tables of :meth:`MotifScanner.scan` (columns ``motif``, ``start``).
    n_positive, n_background: int
        Number of windows in each set.
    width: int
        Window width L.
    min_hits: int
        Fewest hits in positives.
    min_enrichment: float
        Smallest centre-weighted enrichment of positives over background.

    Returns
    -------
    table: pd.DataFrame
        Columns FILTER_COLUMNS, in the order of ``motifs``; ``enrichment`` is inf when the
        background has no weighted hit, and ``reason`` says which filter dropped a motif.
    """
    motifs = list(motifs)

    def per_motif(hits):
        names = hits["motif"].astype(str).to_numpy()
        weights = centre_weights(hits["start"].to_numpy(), width)
        frame = pd.DataFrame({"motif": names, "hits": 1, "weight": weights})
        summed = frame.groupby("motif")[["hits", "weight"]].sum()
        return summed.reindex(motifs, fill_value=0)

    pos, bg = per_motif(positive_hits), per_motif(background_hits)
    mean_pos = pos["weight"].to_numpy() / max(n_positive, 1)
    mean_bg = bg["weight"].to_numpy() / max(n_background, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        enrichment = np.where(mean_bg > 0, mean_pos / np.where(mean_bg > 0, mean_bg, 1),
                              np.where(mean_pos > 0, np.inf, 0.0))
    hits_positive = pos["hits"].to_numpy().astype(np.int64)
    frequent = hits_positive >= min_hits
    enriched = enrichment >= min_enrichment
    reason = np.where(~frequent, f"fewer than min_hits={min_hits} hits in positives",
                      np.where(~enriched, f"enrichment below min_enrichment={min_enrichment}", ""))
    return pd.DataFrame({
        "motif": motifs,
        "hits_positive": hits_positive,
        "hits_background": bg["hits"].to_numpy().astype(np.int64),
        "weight_positive": mean_pos,
        "weight_background": mean_bg,
        "enrichment": enrichment,
        "kept": frequent & enriched,
        "reason": reason,
    })


def require_kept(table: pd.DataFrame, min_hits: int, min_enrichment: float, source,
                 key: str = "filter") -> list[str]:
    """The kept motifs; an InputError naming the filter that dropped them all, with the
    best motif's numbers, when there are none."""
    kept = table.loc[table["kept"], "motif"].tolist()
    if kept:
        return kept
    frequent = table[table["hits_positive"] >= min_hits]
    if len(frequent):
        best = frequent.sort_values("enrichment", ascending=False).iloc[0]
        raise InputError(source, f"{key}.min_enrichment",
                         f"no motif passes the filter: every motif with at least {min_hits} hits "
                         f"has a centre-weighted enrichment below {min_enrichment} (best: "
                         f"{best['motif']}, enrichment {best['enrichment']:.3g} with "
                         f"{best['hits_positive']} hits in positives)")
    best = table.sort_values(["hits_positive", "enrichment"], ascending=False).iloc[0]
    raise InputError(source, f"{key}.min_hits",
                     f"no motif passes the filter: none has {min_hits} hits in the positives "
                     f"(best: {best['motif']} with {best['hits_positive']} hits, enrichment "
                     f"{best['enrichment']:.3g})")
