"""SLURM submissions and requested GPU-hours of a grid under profiles/slurm, before and after packing.

    .venv/bin/python bench/slurm_submissions.py [--configfile config/seqgra-paper.yaml]
        [--profile profiles/slurm] [--figure bench/figures/slurm_submissions.png]

Plans the grid with Snakemake's own dry run under the profile (in an empty working
directory, so every job is counted) and takes its DAG: the jobs, their resources at attempt 1
and the group jobs Snakemake forms from the profile's `groups` and `group-components`.

* before: one sbatch per job (what `--groups none=none` gives);
* after: one sbatch per group job (plus any job of a rule in no group).

Requested GPU-hours = sum over submissions of gpu x runtime. A group job's resources are
computed as the main Snakemake process computes them for the SLURM executor
(GroupJob.resources: GroupResources.basic_layered with run_local=False); a dry run by itself
would compute them as for a local run. Issue 16's target: <= 1,000 submissions for
config/seqgra-paper.yaml, each short enough for a day-long partition limit.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SUBMISSIONS = 1000


def plan(configfile: str, profile: str, extra: list[str]):
    """The DAG of a dry run of the workflow under `profile`, and the workflow's constraints."""
    import snakemake.cli
    import snakemake.dag

    captured = {}
    original = snakemake.dag.DAG.update_groups

    def update_groups(self):
        original(self)
        # Called again as jobs finish: keep the plan, with every job still to run.
        jobs = [job for job in self.needrun_jobs() if not runs_locally(job)]
        if len(jobs) >= len(captured.get("jobs", ())):
            captured.update(dag=self, jobs=jobs,
                            groups=list({id(g): g for g in self._group.values()}.values()))

    snakemake.dag.DAG.update_groups = update_groups
    with tempfile.TemporaryDirectory() as workdir:
        argv = ["--snakefile", str(REPO / "Snakefile"), "--configfile", configfile,
                "--profile", profile, "--workflow-profile", "none", "--directory", workdir,
                "--dry-run", *extra, "--quiet"]
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                snakemake.cli.main(argv)
        except SystemExit as end:
            if end.code:
                sys.exit(log.getvalue()[-4000:])
        finally:
            snakemake.dag.DAG.update_groups = original
    if "dag" not in captured:
        sys.exit("the dry run built no DAG:\n" + log.getvalue()[-4000:])
    return captured


def runs_locally(job) -> bool:
    """Whether the SLURM executor would run the job in the main process (Workflow.is_local
    without its `local_exec` term, which is true in any dry run)."""
    rule = job.rule
    return rule.group is None and (
        rule.name in job.dag.workflow._localrules or rule.norun or rule.is_template_engine)


def group_resources(group, constraints) -> dict:
    """A group job's resources as the main process submits them to SLURM (jobs.py, GroupJob)."""
    from snakemake.resources import GroupResources

    return GroupResources.basic_layered(
        toposorted_jobs=group.toposorted,
        constraints=constraints,
        run_local=False,
        additive_resources=["runtime"],
        sortby=["runtime"],
    )


def gpu_hours(resources) -> float:
    return resources.get("gpu", 0) * resources.get("runtime", 0) / 60


def summarise(planned: dict) -> dict:
    """Submissions, GPU-hours and the longest submission, before and after packing."""
    jobs, groups, dag = planned["jobs"], planned["groups"], planned["dag"]
    before = Counter(job.rule.name for job in jobs)
    before_gpu_h = sum(gpu_hours(job.resources) for job in jobs)
    before_longest = max(job.resources.get("runtime", 0) for job in jobs)

    constraints = dag.workflow.global_resources
    after = Counter()
    after_gpu_h = 0.0
    longest = defaultdict(int)
    members = defaultdict(list)
    for group in groups:
        res = group_resources(group, constraints)
        after[group.groupid] += 1
        after_gpu_h += gpu_hours(res)
        longest[group.groupid] = max(longest[group.groupid], res.get("runtime", 0))
        members[group.groupid].append(len(group.jobs))
    grouped = {job for g in groups for job in g.jobs}
    for job in jobs:
        if job not in grouped:
            after[f"(no group) {job.rule.name}"] += 1
            after_gpu_h += gpu_hours(job.resources)
            longest[f"(no group) {job.rule.name}"] = max(
                longest[f"(no group) {job.rule.name}"], job.resources.get("runtime", 0))
    return {
        "jobs": len(jobs),
        "before": before,
        "before_gpu_h": before_gpu_h,
        "before_longest_min": before_longest,
        "after": after,
        "after_gpu_h": after_gpu_h,
        "after_longest_min": dict(longest),
        "members": {k: (min(v), max(v)) for k, v in members.items()},
    }


def draw(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    names = sorted(set(summary["before"]) | set(summary["after"]))
    colour = {name: f"C{i % 10}" for i, name in enumerate(names)}
    for x, key in enumerate(("before", "after")):
        bottom = 0
        for name, n in sorted(summary[key].items(), key=lambda kv: -kv[1]):
            ax1.bar(x, n, bottom=bottom, color=colour[name], edgecolor="white")
            if n >= 0.04 * sum(summary["before"].values()):
                ax1.text(x, bottom + n / 2, f"{name} {n:,}", ha="center", va="center", fontsize=8)
            bottom += n
        ax1.text(x, bottom, f"{bottom:,}", ha="center", va="bottom", fontweight="bold")
    ax1.axhline(TARGET_SUBMISSIONS, color="k", ls="--", lw=1)
    ax1.text(1.45, TARGET_SUBMISSIONS, "target 1,000", va="bottom", ha="right", fontsize=8)
    ax1.set_xticks([0, 1], ["one sbatch per job", "packed (groups)"])
    ax1.set_ylabel("sbatch submissions")
    ax2.bar([0, 1], [summary["before_gpu_h"], summary["after_gpu_h"]], color=["C7", "C2"])
    for x, v in enumerate((summary["before_gpu_h"], summary["after_gpu_h"])):
        ax2.text(x, v, f"{v:,.0f}", ha="center", va="bottom")
    ax2.set_xticks([0, 1], ["per job", "packed"])
    ax2.set_ylabel("requested GPU-hours (attempt 1)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/seqgra-paper.yaml")
    parser.add_argument("--profile", default=str(REPO / "profiles" / "slurm"))
    parser.add_argument("--figure", type=Path, default=None,
                        help="also draw the numbers into this PNG")
    parser.add_argument("extra", nargs="*", help="more snakemake arguments, after --")
    args = parser.parse_args()
    summary = summarise(plan(args.configfile, args.profile, args.extra))
    n_before, n_after = sum(summary["before"].values()), sum(summary["after"].values())
    print(f"{args.configfile} under {args.profile}: {summary['jobs']:,} jobs on SLURM")
    print(f"  before: {n_before:,} submissions, {summary['before_gpu_h']:,.0f} GPU-hours requested,"
          f" longest {summary['before_longest_min']} min")
    print(f"  after:  {n_after:,} submissions, {summary['after_gpu_h']:,.0f} GPU-hours requested"
          f" (target <= {TARGET_SUBMISSIONS:,} submissions)")
    for name, n in sorted(summary["after"].items()):
        jobs = summary["members"].get(name)
        span = f", {jobs[0]}-{jobs[1]} jobs each" if jobs else ""
        print(f"    {name:<28} {n:>6,} submissions{span}, longest"
              f" {summary['after_longest_min'][name] / 60:.1f} h")
    if args.figure:
        draw(summary, args.figure, f"{args.configfile} under profiles/slurm")
        print(f"  figure: {args.figure}")


if __name__ == "__main__":
    main()
