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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/seqgra-paper.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "all", "--cores", "1",
                   "--directory", workdir, "--configfile", args.config]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-2000:])
    total = re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, re.M)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(f"{args.config}: {total.group(1) if total else '?'} jobs planned in {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU (target {TARGET_SECONDS:.0f} s)")
    print("command: " + " ".join(command[1:]))


if __name__ == "__main__":
    main()
