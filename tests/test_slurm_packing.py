"""Packed submissions: profiles/slurm's `groups` and `group-components` on a real SLURM.

profiles/slurm packs many jobs into one sbatch submission (Snakemake group jobs): simulate
jobs in `simulate` groups, train + attribute of a model in `gpu` groups (one GPU per
submission, shared by its models one after another), evaluate / oracle in `cpu` groups,
tables and figures in one `report` group. The SLURM plugin runs a submission's jobs one after
another, so a submission asks for the largest CPUs, memory and GPUs of its jobs and the sum of
their runtimes; the profile's `job_slots` resource makes Snakemake compute exactly that.

Tests marked `slurm` use the single-node test cluster of tests/slurm/start.sh (see
tests/test_slurm.py, whose fixtures and helpers these reuse); the others need no SLURM.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

try:  # tests/ as rootdir-less modules (today) or as a package
    import test_slurm as base
except ImportError:  # pragma: no cover
    from tests import test_slurm as base

slurm_cluster = base.slurm_cluster  # the session fixture, shared with tests/test_slurm.py

REPO = base.REPO
PROFILE = base.PROFILE
TINY_CONFIG = base.TINY_CONFIG

# Smaller packs than the profile's, so that the tiny grid fills more than one submission of
# each kind and the count of sbatch calls tests the chunking.
TINY_COMPONENTS = {"simulate": 3, "gpu": 3, "cpu": 4, "report": 100}

# group -> the rules whose jobs start a connected component of it. The others join one:
# plot_grammar_heatmap its simulate_train job, attribute its model's train job, and the
# tables and figures (one group job at any size) each other.
COMPONENT_RULES = {
    "simulate": ("grammar_elements", "simulate_heldout", "simulate_train"),
    "gpu": ("train",),
    "gkmsvm": ("train_gkmsvm",),
    "cpu": ("evaluate", "oracle"),
}

SBATCH = re.compile(r"has been submitted with SLURM jobid (\d+)")
GROUP_SUBMITTED = re.compile(
    r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: \S+/group_([a-z]+)_\S+\)"
)


def load_profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def override(directory: Path, **settings) -> Path:
    """A workflow profile with the test overrides of tests/test_slurm.py and `settings`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump({**base.TEST_OVERRIDES, **settings}))
    return directory


def group_submissions(log: str) -> list[dict[str, str]]:
    """Every sbatch of a group job that Snakemake logged: its SLURM id and group."""
    return [{"job": j, "slurm": s, "group": g} for j, s, g in GROUP_SUBMITTED.findall(log)]


def job_stats(log: str) -> Counter:
    """Snakemake's 'Job stats' table: rule -> number of jobs."""
    table = log.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return Counter({rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)
                    if rule != "total"})


def expected_submissions(stats: Counter, components: dict[str, int]) -> Counter:
    """Group -> sbatch calls: its connected components in packs of `components[group]`."""
    expected = Counter()
    for group, rules in COMPONENT_RULES.items():
        n = sum(stats[rule] for rule in rules)
        if n:
            expected[group] = math.ceil(n / components[group])
    report_rules = [r for r, g in load_profile()["groups"].items() if g == "report"]
    if any(stats[r] for r in report_rules):
        expected["report"] = 1
    return expected


# ---------------------------------------------------------------------------- no SLURM


def test_profile_packs_the_rules_the_issue_names():
    profile = load_profile()
    groups = profile["groups"]
    for rule in ("simulate_train", "simulate_heldout"):
        assert groups[rule] == "simulate"
    assert groups["train"] == groups["attribute"] == "gpu"
    # gapped k-mer SVMs pack apart: a submission of theirs asks for no GPU
    assert groups["train_gkmsvm"] == groups["attribute_gkmsvm"] == "gkmsvm"
    for rule in ("evaluate", "oracle"):
        assert groups[rule] == "cpu"
    assert "score" not in groups  # the attribute job scores its maps
    assert set(profile["group-components"]) == set(groups.values())
    # one job at a time per submission, as the plugin runs them
    assert profile["resources"] == {"job_slots": 1}
    assert profile["set-resource-scopes"] == {"job_slots": "local"}
    assert profile["default-resources"]["job_slots"] == 1


@pytest.mark.slow
def test_packed_group_resources_are_computed_from_their_jobs():
    """The dry-run plan of bench/slurm_submissions.py: what each submission asks for."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import slurm_submissions as bench
    finally:
        sys.path.pop(0)
    planned = bench.plan(str(TINY_CONFIG), str(PROFILE), [])
    summary = bench.summarise(planned)
    assert sum(summary["before"].values()) == len(planned["jobs"])
    expected = expected_submissions(Counter(summary["before"]), load_profile()["group-components"])
    assert summary["after"] == expected
    constraints = planned["dag"].workflow.global_resources
    for group in planned["groups"]:
        got = bench.group_resources(group, constraints)
        resources = [job.resources for job in group.jobs]
        # one after another: the sum of the runtimes, the largest of the rest
        assert got["runtime"] == sum(r["runtime"] for r in resources), group
        assert got["mem_mb"] == max(r["mem_mb"] for r in resources), group
        assert got["_cores"] == max(r["_cores"] for r in resources), group
        assert got.get("gpu", 0) == max(r.get("gpu", 0) for r in resources), group
        if group.groupid == "gpu":
            assert got["gpu"] == 1
    # the same GPU time either way: packing shares GPUs in time, it does not add any
    assert summary["after_gpu_h"] == pytest.approx(summary["before_gpu_h"])


@pytest.mark.slow
def test_gapped_kmer_svm_submissions_ask_for_no_gpu():
    """A grid of a network and a gkm-SVM: the SVM's train and attribute jobs are packed in
    submissions of their own, which ask for CPUs and no GPU."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import slurm_submissions as bench
    finally:
        sys.path.pop(0)
    planned = bench.plan(str(base.MIXED_CONFIG), str(PROFILE), [])
    constraints = planned["dag"].workflow.global_resources
    rules = {group.groupid: {job.rule.name for job in group.jobs} for group in planned["groups"]}
    assert rules["gkmsvm"] == {"train_gkmsvm", "attribute_gkmsvm"}
    assert rules["gpu"] == {"train", "attribute"}
    for group in planned["groups"]:
        got = bench.group_resources(group, constraints)
        assert got.get("gpu", 0) == (1 if group.groupid == "gpu" else 0), group


@pytest.mark.slow
def test_snakemake_finds_the_slurm_profile_by_name(tmp_path):
    """`--profile slurm` from the repository root after setup.sh's profiles/install.sh."""
    env = {**base._clean_env(), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    install = subprocess.run(
        ["bash", str(REPO / "profiles" / "install.sh"), sys.executable],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert install.returncode == 0, install.stderr
    link = tmp_path / "config" / "snakemake" / "slurm"
    assert link.resolve() == PROFILE.resolve()
    # run again: still the one link, no complaint
    again = subprocess.run(["bash", str(REPO / "profiles" / "install.sh"), sys.executable],
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and not again.stderr, again.stderr

    proc = subprocess.run(
        [*base.SNAKEMAKE, "--profile", "slurm", "--configfile", TINY_CONFIG,
         "--directory", tmp_path / "work", "-n"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, base.explain(proc)
    assert re.search(r"Using profiles? slurm\b", proc.stderr), proc.stderr
    assert re.search(r"Group job gpu", proc.stdout + proc.stderr), "the profile did not pack"

    # a profile of the user's own by that name is left alone
    link.unlink()
    link.mkdir()
    kept = subprocess.run(["bash", str(REPO / "profiles" / "install.sh"), sys.executable],
                          env=env, capture_output=True, text=True, timeout=120)
    assert kept.returncode == 0 and "left alone" in kept.stderr
    assert link.is_dir() and not link.is_symlink()


# ---------------------------------------------------------------------------- on SLURM


@pytest.fixture(scope="module")
def packed_tiny(slurm_cluster, request, tmp_path_factory):  # noqa: F811
    """The tiny grid once packed through profiles/slurm; the local run to compare with is the
    session's (tests/conftest.py: with the profile's threads per rule), asked for only after
    this run, since another worker runs it meanwhile."""
    base_dir = tmp_path_factory.mktemp("packed")
    on_slurm = base_dir / "slurm"
    on_slurm.mkdir()
    proc = base.run_snakemake(
        ["--profile", PROFILE, "--workflow-profile",
         override(base_dir / "override", **{"group-components": TINY_COMPONENTS}),
         "--snakefile", REPO / "Snakefile", "--configfile", TINY_CONFIG],
        cwd=on_slurm, timeout=2400,
    )
    assert proc.returncode == 0, base.explain(proc)
    return {"slurm": on_slurm, "local": request.getfixturevalue("tiny_grid").workdir, "log": proc.stderr}


@pytest.mark.slow
@pytest.mark.slurm
def test_packed_tiny_grid_one_sbatch_per_group(packed_tiny, slurm_cluster):  # noqa: F811
    log = packed_tiny["log"]
    groups = group_submissions(log)
    # every sbatch was of a group job (none of a single job), as many per group as its packs
    assert not base.submissions(log)
    assert len(SBATCH.findall(log)) == len(groups)
    expected = expected_submissions(job_stats(log), TINY_COMPONENTS)
    assert Counter(g["group"] for g in groups) == expected
    assert sum(expected.values()) < sum(job_stats(log).values())  # fewer than the jobs

    ended = slurm_cluster.ended()
    allocated = slurm_cluster.allocated()
    profile = load_profile()
    per_model = sum(
        eval(str(profile["set-resources"][rule]["runtime"]), {"attempt": 1})
        for rule in ("train", "attribute")
    )
    gpu_minutes = 0
    for g in groups:
        job = ended[g["slurm"]]
        assert job["JobState"] == "COMPLETED", job
        if g["group"] == "gpu":
            # one GPU for the submission, its models one after another
            assert allocated[g["slurm"]]["gpus"] == "0", allocated.get(g["slurm"])
            shown = slurm_cluster.show_job(g["slurm"])
            if shown:  # scontrol keeps finished jobs for MinJobAge (300 s)
                assert "TresPerJob=gres:gpu:1" in shown and "JOB_GRES=gpu:1" in shown, shown
            assert int(job["TimeLimit"]) % per_model == 0, job
            gpu_minutes += int(job["TimeLimit"])
        else:
            assert allocated[g["slurm"]]["gpus"] == "", allocated.get(g["slurm"])
    # the packs' time limits add up to the models' own
    assert gpu_minutes == job_stats(log)["train"] * per_model


@pytest.mark.slow
@pytest.mark.slurm
def test_packed_tiny_grid_outputs_equal_a_local_run(packed_tiny):
    differ = base.differing_outputs(packed_tiny["slurm"], packed_tiny["local"])
    assert not differ, f"outputs differ between the packed SLURM and the local run: {differ}"


HOG_GROUP_SNAKEFILE = """
import json, os, time

# Three jobs in one group, one submission: two light ones and hog.py (about 2.7 GB). The
# profile's default mem_mb is 2000 * attempt, so SLURM kills attempt 1 of the submission for
# exceeding its memory; attempt 2 asks for 4000 MB and completes.
rule all:
    input: "hog.txt", expand("light/{i}.json", i=[1, 2])

rule hog:
    output: "hog.txt"
    shell: "python3 hog.py && echo {resources.mem_mb} {resources.runtime} > {output}"

rule light:
    output: "light/{i}.json"
    run:
        with open(output[0], "w") as f:
            json.dump({"job": os.environ.get("SLURM_JOB_ID")}, f)
"""


@pytest.mark.slow
@pytest.mark.slurm
def test_job_killed_for_memory_inside_a_group_is_retried(slurm_cluster, tmp_path):  # noqa: F811
    work = base.workflow_folder(tmp_path / "hog", HOG_GROUP_SNAKEFILE)
    (work / "hog.py").write_text(base.HOG_SCRIPT)
    settings = override(tmp_path / "hog-override",
                        groups={"hog": "cpu", "light": "cpu"})

    proc = base.run_snakemake(["--profile", PROFILE, "--workflow-profile", settings],
                              cwd=work, timeout=600)
    assert proc.returncode == 0, base.explain(proc)

    groups = group_submissions(proc.stderr)
    assert [g["group"] for g in groups] == ["cpu", "cpu"], proc.stderr[-4000:]
    assert len(SBATCH.findall(proc.stderr)) == 2 and not base.submissions(proc.stderr)
    first, second = (g["slurm"] for g in groups)
    ended = slurm_cluster.ended()
    assert ended[first]["JobState"] in {"FAILED", "OUT_OF_MEMORY"}
    assert ended[second]["JobState"] == "COMPLETED"
    # the submission asked for its largest job's memory and its jobs' summed runtime,
    # then twice both (the profile's default 2000 MB and 30 min, times attempt)
    assert "mem=2000M" in ended[first]["Tres"] and ended[first]["TimeLimit"] == "90"
    assert "mem=4000M" in ended[second]["Tres"] and ended[second]["TimeLimit"] == "180"
    slurm_log = next((work / ".snakemake" / "slurm_logs").rglob(f"{first}.log"))
    assert "exceeded memory limit" in slurm_log.read_text()
    assert (work / "hog.txt").read_text().split() == ["4000", "60"]
    for i in (1, 2):
        assert json.loads((work / f"light/{i}.json").read_text())["job"] == second
