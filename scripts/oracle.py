"""Adapter: score the grammar's oracle on the validation and test splits (rule oracle)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.runtime import configure_logging, end_process
from grammarbench.models.oracle import evaluate_oracle

configure_logging()
splits = snakemake.params.splits
evaluate_oracle(snakemake.input.grammar, {s: snakemake.input[s] for s in splits},
                {s: {kind: snakemake.output[kind][i] for kind in ("metrics", "predictions", "curves")}
                 for i, s in enumerate(splits)},
                notes=snakemake.output.notes, threads=snakemake.threads)

end_process()  # every output written: the job ends without Python's finalisation
