"""The attribute and score stages through Snakemake on the tiny grid, and bad
attribution settings stopping the run before any job starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from grammarbench.attribution import AttributionResult

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "tests/configs/tiny/config.yaml"
MODEL = "one-motif/seed3/n400/conv10w-gmp-fc10/mseed1"


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("attribute")
    target = f"results/recovery/{MODEL}.tsv"
    command = [SNAKEMAKE, target, "--cores", "2", "-s", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(TINY)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_every_configured_run_is_saved_with_its_examples(recovered):
    folder = recovered / "results/attributions" / MODEL
    tiny = yaml.safe_load(TINY.read_text())["attribution"]
    assert sorted(p.stem for p in folder.glob("*.npz")) == sorted(tiny["methods"])
    result = AttributionResult.load(folder / "deeplift_shap.npz")
    assert result.maps.shape[1:] == (4, 200) and len(result.example) == tiny["n_examples"]
    assert np.array_equal(result.example, np.arange(tiny["n_examples"]))  # multi-class: one map each
    assert result.settings["reference"] == "shuffle" and result.settings["n_references"] == 5
    assert np.abs(result.delta).max() < 1e-3  # DeepLIFT's completeness, checked per map
    assert (recovered / "results/runtime/attribute" / f"{MODEL}.tsv").is_file()


def test_recovery_table_scores_every_run_on_both_subsets(recovered):
    table = pd.read_csv(recovered / "results/recovery" / f"{MODEL}.tsv", sep="\t")
    assert {"run", "method", "reference", "subset", "metric", "statistic", "value", "positive_fraction"} <= set(table.columns)
    assert set(table.run) == {"grad_x_input", "deeplift_shap", "ism"}
    assert set(table.subset) == {"all", "correct"}
    auroc = table[(table.metric == "position_auroc") & (table.statistic == "mean") & (table.subset == "all")]
    assert len(auroc) == 3 and auroc.value.between(0, 1).all()
    assert (table.positive_fraction.dropna().between(0, 1)).all()


@pytest.mark.parametrize("methods, fragments", [
    ({"gradcamm": {}}, ["attribution.methods.gradcamm", "unknown method 'gradcamm'"]),
    ({"gradcam": {"layer": "l9_nothing"}}, ["attribution.methods.gradcam.layer", "l9_nothing"]),
    ({"deeplift_shap": {"reference": "zeroes"}}, ["attribution.methods.deeplift_shap.reference", "zeroes"]),
])
def test_bad_attribution_settings_stop_before_any_job(tmp_path, methods, fragments):
    config = yaml.safe_load(TINY.read_text())
    config["attribution"] = {"methods": methods}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([SNAKEMAKE, "--cores", "1", "-s", str(REPO / "Snakefile"), "--directory",
                             str(tmp_path), "--configfile", str(tmp_path / "c.yaml")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if line.startswith("bad input: ")]
    assert len(message) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in message[0], (fragment, message[0])
    assert not (tmp_path / "results").exists()


def test_gradcam_on_a_network_without_convolutions_is_refused(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["architectures"] = {"fc10": "config/architectures/fc10.yaml"}
    config["attribution"] = {"methods": {"gradcam": {}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([SNAKEMAKE, "-n", "--cores", "1", "-s", str(REPO / "Snakefile"), "--directory",
                             str(tmp_path), "--configfile", str(tmp_path / "c.yaml")],
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr  # a dry run reports on stdout
    message = [line for line in output.splitlines() if line.startswith("bad input: ")]
    assert result.returncode != 0 and len(message) == 1, output[-2000:]
    assert "attribution.methods.gradcam" in message[0] and "fc10.yaml" in message[0]
