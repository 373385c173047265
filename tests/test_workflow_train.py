"""The train/evaluate/oracle stage through Snakemake: a run, then a resumed run that does
nothing for finished points and trains only what a larger grid adds (each new model
evaluated by its attribute job, or by an evaluate job where no attribution run explains it);
a bad architecture stops the run before any job starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from jobstats import job_counts

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "tests/configs/tiny/config.yaml").read_text())

pytestmark = pytest.mark.slow


def snakemake(cwd: Path, config: dict, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    (cwd / "config.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SNAKEMAKE_"))}
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", "config.yaml", "--directory", str(cwd), "--cores", "2",
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def config(**changes) -> dict:
    base = {**TINY, "grammars": {"one-motif": TINY["grammars"]["one-motif"]}, "n_train": [200],
            "simulate": {"threads": 1, "exports": []}, "train": {"threads": 1, "max_epochs": 2}}
    return {**base, **changes}


def test_run_then_resume_trains_only_new_points(tmp_path):
    first = snakemake(tmp_path, config())
    assert first.returncode == 0, first.stderr[-4000:]
    model = tmp_path / "results/models/one-motif/seed3/n200/conv10w-gmp-fc10/mseed1"
    assert {p.name for p in model.iterdir()} >= {"model.pt", "architecture.yaml", "history.tsv", "summary.json"}
    evaluation = tmp_path / "results/evaluation/one-motif/seed3/n200/conv10w-gmp-fc10/mseed1"
    assert (evaluation / "test.metrics.tsv").is_file() and (evaluation / "test.curves.png").is_file()
    oracle = pd.read_csv(tmp_path / "results/oracle/one-motif/seed3/test.metrics.tsv", sep="\t")
    metrics = pd.read_csv(evaluation / "test.metrics.tsv", sep="\t")
    assert oracle[["metric", "class"]].equals(metrics[["metric", "class"]])  # the same table, row by row
    assert (tmp_path / "results/runtime/train/one-motif/seed3/n200/conv10w-gmp-fc10/mseed1.tsv").is_file()
    assert "epoch   2/2" in (tmp_path / "logs/train/one-motif/seed3/n200/conv10w-gmp-fc10/mseed1.log").read_text()
    stamp = (model / "model.pt").stat().st_mtime_ns

    # the same grid again: nothing to do
    again = snakemake(tmp_path, config(), "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stderr[-3000:]

    # a larger grid: only the new size and the new model seed train; finished points stay
    bigger = config(n_train=[200, 400], model_seeds=[1, 2])
    dry = snakemake(tmp_path, bigger, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = job_counts(dry)
    # each new model evaluated, attributed and scored by one job
    assert planned["train"] == 3 and planned["attribute"] == 3 and "evaluate" not in planned, planned
    assert "oracle" not in planned and "simulate_heldout" not in planned, planned
    # a plain dry run lists each job it plans (with its output), and none for a finished point
    outputs = {line.strip() for line in dry.stdout.splitlines() if line.strip().startswith("output: ")}
    assert "output: results/models/one-motif/seed3/n400/conv10w-gmp-fc10/mseed1" in outputs, dry.stdout
    assert "output: results/models/one-motif/seed3/n200/conv10w-gmp-fc10/mseed1" not in outputs
    assert (model / "model.pt").stat().st_mtime_ns == stamp


def test_bad_architecture_stops_the_run_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers:\n  - conv: {filters: 4, width: 5, dilaton: 2}\n  - global_max_pool\n"
                   "  - dense: {units: outputs}\n")
    proc = snakemake(tmp_path, config(architectures={"bad": str(bad)}), "-n")
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert f"bad input: {bad}: layers[0].conv.dilaton: unknown option of conv" in output
    assert "rule " not in output
    assert not (tmp_path / "results").exists()
