"""Adapter: one of the grid's tables from its per-job files (rules aggregate_*)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.aggregate.tables import aggregate

aggregate(snakemake.params.kind, snakemake.params.jobs, snakemake.output[0])
