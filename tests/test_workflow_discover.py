"""The discover stage through Snakemake on the tiny grid (one grammar), and a bad
discovery section stopping the run before any job starts.

The discover jobs read the session's tiny grid (``conftest.tiny_grid``): its results are
copied, and only the discovery stage, the runtime table and the figures run here, instead
of simulating, training and explaining the models again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "tests/configs/tiny/config.yaml"
# The tiny grid stores 50 maps per run: small metaclusters and clusters let TF-MoDISco
# report patterns at all; two Leiden runs keep it quick.
DISCOVERY = {"runs": ["deeplift_shap"],
             "modisco": {"min_metacluster_size": 10, "final_min_cluster_size": 5,
                         "n_leiden_runs": 2}}


def _config(tmp_path, **changes) -> Path:
    config = yaml.safe_load(TINY.read_text())
    config["grammars"] = {"one-motif": config["grammars"]["one-motif"]}
    config.update(changes)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def discovered(tiny_grid, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("discover")
    # The tiny grid's datasets, models and maps, times kept: with --rerun-triggers mtime
    # Snakemake takes them as made and runs what the discovery section adds.
    shutil.copytree(tiny_grid.workdir / "results", workdir / "results", symlinks=True)
    config = _config(workdir, discovery=DISCOVERY)
    targets = ["results/tables/discovery.tsv", "results/tables/runtime.tsv",
               "results/figures/discovery.png", "results/figures/discovery_logos.png"]
    result = subprocess.run([SNAKEMAKE, *targets, "--cores", "2", "-s", str(REPO / "Snakefile"),
                             "--directory", str(workdir), "--configfile", str(config),
                             "--rerun-triggers", "mtime"],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_discovery_table_has_a_row_set_per_model_and_run(discovered):
    table = pd.read_csv(discovered / "results/tables/discovery.tsv", sep="\t")
    keys = ["grammar", "seed", "n_train", "architecture", "model_seed", "run"]
    assert list(table.columns) == keys + ["method", "reference", "n_references", "element",
                                          "metric", "value"]
    recall = table[(table.element == "all") & (table.metric == "motif_recall")]
    assert sorted(recall.n_train) == [200, 400] and set(recall.run) == {"deeplift_shap"}
    assert set(recall.method) == {"deeplift_shap"} and set(recall.reference) == {"shuffle"}
    assert recall.value.between(0, 1).all()
    assert set(table.loc[table.element != "all", "element"]) == {"CTCF"}
    model = "one-motif/seed3/n400/conv10w-gmp-fc10/mseed1"
    for suffix in (".json", ".matches.tsv", ".scores.tsv"):
        assert (discovered / "results/discovery" / model / f"deeplift_shap{suffix}").is_file()


@pytest.mark.slow
def test_discover_jobs_are_in_the_runtime_table_and_figures_exist(discovered):
    runtime = pd.read_csv(discovered / "results/tables/runtime.tsv", sep="\t")
    seconds = runtime[(runtime["rule"] == "discover") & (runtime.metric == "s")]
    assert len(seconds) == 2 and set(seconds["run"]) == {"deeplift_shap"}
    for name in ("discovery", "discovery_logos"):
        for ext in ("png", "pdf"):
            assert (discovered / "results/figures" / f"{name}.{ext}").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("discovery, fragment", [
    ({"runs": ["gradcam"]}, "discovery.runs[0]: unknown attribution run 'gradcam'"),
    ({"runs": ["ism"], "modisco": {"windw": 3}}, "discovery.modisco.windw: unknown modisco-lite"),
    ({"runs": "ism"}, "discovery.runs"),
])
def test_bad_discovery_settings_stop_before_any_job(tmp_path, discovery, fragment):
    config = _config(tmp_path, discovery=discovery)
    result = subprocess.run([SNAKEMAKE, "-n", "--cores", "1", "-s", str(REPO / "Snakefile"),
                             "--directory", str(tmp_path), "--configfile", str(config)],
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    message = [line for line in output.splitlines() if line.startswith("bad input: ")]
    assert result.returncode != 0 and len(message) == 1, output[-2000:]
    assert fragment in message[0], (fragment, message[0])
