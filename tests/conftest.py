"""Fixtures shared across test modules, each built once per session.

- :func:`tiny_grid`: the whole tiny grid (``tests/configs/tiny``) through Snakemake, and its
  ``snakemake --report``; read by the workflow, report and SLURM-comparison tests.
- :func:`janggu_files`: real ChIP-seq windows (Oct4, Mafk) from the janggu wheel on PyPI.
- :func:`one_motif_model`: the one-motif grammar simulated and a conv-gmp network trained on
  it by :func:`grammarbench.models.train.fit`; read by the training, attribution and
  aggregate tests.
- :func:`aggregate_grid`: the per-job files of a tiny grid written by the real writers
  (:func:`test_aggregate.grid_files`: that dataset, that model and its attribution maps);
  read by the table and figure tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/configs/tiny/config.yaml"
SLURM_PROFILE = REPO / "profiles/slurm/config.yaml"


# pytest-xdist worker groups. Every test of the SLURM cluster runs on one worker, so that one
# process starts, uses and stops the test cluster (when the session has to start it); the tests
# of the tiny grid on another, which runs it (tiny_grid) while the SLURM tests run theirs.
WORKER_GROUPS = {"slurm_cluster": "slurm", "tiny_grid": "tiny-grid"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        group = next((group for fixture, group in WORKER_GROUPS.items() if fixture in used), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
        elif _uses_a_module_fixture(item):
            # A module-scoped fixture (a workflow run, a trained model) runs once per worker
            # that gets one of its tests: keep the module's tests together so it runs once.
            item.add_marker(pytest.mark.xdist_group(f"module:{item.module.__name__}"))


def _uses_a_module_fixture(item) -> bool:
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(defs and defs[-1].scope in ("module", "package", "class")
               for defs in definitions.values())


def clean_env() -> dict[str, str]:
    """This process's environment without what a surrounding SLURM job or Snakemake set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SNAKEMAKE_"))}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def profile_threads() -> list[str]:
    """The SLURM profile's ``set-threads`` as ``rule=n`` arguments."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    return [f"{rule}={n}" for rule, n in profile.get("set-threads", {}).items()]


@dataclass(frozen=True)
class TinyGrid:
    """A finished run of the tiny grid: its working directory, the command that ran it
    (add targets or ``-n``), the run's stderr and the report."""

    workdir: Path
    command: list[str]
    log: str
    report: Path


@pytest.fixture(scope="session")
def tiny_grid(tmp_path_factory) -> TinyGrid:
    """The whole tiny grid through Snakemake once, then its report.

    It runs as the SLURM comparison's local run needs: with the SLURM profile's threads per
    rule (capped by Snakemake at this machine's cores), so that a result that depends on
    the thread count is computed as inside the SLURM jobs.

    Once per test session, not per pytest-xdist worker: the first worker to ask runs it in
    the session's shared temporary folder under a file lock; another worker waits for it and
    reads the same run (the SLURM tests compare with it from a worker of their own).
    """
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's folder above every worker's own
    workdir = shared / "tiny-grid"
    threads = profile_threads()
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--cores", str(os.cpu_count()),
               *(["--set-threads", *threads] if threads else []), "--configfile", str(TINY)]
    report = workdir / "report.html"
    finished = shared / "tiny-grid.log"  # written last: the run and its report are complete
    with FileLock(str(shared / "tiny-grid.lock")):
        if not finished.exists():
            workdir.mkdir(exist_ok=True)
            run = subprocess.run(command, cwd=workdir, env=clean_env(), capture_output=True,
                                 text=True, timeout=1500)
            assert run.returncode == 0, run.stderr[-4000:]
            made = subprocess.run(command + ["--report", str(report)], cwd=workdir, env=clean_env(),
                                  capture_output=True, text=True, timeout=600)
            assert made.returncode == 0, made.stderr[-3000:]
            finished.write_text(run.stderr)
    return TinyGrid(workdir, command, finished.read_text(), report)


# seqgra's conv-gmp-fc family, a little faster to train (learning rate 0.005)
CONV_GMP = {
    "name": "conv8w-gmp-fc8",
    "layers": [{"conv": {"filters": 8, "width": 21, "padding": "same"}}, "relu", "global_max_pool",
               {"dense": {"units": 8}}, "relu", {"dense": {"units": "outputs"}}],
    "training": {"learning_rate": 0.005, "batch_size": 100, "max_epochs": 15, "patience": 3},
}


@dataclass(frozen=True)
class TrainedModel:
    """A simulated data set (split name -> folder), a model folder trained on it by ``fit``,
    and ``fit``'s summary."""

    data: dict[str, Path]
    model: Path
    summary: dict


@pytest.fixture(scope="session")
def one_motif_model(tmp_path_factory) -> TrainedModel:
    """config/grammars/one-motif.yaml simulated (train 2,000, validation 400, test 1,000;
    seed 1) and :data:`CONV_GMP` trained on it (model seed 1, CPU, one thread)."""
    import torch

    from grammarbench.grammars.grammar import load_grammar
    from grammarbench.models.architectures import architecture_from_dict
    from grammarbench.models.train import fit
    from grammarbench.simulation.simulate import simulate_split

    root = tmp_path_factory.mktemp("one-motif")
    grammar = load_grammar(REPO / "config/grammars/one-motif.yaml")
    data = {}
    for split, n in (("train", 2000), ("validation", 400), ("test", 1000)):
        data[split] = root / split
        simulate_split(grammar, split, n, 1, data[split])
    torch.manual_seed(0)
    summary = fit(architecture_from_dict(CONV_GMP), data["train"], data["validation"], root / "model",
                  model_seed=1, device="cpu", threads=1)
    return TrainedModel(data, root / "model", summary)


@pytest.fixture(scope="session")
def aggregate_grid(tmp_path_factory, one_motif_model) -> dict:
    """Per-job files of a tiny grid from the real writers (:func:`test_aggregate.grid_files`)."""
    from test_aggregate import grid_files

    return grid_files(tmp_path_factory.mktemp("aggregate-grid"), one_motif_model)


@pytest.fixture(scope="session")
def janggu_files():
    """janggu 0.10.2's Oct4 (sample.fa) and Mafk (sample2.fa) ChIP-seq windows, fetched
    once from PyPI into the cache (GPL-3: never copied into this repository)."""
    from grammarbench.simulation.realistic.windows import janggu_fasta

    try:
        return janggu_fasta("sample.fa"), janggu_fasta("sample2.fa")
    except RuntimeError as err:
        pytest.skip(f"janggu's windows are fetched from PyPI, which is unreachable: {err}")
