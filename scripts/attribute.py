"""Adapter: every attribution run on one trained model (rule attribute)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from pathlib import Path

from grammarbench.attribution import attribute_model
from grammarbench.runtime import configure_logging
from grammarbench.runtime import resolve_device

configure_logging()
settings = snakemake.params.attribution
# The GPU only where the job may use one: `--resources gpu=0` caps the rule's gpu at 0.
device = resolve_device(snakemake.params.device, gpu_allowed=snakemake.resources.get("gpu", 0) > 0)
attribute_model(Path(snakemake.input.model).parent, snakemake.input.test, snakemake.input.train,
                settings["runs"], snakemake.output[0], n_examples=settings["n_examples"],
                batch_size=settings["batch_size"], random_state=settings["random_state"],
                device=device)
