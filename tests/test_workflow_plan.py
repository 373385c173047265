"""Planning (a dry run) through Snakemake, as the README's planning command runs it: what
rules/common.smk spares the planner, and what it still does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobstats import job_counts

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/configs/tiny/config.yaml"

pytestmark = pytest.mark.slow


def plan(cwd: Path, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SNAKEMAKE_"))}
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", str(TINY), "--directory", str(cwd), "--cores", "2", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_quiet_plan_evaluates_no_resources_and_a_listed_plan_shows_them(tmp_path):
    # A resource whose every evaluation leaves a letter in a file: the quiet plan (the
    # README's) gives no resources back to the scheduler, so it evaluates none; a plain dry
    # run lists each train job with its resources, so it evaluates them for each.
    probe = tmp_path / "evaluations"
    resource = f"train:probe=open({str(probe)!r}, 'a').write('x')"
    quiet = plan(tmp_path, "--quiet", "rules", "--set-resources", resource)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    counts = job_counts(quiet)
    assert counts["train"] == 4 and counts["total"] > counts["train"], counts
    assert not probe.exists()

    listed = plan(tmp_path, "--set-resources", resource)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "probe=1" in listed.stdout + listed.stderr  # write() returned one letter
    assert len(probe.read_text()) >= job_counts(listed)["train"]
