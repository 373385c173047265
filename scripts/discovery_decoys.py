"""Adapter: the JASPAR decoy motifs every discover job matches against (rule discovery_decoys)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.discovery import write_decoys

write_decoys(snakemake.output[0], collection=snakemake.params.collection)
