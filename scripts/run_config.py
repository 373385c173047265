"""Adapter: the report's run-configuration page (rule run_config)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, snakemake.scriptdir + "/..")

from grammarbench.aggregate.config_page import write_config_page
from grammarbench.runtime import end_process

write_config_page(snakemake.output[0], snakemake.params.config, snakemake.params.sources,
                  snakemake.params.grammars, snakemake.params.architectures)

end_process()  # every output written: the job ends without Python's finalisation
