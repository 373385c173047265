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


if __name__ == "__main__":
    cap_status_polling(float(os.environ.get("GRAMMARBENCH_SLURM_MAX_POLL_SECONDS", "3")))
    from snakemake.cli import main

    sys.argv[0] = "snakemake"
    sys.exit(main())
