"""Adapter: train one architecture on one training set (rule train)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.runtime import configure_logging, end_process
from grammarbench.models.train import fit

configure_logging()
# The GPU only where the job may use one: `--resources gpu=0` caps the rule's gpu at 0.
fit(snakemake.input.architecture, snakemake.input.train, snakemake.input.validation,
    snakemake.output.model, model_seed=int(snakemake.wildcards.model_seed),
    device=snakemake.params.device, gpu_allowed=snakemake.resources.get("gpu", 0) > 0,
    overrides=snakemake.params.overrides, mixed_precision=snakemake.params.mixed_precision,
    threads=snakemake.threads)

end_process()  # every output written: the job ends without Python's finalisation
