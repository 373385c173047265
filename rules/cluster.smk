# On a SLURM cluster: a run that ends in error or is interrupted cancels its jobs that still
# run. On Ctrl-C Snakemake's own cancelling misses them when it lands during a status poll
# (see grammarbench.cluster). After an ordinary failure no job of the run is left, so this
# does nothing; under any other executor there is no run id and it does nothing.
from grammarbench.cluster import cancel_run_jobs


def _slurm_run_id():
    """The name the SLURM plugin gave every job of this run; "" under any other executor."""
    return getattr(getattr(workflow.scheduler, "_executor", None), "run_uuid", "")


onerror:
    cancel_run_jobs(_slurm_run_id())
