"""Adapter: scan a realistic grammar's real windows, filter its motifs, write the hit and
filter tables and the kept motifs' element files (rule realistic_motifs)."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.grammars.grammar import load_grammar
from grammarbench.runtime import configure_logging, wait_passively, end_process
from grammarbench.simulation.realistic.elements import write_element_files
from grammarbench.simulation.realistic.simulate import scan_and_filter, write_motif_tables

configure_logging()
wait_passively()  # before numba starts its threads
# a grammar's paths that name downloads are relative to the working directory
grammar = load_grammar(snakemake.input.grammar, pending=snakemake.params.downloads)
tables = scan_and_filter(grammar, threads=snakemake.threads)
write_motif_tables(Path(snakemake.output.filter).parent, tables)
write_element_files(grammar, tables, snakemake.output.elements, snakemake.output.similarity,
                    snakemake.output.meme)

end_process()  # every output written: the job ends without Python's finalisation
