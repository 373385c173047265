"""A gapped k-mer SVM through the whole workflow on the tiny grid: trained by the train
rule, evaluated, explained by GkmExplain and ISM, scored, and in the grid's tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = yaml.safe_load((REPO / "tests/configs/tiny/config.yaml").read_text())

pytestmark = pytest.mark.slow


def grid(**changes) -> dict:
    return {**TINY, "grammars": {"one-motif": TINY["grammars"]["one-motif"]}, "n_train": [400],
            "simulate": {"threads": 1, "exports": []}, "train": {"threads": 1, "max_epochs": 2},
            "architectures": {"gkmsvm": "config/architectures/gkmsvm.yaml"},
            "attribution": {"n_examples": 30, "methods": {"gkmexplain": {}, "ism": {}}}, **changes}


def snakemake(workdir: Path, config: dict, *targets, timeout=900):
    (workdir / "c.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([SNAKEMAKE, *targets, "--cores", "2", "-s", str(REPO / "Snakefile"), "--directory",
                           str(workdir), "--configfile", str(workdir / "c.yaml")],
                          capture_output=True, text=True, timeout=timeout)


def test_gkmsvm_appears_in_the_predictive_and_recovery_tables(tmp_path):
    result = snakemake(tmp_path, grid(), "results/tables/predictive.tsv", "results/tables/recovery.tsv")
    assert result.returncode == 0, result.stderr[-4000:]
    predictive = pd.read_csv(tmp_path / "results/tables/predictive.tsv", sep="\t")
    assert "gkmsvm" in set(predictive.architecture)
    rows = predictive[(predictive.architecture == "gkmsvm") & (predictive.metric == "auroc")]
    assert len(rows) and rows.value.between(0.5, 1).all()
    recovery = pd.read_csv(tmp_path / "results/tables/recovery.tsv", sep="\t")
    assert {"gkmexplain", "ism"} <= set(recovery[recovery.architecture == "gkmsvm"].method)


@pytest.mark.parametrize("methods, fragment", [
    ({"saliency": {}}, "cannot apply to a gapped k-mer SVM"),
    ({"gkmexplain": {}}, "gapped k-mer SVMs only"),
])
def test_methods_that_do_not_apply_stop_before_any_job(tmp_path, methods, fragment):
    config = grid(attribution={"methods": methods})
    if "gkmexplain" in methods:
        config["architectures"] = {"conv10w-gmp-fc10": "config/architectures/conv10w-gmp-fc10.yaml"}
    result = snakemake(tmp_path, config, timeout=300)
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if line.startswith("bad input: ")]
    assert len(message) == 1 and fragment in message[0], result.stderr[-2000:]
    assert not (tmp_path / "results").exists()
