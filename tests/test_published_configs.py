"""The published-figure configs: each dry-runs in full (its job count printed), and an
override shrinks each to a grid that runs on a CPU — as a second ``--configfile`` (typed YAML)
and as ``--config`` key=value pairs; one model of the shrunk seqgra-paper grid runs through
every stage. The seqgra-paper grammars written in our YAML are exactly what their generator
writes, and the 50-class ones keep their promises (50 classes, dissimilar JASPAR motifs).
The full grid's planning time is measured by bench/dry_run.py, not asserted here, and no
subprocess has a time limit: on a loaded machine slow is not wrong.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from jobstats import job_counts

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
CONFIGS = ["config/seqgra-paper.yaml", "config/attribution-benchmark.yaml", "config/realistic-demo.yaml"]
#: What shrinks either config to a CPU-sized grid (lists replace; mappings merge).
SHRINK = {"n_train": [200], "n_validation": 100, "n_test": 100, "seeds": [1], "model_seeds": [1],
          "train": {"max_epochs": 1}, "attribution": {"n_examples": 8}}
#: The same as --config key=value pairs.
SHRINK_ARGS = ["n_train=[200]", "n_validation=100", "n_test=100", "seeds=[1]", "model_seeds=[1]",
               "train={max_epochs: 1}", "attribution={n_examples: 8}"]
pytestmark = pytest.mark.slow


def dry_run(workdir: Path, configfile: Path | list[Path], *overrides: str) -> tuple[subprocess.CompletedProcess, float, float]:
    """``snakemake -n`` from the repository root into ``workdir``; returns the process, its
    wall seconds and its CPU seconds (user + system)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SNAKEMAKE_"))}
    cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "all", "--cores", "1",
           "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", *map(str, configfile if isinstance(configfile, list) else [configfile])]
    if overrides:
        cmd += ["--config", *overrides]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, wall, cpu


@pytest.mark.parametrize("name", CONFIGS)
def test_schema_knows_every_section(name):
    config = yaml.safe_load((REPO / name).read_text())
    assert set(config) <= set(SCHEMA["properties"]), set(config) - set(SCHEMA["properties"])


@pytest.mark.parametrize("name", CONFIGS)
def test_full_grid_dry_runs(name, tmp_path):
    proc, wall, cpu = dry_run(tmp_path, REPO / name)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    counts = job_counts(proc)
    print(f"\n{name}: {counts.get('total')} jobs, dry run {wall:.1f} s wall, {cpu:.1f} s CPU; {counts}")
    assert counts.get("total", 0) > 0 and counts.get("train", 0) > 0, counts
    config = yaml.safe_load((REPO / name).read_text())
    n_models = (len(config["grammars"]) * len(config["n_train"]) * len(config["seeds"])
                * len(config["architectures"]) * len(config["model_seeds"]))
    assert counts["train"] == n_models
    # its time against the 30 s target is measured by bench/dry_run.py, not asserted here


def check_shrunk(name, proc, wall, how):
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    counts = job_counts(proc)
    print(f"\n{name} shrunk ({how}): {counts.get('total')} jobs, {wall:.1f} s; {counts}")
    config = yaml.safe_load((REPO / name).read_text())
    assert counts["train"] == len(config["grammars"]) * len(config["architectures"])
    assert counts["simulate_train"] == len(config["grammars"])


@pytest.mark.parametrize("name", CONFIGS)
def test_shrunk_grid_dry_runs(name, tmp_path):
    shrink = tmp_path / "shrink.yaml"
    shrink.write_text(yaml.safe_dump(SHRINK))
    proc, wall, _ = dry_run(tmp_path, [REPO / name, shrink])
    check_shrunk(name, proc, wall, f"--configfile {name} shrink.yaml")


@pytest.mark.parametrize("name", CONFIGS)
def test_shrunk_by_config_pairs(name, tmp_path):
    proc, wall, _ = dry_run(tmp_path, REPO / name, *SHRINK_ARGS)
    check_shrunk(name, proc, wall, " ".join(SHRINK_ARGS))


# ---- the seqgra-paper grammars of config/grammars/seqgra-paper/

SEQGRA_PAPER = REPO / "config/grammars/seqgra-paper"
MC50 = ["jaspar-mc50", "jaspar-interaction-mc50", "jaspar-interaction-spacing-mc50",
        "jaspar-interaction-order-mc50"]


def test_grammar_files_are_what_the_generator_writes(tmp_path):
    generator = [sys.executable, str(SEQGRA_PAPER / "generate.py")]
    check = subprocess.run(generator + ["--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # and --check does fail on a file that differs
    for path in SEQGRA_PAPER.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "jaspar-mc50.yaml").write_text("name: edited\n")
    stale = subprocess.run(generator + ["--check", "--out", str(tmp_path)], capture_output=True,
                           text=True)
    assert stale.returncode == 1 and "jaspar-mc50.yaml" in stale.stderr
    listed = yaml.safe_load((REPO / "config/seqgra-paper.yaml").read_text())["grammars"]
    for name in MC50:
        assert listed[name] == f"config/grammars/seqgra-paper/{name}.yaml"


def test_50_class_grammars_use_50_dissimilar_jaspar_motifs():
    from grammarbench.grammars import motifs
    from grammarbench.grammars.diagnostics import similarity_table
    from grammarbench.grammars.grammar import load_grammar

    grammars = {name: load_grammar(SEQGRA_PAPER / f"{name}.yaml") for name in MC50}
    for name, grammar in grammars.items():
        assert len(grammar.classes) == 50, name
    one_motif = grammars["jaspar-mc50"]
    assert len(one_motif.elements) == 50
    assert all("MA" in element.source for element in one_motif.elements.values())
    similarity = similarity_table(one_motif).to_numpy(copy=True)
    np.fill_diagonal(similarity, 0.0)
    assert similarity.max() < 0.65
    for element in one_motif.elements.values():
        ppm = element.probability_matrix(4)
        assert 10 <= len(ppm) <= 21 and motifs.information_content(ppm).sum() >= 12.0
    # order: class 2k-1 and 2k hold the same pair, in opposite orders
    order = grammars["jaspar-interaction-order-mc50"].classes
    first, second = order["c1"].rules[0].spacing[0], order["c2"].rules[0].spacing[0]
    assert (first.first, first.second) == (second.second, second.first)


def test_dissimilar_subset_is_seeded_and_respects_the_threshold():
    from grammarbench.grammars.motifs import dissimilar_subset, ppm_similarity

    rng = np.random.default_rng(0)
    ppms = {f"m{i}": rng.dirichlet(np.full(4, 0.3), size=12) for i in range(40)}
    chosen = dissimilar_subset(ppms, 5, 0.6, seed=1)
    assert chosen == dissimilar_subset(ppms, 5, 0.6, seed=1)
    assert chosen != dissimilar_subset(ppms, 5, 0.6, seed=2)
    assert all(ppm_similarity(ppms[a], ppms[b], reverse_complement=True) < 0.6
               for i, a in enumerate(chosen) for b in chosen[i + 1:])
    with pytest.raises(ValueError, match="only .* of 40 motifs"):
        dissimilar_subset(ppms, 40, 0.3, seed=1)


# One grid point of each shrunk config: (config, results folder, model point, extra --config).
# The attribution benchmark's 25 runs (IG with 50 shuffled references among them) on Basset
# take about 30 s per explained example on 2 CPU cores, hence 2 examples.
ONE_MODEL = {
    "config/seqgra-paper.yaml": (
        "results/seqgra-paper", "jaspar-interaction-spacing-mc50/seed1/n200/conv10-gmp-fc10/mseed1", []),
    "config/attribution-benchmark.yaml": (
        "results/attribution-benchmark", "one-motif/seed1/n200/basset/mseed1",
        ["attribution={n_examples: 2}"]),
    "config/realistic-demo.yaml": (
        "results/realistic-demo", "oct4-vs-mafk/seed1/n200/conv10-gmp-fc10/mseed1",
        ["attribution={n_examples: 8}"]),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_one_model_of_each_shrunk_grid_runs_every_stage(name, tmp_path):
    """Simulate, train, evaluate, attribute and score one model of the shrunk published grid
    (for seqgra-paper, of a 50-class JASPAR grammar): the same rules and files a full run
    uses, with every attribution run the config names."""
    import pandas as pd

    results, point, extra = ONE_MODEL[name]
    targets = [f"{results}/recovery/{point}.tsv", f"{results}/evaluation/{point}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SNAKEMAKE_"))}
    cmd = [sys.executable, "-m", "snakemake", *targets, "--cores", "2", "--snakefile",
           str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile",
           str(REPO / name), "--config", *SHRINK_ARGS, *extra]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    config = yaml.safe_load((REPO / name).read_text())
    methods = config["attribution"]["methods"]
    names = {m if isinstance(m, str) else m.get("name", m["method"]) for m in
             (methods if isinstance(methods, list) else list(methods))}
    assert (tmp_path / targets[1] / "test.metrics.tsv").is_file()
    recovery = pd.read_csv(tmp_path / targets[0], sep="\t")
    assert names <= set(recovery["run"].str.replace(r"-(zeros|mean_composition)$", "", regex=True))
    if name == "config/seqgra-paper.yaml":
        instances = pd.read_csv(tmp_path / f"{results}/datasets/{point.split('/')[0]}/seed1"
                                "/heldout/test/instances.tsv", sep="\t")
        assert instances["element"].nunique() == 25  # 25 JASPAR motifs, two per example
