"""``python -m snakemake`` with the SLURM executor's status polling capped, for the SLURM tests.

    python tests/slurm/snakemake_polling.py --profile profiles/slurm ...   # as snakemake

snakemake-executor-plugin-slurm (2.x) first checks job states ``slurm-init-seconds-before-
status-checks`` after a submission (the tests set 2 s), then backs off by 10 s after every check
in which no job finished, up to 180 s, and it has no setting for that cap. Right for a busy
production controller, but on the test cluster a 40-second group job is noticed about half a
minute late, and the tiny grid's chain of group jobs (simulate, train and attribute, the
aggregate figures, the report) waited more for the poller than it ran.

The cap changes only how often Snakemake asks ``squeue``: submissions, the job scripts, what runs
inside each job and the states it reads are the plugin's own, so the tests still exercise the
path a user takes with profiles/slurm. The cap is ``GRAMMARBENCH_SLURM_MAX_POLL_SECONDS``
(default 3).

``GRAMMARBENCH_SLURM_INTERRUPT_MID_POLL=1`` makes Snakemake's cancelling on Ctrl-C find no
active job, as it does when the interrupt lands while the status loop polls the queue (the loop
takes the jobs out of the list meanwhile; see grammarbench.cluster). The race, made certain.
"""

from __future__ import annotations

import os
import sys


def cap_status_polling(seconds: float) -> None:
    """Make every SLURM executor wait at most ``seconds`` between two status checks."""
    from snakemake_executor_plugin_slurm import Executor

    inherited = Executor.next_seconds_between_status_checks  # the base class's property

    def capped(self):
        chosen = inherited.fget(self)
        return chosen if chosen is None else min(chosen, seconds)

    Executor.next_seconds_between_status_checks = property(capped, inherited.fset)


def interrupt_mid_poll() -> None:
    """Make Snakemake's cancelling see the active-job list as a status poll leaves it: empty."""
    from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor

    def cancel(self):
        self.cancel_jobs([])
        self.shutdown()

    RemoteExecutor.cancel = cancel


if __name__ == "__main__":
    cap_status_polling(float(os.environ.get("GRAMMARBENCH_SLURM_MAX_POLL_SECONDS", "3")))
    if os.environ.get("GRAMMARBENCH_SLURM_INTERRUPT_MID_POLL") == "1":
        interrupt_mid_poll()
    from snakemake.cli import main

    sys.argv[0] = "snakemake"
    sys.exit(main())
