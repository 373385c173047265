"""Adapter: information content and pairwise similarity of a grammar's elements."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.grammars.diagnostics import element_table, similarity_table, write_elements_meme
from grammarbench.grammars.grammar import load_grammar
from grammarbench.runtime import end_process

grammar = load_grammar(snakemake.input.grammar)
element_table(grammar).to_csv(snakemake.output.elements, sep="\t", index=False)
similarity_table(grammar).to_csv(snakemake.output.similarity, sep="\t")
write_elements_meme(grammar, snakemake.output.meme)

end_process()  # every output written: the job ends without Python's finalisation
