"""The whole tiny grid through Snakemake, then `snakemake --report`: the grid's tables have
their documented columns and one row set per grid point, every figure exists, and the
self-contained HTML report holds every figure and table."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from grammarbench.aggregate.figures import FIGURES as FIGURE_REGISTRY
from grammarbench.aggregate.tables import PREDICTIVE_COLUMNS, RECOVERY_COLUMNS, TRAINING_COLUMNS

REPO = Path(__file__).resolve().parents[1]
# every registered figure but reference_sweep (the tiny grid runs each method with one
# reference setting, so it has no sweep to draw), the discovery figures (its discovery
# section is off; tests/test_workflow_discover.py runs that stage) and methods_by_grammar
# (drawn for grids of realistic grammars: tests/test_realistic_encode.py)
FIGURES = [name for name in FIGURE_REGISTRY
           if name not in ("reference_sweep", "discovery", "discovery_logos", "methods_by_grammar")]


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def grid(tiny_grid):
    """The tiny grid's run and its report (tests/conftest.py)."""
    return tiny_grid.workdir


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
    assert set(runtime["rule"]) == {"train", "attribute"}  # attribute jobs also evaluate
    assert (runtime[runtime.metric == "s"].value > 0).all()


def test_every_figure_and_the_report(grid):
    assert sorted(p.stem for p in (grid / "results/figures").glob("*.png")) == sorted(FIGURES)
    for name in FIGURES:
        for suffix in ("png", "pdf"):
            path = grid / f"results/figures/{name}.{suffix}"
            assert path.stat().st_size > 5_000, path
    filed = report_items(grid)
    for name in FIGURES:
        assert f"{name}.png" in filed, name
    for table in ("predictive", "recovery", "training", "runtime"):
        assert f"{table}.tsv" in filed, table
    assert not (grid / "results/figures/reference_sweep.png").exists()  # no sweep to draw
    # a small grid's per-model curves (each evaluation folder's test.curves.png), captioned
    html = (grid / "report.html").read_text()
    assert filed["test.curves.png"] == "2. Predictive performance"
    assert html.count("ROC and precision-recall curves of conv10w-gmp-fc10") == 4  # 2 grammars x 2 sizes
    # captions rendered with the run's config and the figure's own options
    assert ("Example attribution tracks: grad_x_input maps of conv10w-gmp-fc10 (grammar one-motif, data "
            "seed 3, 400 training examples, model seed 1)") in html
    assert "from the simulator's diagnostics of the test split of data seed 3" in html
    assert "training-set sizes [200, 400]" in html


def report_items(grid) -> dict[str, str]:
    """File name -> category of every item of the report: its navigation, one JSON object
    ``{category: {subcategory: [paths]}}``."""
    html = (grid / "report.html").read_text()
    start = html.index("categories = {") + len("categories = ")
    categories, _ = json.JSONDecoder().raw_decode(html[start:])
    return {Path(path).name: category for category, subcategories in categories.items()
            for paths in subcategories.values() for path in paths}


STAGES = {"0. Run configuration": ["config.html"],
          "1. Simulated data": ["positional_heatmaps"],
          "2. Predictive performance": ["predictive", "learning_curves", "predictive.tsv",
                                        "training.tsv"],
          "3. Grammar recovery": ["recovery", "methods_heatmap", "attribution_tracks",
                                  "recovery.tsv"],
          "4. Runtime": ["runtime", "runtime.tsv"]}


def test_report_files_each_figure_and_table_under_its_stage(grid):
    filed = report_items(grid)
    # the categories of the figures the tiny grid makes (FIGURES), as the registry files them
    assert {name: FIGURE_REGISTRY[name].category for name in FIGURES} == {
        name: stage for stage, names in STAGES.items() for name in names if "." not in name}
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
