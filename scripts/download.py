"""Adapter: check and install one remote input that Snakemake fetched (rules download_*)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.simulation.realistic.fetch import install_download
from grammarbench.runtime import end_process

install_download(snakemake.input[0], snakemake.output[0], snakemake.params.checksum,
                 gunzip=snakemake.params.gunzip, index=snakemake.params.index,
                 source=snakemake.params.source, url=snakemake.params.url)

end_process()  # every output written: the job ends without Python's finalisation
