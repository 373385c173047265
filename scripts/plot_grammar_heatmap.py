"""Adapter: positional heatmap of grammar positions per class, from a simulated split."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.aggregate.figures import positional_heatmaps, read_positional
from grammarbench.runtime import end_process

w = snakemake.wildcards
fig = positional_heatmaps({f"{w.grammar}, seed {w.seed}, n_train {w.n_train}": read_positional(snakemake.input[0])})
fig.savefig(snakemake.output[0], dpi=150, bbox_inches="tight")

end_process()  # every output written: the job ends without Python's finalisation
