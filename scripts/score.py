"""Adapter: score one model's attribution maps against the ground truth (rule score)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from pathlib import Path

from grammarbench.attribution import score_runs

folder = Path(snakemake.input.attributions)
table = score_runs([folder / f"{run}.npz" for run in snakemake.params.runs], snakemake.input.test,
                   **snakemake.params.metrics)
table.to_csv(snakemake.output[0], sep="\t", index=False)
