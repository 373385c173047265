# grammarbench: which architecture, trained on how much data, recovers the rules behind
# regulatory DNA, and which attribution method shows them best.
# This file is the table of contents; the Python glue lives in rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")

# No `configfile:` directive: Snakemake would merge config/config.yaml under every
# --configfile. rules/common.smk reads it only when no --configfile is given.


report: "report/workflow.rst"


# ---- glue: config validation, the grid, wildcard constraints, target lists
include: "rules/common.smk"
# ---- on a cluster: an interrupted run cancels the jobs it submitted
include: "rules/cluster.smk"
# ---- remote inputs: fetched, checked and indexed before any rule reads them
include: "rules/download.smk"
# ---- stage 1: simulate datasets from grammars
include: "rules/simulate.smk"
# ---- stage 2: train architectures, evaluate them and the grammar's oracle
include: "rules/train.smk"
# ---- stage 3: attribution maps of every model, scored against the ground truth
include: "rules/attribute.smk"
# ---- stage 3b: motif discovery (TF-MoDISco) on those maps, matched to the grammar
include: "rules/discover.smk"
# ---- stage 4: the grid's tables and the report's figures
include: "rules/aggregate.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
