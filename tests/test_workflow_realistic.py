"""A realistic grammar (janggu's Oct4 vs Mafk windows) through the whole workflow: the
motif scan and filter, the splits, training, attribution, scoring, motif discovery and the
grid's tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CONFIG = REPO / "tests/configs/realistic/config.yaml"
GRAMMAR = "oct4-vs-mafk"


@pytest.fixture(scope="module")
def workflow(tmp_path_factory, janggu_files):
    workdir = tmp_path_factory.mktemp("realistic")
    command = [SNAKEMAKE, "--cores", "2", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(CONFIG)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_realistic_grammar_runs_through_to_the_recovery_table(workflow):
    results = workflow / "results"
    recovery = pd.read_csv(results / "tables/recovery.tsv", sep="\t")
    assert len(recovery) and set(recovery["grammar"]) == {GRAMMAR}
    assert set(recovery["run"]) == {"grad_x_input", "ism"}
    assert set(recovery["truth"]) == {"implanted"}  # attribution.metrics.truth, through the score stage
    predictive = pd.read_csv(results / "tables/predictive.tsv", sep="\t")
    assert "oracle" not in set(predictive["architecture"])  # real DNA: no generative model


@pytest.mark.slow
def test_filter_and_hit_tables_are_written_and_reported(workflow):
    motifs = workflow / "results/grammars" / GRAMMAR / "motifs"
    table = pd.read_csv(motifs / "filter.tsv", sep="\t", keep_default_na=False)
    kept = set(table.loc[table["kept"].astype(str) == "True", "motif"])
    assert "MA0142.1_Pou5f1::Sox2" in kept and not any(m.startswith("MA049") for m in kept)
    hits = pd.read_csv(motifs / "hits.tsv", sep="\t")
    assert set(hits["set"]) == {"positive", "background"} and (hits["p_value"] < 1e-4).all()
    elements = pd.read_csv(workflow / "results/grammars" / GRAMMAR / "elements.tsv", sep="\t")
    assert set(elements["element"]) == kept


@pytest.mark.slow
def test_discovery_matches_against_the_kept_motifs(workflow):
    # a realistic grammar's elements are the motifs its filter kept (motifs.json)
    kept = json.loads((workflow / "results/grammars" / GRAMMAR / "motifs/motifs.json").read_text())["kept"]
    table = pd.read_csv(workflow / "results/tables/discovery.tsv", sep="\t", keep_default_na=False)
    assert set(table["run"]) == {"ism"}
    assert set(table["element"]) - {"all"} == set(kept)
    assert (workflow / "results/figures/discovery_logos.png").stat().st_size > 0


@pytest.mark.slow
def test_splits_carry_the_instance_origins(workflow):
    train = workflow / "results/datasets" / GRAMMAR / "seed2/n300/train"
    instances = pd.read_csv(train / "instances.tsv", sep="\t")
    assert set(instances["origin"]) <= {"implanted", "chance"} and (instances["origin"] == "implanted").any()
    manifest = json.loads((train / "manifest.json").read_text())
    assert manifest["grammar"]["kind"] == "realistic" and manifest["n"] == 300
    assert np.load(train / "sequences.npy").shape == (300, 200)
    config = yaml.safe_load(CONFIG.read_text())
    for split in ("validation", "test"):
        held = json.loads((train.parents[1] / "heldout" / split / "manifest.json").read_text())
        assert held["n"] == config[f"n_{split}"]
