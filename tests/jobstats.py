"""Reading Snakemake's job-stats table, shared by the workflow tests."""

from __future__ import annotations

import subprocess


def job_counts(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts per rule (and ``total``) from the table a (dry) run prints."""
    counts, table = {}, False
    for line in (proc.stdout + proc.stderr).splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            table = True
        elif table and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
            if parts[0] == "total":
                break
    return counts
