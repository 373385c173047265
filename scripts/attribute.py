"""Adapter: every attribution run on one trained model (rule attribute)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from pathlib import Path

from grammarbench.attribution import AttributionSettings, attribute_model
from grammarbench.runtime import configure_logging

configure_logging()
# The GPU only where the job may use one: `--resources gpu=0` caps the rule's gpu at 0.
attribute_model(Path(snakemake.input.model).parent, snakemake.input.test, snakemake.input.train,
                AttributionSettings.from_dict(snakemake.params.attribution), snakemake.output[0],
                device=snakemake.params.device, gpu_allowed=snakemake.resources.get("gpu", 0) > 0,
                threads=snakemake.threads)
