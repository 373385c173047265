"""How long Snakemake takes to plan the published-figure grids (a dry run).

    .venv/bin/python bench/dry_run.py [--config config/seqgra-paper.yaml] [--baseline ../main]

Target (issue 15): the full seqgra-paper grid (10,478 jobs; 15,392 before the attribute job
took over evaluation, 20,307 before it took over scoring) plans in under 15 s on an idle
2-core machine (issue 5's target was 30 s).
Each plan is the real entry point, `python -m snakemake -n`, in a fresh process in an empty
working directory. Reports wall and CPU seconds and the job count; with --baseline, the same
plan by another checkout (e.g. main) runs alternately, so that both see the same load, and the
ratio is printed. Run it on an idle machine (CPU time of a loaded one is inflated too).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from fresh import run_fresh

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 15.0


def dry_run(config: str, quiet: bool, code: Path = REPO) -> tuple[str, float, float, list[str]]:
    """(job count, wall s, CPU s, command) of one dry run in an empty working directory, of
    the workflow in the checkout ``code``."""
    config = str((REPO / config).resolve()) if code != REPO else config
    with tempfile.TemporaryDirectory() as workdir:
        # `--quiet rules`: nothing per job, but the job counts (what the README's planning
        # command prints); as quick as a bare `-q`
        command = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--directory", workdir,
                   "--configfile", config] + (["--quiet", "rules"] if quiet else [])
        proc, wall, cpu = run_fresh(command, code)
    total = re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, re.M)
    return (total.group(1) if total else "?"), wall, cpu, command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/seqgra-paper.yaml")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout (e.g. of main): its plan of the same config runs too")
    parser.add_argument("--quiet-only", action="store_true", help="only the --quiet plan (the headline)")
    args = parser.parse_args()
    # Snakemake's advice for large workflows is `--dry-run --quiet`; a plain dry run also
    # prints every job and its progress, which on its own costs seconds at this scale.
    modes = (("--quiet rules (prints the job counts)", True),) if args.quiet_only else (
        ("plain (prints every job)", False), ("--quiet rules (prints the job counts)", True))
    for label, quiet in modes:
        for code in ([args.baseline] if args.baseline else []) + [REPO]:
            jobs, wall, cpu, command = dry_run(args.config, quiet, code)
            line = (f"{code.name} {args.config} {label}: {jobs} jobs planned in {wall:.1f} s wall, "
                    f"{cpu:.1f} s CPU (target {TARGET_SECONDS:.0f} s wall, idle)")
            if code == REPO and args.baseline:
                line += f"; {base_wall / wall:.2f}x faster wall, {base_cpu / cpu:.2f}x less CPU than {args.baseline}"
            base_wall, base_cpu = wall, cpu
            print(line)
        print("  command: " + " ".join(command[1:]))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
