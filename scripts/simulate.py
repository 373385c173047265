"""Adapter: simulate one training split (rule simulate_train) or the held-out splits
(rule simulate_heldout) of a grammar."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.runtime import configure_logging
from grammarbench.grammars.grammar import load_grammar
from grammarbench.simulation.simulate import simulate_split

configure_logging()
grammar = load_grammar(snakemake.input.grammar)
seed = int(snakemake.wildcards.seed)
if snakemake.rule == "simulate_train":
    jobs = {"train": (int(snakemake.wildcards.n_train), snakemake.output[0])}
else:
    jobs = {split: (snakemake.params.sizes[split], snakemake.output[split])
            for split in ("validation", "test")}
for split, (n, out_dir) in jobs.items():
    simulate_split(grammar, split, n, seed, out_dir, threads=snakemake.threads,
                   exports=tuple(snakemake.params.exports))
