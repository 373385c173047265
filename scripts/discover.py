"""Adapter: TF-MoDISco, Tomtom and scores for one model's attribution run (rule discover)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from pathlib import Path

from grammarbench.discovery.stage import discover_run
from grammarbench.runtime import configure_logging, end_process

configure_logging()
discover_run(Path(snakemake.input.attributions) / f"{snakemake.wildcards.run}.npz",
             snakemake.input.test, snakemake.input.grammar, snakemake.input.decoys,
             snakemake.params.prefix, n_examples=snakemake.params.n_examples,
             alpha=snakemake.params.alpha, modisco=snakemake.params.modisco,
             threads=snakemake.threads, downloads=snakemake.params.downloads,
             motif_summary=snakemake.input.get("motifs"))

end_process()  # every output written: the job ends without Python's finalisation
