"""Adapter: one of the grid's tables from its per-job files (rule aggregate)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.aggregate.tables import aggregate
from grammarbench.runtime import end_process

aggregate(snakemake.wildcards.table, snakemake.params.jobs, snakemake.output[0])

end_process()  # every output written: the job ends without Python's finalisation
