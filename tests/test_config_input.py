"""Where the config comes from, and bad config input.

A grid given with ``--configfile`` is exactly that grid (config/config.yaml is read only when
no file is given), ``--config`` overrides apply last, the workflow runs from any folder, and
every malformed config, grammar or size stops the run before any job with one line naming
the source (a file, or the command line), the key and the problem, writing nothing.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SCHEMA = REPO / "schemas" / "config.schema.yaml"
TINY = "tests/configs/tiny/config.yaml"


def job_counts(output: str) -> dict[str, int]:
    """The first ``Job stats`` table Snakemake prints: rule -> number of jobs."""
    table = output[output.index("Job stats:"):]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\S+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    return counts


def plan(*args: str, cwd: Path = REPO) -> dict[str, int]:
    """Dry-run every job (``--forceall``: results already there do not hide any)."""
    result = subprocess.run([SNAKEMAKE, "-n", "--forceall", "--quiet", "rules", *args], cwd=cwd,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return job_counts(result.stdout + result.stderr)


def readme_planning_command() -> list[str]:
    text = (REPO / "README.md").read_text()
    line = next(line.strip() for line in text.splitlines()
                if line.strip().startswith(".venv/bin/snakemake -n") and TINY in line)
    return shlex.split(line)[1:]


# ---- where the config comes from


@pytest.mark.slow  # runs snakemake
def test_the_readme_planning_command_plans_exactly_the_tiny_grid():
    """From the repository root, as a user runs it: the tiny grid's 2 grammars x 2 sizes x
    1 architecture, not the default grid's second architecture as well."""
    args = readme_planning_command()
    assert "--quiet" in args and "rules" in args  # job counts printed, not every job
    result = subprocess.run([SNAKEMAKE, *args, "--forceall"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 4 and counts["attribute"] == 4 and counts["simulate_train"] == 4
    assert "is extended by additional config" not in result.stdout + result.stderr


@pytest.mark.slow  # runs snakemake
def test_config_overrides_apply_on_top_of_a_configfile():
    counts = plan("--configfile", TINY, "--config", "n_train=[200]")
    assert counts["train"] == 2


@pytest.mark.slow  # runs snakemake
@pytest.mark.parametrize("how", ["snakefile", "directory"])
def test_the_default_grid_runs_from_another_folder(tmp_path, how):
    """No --configfile: config/config.yaml and the bundled grammars and architectures are
    found beside the Snakefile (2 grammars x 2 sizes x 2 architectures)."""
    if how == "snakefile":
        counts = plan("-s", str(REPO / "Snakefile"), cwd=tmp_path)
    else:
        (tmp_path / "run").mkdir()
        counts = plan("-s", str(REPO / "Snakefile"), "--directory", "run", cwd=tmp_path)
    assert counts["train"] == 8


def test_resolve_config_reads_the_default_only_without_configfiles(tmp_path, monkeypatch):
    from grammarbench.grid import COMMAND_LINE, resolve_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "default.yaml").write_text("grammars: {a: a.yaml}\narchitectures: {x: x.yaml}\n")
    (tmp_path / "one.yaml").write_text("grammars: {b: b.yaml}\ntrain: {max_epochs: 3, threads: 2}\n")
    (tmp_path / "two.yaml").write_text("n_train: [10]\n")
    config, sources = resolve_config([], None, "default.yaml")
    assert config == {"grammars": {"a": "a.yaml"}, "architectures": {"x": "x.yaml"}}
    assert sources.labels == ["default.yaml"]

    config, sources = resolve_config([tmp_path / "one.yaml", "two.yaml"],
                                     {"train": {"max_epochs": "5"}, "seeds": ["1", "2"]}, "missing.yaml")
    assert config == {"grammars": {"b": "b.yaml"}, "train": {"max_epochs": 5, "threads": 2},
                      "n_train": [10], "seeds": [1, 2]}
    assert sources.labels == ["one.yaml", "two.yaml", COMMAND_LINE]
    assert sources.blame("train.max_epochs") == COMMAND_LINE
    assert sources.blame("n_train[0]") == "two.yaml"
    assert sources.blame("grammars.b") == "one.yaml"


def test_the_config_page_lists_the_sources_in_the_order_they_apply():
    from grammarbench.aggregate.config_page import config_page

    sources = ["defaults: schemas/config.schema.yaml", "a.yaml", "b.yaml",
               "command line (--config): n_train=[5]"]
    page = config_page({"grammars": {}}, sources, {}, {})
    listed = re.findall(r"<li><code>(.*?)</code></li>", page)
    assert listed == ["defaults: schemas/config.schema.yaml", "a.yaml", "b.yaml",
                      "command line (--config): n_train=[5]"]
    assert "in the order they apply" in page


# ---- bad input: input -> one message naming the source, the key and the problem

GRAMMAR = """\
length: 200
elements:
  M: {ppm: [[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]}
classes:
  a: {rules: [{elements: [M]}]}
  b: {background_only: true}
"""
CONFIG = "grammars: {g: g.yaml}\nn_train: [100]\nn_validation: 50\nn_test: 50\n"
ARCH = "architectures: {a: config/architectures/conv10w-gmp-fc10.yaml}\n"

BAD = {
    # name: (config text, --config overrides, grammar text, message fragments)
    "duplicate config key": (CONFIG + "grammars: {h: g.yaml}\n", {}, GRAMMAR,
                             ["c.yaml", "duplicate key 'grammars'", "line 5"]),
    "duplicate grammar id": ("grammars:\n  g: g.yaml\n  g: g.yaml\n", {}, GRAMMAR,
                             ["c.yaml", "duplicate key 'g'"]),
    "YAML syntax error in the config": ("grammars: {g: g.yaml\nn_train: [100]\n", {}, GRAMMAR,
                                        ["c.yaml", "not valid YAML at line"]),
    "binary config": (b"\x89PNG\r\n\x1a\n\x00\xff", {}, GRAMMAR, ["c.yaml", "not a text file"]),
    "binary grammar": (CONFIG, {}, b"\xff\xfe\x00\x01", ["g.yaml", "not a text file"]),
    "duplicate class": (CONFIG, {}, GRAMMAR + "  a: {background_only: true}\n",
                        ["g.yaml", "duplicate key 'a'"]),
    "a size that is not a number, on the command line": (
        CONFIG, {"n_train": "abc"}, GRAMMAR,
        ["command line (--config)", "n_train", "'abc' is not of type 'array' or 'null'"]),
    "a negative size names the bound": (CONFIG.replace("[100]", "[-5]"), {}, GRAMMAR,
                                        ["c.yaml", "n_train[0]", "-5 is less than the minimum of 1"]),
    "a negative held-out size": (CONFIG.replace("n_test: 50", "n_test: -5"), {}, GRAMMAR,
                                 ["c.yaml", "n_test", "-5 is less than the minimum of 1"]),
    "a seed too large": (CONFIG + "seeds: [99999999999999999999]\n", {}, GRAMMAR,
                         ["c.yaml", "seeds[0]", "greater than the maximum of 4294967295"]),
    "empty results": (CONFIG + "results: ''\n", {}, GRAMMAR, ["c.yaml", "results", "empty"]),
    "empty results on the command line": (CONFIG, {"results": None}, GRAMMAR,
                                          ["command line (--config)", "results", "empty"]),
    "results at the root": (CONFIG + "results: /\n", {}, GRAMMAR, ["c.yaml", "results", "root"]),
    "results climbing out": (CONFIG + "results: ../elsewhere\n", {}, GRAMMAR,
                             ["c.yaml", "results", "climbs out of the working directory"]),
    "a training set too large for memory": (CONFIG.replace("[100]", "[1000000000000]"), {}, GRAMMAR,
                                            ["c.yaml", "n_train", "in memory"]),
    "sequences too long for memory": (CONFIG, {}, GRAMMAR.replace("200", "100000000000"),
                                      ["c.yaml", "n_train", "100000000000 letters", "g.yaml", "in memory"]),
    "more examples to explain than the test set": (
        CONFIG + ARCH + "attribution: {n_examples: 500, methods: {ism: {}}}\n", {}, GRAMMAR,
        ["c.yaml", "attribution.n_examples", "500 is more than the test set", "(50 examples)"]),
    "copies that cannot fit": (CONFIG, {}, GRAMMAR.replace("elements: [M]}", "elements: [M], copies: 101}"),
                               ["g.yaml", "classes.a.rules[0].copies", "cannot fit without overlap",
                                "202 letters", "only 200"]),
    "a grammar with one class": (CONFIG, {}, GRAMMAR.replace("  b: {background_only: true}\n", ""),
                                 ["g.yaml", "classes", "every training example carries the same labels ([a])"]),
    "a multi-label grammar whose examples all carry the same labels": (
        CONFIG, {}, "task: multi-label\n" + GRAMMAR + "composition: [{labels: [a, b]}]\n",
        ["g.yaml", "composition", "every training example carries the same labels ([a, b])"]),
    "up to more copies than fit": (CONFIG, {}, GRAMMAR.replace("elements: [M]}", "elements: [M], copies: [1, 150]}"),
                                   ["g.yaml", "classes.a.rules[0].copies", "150 copies", "300 letters"]),
}


def write_inputs(folder: Path, config, grammar) -> None:
    for name, text in (("c.yaml", config), ("g.yaml", grammar)):
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())


def check(config_file, overrides):
    """What rules/common.smk runs, in the same order."""
    from snakemake.utils import validate

    from grammarbench.grid import build_grid, check_config, resolve_config

    config, sources = resolve_config([config_file], overrides, REPO / "config" / "config.yaml")
    check_config(config, sources, SCHEMA)
    validate(config, schema=str(SCHEMA))
    return build_grid(config, sources, basedir=REPO)


@pytest.mark.parametrize("case", BAD)
def test_bad_config_input_is_one_message(tmp_path, monkeypatch, case):
    from grammarbench.errors import InputError

    config, overrides, grammar, fragments = BAD[case]
    write_inputs(tmp_path, config, grammar)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        check("c.yaml", overrides)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "g.yaml"]


def test_the_good_inputs_pass(tmp_path, monkeypatch):
    """The fixture itself is valid: each case above fails for its edit."""
    write_inputs(tmp_path, CONFIG + ARCH + "attribution: {n_examples: 50, methods: {ism: {}}}\n",
                 GRAMMAR.replace("elements: [M]}", "elements: [M], copies: [1, 100]}"))
    monkeypatch.chdir(tmp_path)
    grid = check("c.yaml", {"results": "out/"})
    assert grid.results == "out" and list(grid.architectures) == ["a"]


def test_datasets_that_cannot_fit_on_disk_are_refused(tmp_path, monkeypatch):
    """Checked when a run starts (rules/common.smk's onstart), not while planning."""
    import grammarbench.grid as grid
    from grammarbench.errors import InputError

    write_inputs(tmp_path, CONFIG, GRAMMAR)
    monkeypatch.chdir(tmp_path)
    built = check("c.yaml", {})  # planning passes
    assert grid.bytes_to_simulate(built) == (100 + 50 + 50) * 200 * 2
    monkeypatch.setattr(grid, "_free_bytes", lambda folder: 1000)
    with pytest.raises(InputError, match=r"c.yaml: n_train: the datasets need about 80.0 KB "
                                         r"under results/, but only 1.0 KB is free there"):
        grid.check_disk_space(built, "c.yaml")
    assert not (tmp_path / "results").exists()
    # splits already simulated need no more room
    for folder in ("n100/train", "heldout/validation", "heldout/test"):
        (tmp_path / "results/datasets/g/seed1" / folder).mkdir(parents=True)
    assert grid.bytes_to_simulate(built) == 0
    grid.check_disk_space(built, "c.yaml")


def test_a_missing_default_config_is_one_message(tmp_path):
    from grammarbench.errors import InputError
    from grammarbench.grid import resolve_config

    with pytest.raises(InputError, match="config.yaml: config file not found"):
        resolve_config([], None, tmp_path / "config.yaml")


SNAKEMAKE_CASES = {
    # through the real command: (config text, --config arguments, message fragments)
    "blamed on the command line": (CONFIG, ["n_train=abc"], ["command line (--config): n_train: "]),
    "duplicate key in a --configfile": (CONFIG + "n_test: 5\n", [], ["c.yaml: ", "duplicate key 'n_test'"]),
    "empty results": (CONFIG, ["results="], ["command line (--config): results: is empty"]),
    "a seed too large": (CONFIG + "seeds: [99999999999999999999]\n", [], ["c.yaml: seeds[0]: "]),
}


@pytest.mark.slow  # runs snakemake
@pytest.mark.parametrize("case", SNAKEMAKE_CASES)
def test_bad_config_stops_snakemake_before_any_job(tmp_path, case):
    config, overrides, fragments = SNAKEMAKE_CASES[case]
    write_inputs(tmp_path, config, GRAMMAR)
    command = [SNAKEMAKE, "--cores", "1", "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml"]
    if overrides:
        command += ["--config", *overrides]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("bad input: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


# ---- smaller things a user meets


def test_profiles_do_not_print_a_shell_command_per_job():
    """Every rule runs a script: printshellcmds would print "Shell command: None" per job."""
    for profile in (REPO / "profiles").glob("*/config.yaml"):
        assert not yaml.safe_load(profile.read_text()).get("printshellcmds"), profile


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)


QUIET = {
    # a job (or the CLI) once logging is set up
    "configure_logging": "from grammarbench.runtime import configure_logging\nconfigure_logging()\n",
    # a rule script (it has a global `snakemake`) while still importing
    "rule script importing": "import sys\nsnakemake = object()\nimport grammarbench\n",
}


@pytest.mark.parametrize("where", QUIET)
def test_ctrl_c_leaves_one_line_in_a_job_log(where):
    result = run_python(QUIET[where] + "raise KeyboardInterrupt\n")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["interrupted (Ctrl-C); nothing half-written was kept"]


def test_other_errors_keep_their_traceback_and_notebooks_their_excepthook():
    result = run_python(QUIET["configure_logging"] + "raise ValueError('boom')\n")
    assert "Traceback" in result.stderr and "ValueError: boom" in result.stderr
    assert run_python("import sys, grammarbench\nassert sys.excepthook is sys.__excepthook__\n").returncode == 0


def test_the_package_license_is_an_spdx_expression(tmp_path):
    """setuptools deprecates ``project.license`` as a table; the metadata builds without a
    warning and carries ``License-Expression: MIT``."""
    import shutil
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "grammarbench", tmp_path / "grammarbench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import os, warnings\n"
            "warnings.simplefilter('error')\n"
            "from setuptools import build_meta\n"
            "os.mkdir('meta')\n"
            "print(build_meta.prepare_metadata_for_build_wheel('meta'))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    metadata = (tmp_path / "meta" / result.stdout.split()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata
