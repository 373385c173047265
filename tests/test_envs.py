"""The per-rule conda envs (envs/*.yaml) against the pip pins in pyproject.toml.

`snakemake --sdm conda` builds one env per file; the plain set-up installs pyproject.toml's
pins with pip. Both must give the same versions, and every rule must name its env.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "envs"

# Which packages each kind of rule needs at least (pip names).
SIMULATE = {
    "numpy",
    "pandas",
    "pyyaml",
    "jsonschema",
    "numba",
    "pyjaspar",
    "pyfaidx",
    "matplotlib",
    "seaborn",
}
EXPECTED = {
    "simulate": SIMULATE,
    "torch": SIMULATE | {"torch", "captum", "scikit-learn"},
    "plot": {"numpy", "pandas", "matplotlib", "seaborn"},
    "discovery": SIMULATE | {"scikit-learn", "modisco-lite", "memelite", "logomaker"},
}
# conda-forge names that differ from the pip names.
CONDA_TO_PIP = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
# Only on bioconda.
BIOCONDA_ONLY = {"pyjaspar", "pyfaidx"}
# In pyproject.toml but not needed inside a rule's env (the rule runs under it).
NOT_IN_ENVS = {"snakemake", "snakemake-storage-plugin-http"}

SPEC = re.compile(
    r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<op>==|=)\s*(?P<version>[^=\s]+)(?:=(?P<build>\S+))?$"
)
EXACT_VERSION = re.compile(r"^\d+(\.\d+)+([a-z]+\d*)?(\.post\d+)?$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def pip_pins() -> dict[str, str]:
    pins = {}
    for dep in _pyproject()["project"]["dependencies"]:
        name, sep, version = dep.partition("==")
        assert sep, f"pyproject.toml: {dep!r} is not an exact == pin"
        pins[_norm(name.split("[")[0])] = version.strip()
    return pins


def load_env(name: str) -> dict:
    path = ENVS / f"{name}.yaml"
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict), f"{path}: not a YAML mapping"
    return env


def parse_dependencies(name: str) -> dict[str, dict[str, str]]:
    """pip name -> {conda, op, version, build} for every dependency of envs/<name>.yaml."""
    deps = {}
    for dep in load_env(name)["dependencies"]:
        assert isinstance(
            dep, str
        ), f"envs/{name}.yaml: {dep!r}: only conda packages, no pip: list"
        m = SPEC.match(dep.strip())
        assert m, f"envs/{name}.yaml: {dep!r} is not pinned as 'name =X.Y.Z'"
        conda = m["name"].lower()
        deps[_norm(CONDA_TO_PIP.get(conda, conda))] = {
            "conda": conda,
            "op": m["op"],
            "version": m["version"],
            "build": m["build"] or "",
        }
    return deps


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_env_parses_with_the_right_channels(name):
    env = load_env(name)
    assert set(env) <= {"name", "channels", "dependencies"}, sorted(env)
    channels = env["channels"]
    assert channels[0] == "conda-forge" and channels[-1] == "nodefaults", channels
    assert set(channels) <= {"conda-forge", "bioconda", "nodefaults"}, channels
    needs_bioconda = bool(BIOCONDA_ONLY & set(parse_dependencies(name)))
    assert ("bioconda" in channels) == needs_bioconda, channels


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_env_pins_every_package_exactly(name):
    deps = parse_dependencies(name)
    for pkg, spec in deps.items():
        if pkg == "python":
            continue
        assert EXACT_VERSION.match(spec["version"]), f"envs/{name}.yaml: {pkg} {spec}"
    assert "python" in deps, f"envs/{name}.yaml: pin python (the scripts' interpreter)"
    python = deps["python"]["version"]
    assert re.fullmatch(r"3\.\d+(\.\d+)?", python), python
    lowest = re.search(r">=\s*(3\.\d+)", _pyproject()["project"]["requires-python"])[1]
    as_tuple = lambda v: tuple(int(x) for x in v.split(".")[:2])  # noqa: E731
    assert as_tuple(python) >= as_tuple(lowest), f"python {python} < requires-python {lowest}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_env_agrees_with_the_pip_pins(name):
    pins = pip_pins()
    deps = parse_dependencies(name)
    missing = EXPECTED[name] - set(deps)
    assert not missing, f"envs/{name}.yaml lacks {sorted(missing)}"
    for pkg, spec in deps.items():
        if pkg == "python":
            continue
        assert pkg in pins, f"envs/{name}.yaml: {spec['conda']} is not in pyproject.toml"
        assert spec["version"] == pins[pkg], (
            f"envs/{name}.yaml pins {spec['conda']} {spec['version']}, "
            f"pyproject.toml {pkg}=={pins[pkg]}"
        )


def test_envs_cover_every_pip_dependency():
    covered = set().union(*(set(parse_dependencies(n)) for n in EXPECTED))
    assert set(pip_pins()) - NOT_IN_ENVS <= covered


def test_torch_env_asks_for_a_cuda_build():
    spec = parse_dependencies("torch")["torch"]
    assert spec["conda"] == "pytorch"
    assert spec["build"].startswith("cuda"), spec
    # building it on a GPU-less login node needs this, so the file must say so
    assert "CONDA_OVERRIDE_CUDA" in (ENVS / "torch.yaml").read_text()


RULE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.MULTILINE)
ACTION = re.compile(r"^\s+(shell|script|notebook|wrapper|cwl)\s*:", re.MULTILINE)
CONDA = re.compile(r"^\s+conda\s*:\s*\n?\s*[\"']([^\"']+)[\"']", re.MULTILINE)


def _rule_blocks():
    files = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    for path in files:
        if not path.exists():
            continue
        text = path.read_text()
        starts = list(RULE.finditer(text))
        for i, m in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            yield path, m[1], text[m.end() : end]


def test_every_rule_names_an_existing_env():
    blocks = list(_rule_blocks())
    assert blocks, "no rule found under rules/"
    for path, rule, body in blocks:
        if not ACTION.search(body):
            continue  # e.g. `all`: nothing runs
        m = CONDA.search(body)
        assert m, f"{path.name}: rule {rule} names no conda env"
        env = (path.parent / m[1]).resolve()
        assert env.parent == ENVS and env.stem in EXPECTED, f"rule {rule}: conda: {m[1]}"
        assert env.exists(), f"rule {rule}: {env} does not exist"
