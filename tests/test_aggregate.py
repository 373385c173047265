"""The grid's tidy tables: built from per-job files written by the real writers (evaluate's
metrics, a real training history, metrics.score_maps of real attribution maps, Snakemake's
benchmark records) on a tiny grid; documented columns, one row per grid point, and a
clear error naming every missing point.

:func:`grid_files` is built once per session (tests/conftest.py: ``aggregate_grid``) and
shared with tests/test_figures.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grammarbench.aggregate import tables as ag
from grammarbench.io import write_tsv

GRAMMARS = ["one-motif", "spacing"]
SIZES = [200, 400]
ARCHITECTURES = ["conv10-gmp-fc10", "fc10"]
SEEDS = [1]
MODEL_SEEDS = [1, 2]
SPLITS = ["validation", "test"]
#: (run, method, reference, n_references): what validate_attribution_config names runs
RUNS = [("grad_x_input", "grad_x_input", "", 0),
        ("integrated_gradients-zeros", "integrated_gradients", "zeros", 1),
        ("deeplift_shap-shuffle10", "deeplift_shap", "shuffle", 10),
        ("deeplift_shap-shuffle20", "deeplift_shap", "shuffle", 20)]


def model_points() -> list[dict]:
    return [{"grammar": g, "seed": s, "n_train": n, "architecture": a, "model_seed": m}
            for g in GRAMMARS for s in SEEDS for n in SIZES for a in ARCHITECTURES for m in MODEL_SEEDS]


def predictive_points() -> list[dict]:
    models = [{**p, "split": split} for p in model_points() for split in SPLITS]
    oracle = [{"grammar": g, "seed": s, "n_train": n, "architecture": "oracle", "model_seed": "",
               "split": split} for g in GRAMMARS for s in SEEDS for n in SIZES for split in SPLITS]
    return models + oracle


def recovery_points() -> list[dict]:
    return [{**p, "run": run} for p in model_points() for run, *_ in RUNS]


def _simulated(trained) -> dict:
    """The shared one-motif data set and model (tests/conftest.py) and real grad × input
    maps of 24 test examples."""
    from grammarbench.attribution import attribute_split
    from grammarbench.models.networks import load_trained

    model = load_trained(trained.model, device="cpu")
    result = attribute_split(model, trained.data["test"], "grad_x_input", n_examples=24, device="cpu")
    return {"test": trained.data["test"], "history": trained.model / "history.tsv", "result": result}


def grid_files(root: Path, trained) -> dict:
    """Per-job files of the tiny grid, from the real writers, with ``trained``'s data, model
    history and maps (:class:`conftest.TrainedModel`); returns the job lists."""
    from snakemake.benchmark import BenchmarkRecord, write_benchmark_records

    from grammarbench.simulation.dataset import load_split
    from grammarbench.models.evaluate import write_evaluation
    from grammarbench.scoring.recovery import score_maps
    from grammarbench.models.train import HISTORY_COLUMNS

    sim = _simulated(trained)
    rng = np.random.default_rng(0)
    test = load_split(sim["test"])
    result = sim["result"]
    ex = result.example
    codes, mask = np.asarray(test.sequences)[ex], np.asarray(test.mask)[ex]
    lengths, instances = np.asarray(test.lengths)[ex], test.instances
    real_history = pd.read_csv(sim["history"], sep="\t")
    assert list(real_history.columns) == list(HISTORY_COLUMNS)
    jobs = {"predictive": [], "recovery": [], "training": [], "runtime": []}

    def skill(point) -> float:
        """How good a model at this point is, so that the figures show a trend."""
        return (0.5 + 0.4 * SIZES.index(point["n_train"]) / max(len(SIZES) - 1, 1)
                + 0.1 * ARCHITECTURES.index(point["architecture"]) if point["architecture"] in ARCHITECTURES
                else 1.0)

    for point in predictive_points():
        folder = root / "evaluation" / "_".join(str(v) for v in point.values())
        labels = rng.integers(0, 2, 80)
        logits = np.eye(2)[labels] * 4 * skill(point) + rng.normal(size=(80, 2))
        write_evaluation(logits, labels, "multi-class", ["ctcf", "background"],
                         metrics=folder / "metrics.tsv", predictions=folder / "predictions.tsv",
                         curves=folder / "curves.tsv")
        jobs["predictive"].append((point, folder / "metrics.tsv"))
    for point in model_points():
        stem = "_".join(str(v) for v in point.values())
        history = real_history.copy()
        for col in ("train_loss", "validation_loss"):
            history[col] = history[col] / skill(point) + rng.normal(0, 0.01, len(history))
        path = root / "history" / f"{stem}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        history.to_csv(path, sep="\t", index=False)
        jobs["training"].append((point, path))
        for run, method, reference, n_refs in RUNS:
            noise = rng.normal(0, 1.0 / skill(point), result.maps.shape) * np.abs(result.maps).mean()
            table = score_maps(result.maps + noise, codes, mask, lengths, instances, example=ex,
                               correct=result.correct, labels={"method": method,
                                                               "reference": reference or None})
            path = root / "scores" / f"{stem}_{run}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(path, sep="\t", index=False)
            jobs["recovery"].append(({**point, "run": run, "n_references": n_refs}, path))
        for rule in ("train", "evaluate"):
            record = BenchmarkRecord(running_time=10 * point["n_train"] / skill(point) / 200,
                                     max_rss=300.0 + rng.normal(0, 20), max_vms=900.0, max_uss=250.0,
                                     max_pss=260.0, io_in=0.5, io_out=0.1, cpu_time=5.0, cpu_usage=5.0)
            record.data_collected = True
            path = root / "benchmarks" / rule / f"{stem}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_benchmark_records([record], str(path), False)
            jobs["runtime"].append(({"rule": rule, **point}, path))
    for g in GRAMMARS:
        for n in SIZES:
            record = BenchmarkRecord(running_time=1.5)  # too short to sample: NA columns
            record.process_gone = True
            path = root / "benchmarks" / "simulate_train" / f"{g}_{n}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_benchmark_records([record], str(path), False)
            jobs["runtime"].append(({"rule": "simulate_train", "grammar": g, "seed": 1, "n_train": n}, path))
    return {"jobs": jobs, "sim": sim, "root": root}


@pytest.fixture(scope="module")
def grid(aggregate_grid):
    return aggregate_grid


# ------------------------------------------------------------------------------- tables


def test_predictive_table_has_its_columns_and_one_row_per_point(grid, tmp_path):
    table = ag.predictive_table(grid["jobs"]["predictive"], predictive_points())
    assert list(table.columns) == list(ag.PREDICTIVE_COLUMNS)
    ag.check_points(table, predictive_points(), ag.PREDICTIVE_KEYS, where={"metric": "auroc", "class": "macro"})
    ag.check_points(table, predictive_points(), ag.PREDICTIVE_KEYS, where={"metric": "accuracy", "class": "all"})
    oracle = table[table["architecture"] == "oracle"]
    assert oracle["model_seed"].isna().all() and set(oracle["n_train"]) == set(SIZES)
    # written and read back: the same table, integer keys typed
    path = write_tsv(table, tmp_path / "predictive.tsv")
    back = ag.read_table(path)
    assert list(back.columns) == list(ag.PREDICTIVE_COLUMNS) and len(back) == len(table)
    assert str(back["n_train"].dtype) == "Int64" and back["model_seed"].isna().sum() == len(oracle)
    pd.testing.assert_series_equal(back["value"], table["value"], check_exact=False, rtol=1e-5)


def test_missing_points_are_all_named(grid, tmp_path):
    jobs = list(grid["jobs"]["predictive"])
    gone = jobs.pop(3)                               # no job at all
    keys, path = jobs[5]
    moved = tmp_path / "nowhere.tsv"
    jobs[5] = (keys, moved)                          # a job whose file is missing
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    jobs[7] = (jobs[7][0], empty)                    # an empty file
    short = tmp_path / "short.tsv"
    pd.read_csv(jobs[9][1], sep="\t").query("metric != 'auroc'").to_csv(short, sep="\t", index=False)
    jobs[9] = (jobs[9][0], short)                    # a file without the AUROC rows
    with pytest.raises(ag.IncompleteGridError) as err:
        ag.predictive_table(jobs, predictive_points())
    message = str(err.value)
    assert message.startswith("predictive table: 4 of 40 grid point(s)")
    for job, why in ((gone, "no job for this grid point"), (jobs[5], "file not found"),
                     (jobs[7], "empty file"), (jobs[9], "no auroc row(s)")):
        k = job[0]
        label = (f"grammar={k['grammar']}, seed={k['seed']}, n_train={k['n_train']}, "
                 f"architecture={k['architecture']}")
        line = next(line for line in message.splitlines() if label in line and f"split={k['split']}" in line
                    and f"model_seed={k['model_seed']}" in line)
        assert why in line, line
    assert isinstance(err.value, ValueError) and len(err.value.problems) == 4


def test_unexpected_and_repeated_points_fail(grid):
    jobs = grid["jobs"]["predictive"]
    with pytest.raises(ag.IncompleteGridError, match="not a grid point"):
        ag.predictive_table(jobs, predictive_points()[:-1])
    with pytest.raises(ag.IncompleteGridError, match="several files"):
        ag.predictive_table(jobs + jobs[:1], predictive_points())
    # wildcards arrive as strings: they match the grid's integers
    as_text = [({k: str(v) for k, v in keys.items()}, path) for keys, path in jobs]
    assert len(ag.predictive_table(as_text, predictive_points())) == len(ag.predictive_table(jobs))


def test_recovery_table(grid):
    table = ag.recovery_table(grid["jobs"]["recovery"], recovery_points())
    assert list(table.columns) == list(ag.RECOVERY_COLUMNS)
    ag.check_points(table, recovery_points(), ag.RECOVERY_KEYS,
                    where={"subset": "all", "metric": "position_auprc", "statistic": "mean"})
    row = table[(table["run"] == "deeplift_shap-shuffle20")].iloc[0]
    assert row["method"] == "deeplift_shap" and row["reference"] == "shuffle" and row["n_references"] == 20
    assert set(table.loc[table["run"] == "grad_x_input", "reference"]) == {""}
    window = table[table["metric"] == "window_auprc"]
    assert set(window["element"]) == {"CTCF"}
    auprc = table[(table["metric"] == "position_auprc") & (table["statistic"] == "mean")]
    assert (auprc["positive_fraction"].between(0, 1)).all() and auprc["value"].between(0, 1).all()
    # a score file without the per-position rows is a missing point
    keys, path = grid["jobs"]["recovery"][0]
    broken = path.with_name("broken.tsv")
    pd.read_csv(path, sep="\t").query("metric != 'position_auprc'").to_csv(broken, sep="\t", index=False)
    with pytest.raises(ag.IncompleteGridError, match="position_auprc"):
        ag.recovery_table([(keys, broken)] + grid["jobs"]["recovery"][1:], recovery_points())


def test_training_table_is_every_epoch_of_every_model(grid):
    table = ag.training_table(grid["jobs"]["training"], model_points())
    assert list(table.columns) == list(ag.TRAINING_COLUMNS)
    epochs = len(pd.read_csv(grid["sim"]["history"], sep="\t"))
    ag.check_points(table, [{**p, "epoch": e} for p in model_points() for e in range(1, epochs + 1)],
                    (*ag.TRAINING_KEYS, "epoch"), where={"split": "validation", "metric": "loss"})
    assert set(table["split"]) == {"train", "validation", "all"}
    assert {"loss", "accuracy", "auroc", "learning_rate", "seconds", "best"} <= set(table["metric"])


def test_runtime_table_from_benchmark_files(grid):
    table = ag.runtime_table(grid["jobs"]["runtime"])
    assert list(table.columns) == ["rule", "grammar", "seed", "n_train", "architecture", "model_seed",
                                   "repeat", "metric", "value"]
    assert set(table["rule"]) == {"train", "evaluate", "simulate_train"}
    sim = table[table["rule"] == "simulate_train"]
    assert sim["architecture"].eq("").all() and sim["model_seed"].isna().all()
    assert sim.loc[sim["metric"] == "s", "value"].eq(1.5).all()
    assert sim.loc[sim["metric"] == "max_rss", "value"].isna().all()      # NA: too short to sample
    train = table[(table["rule"] == "train") & (table["metric"] == "max_rss")]
    assert len(train) == len(model_points()) and train["value"].gt(0).all()
    assert "h:m:s" not in set(table["metric"])


def test_aggregate_writes_the_table_in_one_call(grid, tmp_path):
    out = tmp_path / "tables" / "training.tsv"
    table = ag.aggregate("training", grid["jobs"]["training"], out, expected=model_points())
    assert out.is_file() and len(ag.read_table(out)) == len(table)
    with pytest.raises(ValueError, match="kind must be one of"):
        ag.aggregate("nope", [], out)
    # a failed aggregate leaves no table behind
    out2 = tmp_path / "tables" / "recovery.tsv"
    with pytest.raises(ag.IncompleteGridError):
        ag.aggregate("recovery", grid["jobs"]["recovery"][1:], out2, expected=recovery_points())
    assert not out2.exists() and not [p for p in out2.parent.iterdir() if p.name.startswith(".")]


def test_jobs_as_dicts_with_a_path(grid):
    jobs = [{**keys, "path": str(path)} for keys, path in grid["jobs"]["training"]]
    assert len(ag.training_table(jobs)) == len(ag.training_table(grid["jobs"]["training"]))
    frame = pd.DataFrame(jobs)
    assert len(ag.training_table(frame, expected=frame.drop(columns="path"))) > 0
