"""bench/gpu_checks.py (issue 16's CUDA checks) says clearly when there is no CUDA.

The checks themselves need an NVIDIA GPU; on a machine without one the script must run
nothing and exit with status 2 and the reason, whatever kind of PyTorch is installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_checks.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_checks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_cuda_device_is_reported_and_nothing_runs(monkeypatch, capsys):
    checks = _load()
    monkeypatch.setattr(torch.version, "cuda", "12.6")  # a CUDA build ...
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # ... without a device
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    ran = []
    monkeypatch.setattr(checks, "run", lambda *a, **k: ran.append(a))
    assert checks.main([]) == checks.NO_CUDA == 2
    err = capsys.readouterr().err
    assert "no CUDA, nothing run" in err and "sees no CUDA device" in err
    assert "CUDA_VISIBLE_DEVICES=''" in err
    assert not ran


def test_cpu_only_build_is_named(monkeypatch, capsys):
    checks = _load()
    monkeypatch.setattr(torch.version, "cuda", None)
    assert checks.main([]) == 2
    assert "CPU-only build" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_script_exits_2_without_cuda():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(SCRIPT)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "no CUDA, nothing run" in proc.stderr and not proc.stdout
