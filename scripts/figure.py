"""Adapter: one report figure, PNG and PDF (rule figure)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.aggregate.figures import render

inputs = {name: value if isinstance(value, str) else list(value) for name, value in snakemake.input.items()}
render(snakemake.wildcards.figure, inputs, snakemake.output.png, **snakemake.params.options)
