"""Adapter: one report figure, PNG and PDF (rules figure_*)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from pathlib import Path

from grammarbench.aggregate.figures import render

inputs = dict(snakemake.input.items()) or {"table": snakemake.input[0]}
if snakemake.rule == "figure_from_table":
    inputs = {key: snakemake.input[0]
              for key in ("predictive", "training", "runtime", "recovery", "discovery")}
if snakemake.rule == "figure_positional_heatmaps":
    inputs = {"splits": list(snakemake.input.splits)}
if snakemake.rule == "figure_attribution_tracks":  # the first run's maps of the chosen model
    inputs["attribution"] = str(Path(snakemake.input.attribution) / f"{snakemake.params.run}.npz")
render(snakemake.params.name, inputs, snakemake.output.png, **snakemake.params.options)
