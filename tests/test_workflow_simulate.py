"""The simulate stage through Snakemake on the tiny grid, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grammarbench.simulation.dataset import load_split

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "tests/configs/tiny/config.yaml"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    base = "results/datasets/spacing/seed3"
    targets = [f"{base}/n200/train", f"{base}/n400/train", f"{base}/heldout/test",
               "results/diagnostics/spacing/seed3/n400.positional.png",
               "results/grammars/spacing/elements.tsv"]
    # targets before --configfile, which takes several values
    command = [SNAKEMAKE, *targets, "--cores", "2", "-s", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(TINY)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, command


def test_datasets_have_the_grid_sizes_and_share_held_out_sets(simulated):
    workdir, _ = simulated
    base = workdir / "results/datasets/spacing/seed3"
    small, large = load_split(base / "n200/train"), load_split(base / "n400/train")
    assert len(small) == 200 and len(large) == 400
    assert np.array_equal(small.sequences, large.sequences[:200])  # nested training sets
    test = load_split(base / "heldout/test")
    validation = load_split(base / "heldout/validation")
    assert len(test) == 200 and len(validation) == 100
    manifest = json.loads((base / "n400/train/manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["split"] == "train" and len(manifest["grammar"]["sha256"]) == 64
    assert set(manifest["classes"]) == {"gata_first", "ebox_first"}
    # the tiny config asks for both exports
    assert (base / "n400/train/exports/sequences.fa").stat().st_size > 400 * 300
    assert (base / "heldout/test/exports/test-annotation.txt").is_file()


def test_diagnostics(simulated):
    workdir, _ = simulated
    png = workdir / "results/diagnostics/spacing/seed3/n400.positional.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    elements = (workdir / "results/grammars/spacing/elements.tsv").read_text().splitlines()
    assert elements[0].split("\t")[:2] == ["element", "kind"] and len(elements) == 3
    assert (workdir / "logs/simulate_train/spacing/seed3/n400.log").is_file()


def test_rerun_has_nothing_to_do(simulated):
    _, command = simulated
    result = subprocess.run(command + ["-n"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr
