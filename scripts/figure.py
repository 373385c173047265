"""Adapter: one report figure, PNG and PDF (rule figure)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.aggregate.figures import render
from grammarbench.runtime import end_process

inputs = {name: value if isinstance(value, str) else list(value) for name, value in snakemake.input.items()}
render(snakemake.wildcards.figure, inputs, snakemake.output.png, **snakemake.params.options)

end_process()  # every output written: the job ends without Python's finalisation
