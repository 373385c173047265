"""A gapped k-mer SVM through the whole workflow beside a network (tests/configs/mixed):
trained by rule train_gkmsvm, evaluated, explained by the methods of its family (GkmExplain,
ISM) while the network gets its own (gradient × input, ISM), scored, and in the grid's
tables; and the attribution config checks of a mixed grid, one line before any job."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = yaml.safe_load((REPO / "tests/configs/tiny/config.yaml").read_text())
MIXED = yaml.safe_load((REPO / "tests/configs/mixed/config.yaml").read_text())

pytestmark = pytest.mark.slow


def grid(**changes) -> dict:
    return {**TINY, "grammars": {"one-motif": TINY["grammars"]["one-motif"]}, "n_train": [400],
            "simulate": {"threads": 1, "exports": []}, "train": {"threads": 1, "max_epochs": 2},
            "architectures": {"gkmsvm": "config/architectures/gkmsvm.yaml"},
            "attribution": {"n_examples": 30, "methods": {"gkmexplain": {}, "ism": {}}}, **changes}


def snakemake(workdir: Path, config: dict, *args, timeout=900):
    (workdir / "c.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([SNAKEMAKE, *args, "--cores", "2", "-s", str(REPO / "Snakefile"), "--directory",
                           str(workdir), "--configfile", str(workdir / "c.yaml")],
                          capture_output=True, text=True, timeout=timeout)


def test_mixed_grid_explains_each_model_with_its_familys_methods(tmp_path):
    tables = [f"results/tables/{name}.tsv" for name in ("predictive", "recovery", "runtime")]
    plan = snakemake(tmp_path, MIXED, *tables, "-n", "--quiet", "rules", timeout=300)
    assert plan.returncode == 0, plan.stderr[-4000:]
    for rule in ("train", "train_gkmsvm", "attribute", "attribute_gkmsvm"):
        assert re.search(rf"^{rule}\s+1$", plan.stdout + plan.stderr, re.M), plan.stdout + plan.stderr
    result = snakemake(tmp_path, MIXED, *tables, "results/figures/attribution_tracks.png")
    assert result.returncode == 0, result.stderr[-4000:]
    predictive = pd.read_csv(tmp_path / "results/tables/predictive.tsv", sep="\t")
    rows = predictive[(predictive.architecture == "gkmsvm") & (predictive.metric == "auroc")]
    assert len(rows) and rows.value.between(0.5, 1).all()
    recovery = pd.read_csv(tmp_path / "results/tables/recovery.tsv", sep="\t")
    methods = recovery.groupby("architecture").method.agg(set).to_dict()
    assert methods == {"gkmsvm": {"gkmexplain", "ism"}, "conv10w-gmp-fc10": {"grad_x_input", "ism"}}
    runs = {p.parent.name: sorted(f.stem for f in p.glob("*.npz"))
            for p in (tmp_path / "results/attributions").glob("*/*/*/*/mseed1")}
    assert runs == {"gkmsvm": ["gkmexplain", "ism"], "conv10w-gmp-fc10": ["grad_x_input", "ism"]}
    runtime = pd.read_csv(tmp_path / "results/tables/runtime.tsv", sep="\t")
    assert {"train", "attribute"} <= set(runtime[runtime.architecture == "gkmsvm"].rule)


NETWORK = {"conv10w-gmp-fc10": "config/architectures/conv10w-gmp-fc10.yaml"}


@pytest.mark.parametrize("methods, architectures, fragment", [
    ({"saliency": {}}, None, "applies to no model of the grid (its models: gkmsvm): method 'saliency' "
                             "cannot apply to a gapped k-mer SVM"),
    ({"gkmexplain": {}}, NETWORK, "applies to no model of the grid (its models: network): method "
                                  "'gkmexplain' explains gapped k-mer SVMs only"),
    ({"saliency": {"families": ["gkmsvm"]}}, MIXED["architectures"],
     "attribution.methods.saliency.families: method 'saliency' cannot apply to a gapped k-mer SVM"),
    ({"gkmexplain": {}, "ism": {"families": "network"}, "occlusion": {"families": "gkm"}},
     MIXED["architectures"], "attribution.methods.occlusion.families: unknown model family 'gkm'"),
])
def test_methods_that_do_not_apply_stop_before_any_job(tmp_path, methods, architectures, fragment):
    config = grid(attribution={"methods": methods})
    if architectures:
        config["architectures"] = architectures
    result = snakemake(tmp_path, config, timeout=300)
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if line.startswith("bad input: ")]
    assert len(message) == 1 and fragment in message[0], result.stderr[-2000:]
    assert not (tmp_path / "results").exists()
