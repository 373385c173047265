"""The workflow on a real SLURM cluster, through `--profile profiles/slurm`.

The tests marked `slurm` need the single-node test cluster of tests/slurm/start.sh (munged,
slurmctld and slurmd on this machine, one fake GPU). The session fixture uses a running one,
or starts one itself when it can (root and apt-get; GRAMMARBENCH_SLURM_AUTOSTART=0 stops it
from trying) and stops what it started. Where no cluster can be had they are skipped with the
reason, except under GRAMMARBENCH_REQUIRE_SLURM=1 (CI), where that is an error.

What they prove, each against real sbatch/squeue/slurmd:
- GPU rules get a GPU: the profile's `gpu: 1` becomes a GPU request that SLURM schedules (two
  GPU jobs on a one-GPU node never overlap) and the job sees CUDA_VISIBLE_DEVICES; CPUs and
  memory come from the profile, and the partition lines a user edits in it take effect.
- A job that SLURM kills for exceeding its memory is resubmitted with the profile's larger
  `attempt`-scaled request, and the run completes.
- Ctrl-C on the controller cancels its SLURM jobs; after the controller and its job die
  outright, `--unlock` and running again redo the half-done job (the profile's
  rerun-incomplete).
- The tiny grid itself runs packed, as the profile submits it: tests/test_slurm_packing.py
  (every job through a group sbatch, outputs equal to the local run's, GPU packs got a GPU).

The unmarked tests check the profiles against the workflow with dry runs; they need no SLURM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
START = REPO / "tests" / "slurm" / "start.sh"
STOP = REPO / "tests" / "slurm" / "stop.sh"
TINY_CONFIG = REPO / "tests" / "configs" / "tiny" / "config.yaml"
# A network and a gapped k-mer SVM in one grid.
MIXED_CONFIG = REPO / "tests" / "configs" / "mixed" / "config.yaml"
# `python -m snakemake` with the executor's status polling capped at a few seconds (the plugin
# backs off up to 180 s between checks; see the module's docstring).
SNAKEMAKE = [sys.executable, str(REPO / "tests" / "slurm" / "snakemake_polling.py")]
CLUSTER_NAME = "grammarbench"  # tests/slurm/slurm.conf.template

# The test's only departure from profiles/slurm: poll job states every few seconds instead of
# after 40 s, and keep SLURM's logs of successful jobs for the assertions.
TEST_OVERRIDES = {
    "slurm-init-seconds-before-status-checks": 2,
    "slurm-keep-successful-logs": True,
}
# These tests check one sbatch per job; the profile's packing (its `groups`) is switched off
# the way profiles/README.md tells a user (no rule is named `none`). Packed runs:
# tests/test_slurm_packing.py.
UNPACKED = {"groups": {"none": "none"}}

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


# ---------------------------------------------------------------------------- the cluster


def _scontrol_config() -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or "scontrol show config failed")
    config = {}
    for line in out.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            config[key.strip()] = value.strip()
    return config


def _cluster_problem() -> str | None:
    """Why the test cluster is not usable, or None when it is."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM is not installed (no sinfo/sbatch on PATH)"
    try:
        config = _scontrol_config()
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        return f"slurmctld does not answer ({err})"
    if config.get("ClusterName") != CLUSTER_NAME:
        return (
            f"the SLURM that answers is cluster {config.get('ClusterName')!r}, "
            f"not the test cluster {CLUSTER_NAME!r} of tests/slurm/start.sh"
        )
    states = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    if not states or not all(
        s.rstrip("*") in {"idle", "mixed", "allocated", "completing"} for s in states
    ):
        return f"the test node is not up (state: {' '.join(states) or 'none'})"
    return None


def _why_not_startable() -> str | None:
    if os.environ.get("GRAMMARBENCH_SLURM_AUTOSTART", "1") == "0":
        return "GRAMMARBENCH_SLURM_AUTOSTART=0"
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and there is no apt-get to install it"
    return None


def _records(path: Path, key: str) -> dict[str, dict[str, str]]:
    """A log of ``name=value`` lines as {the value of `key`: the line's fields}."""
    if not path.exists():
        return {}
    records = {}
    for line in path.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if key in fields:
            records[fields[key]] = fields
    return records


class Cluster:
    """The running test cluster: where it logs what each job got and how it ended."""

    def __init__(self) -> None:
        config = _scontrol_config()
        self.jobcomp = Path(config["JobCompLoc"])
        self.allocations = self.jobcomp.parent / "allocations.log"

    def ended(self) -> dict[str, dict[str, str]]:
        """SLURM job id -> every field SLURM logged when the job ended (JobState, TimeLimit,
        Tres, ...), for every job that has finished."""
        return _records(self.jobcomp, "JobId")

    def final_states(self) -> dict[str, str]:
        """SLURM job id -> final JobState, for every job that has finished."""
        return {job: fields.get("JobState", "") for job, fields in self.ended().items()}

    def allocated(self) -> dict[str, dict[str, str]]:
        """SLURM job id -> {partition, gpus, cuda}, as the Prolog saw the allocation."""
        return {job: {k: v for k, v in fields.items() if k != "job"}
                for job, fields in _records(self.allocations, "job").items()}

    @staticmethod
    def show_job(jobid: str) -> str:
        """`scontrol show job -d` (answers for MinJobAge = 300 s after the job ended)."""
        return subprocess.run(
            ["scontrol", "show", "job", "-d", jobid],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout


@pytest.fixture(scope="session")
def slurm_cluster():
    problem = _cluster_problem()
    started = False
    if problem is not None and _why_not_startable() is None:
        run = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900)
        if run.returncode == 0:
            started = True
            problem = _cluster_problem()
        else:
            problem = f"{problem}; tests/slurm/start.sh failed: {run.stderr.strip()[-2000:]}"
    elif problem is not None:
        problem = f"{problem}; cannot start one here: {_why_not_startable()}"
    if problem is not None:
        message = (
            f"no SLURM test cluster: {problem}. "
            "Start one with `sudo bash tests/slurm/start.sh` (root and apt-get needed)."
        )
        if os.environ.get("GRAMMARBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"GRAMMARBENCH_REQUIRE_SLURM=1 but {message}", pytrace=False)
        pytest.skip(message)
    yield Cluster()
    if started:
        subprocess.run(["bash", str(STOP)], capture_output=True, timeout=120)


# ---------------------------------------------------------------------------- helpers


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _override_profile(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump({**TEST_OVERRIDES, **UNPACKED}))
    return directory


def workflow_folder(folder: Path, snakefile: str) -> Path:
    """A new folder holding a Snakefile of the given text."""
    folder.mkdir()
    (folder / "Snakefile").write_text(textwrap.dedent(snakefile))
    return folder


def run_snakemake(args, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*SNAKEMAKE, *map(str, args)],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    (cwd / "snakemake.stderr.txt").write_text(proc.stderr)
    return proc


def run_on_slurm(
    cwd: Path, *extra, profile: Path = PROFILE, timeout: int = 300
) -> subprocess.CompletedProcess:
    """`snakemake --profile <profile>` with the test overrides as the workflow profile."""
    return run_snakemake(
        [
            "--profile",
            profile,
            "--workflow-profile",
            _override_profile(cwd.parent / f"{cwd.name}-override"),
            *extra,
        ],
        cwd=cwd,
        timeout=timeout,
    )


def submissions(log: str) -> list[dict[str, str]]:
    """Every sbatch submission Snakemake logged: snakemake job id, SLURM job id, rule."""
    subs = []
    for jobid, slurm_id, logfile in SUBMITTED.findall(log):
        rule = re.search(r"/rule_([^/]+)/", logfile)
        subs.append({"job": jobid, "slurm": slurm_id, "rule": rule.group(1) if rule else ""})
    return subs


def remote_jobs(log: str) -> list[str]:
    """Rule names of the jobs Snakemake scheduled for the executor (not `localrule`)."""
    return re.findall(r"^rule (\w+):$", log, flags=re.MULTILINE)


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"snakemake exited {proc.returncode}; stderr tail:\n{proc.stderr[-6000:]}"


def edited_profile(tmp_path: Path, cpu_partition: str, gpu_partition: str) -> Path:
    """profiles/slurm with the partition lines edited as profiles/README.md tells a user."""
    text = (PROFILE / "config.yaml").read_text()
    edits = [
        ("slurm_partition: \"''\"", f'slurm_partition: "{cpu_partition}"', 1),
        ('# slurm_partition: "gpu"', f'slurm_partition: "{gpu_partition}"', 2),
    ]
    for old, new, count in edits:
        assert text.count(old) == count, f"profiles/slurm/config.yaml: expected {count}x {old!r}"
        text = text.replace(old, new)
    directory = tmp_path / "edited-profile"
    directory.mkdir()
    (directory / "config.yaml").write_text(text)
    return directory


# ---------------------------------------------------------------------------- GPU scheduling

PROBE_SNAKEFILE = """
import json, os, subprocess, time

# Rule names match profiles/slurm, so its per-rule settings apply: `train` asks for a GPU.
rule all:
    input:
        expand("probe/train/{i}.json", i=[1, 2]),
        "probe/simulate_train/1.json",

def probe(path):
    record = {k: os.environ.get(k) for k in (
        "SLURM_JOB_ID", "SLURM_JOB_PARTITION", "CUDA_VISIBLE_DEVICES", "SLURM_CPUS_PER_TASK")}
    record["start"] = time.time()
    time.sleep(4)
    record["end"] = time.time()
    record["scontrol"] = subprocess.run(
        ["scontrol", "show", "job", "-d", os.environ["SLURM_JOB_ID"]],
        capture_output=True, text=True).stdout
    with open(path, "w") as f:
        json.dump(record, f)

rule train:
    output: "probe/train/{i}.json"
    run: probe(output[0])

rule simulate_train:
    output: "probe/simulate_train/{i}.json"
    run: probe(output[0])
"""


@pytest.mark.slow
@pytest.mark.slurm
def test_gpu_rule_is_scheduled_on_the_gpu_partition_with_a_gpu(slurm_cluster, tmp_path):
    work = workflow_folder(tmp_path / "probe", PROBE_SNAKEFILE)
    profile = edited_profile(tmp_path, cpu_partition="cpu", gpu_partition="gpu")

    proc = run_on_slurm(work, profile=profile, timeout=240)
    assert proc.returncode == 0, explain(proc)

    subs = submissions(proc.stderr)
    assert sorted(s["rule"] for s in subs) == ["simulate_train", "train", "train"]
    states = slurm_cluster.final_states()
    allocated = slurm_cluster.allocated()

    trains = [json.loads((work / f"probe/train/{i}.json").read_text()) for i in (1, 2)]
    for rec in trains:
        jobid = rec["SLURM_JOB_ID"]
        assert jobid in {s["slurm"] for s in subs}
        assert states[jobid] == "COMPLETED"
        # asked for: the profile's gpu: 1 -> --gpus=1; CPUs and memory from the profile
        assert "TresPerJob=gres:gpu:1" in rec["scontrol"], rec["scontrol"]
        assert "CPUs/Task=8" in rec["scontrol"]
        assert "mem=16000M" in rec["scontrol"]
        # (Inside the job Snakemake caps threads at the node's real cores, which the test
        # node, advertising 16 CPUs, may have fewer of.)
        assert rec["SLURM_CPUS_PER_TASK"] == str(min(8, os.cpu_count()))
        # got: SLURM allocated GPU 0 and exposed it to the job
        assert "JOB_GRES=gpu:1" in rec["scontrol"], rec["scontrol"]
        assert rec["SLURM_JOB_PARTITION"] == "gpu"
        assert rec["CUDA_VISIBLE_DEVICES"] == "0"
        assert allocated[jobid] == {"partition": "gpu", "gpus": "0", "cuda": "0"}
    # One GPU on the node: SLURM ran the two GPU jobs one after the other.
    first, second = sorted(trains, key=lambda r: r["start"])
    assert first["end"] <= second["start"], "two 1-GPU jobs overlapped on a 1-GPU node"

    cpu = json.loads((work / "probe/simulate_train/1.json").read_text())
    assert cpu["SLURM_JOB_PARTITION"] == "cpu"
    assert not cpu["CUDA_VISIBLE_DEVICES"]
    assert "TresPerJob=gres:gpu" not in cpu["scontrol"]
    assert allocated[cpu["SLURM_JOB_ID"]]["gpus"] == ""


# ---------------------------------------------------------------------------- failures

HOG_SNAKEFILE = """
# hog.py holds about 2.7 GB. The profile's default mem_mb is 2000 * attempt: SLURM kills
# attempt 1 for exceeding its memory, attempt 2 (4000 MB) completes.
rule all:
    input: "hog.txt"

rule hog:
    output: "hog.txt"
    shell: "python3 hog.py && echo {resources.mem_mb} > {output}"
"""

HOG_SCRIPT = """
import time
block = b"1" * (2600 * 2**20)  # written, so resident
time.sleep(3)  # SLURM samples memory every second
"""


@pytest.mark.slow
@pytest.mark.slurm
def test_job_killed_for_memory_is_retried_with_more(slurm_cluster, tmp_path):
    work = workflow_folder(tmp_path / "hog", HOG_SNAKEFILE)
    (work / "hog.py").write_text(HOG_SCRIPT)

    proc = run_on_slurm(work, timeout=240)
    assert proc.returncode == 0, explain(proc)
    assert (work / "hog.txt").read_text().strip() == "4000"

    subs = submissions(proc.stderr)
    assert [s["rule"] for s in subs] == ["hog", "hog"], proc.stderr[-4000:]
    states = slurm_cluster.final_states()
    first, second = subs[0]["slurm"], subs[1]["slurm"]
    assert states[first] in {"FAILED", "OUT_OF_MEMORY"}
    assert states[second] == "COMPLETED"
    # SLURM, not the job itself, ended attempt 1: its step outgrew --mem 2000.
    slurm_log = next((work / ".snakemake" / "slurm_logs").rglob(f"{first}.log"))
    assert "exceeded memory limit" in slurm_log.read_text()
    assert "mem=2000M" in slurm_cluster.show_job(first)


SLOW_RULES = """
rule all:
    input: "slow.txt"

rule slow:
    output: "slow.txt"
    shell: "echo started > {output}; sleep 10; echo finished >> {output}"
"""
# as in the workflow's Snakefile: an interrupted run cancels its jobs (rules/cluster.smk)
SLOW_SNAKEFILE = f'include: "{REPO / "rules" / "cluster.smk"}"\n' + SLOW_RULES


def _start_and_interrupt(work: Path, cmd: list[str], sig: int, name: str, **env) -> str:
    """Start the controller, send it `sig` once the job runs on the node; its stderr."""
    (work / "slow.txt").unlink(missing_ok=True)
    with open(work / f"{name}.stderr.txt", "w") as err:
        controller = subprocess.Popen(cmd, cwd=work, env={**_clean_env(), **env}, stderr=err)
        deadline = time.time() + 120
        while not (work / "slow.txt").exists():
            assert controller.poll() is None, (work / f"{name}.stderr.txt").read_text()
            assert time.time() < deadline, "the job never started"
            time.sleep(0.2)
        controller.send_signal(sig)
        controller.wait(timeout=120)
    assert controller.returncode != 0
    return (work / f"{name}.stderr.txt").read_text()


def _job_pids(jobid: str) -> set[int]:
    listed = subprocess.run(
        ["scontrol", "listpids", jobid], capture_output=True, text=True, timeout=30
    ).stdout.split("\n")[1:]
    return {int(line.split()[0]) for line in listed if line.split()}


def _signal(pids, sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _kill_all_at_once(jobid: str) -> None:
    """Kill every process of a SLURM job so that none sees another die (a node failure).

    Killing them one by one from a listing lets a survivor react: the job's Snakemake saw its
    shell die and cleaned up (output un-marked) on a loaded machine. So freeze them first,
    listing again until no new process appears (a frozen process cannot start one), then kill."""
    frozen: set[int] = set()
    while new := _job_pids(jobid) - frozen:
        _signal(new, signal.SIGSTOP)
        frozen |= new
    assert frozen, f"SLURM job {jobid} has no processes"
    _signal(frozen, signal.SIGKILL)


def _wait_for_end(cluster: Cluster, jobid: str, timeout: float = 60) -> str:
    """The job's final state, once SLURM has logged it and none of its processes is left.

    SLURM logs a cancelled job's state when it signals it; the job's own Snakemake still runs
    its clean-up (deleting the output, un-marking it incomplete) while the job is COMPLETING.
    Starting the next run before that ends lets the old clean-up undo the new run's markers."""
    deadline = time.time() + timeout
    while cluster.final_states().get(jobid) is None or _still_completing(jobid):
        assert time.time() < deadline, f"SLURM job {jobid} did not end"
        time.sleep(0.5)
    return cluster.final_states()[jobid]


def _still_completing(jobid: str) -> bool:
    listed = subprocess.run(["squeue", "-h", "-j", jobid, "-o", "%T"],
                            capture_output=True, text=True, timeout=30).stdout.split()
    return bool({"RUNNING", "COMPLETING"} & set(listed))


@pytest.mark.slow
@pytest.mark.slurm
def test_interrupted_controller_cancels_and_a_rerun_recovers(slurm_cluster, tmp_path):
    work = workflow_folder(tmp_path / "slow", SLOW_SNAKEFILE)
    override = _override_profile(tmp_path / "slow-override")
    cmd = [*SNAKEMAKE, "--profile", str(PROFILE), "--workflow-profile", str(override)]

    # Ctrl-C: Snakemake cancels its SLURM jobs on the way out.
    log = _start_and_interrupt(work, cmd, signal.SIGINT, "ctrl-c")
    (cancelled,) = [s["slurm"] for s in submissions(log)]
    assert _wait_for_end(slurm_cluster, cancelled) == "CANCELLED"

    # The controller dies outright (login session lost) and so does its job, all processes at
    # once, as in a node failure: half an output marked incomplete, and a stale lock. (A job
    # that is merely cancelled cleans up after itself, and one that finishes is complete.)
    log = _start_and_interrupt(work, cmd, signal.SIGKILL, "killed")
    (killed,) = [s["slurm"] for s in submissions(log)]
    _kill_all_at_once(killed)
    _wait_for_end(slurm_cluster, killed)
    assert (work / "slow.txt").read_text().split() == ["started"]

    # As Snakemake then says: remove the stale lock first.
    proc = run_snakemake([*cmd[len(SNAKEMAKE) :], "--unlock"], cwd=work, timeout=120)
    assert proc.returncode == 0, explain(proc)
    # Without rerun-incomplete Snakemake refuses to go on ...
    strict = tmp_path / "strict-override"
    strict.mkdir()
    (strict / "config.yaml").write_text(
        yaml.safe_dump({**TEST_OVERRIDES, **UNPACKED, "rerun-incomplete": False})
    )
    proc = run_snakemake(cmd[len(SNAKEMAKE) : -1] + [strict], cwd=work, timeout=120)
    assert proc.returncode != 0 and "incomplete" in proc.stderr.lower(), explain(proc)

    # ... with the profile as it is, running again redoes the job and completes.
    proc = run_snakemake(cmd[len(SNAKEMAKE) :], cwd=work, timeout=240)
    assert proc.returncode == 0, explain(proc)
    assert (work / "slow.txt").read_text().split() == ["started", "finished"]
    (rerun,) = [s["slurm"] for s in submissions(proc.stderr)]
    assert slurm_cluster.final_states()[rerun] == "COMPLETED"


# ---------------------------------------------------------------------------- the workflow


# Files whose bytes may differ between two correct runs: per-run markers, and formats that
# embed a creation date.
VOLATILE_NAMES = {".snakemake_timestamp",
                  # wall time and memory of every job: measurements, not results
                  "runtime.tsv", "runtime.png"}
VOLATILE_SUFFIXES = {".pdf", ".html"}
# JSON keys and TSV columns that hold timings (wall_seconds, examples_per_second, ...).
VOLATILE_KEYS = re.compile(r"time|date|host|elapsed|duration|created|second|throughput", re.I)


def _stable_json(value):
    if isinstance(value, dict):
        return {k: _stable_json(v) for k, v in value.items() if not VOLATILE_KEYS.search(k)}
    if isinstance(value, list):
        return [_stable_json(v) for v in value]
    return value


def _stable_tsv(path: Path) -> list[list[str]]:
    """A table's rows without its timing columns (history.tsv's seconds, ...) and, in
    long tables, without the rows of timing metrics (training.tsv's seconds, ...)."""
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    header = rows[0] if rows else []
    keep = [i for i, name in enumerate(header) if not VOLATILE_KEYS.search(name)]
    metric = header.index("metric") if "metric" in header else None
    return [[row[i] for i in keep if i < len(row)] for row in rows
            if metric is None or metric >= len(row) or not VOLATILE_KEYS.search(row[metric])]


def _stable_npz(path: Path) -> dict:
    """An attribution file's arrays, without ``meta`` (its info holds seconds and paths)."""
    import numpy as np

    with np.load(path) as f:
        return {name: f[name].tobytes() for name in f.files if name != "meta"}


# Folders under results/ that hold measurements: Snakemake's benchmark files of every job.
VOLATILE_DIRS = {"runtime"}


def _outputs(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in (root / "results").rglob("*")
        if p.is_file() and p.name not in VOLATILE_NAMES
        and p.relative_to(root / "results").parts[0] not in VOLATILE_DIRS
    }


def differing_outputs(slurm_root: Path, local_root: Path) -> list[str]:
    """The result files of a SLURM run that differ from a local run's (or are missing)."""
    on_slurm, local = _outputs(slurm_root), _outputs(local_root)
    assert on_slurm, "the SLURM run wrote nothing under results/"
    assert sorted(on_slurm) == sorted(local)
    differ = []
    for name, path in on_slurm.items():
        other = local[name]
        if path.suffix in VOLATILE_SUFFIXES:
            continue
        if path.suffix == ".json":
            same = _stable_json(json.loads(path.read_text())) == _stable_json(
                json.loads(other.read_text())
            )
        elif path.suffix == ".tsv":
            same = _stable_tsv(path) == _stable_tsv(other)
        elif path.suffix == ".npz":
            same = _stable_npz(path) == _stable_npz(other)
        else:
            same = path.read_bytes() == other.read_bytes()
        if not same:
            differ.append(name)
    return differ


def _workflow_rules(cwd: Path) -> list[str]:
    proc = run_snakemake(
        ["--snakefile", REPO / "Snakefile", "--configfile", TINY_CONFIG, "--list-rules"],
        cwd=cwd,
        timeout=120,
    )
    assert proc.returncode == 0, explain(proc)
    # one rule name per line; a rule's docstring, if any, follows indented
    return [line.strip() for line in proc.stdout.splitlines() if line[:1].strip()]


# ---------------------------------------------------------------------------- the profiles
# These need no cluster: they check the profiles against the workflow with a dry run.

CLUSTER_KEYS = {
    "cores",
    "jobs",
    "executor",
    "resources",
    "default-resources",
    "set-resources",
    "set-threads",
    "retries",
    "latency-wait",
    "software-deployment-method",
    "keep-going",
}


def load_profile(name: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())


def test_default_profile_leaves_cluster_settings_alone():
    # Snakemake applies profiles/default on top of any --profile, key by key.
    overlap = CLUSTER_KEYS & set(load_profile("default"))
    assert not overlap, f"profiles/default would override profiles/slurm's {sorted(overlap)}"


def test_local_gpu_profile_caps_gpu_jobs():
    profile = load_profile("local-gpu")
    assert profile["resources"] == {"gpu": 1}
    assert profile["cores"] == "all"


def test_slurm_profile_settings():
    profile = load_profile("slurm")
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"  # works without accounting
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] is True
    # the user's knobs sit at the top of default-resources
    assert list(profile["default-resources"])[:2] == ["slurm_partition", "slurm_account"]
    for rule in ("train", "attribute"):
        assert profile["set-resources"][rule]["gpu"] == 1
    for rule in ("train_gkmsvm", "attribute_gkmsvm"):  # gapped k-mer SVMs: CPUs only
        assert "gpu" not in profile["set-resources"][rule] and "gres" not in profile["set-resources"][rule]
    pinned = re.search(
        r"snakemake-executor-plugin-slurm==([\d.]+)", (REPO / "pyproject.toml").read_text()
    )
    assert pinned and pinned[1] in (PROFILE / "config.yaml").read_text()


def _dry_run_jobs(cwd: Path, *args, config: Path = TINY_CONFIG) -> list[dict]:
    """Each job of a dry run: rule, threads and resources as Snakemake would submit them."""
    proc = run_snakemake(
        ["--snakefile", REPO / "Snakefile", "--configfile", config, "-n", *args],
        cwd=cwd,
        timeout=180,
    )
    assert proc.returncode == 0, explain(proc)
    jobs = []
    # (jobs of a group job are listed under it, indented)
    for block in re.split(r"\n(?=\[|\s*rule |localrule )", proc.stdout + proc.stderr):
        head = re.match(r"\s*(rule|localrule) (\w+):", block)
        if not head:
            continue
        resources = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        threads = re.search(r"^\s+threads: (\d+)$", block, re.MULTILINE)
        jobs.append(
            {
                "local": head[1] == "localrule",
                "rule": head[2],
                "threads": int(threads[1]) if threads else 1,
                "resources": (
                    dict(kv.split("=", 1) for kv in resources[1].split(", ") if "=" in kv)
                    if resources
                    else {}
                ),
            }
        )
    return jobs


@pytest.mark.slow
def test_slurm_profile_sizes_every_job_of_the_workflow(tmp_path):
    profile = load_profile("slurm")
    # A dry run caps every job's threads at --cores (1 when not given); the SLURM executor
    # does not, so lift the cap to see the threads the jobs will ask for.
    jobs = _dry_run_jobs(
        tmp_path, "--profile", PROFILE, "--workflow-profile", "none", "--cores", "1024"
    )
    remote = [j for j in jobs if not j["local"]]
    assert remote, "the dry run lists no job"
    for job in remote:
        rule, res = job["rule"], job["resources"]
        wanted = {**profile["default-resources"], **profile["set-resources"].get(rule, {})}
        for key in ("mem_mb", "runtime"):
            expected = eval(str(wanted[key]), {"attempt": 1})  # attempt 1 of the profile's
            assert int(res[key]) == expected, (rule, key, res)
        assert res.get("slurm_partition") == "" and res.get("slurm_account") == ""
        if rule in profile["set-threads"]:
            assert job["threads"] == profile["set-threads"][rule], job
        if rule in ("train", "attribute"):
            assert res.get("gpu") == "1", job
        else:
            assert res.get("gpu", "0") == "0", f"{rule} would ask SLURM for a GPU"


@pytest.mark.slow
def test_slurm_profile_asks_no_gpu_for_gapped_kmer_svms(tmp_path):
    """A grid of a network and a gkm-SVM: the network's train and attribute jobs ask for a
    GPU, the SVM's (rules train_gkmsvm, attribute_gkmsvm) for none, with the profile's sizes."""
    profile = load_profile("slurm")
    jobs = _dry_run_jobs(
        tmp_path, "--profile", PROFILE, "--workflow-profile", "none", "--cores", "1024",
        config=MIXED_CONFIG,
    )
    remote = [j for j in jobs if not j["local"]]
    by_rule = {}
    for job in remote:
        by_rule.setdefault(job["rule"], []).append(job)
    for rule in ("train", "attribute", "train_gkmsvm", "attribute_gkmsvm"):
        assert len(by_rule.get(rule, [])) == 1, (rule, sorted(by_rule))
    for job in remote:
        rule, res = job["rule"], job["resources"]
        wanted = {**profile["default-resources"], **profile["set-resources"].get(rule, {})}
        for key in ("mem_mb", "runtime"):
            assert int(res[key]) == eval(str(wanted[key]), {"attempt": 1}), (rule, key, res)
        if rule in ("train", "attribute"):
            assert res.get("gpu") == "1", job
        else:
            assert res.get("gpu", "0") == "0", f"{rule} would ask SLURM for a GPU"
    assert by_rule["train_gkmsvm"][0]["threads"] == profile["set-threads"]["train_gkmsvm"]


@pytest.mark.slow
def test_slurm_profile_lists_every_rule(tmp_path):
    listed = set(load_profile("slurm")["set-resources"])
    rules = set(_workflow_rules(tmp_path)) - {"all"}
    missing = rules - listed
    assert not missing, (
        f"profiles/slurm/config.yaml: add {sorted(missing)} under set-resources "
        "(mem_mb and runtime, scaled by attempt)"
    )
    for rule, res in load_profile("slurm")["set-resources"].items():
        for key in ("mem_mb", "runtime"):
            assert "attempt" in str(res[key]), f"{rule}: {key} does not grow with attempt"


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.parametrize("hooked", [True, False], ids=["workflow-hook", "plugin-alone"])
def test_interrupt_during_a_status_poll_still_cancels_the_jobs(slurm_cluster, tmp_path, hooked):
    """Snakemake's own cancelling on Ctrl-C finds no job when the interrupt lands during a
    status poll (made certain here); the workflow's onerror hook (rules/cluster.smk) cancels
    the run's jobs by name all the same. Without the hook the job runs to its end."""
    snakefile = SLOW_SNAKEFILE if hooked else SLOW_RULES
    work = workflow_folder(tmp_path / "slow", snakefile)
    override = _override_profile(tmp_path / "slow-override")
    cmd = [*SNAKEMAKE, "--profile", str(PROFILE), "--workflow-profile", str(override)]
    log = _start_and_interrupt(work, cmd, signal.SIGINT, "ctrl-c",
                               GRAMMARBENCH_SLURM_INTERRUPT_MID_POLL="1")
    (job,) = [s["slurm"] for s in submissions(log)]
    assert _wait_for_end(slurm_cluster, job) == ("CANCELLED" if hooked else "COMPLETED"), log


def test_a_failed_cancel_is_logged_and_never_raised(tmp_path, monkeypatch, caplog):
    """The run is ending with its own error already: scancel failing adds a warning, no
    second error. (The cancelling itself is tested on the cluster above.)"""
    from grammarbench.cluster import cancel_run_jobs

    fake = tmp_path / "scancel"
    fake.write_text("#!/bin/sh\necho 'scancel: error: Unable to contact slurm controller' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert cancel_run_jobs("run-42") is False
    assert "run-42" in caplog.text and "Unable to contact slurm controller" in caplog.text
    assert cancel_run_jobs("") is False  # not a SLURM run: nothing to cancel
