"""Adapter: positional heatmap of grammar positions per class, from a simulated split."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.aggregate.plots import positional_heatmap, read_positional

fig = positional_heatmap(read_positional(snakemake.input[0]))
fig.savefig(snakemake.output[0], dpi=150, bbox_inches="tight")
