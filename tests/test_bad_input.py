"""Bad input stops the workflow before any job starts, with one message naming the file,
the key and the problem, and writes nothing. Each case runs the real `snakemake` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

GOOD_GRAMMAR = {
    "length": 200,
    "elements": {"M": {"ppm": [[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]},
                 "K": {"kmers": {"ACGTACGT": 1}}},
    "classes": {"a": {"rules": [{"elements": ["M", "K"],
                                 "spacing": [{"first": "M", "second": "K", "min_gap": 0, "max_gap": 9}]}]},
                "b": {"background_only": True}},
}
GOOD_CONFIG = {"grammars": {"g": "g.yaml"}, "n_train": [100], "n_validation": 50, "n_test": 50}


def edit(d: dict, path: str, value):
    """Set a dotted path (list indices as integers) in a nested dict; None deletes it."""
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        d = d[key]
    if value is None:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value


CASES = {
    # name: (grammar edits, config edits, message fragments: file, key, problem)
    "unknown grammar key": ({"lenght": 5}, {}, ["g.yaml", "unknown key", "lenght"]),
    "unknown config key": ({}, {"n_trian": [5]}, ["c.yaml", "unknown key", "n_trian"]),
    "wrong type": ({"length": "long"}, {}, ["g.yaml", "length", "'long'"]),
    "probability outside [0, 1]": ({"classes.a.rules.0.probability": 1.5}, {},
                                   ["g.yaml", "classes.a.rules[0].probability", "1.5 is greater than the maximum of 1"]),
    "PPM row not summing to 1": ({"elements.M.ppm": [[0.5, 0.5, 0.5, 0.5]]}, {},
                                 ["g.yaml", "elements.M.ppm[0]", "sum to 2"]),
    "unknown JASPAR ID": ({"elements.M": {"jaspar": "MA9999.1"}}, {},
                          ["g.yaml", "elements.M.jaspar", "MA9999.1"]),
    "element longer than the sequence": ({"length": 7}, {},
                                         ["g.yaml", "elements.K", "longer than the shortest sequence"]),
    "spacing that cannot fit": ({"classes.a.rules.0.spacing.0.min_gap": 195,
                                 "classes.a.rules.0.spacing.0.max_gap": 199}, {},
                                ["g.yaml", "classes.a.rules[0].spacing", "cannot fit"]),
    "position past the end": ({"classes.a.rules.0.position": {"fixed": 250}}, {},
                              ["g.yaml", "classes.a.rules[0].position.fixed", "past the end"]),
    "class with no rules": ({"classes.b": {"description": "forgot the rules"}}, {},
                            ["g.yaml", "classes.b.rules", "no rules"]),
    "zero size": ({}, {"n_train": [0]}, ["c.yaml", "n_train", "0"]),
    "negative size": ({}, {"n_test": -5}, ["c.yaml", "n_test", "-5"]),
    "missing grammar file": ({}, {"grammars": {"g": "nowhere.yaml"}},
                             ["c.yaml", "grammars.g", "not found: nowhere.yaml"]),
    "unknown element in a rule": ({"classes.a.rules.0.elements": ["M", "X"]}, {},
                                  ["g.yaml", "classes.a.rules[0].elements[1]", "unknown element 'X'"]),
}


def run_snakemake(workdir: Path, config: dict, grammar_text: str):
    (workdir / "g.yaml").write_text(grammar_text)
    (workdir / "c.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([SNAKEMAKE, "--cores", "1", "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml"],
                          cwd=workdir, capture_output=True, text=True, timeout=120)


def edited(case):
    grammar_edits, config_edits, fragments = CASES[case]
    grammar = yaml.safe_load(yaml.safe_dump(GOOD_GRAMMAR))
    config = yaml.safe_load(yaml.safe_dump(GOOD_CONFIG))
    for path, value in grammar_edits.items():
        edit(grammar, path, value)
    for path, value in config_edits.items():
        edit(config, path, value)
    return grammar, config, fragments


@pytest.mark.parametrize("case", CASES)
def test_bad_input_message(tmp_path, monkeypatch, case):
    """Every case through the checks rules/common.smk runs, in the same order."""
    from snakemake.utils import validate

    from grammarbench.errors import InputError
    from grammarbench.grid import build_grid, check_config

    grammar, config, fragments = edited(case)
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(grammar))
    monkeypatch.chdir(tmp_path)
    schema = REPO / "schemas" / "config.schema.yaml"
    with pytest.raises(InputError) as err:
        check_config(config, "c.yaml", schema)
        validate(config, schema=str(schema))
        build_grid(config, "c.yaml", basedir=REPO)
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["probability outside [0, 1]", "zero size", "unknown JASPAR ID"])
def test_bad_input_stops_snakemake_before_any_job(tmp_path, case):
    """The real command: one line, non-zero exit, nothing written."""
    grammar, config, fragments = edited(case)
    result = run_snakemake(tmp_path, config, yaml.safe_dump(grammar))
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if line.startswith("bad input: ")]
    assert len(message) == 1, result.stderr
    for fragment in fragments:
        assert fragment in message[0], (fragment, message[0])
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_malformed_xml_stops_before_any_job(tmp_path):
    (tmp_path / "broken.xml").write_text("<seqgradata><general id='x'></seqgradata>")
    config = dict(GOOD_CONFIG, grammars={"g": "broken.xml"})
    result = run_snakemake(tmp_path, config, "")
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if line.startswith("bad input: ")]
    assert len(message) == 1 and "broken.xml" in message[0] and "line 1" in message[0], result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_good_input_passes_the_same_path(tmp_path):
    """The fixture itself is valid: the checks above fail for their edit, not by accident."""
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(GOOD_GRAMMAR))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(GOOD_CONFIG))
    result = subprocess.run([SNAKEMAKE, "-n", "--cores", "1", "-s", str(REPO / "Snakefile"),
                             "--configfile", "c.yaml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "bad input" not in result.stderr


def test_cli_reports_bad_input_in_one_line(tmp_path):
    (tmp_path / "g.yaml").write_text("length: 10\nelements: {M: {kmers: {ACGTACGTACGT: 1}}}\n"
                                     "classes: {a: {rules: [{elements: [M]}]}}\n")
    result = subprocess.run([str(Path(sys.executable).with_name("grammarbench")), "simulate",
                             str(tmp_path / "g.yaml"), "--n-train", "10", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"grammarbench: bad input: {tmp_path / 'g.yaml'}: elements.M: element is 12 letters long, "
        "longer than the shortest sequence (10)"]
    assert not (tmp_path / "out").exists()
