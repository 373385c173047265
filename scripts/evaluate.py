"""Adapter: evaluate one trained model on the validation and test splits (rule evaluate)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from pathlib import Path

from grammarbench.runtime import configure_logging
from grammarbench.models.evaluate import evaluate_model, split_outputs

configure_logging()
splits = snakemake.params.splits
folder = Path(snakemake.output.evaluation)
evaluate_model(snakemake.input.model, {s: snakemake.input[s] for s in splits}, split_outputs(folder, splits),
               device=snakemake.params.device, gpu_allowed=snakemake.resources.get("gpu", 0) > 0,
               threads=snakemake.threads, figure=folder / f"{splits[-1]}.curves.png")
