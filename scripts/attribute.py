"""Adapter: one trained model's evaluation on the validation and test splits, every
attribution run on it, and the grammar-recovery scores of its maps (rule attribute)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from pathlib import Path

from grammarbench.attribution import AttributionSettings, attribute_model, score_runs
from grammarbench.models.evaluate import evaluate_into_folder
from grammarbench.runtime import configure_logging, reuse_freed_memory, end_process

configure_logging()
reuse_freed_memory()  # batches of large temporary tensors: no page faults for each
# The GPU only where the job may use one: `--resources gpu=0` caps the rule's gpu at 0.
gpu_allowed = snakemake.resources.get("gpu", 0) > 0
# First the evaluation (seconds): a job that fails here has spent nothing on attribution.
evaluate_into_folder(snakemake.input.model, {s: snakemake.input[s] for s in snakemake.params.splits},
                     snakemake.output.evaluation, device=snakemake.params.evaluation_device,
                     gpu_allowed=gpu_allowed, threads=snakemake.threads)
settings = AttributionSettings.from_dict(snakemake.params.attribution)
attribute_model(snakemake.input.model, snakemake.input.test, snakemake.input.train,
                settings, snakemake.output.maps,
                device=snakemake.params.device, gpu_allowed=gpu_allowed, threads=snakemake.threads)
folder = Path(snakemake.output.maps)
table = score_runs([folder / f"{run.name}.npz" for run in settings.runs], snakemake.input.test,
                   **snakemake.params.metrics)
table.to_csv(snakemake.output.recovery, sep="\t", index=False)

end_process()  # every output written: the job ends without Python's finalisation
