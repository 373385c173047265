"""What a run on a SLURM cluster needs beyond the executor plugin: its jobs cancelled when
the run is interrupted."""

from __future__ import annotations

import getpass
import logging
import shutil
import subprocess

__all__ = ["cancel_run_jobs"]

log = logging.getLogger("grammarbench")


def cancel_run_jobs(run_id: str, timeout: float = 60) -> bool:
    """Cancel the SLURM jobs of one Snakemake run that are still queued or running.

    On Ctrl-C Snakemake cancels the jobs it holds as active. But its status loop
    (snakemake-interface-executor-plugins 9.4, ``RemoteExecutor._wait_for_jobs``) takes them
    all out of that list while it polls the queue, so an interrupt that lands during a poll
    cancels nothing and the jobs run on, holding nodes. The SLURM plugin names every job of
    a run after the run's id, so cancelling by that name reaches them all, whoever held them.

    Parameters
    ----------
    run_id: str
        The job name the plugin gave every job of the run (its ``run_uuid``).
    timeout: float
        Seconds to wait for ``scancel``. Default is 60 (the plugin's own).

    Returns
    -------
    bool
        Whether ``scancel`` ran and succeeded; a failure is logged, never raised: the run
        is ending already, with its own error.
    """
    if not run_id or shutil.which("scancel") is None:
        return False
    command = ["scancel", f"--name={run_id}", f"--user={getpass.getuser()}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("could not cancel the SLURM jobs of run %s: %s", run_id, err)
        return False
    if done.returncode != 0:
        log.warning("could not cancel the SLURM jobs of run %s: %s", run_id,
                    done.stderr.strip() or f"scancel exited with {done.returncode}")
        return False
    return True
