"""One command in a fresh process, timed: what a Snakemake job or a user's shell pays.

Shared by the benchmarks that time the real entry point cold (bench/simulate.py,
bench/dry_run.py).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def run_fresh(command: list[str], code: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``command`` with the package of the checkout ``code`` (first on ``sys.path``: the
    working directory, which ``python -m`` puts first, and PYTHONPATH); exit with its output
    if it fails. Returns the process, its wall seconds and its CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=code,
                          env={**os.environ, "PYTHONPATH": str(code)})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-3000:])
    return proc, wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
