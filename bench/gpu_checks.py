"""Issue 16's CUDA checks in one command, on a machine with an NVIDIA GPU.

    .venv/bin/python bench/gpu_checks.py [--out bench/gpu_checks.json] [--quick]

1. the tiny grid (tests/configs/tiny) through the workflow with ``train.device: cuda``
   (profiles/local-gpu), and every model's summary.json says it trained on CUDA;
2. training throughput (examples/s, bench/train.py) of conv10w-gmp-fc10 and Basset on
   1,000-letter DNA, with the GPU utilisation nvidia-smi samples while they train;
3. DeepLIFT-SHAP with 20 shuffled references and ISM, ours against tangermeme 1.6 on the
   same models and sequences (bench/attribute.py), when tangermeme is installed
   (``pip install --no-deps tangermeme==1.6.*``); tangermeme's own figure on one H200 is
   8.6 s for BPNet, 1,000 sequences of 2,114 bp, 20 shuffles.

Prints each step's numbers and, with --out, writes them as JSON. Without CUDA it runs
nothing and exits with status 2 and a message saying why; a failed step exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny" / "config.yaml"
NO_CUDA = 2


def cuda_problem() -> str | None:
    """Why CUDA cannot be used here, or None when it can."""
    try:
        import torch
    except ImportError as err:
        return f"PyTorch is not importable ({err})"
    if torch.version.cuda is None:
        return f"this PyTorch ({torch.__version__}) is a CPU-only build"
    if not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        hint = f"; CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else ""
        return (f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
                f"{hint}")
    return None


class Utilisation:
    """Samples `nvidia-smi` GPU utilisation (%) every `interval` seconds while in use."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.samples = interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-i", "0"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip().isdigit():
                self.samples.append(int(out.stdout.strip()))
            self._stop.wait(self.interval)

    def __enter__(self):
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {"gpu_utilisation": "no nvidia-smi samples"}
        busy = [s for s in self.samples if s > 0]
        return {"gpu_utilisation_mean_pct": round(sum(self.samples) / len(self.samples), 1),
                "gpu_utilisation_busy_mean_pct": round(sum(busy) / len(busy), 1) if busy else 0,
                "gpu_utilisation_max_pct": max(self.samples), "samples": len(self.samples)}


def run(command: list[str], timeout: int) -> subprocess.CompletedProcess:
    print("$ " + " ".join(map(str, command)), flush=True)
    proc = subprocess.run([str(c) for c in command], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode:
        print(proc.stdout[-3000:] + proc.stderr[-3000:], file=sys.stderr)
    return proc


def tiny_grid_on_cuda() -> dict:
    with tempfile.TemporaryDirectory() as work:
        t0 = time.perf_counter()
        proc = run([sys.executable, "-m", "snakemake", "--profile", ROOT / "profiles" / "local-gpu",
                    "--snakefile", ROOT / "Snakefile", "--configfile", TINY,
                    "--config", "train={device: cuda}", "--directory", work], timeout=3600)
        seconds = time.perf_counter() - t0
        summaries = [json.loads(p.read_text()) for p in Path(work).rglob("models/**/summary.json")]
    devices = sorted({s.get("device") for s in summaries})
    ok = proc.returncode == 0 and bool(summaries) and devices == ["cuda"]
    return {"ok": ok, "seconds": round(seconds, 1), "models": len(summaries), "devices": devices,
            "device_names": sorted({str(s.get("device_name")) for s in summaries})}


def training_throughput(n: int, epochs: int) -> dict:
    rows = {}
    for arch in ("conv10w-gmp-fc10", "basset"):
        with Utilisation() as util:
            proc = run([sys.executable, ROOT / "bench" / "train.py", "--architectures", arch,
                        "--n", n, "--epochs", epochs, "--device", "cuda"], timeout=3600)
        rows[arch] = {"ok": proc.returncode == 0, "report": proc.stdout.strip().splitlines()[-12:],
                      **util.summary()}
    return rows


def attribution_against_tangermeme(n_dls: int, n_ism: int) -> dict:
    try:
        import tangermeme
    except ImportError:
        return {"ok": None, "skipped": "tangermeme is not installed "
                "(pip install --no-deps 'tangermeme==1.6.*')"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "attribute.json"
        with Utilisation() as util:
            proc = run([sys.executable, ROOT / "bench" / "attribute.py", "--device", "cuda",
                        "--n-dls", n_dls, "--n-ism", n_ism, "--out", out], timeout=3600)
        rows = json.loads(out.read_text()) if out.exists() else None
    return {"ok": proc.returncode == 0, "tangermeme": tangermeme.__version__, "rows": rows,
            "report": proc.stdout.strip().splitlines()[-16:], **util.summary()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes (a smoke test of the script itself)")
    args = parser.parse_args(argv)

    problem = cuda_problem()
    if problem is not None:
        print(f"bench/gpu_checks.py: no CUDA, nothing run: {problem}. Run it on a machine "
              "with an NVIDIA GPU and a CUDA build of PyTorch.", file=sys.stderr)
        return NO_CUDA

    import torch

    n, epochs = (2000, 1) if args.quick else (20000, 3)
    n_dls, n_ism = (16, 4) if args.quick else (1000, 100)
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
               "cuda": torch.version.cuda}
    print(f"CUDA device: {results['device']} (torch {results['torch']}, CUDA {results['cuda']})")
    results["tiny_grid_cuda"] = tiny_grid_on_cuda()
    print("1. tiny grid, train.device: cuda:", json.dumps(results["tiny_grid_cuda"]))
    results["training"] = training_throughput(n, epochs)
    for arch, row in results["training"].items():
        print(f"2. training {arch}:", "\n   ".join(row["report"]),
              {k: v for k, v in row.items() if k.startswith("gpu")})
    results["attribution"] = attribution_against_tangermeme(n_dls, n_ism)
    print("3. DeepLIFT-SHAP (20 shuffles) and ISM vs tangermeme:",
          "\n   ".join(results["attribution"].get("report", [results["attribution"].get("skipped", "")])))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    failed = [k for k in ("tiny_grid_cuda", "attribution") if results[k]["ok"] is False]
    failed += [f"training {a}" for a, row in results["training"].items() if not row["ok"]]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
