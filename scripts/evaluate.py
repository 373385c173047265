"""Adapter: evaluate one trained model on the validation and test splits (rule evaluate: a
model that no attribution run explains; the others are evaluated by their attribute job)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.runtime import configure_logging, end_process
from grammarbench.models.evaluate import evaluate_into_folder

configure_logging()
evaluate_into_folder(snakemake.input.model, {s: snakemake.input[s] for s in snakemake.params.splits},
                     snakemake.output.evaluation, device=snakemake.params.device,
                     gpu_allowed=snakemake.resources.get("gpu", 0) > 0, threads=snakemake.threads)

end_process()  # every output written: the job ends without Python's finalisation
