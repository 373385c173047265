"""Planning (a dry run) through Snakemake, as the README's planning command runs it: what
rules/common.smk spares the planner, and what it still does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jobstats import job_counts

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/configs/tiny/config.yaml"

pytestmark = pytest.mark.slow


def plan(cwd: Path, *args, configfile: Path = TINY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SNAKEMAKE_"))}
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", str(configfile), "--directory", str(cwd), "--cores", "2", *args],
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


def grid_file(tmp_path: Path, base: Path, **changes) -> Path:
    config = {**yaml.safe_load(base.read_text()), **changes}
    config = {key: value for key, value in config.items() if value is not None}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("methods, evaluate, attribute, attribute_gkmsvm", [
    ({"grad_x_input": {}, "gkmexplain": {}}, 0, 1, 1),  # every model explained
    ({"grad_x_input": {}}, 1, 1, 0),  # the SVM explained by no run: an evaluate job
    (None, 2, 0, 0),  # no attribution stage: an evaluate job per model
])
def test_a_model_is_evaluated_by_its_attribute_job_or_its_own(tmp_path, methods, evaluate, attribute,
                                                              attribute_gkmsvm):
    # a network and a gapped k-mer SVM (tests/configs/mixed)
    attribution = {"n_examples": 30, "methods": methods} if methods else None
    grid = grid_file(tmp_path, REPO / "tests/configs/mixed/config.yaml", attribution=attribution)
    proc = plan(tmp_path, "--quiet", "rules", configfile=grid)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc)
    assert counts["train"] == counts["train_gkmsvm"] == 1, counts
    assert counts.get("evaluate", 0) == evaluate, counts
    assert counts.get("attribute", 0) == attribute, counts
    assert counts.get("attribute_gkmsvm", 0) == attribute_gkmsvm, counts
