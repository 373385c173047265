"""Adapter: the JASPAR decoy motifs every discover job matches against (rule discovery_decoys)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.discovery import write_decoys
from grammarbench.runtime import end_process

write_decoys(snakemake.output[0], collection=snakemake.params.collection)

end_process()  # every output written: the job ends without Python's finalisation
