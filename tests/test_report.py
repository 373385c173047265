"""The whole tiny grid through Snakemake, then `snakemake --report`: the grid's tables have
their documented columns and one row set per grid point, every figure exists, and the
self-contained HTML report holds every figure and table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from grammarbench.aggregate.tables import PREDICTIVE_COLUMNS, RECOVERY_COLUMNS, TRAINING_COLUMNS

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "tests/configs/tiny/config.yaml"
FIGURES = ["predictive", "learning_curves", "runtime", "positional_heatmaps", "recovery",
           "methods_heatmap", "reference_sweep", "attribution_tracks"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("grid")
    base = [SNAKEMAKE, "--cores", "2", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(TINY)]
    run = subprocess.run(base, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    report = subprocess.run(base + ["--report", str(workdir / "report.html")], capture_output=True,
                            text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    return workdir


def test_tables_cover_every_grid_point(grid):
    tables = grid / "results/tables"
    predictive = pd.read_csv(tables / "predictive.tsv", sep="\t")
    assert list(predictive.columns) == list(PREDICTIVE_COLUMNS)
    points = predictive.groupby(["grammar", "n_train", "architecture", "split"]).size()
    # 2 grammars x 2 sizes x (1 architecture + oracle) x 2 splits
    assert len(points) == 16
    assert set(predictive.architecture) == {"conv10w-gmp-fc10", "oracle"}
    recovery = pd.read_csv(tables / "recovery.tsv", sep="\t")
    assert list(recovery.columns) == list(RECOVERY_COLUMNS)
    assert len(recovery.groupby(["grammar", "n_train", "run"]).size()) == 2 * 2 * 3
    training = pd.read_csv(tables / "training.tsv", sep="\t")
    assert list(training.columns) == list(TRAINING_COLUMNS)
    runtime = pd.read_csv(tables / "runtime.tsv", sep="\t")
    assert set(runtime["rule"]) == {"train", "evaluate", "attribute", "score"}
    assert (runtime[runtime.metric == "s"].value > 0).all()


def test_every_figure_and_the_report(grid):
    for name in FIGURES:
        for suffix in ("png", "pdf"):
            path = grid / f"results/figures/{name}.{suffix}"
            assert path.stat().st_size > 5_000, path
    html = (grid / "report.html").read_text()
    for name in FIGURES:
        assert f"{name}.png" in html, name
    for table in ("predictive", "recovery", "training", "runtime"):
        assert f"{table}.tsv" in html, table


STAGES = {"0. Run configuration": ["config.html"],
          "1. Simulated data": ["positional_heatmaps"],
          "2. Predictive performance": ["predictive", "learning_curves", "predictive.tsv",
                                        "training.tsv"],
          "3. Grammar recovery": ["recovery", "methods_heatmap", "reference_sweep",
                                  "attribution_tracks", "recovery.tsv"],
          "4. Runtime": ["runtime", "runtime.tsv"]}


def test_report_files_each_figure_and_table_under_its_stage(grid):
    html = (grid / "report.html").read_text()
    # the report's navigation: {category: {subcategory: [paths]}}, one JSON object
    start = html.index("categories = {") + len("categories = ")
    categories, _ = json.JSONDecoder().raw_decode(html[start:])
    filed = {Path(path).name: category for category, subcategories in categories.items()
             for paths in subcategories.values() for path in paths}
    for stage, names in STAGES.items():
        for name in names:
            assert filed[name if "." in name else f"{name}.png"] == stage, name


def test_the_report_carries_the_run_config_and_every_definition(grid):
    import hashlib

    page = (grid / "results/config.html").read_text()
    assert "mixed_precision: true" in page  # a default the config file left out, filled in
    for path in ("config/grammars/one-motif.yaml", "config/grammars/spacing.yaml",
                 "config/architectures/conv10w-gmp-fc10.yaml"):
        assert hashlib.sha256((REPO / path).read_bytes()).hexdigest() in page, path


def test_config_page_escapes_definitions(tmp_path):
    from grammarbench.aggregate.config_page import config_page

    xml = tmp_path / "g.xml"
    xml.write_text("<grammar><rule/></grammar>\n")
    page = config_page({"grammars": {"g": str(xml)}, "n_train": [10]}, ["c.yaml"],
                       {"g": str(xml)}, {})
    assert "&lt;grammar&gt;&lt;rule/&gt;" in page and "<rule/>" not in page
    assert "n_train:\n- 10" in page


def test_a_missing_grid_point_fails_its_table_with_its_name(grid):
    from grammarbench.aggregate.tables import IncompleteGridError, predictive_table

    model = "results/evaluation/spacing/seed3/n200/conv10w-gmp-fc10/mseed1/test.metrics.tsv"
    jobs = [({"grammar": "spacing", "seed": 3, "n_train": 200, "architecture": "conv10w-gmp-fc10",
              "model_seed": 1, "split": "test"}, grid / model)]
    expected = jobs[0][0] | {"n_train": 400}
    with pytest.raises(IncompleteGridError, match="n_train=400"):
        predictive_table(jobs, expected=[jobs[0][0], expected])


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium here (apt-get install chromium)")
def test_report_renders_in_a_browser(grid, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1400,1000", "--virtual-time-budget=8000",
                    (grid / "report.html").as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
