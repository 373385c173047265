"""How long Snakemake takes to plan the published-figure grids (a dry run).

    .venv/bin/python bench/dry_run.py [--config config/seqgra-paper.yaml]

Target (issue 5): the full seqgra-paper grid (tens of thousands of jobs) dry-runs in under
30 s on a 2-core machine. Reports wall and CPU seconds and the job count; run it on an idle
machine (CPU time of a loaded one is inflated too).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 30.0


def dry_run(config: str, quiet: bool) -> tuple[str, float, float, list[str]]:
    """(job count, wall s, CPU s, command) of one dry run in an empty working directory."""
    with tempfile.TemporaryDirectory() as workdir:
        # `-q` goes last: it takes optional values and would swallow a target after it
        command = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--directory", workdir,
                   "--configfile", config] + (["-q"] if quiet else [])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-2000:])
    total = re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, re.M)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return (total.group(1) if total else "?"), wall, cpu, command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/seqgra-paper.yaml")
    args = parser.parse_args()
    # Snakemake's advice for large workflows is `--dry-run --quiet`; a plain dry run also
    # prints every job and its progress, which on its own costs seconds at this scale.
    jobs = "?"
    for label, quiet in (("plain (prints every job)", False), ("-q (prints nothing)", True)):
        counted, wall, cpu, command = dry_run(args.config, quiet)
        jobs = jobs if quiet else counted  # -q hides the job table: the plain run's count
        print(f"{args.config} {label}: {jobs} jobs planned in {wall:.1f} s wall, {cpu:.1f} s CPU "
              f"(target {TARGET_SECONDS:.0f} s)")
        print("  command: " + " ".join(command[1:]))


if __name__ == "__main__":
    main()
