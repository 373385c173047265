"""Adapter: evaluate one trained model on the validation and test splits (rule evaluate)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from pathlib import Path

from grammarbench.runtime import configure_logging
from grammarbench.models.evaluate import evaluate_model

configure_logging()
splits = snakemake.params.splits
evaluate_model(Path(snakemake.input.model).parent, {s: snakemake.input[s] for s in splits},
               {s: {kind: snakemake.output[kind][i] for kind in ("metrics", "predictions", "curves")}
                for i, s in enumerate(splits)},
               device=snakemake.params.device, gpu_allowed=snakemake.resources.get("gpu", 0) > 0,
               threads=snakemake.threads, figure=snakemake.output.figure)
