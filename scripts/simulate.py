"""Adapter: simulate one training split (rule simulate_train) or the held-out splits
(rule simulate_heldout) of a grammar, a rule grammar or a realistic one."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.grammars.grammar import load_grammar
from grammarbench.runtime import configure_logging, wait_passively, end_process
from grammarbench.simulation.simulate import simulate_split

configure_logging()
wait_passively()  # before numba starts its threads
# a grammar's paths that name downloads are relative to the working directory
grammar = load_grammar(snakemake.input.grammar, pending=snakemake.params.downloads)
seed = int(snakemake.wildcards.seed)
if snakemake.rule == "simulate_train":
    jobs = {"train": (int(snakemake.wildcards.n_train), snakemake.output[0])}
else:
    jobs = {split: (snakemake.params.sizes[split], snakemake.output[split])
            for split in ("validation", "test")}
realistic = getattr(grammar, "kind", "") == "realistic"
if realistic and snakemake.params.exports:
    print(f"exports {snakemake.params.exports} are not written for realistic grammars", file=sys.stderr)
for split, (n, out_dir) in jobs.items():
    if realistic:
        from grammarbench.simulation.realistic.simulate import simulate_realistic_split  # numba, pandas

        simulate_realistic_split(grammar, split, n, seed, out_dir, threads=snakemake.threads,
                                 motif_tables=Path(snakemake.input.motifs).parent)
    else:
        simulate_split(grammar, split, n, seed, out_dir, threads=snakemake.threads,
                       exports=tuple(snakemake.params.exports))

end_process()  # every output written: the job ends without Python's finalisation
