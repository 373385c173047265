# bench/gkmsvm.py
# Training time, prediction and GkmExplain throughput of grammarbench's gapped k-mer SVM
# against gkmsvm-lite, same data, same kernel, fresh processes, one run.

"""Benchmark grammarbench.models.networks.gkmsvm against gkmsvm-lite (PyPI 0.1.0, MIT).

Data: the one-motif grammar (CTCF or background) at ``--length`` letters, ``--n-train``
training and ``--n-test`` test sequences, simulated by grammarbench. Kernel: LS-GKM's
default estimated-l-mer kernel with truncated filter (``esttrunc``, gkmsvm-lite's
``estimated``), ``l=10, k=6, d=3, C=1``.

Each tool runs in its own fresh Python process (so JIT compilation is counted the same
way for both: a warm-up call on 2 sequences precedes the timed calls), with the same
number of numba threads. Each process trains, scores the test sequences and explains
``--n-explain`` of them (LS-GKM's gkmexplain mode 0: importance at the observed letter).

Checks printed beside the timings:

* accuracy: test AUROC of each tool's model;
* same function: gkmsvm-lite's trained model (its support vectors, coefficients and bias)
  loaded into grammarbench must give gkmsvm-lite's predictions and GkmExplain maps;
* independent training: the two tools' predictions on the test set (both use libsvm on
  the same Gram matrix up to rounding, so they differ by the solver's tolerance).

One run (2026-11-29, 2 numba threads each on a shared 2-core AMD EPYC under load ~10-15,
so absolute times are inflated; both tools ran in the same conditions, one after the other):

=========  ==============  =================  =====================  ==================
data       train s (ours/  predict seq/s      GkmExplain seq/s       test AUROC (same
           lite)           (ours/lite)        (ours/lite)            sequences)
=========  ==============  =================  =====================  ==================
1000x200   8.8 / 198 (23x) 91 / 6.3 (14x)     141 / 1.96 (72x)       0.9706 / 0.9706
1000x400   48 / 586 (12x)  29 / 1.96 (15x)    43.5 / 0.72 (60x)      0.9497 / 0.9497
=========  ==============  =================  =====================  ==================

gkmsvm-lite's model loaded into grammarbench gives its predictions to 6e-6 and its
GkmExplain maps to 6e-8 (relative); both tools find the same 970 / 993 support vectors.

Usage (gkmsvm-lite installed beside, not into, the environment)::

    pip install --no-deps --target /tmp/gkl gkmsvm-lite==0.1.0 tqdm pyfaidx dinuc-shuf
    python bench/gkmsvm.py --lite-path /tmp/gkl                       # 1,000 x 200
    python bench/gkmsvm.py --lite-path /tmp/gkl --n-train 2000 --length 400 --out bench/gkmsvm.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEC = {"l": 10, "k": 6, "d": 3, "kernel": "esttrunc"}
C = 1.0


def simulate(folder: Path, n_train: int, n_test: int, length: int, seed: int) -> Path:
    """Train and test sequences of the one-motif grammar at ``length`` letters, as one npz."""
    import yaml

    from grammarbench.simulation.dataset import load_split
    from grammarbench.grammars.grammar import grammar_from_dict
    from grammarbench.simulation.simulate import simulate_split

    definition = yaml.safe_load((ROOT / "config/grammars/one-motif.yaml").read_text())
    definition["length"] = length
    grammar = grammar_from_dict(definition, source="bench/gkmsvm.py")
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        simulate_split(grammar, split, n, seed, folder / split)
        data = load_split(folder / split)
        arrays[f"{split}_codes"] = np.asarray(data.sequences)
        # Positive = the CTCF class.
        arrays[f"{split}_labels"] = (np.asarray(data.labels) == grammar.class_names.index("ctcf")).astype(np.int8)
    path = folder / "data.npz"
    np.savez(path, **arrays)
    return path


def one_hot(codes: np.ndarray) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1).copy()


def run_ours(data: dict, n_explain: int) -> dict:
    from grammarbench.models.gkmsvm import GkmSvm, KernelSpec, gkmexplain

    spec = KernelSpec(**SPEC)
    codes, labels = data["train_codes"], data["train_labels"]
    GkmSvm(spec, C=C).fit(codes[:4], np.array([0, 1, 0, 1]), n_classes=2)     # warm-up: JIT
    start = time.perf_counter()
    model = GkmSvm(spec, C=C, tier="kernel").fit(codes, labels, n_classes=2)
    train_s = time.perf_counter() - start
    gkmexplain(model, data["test_codes"][:2], 1)                              # warm-up: JIT
    start = time.perf_counter()
    scores = model.decision_function(data["test_codes"])[:, 1]
    predict_s = time.perf_counter() - start
    start = time.perf_counter()
    maps = gkmexplain(model, data["test_codes"][:n_explain], 1)
    explain_s = time.perf_counter() - start
    return {"train_s": train_s, "predict_s": predict_s, "explain_s": explain_s,
            "n_support": len(model.support), "scores": scores, "maps": maps}


def run_lite(data: dict, n_explain: int, n_predict: int) -> dict:
    # This script is itself named gkmsvm.py: take its folder off the path first.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.modules.pop("gkmsvm", None)
    import gkmsvm

    codes, labels = data["train_codes"], data["train_labels"]
    x = one_hot(codes)
    options = dict(kernel_type="estimated", l=SPEC["l"], k=SPEC["k"], d=SPEC["d"], C=C, solver="libsvm")
    gkmsvm.train_gkmsvm(x[:2], x[2:4], **options)                            # warm-up: JIT
    start = time.perf_counter()
    model = gkmsvm.train_gkmsvm(x[labels == 1], x[labels == 0], **options)
    train_s = time.perf_counter() - start
    test = one_hot(data["test_codes"])
    gkmsvm.gkmexplain(model, test[:2], mode=0)                               # warm-up: JIT
    start = time.perf_counter()
    scores = np.asarray(model(test[:n_predict])).ravel()
    predict_s = time.perf_counter() - start
    start = time.perf_counter()
    maps = np.asarray(gkmsvm.gkmexplain(model, test[:n_explain], mode=0))
    explain_s = time.perf_counter() - start
    return {"train_s": train_s, "predict_s": predict_s, "explain_s": explain_s,
            "n_support": int(model.support_sequences.shape[0]), "scores": scores, "maps": maps,
            "support": np.asarray(model.support_sequences).argmax(axis=1).astype(np.uint8),
            "coefficients": np.asarray(model.coefficients, dtype=np.float64), "bias": float(model.bias)}


def worker(tool: str, data_path: str, out_path: str, n_explain: int, n_predict: int) -> None:
    data = dict(np.load(data_path))
    result = run_ours(data, n_explain) if tool == "ours" else run_lite(data, n_explain, n_predict)
    np.savez(out_path, **{k: np.asarray(v) for k, v in result.items()})


def auroc(labels, scores) -> float:
    from grammarbench.metrics import auroc as _auroc

    return _auroc(labels, scores)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--n-explain", type=int, default=200, help="sequences grammarbench explains")
    parser.add_argument("--n-explain-lite", type=int, default=20, help="sequences gkmsvm-lite explains")
    parser.add_argument("--n-predict-lite", type=int, default=100, help="test sequences gkmsvm-lite scores")
    parser.add_argument("--threads", type=int, default=2, help="numba threads, both tools")
    parser.add_argument("--lite-path", default=None, help="folder gkmsvm-lite is installed in (--target)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--worker", nargs=5, metavar=("TOOL", "DATA", "OUT", "N_EXPLAIN", "N_PREDICT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        tool, data_path, out_path, n_explain, n_predict = args.worker
        worker(tool, data_path, out_path, int(n_explain), int(n_predict))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data_path = simulate(folder, args.n_train, args.n_test, args.length, args.seed)
        data = dict(np.load(data_path))
        env = dict(os.environ, NUMBA_NUM_THREADS=str(args.threads), OMP_NUM_THREADS="1",
                   NUMBA_THREADING_LAYER="workqueue",
                   PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), args.lite_path,
                                                          os.environ.get("PYTHONPATH")) if p))
        results = {}
        for tool, n_explain in (("ours", args.n_explain), ("lite", args.n_explain_lite)):
            out = folder / f"{tool}.npz"
            started = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--worker", tool, str(data_path), str(out),
                            str(n_explain), str(args.n_predict_lite)], env=env, check=True)
            results[tool] = dict(np.load(out))
            print(f"{tool}: process {time.perf_counter() - started:.1f} s", flush=True)

    ours, lite = results["ours"], results["lite"]
    test_labels = data["test_labels"]
    n_lite = len(lite["scores"])
    report = {
        "data": {"n_train": args.n_train, "n_test": args.n_test, "length": args.length, "grammar": "one-motif"},
        "kernel": SPEC | {"C": C}, "threads": args.threads, "machine": platform.processor() or platform.machine(),
        "train_s": {"ours": float(ours["train_s"]), "lite": float(lite["train_s"])},
        "support_vectors": {"ours": int(ours["n_support"]), "lite": int(lite["n_support"])},
        "predict_seq_per_s": {"ours": len(ours["scores"]) / float(ours["predict_s"]),
                              "lite": n_lite / float(lite["predict_s"])},
        "explain_seq_per_s": {"ours": args.n_explain / float(ours["explain_s"]),
                              "lite": args.n_explain_lite / float(lite["explain_s"])},
        "test_auroc": {"ours": auroc(test_labels, ours["scores"]),
                       "ours_on_lite_subset": auroc(test_labels[:n_lite], ours["scores"][:n_lite]),
                       "lite_on_its_subset": auroc(test_labels[:n_lite], lite["scores"])},
    }

    # The same function: gkmsvm-lite's model loaded into grammarbench.
    from grammarbench.models.gkmsvm import GkmSvm, KernelSpec, gkmexplain, self_kernel_raw

    spec = KernelSpec(**SPEC)
    same = GkmSvm(spec, tier="kernel")
    same.fitted_tier, same.task, same.n_classes = "kernel", "multi-class", 2
    same.support = lite["support"]
    same.dual = np.stack([-lite["coefficients"], lite["coefficients"]], axis=1)
    same.bias = np.array([-float(lite["bias"]), float(lite["bias"])])
    same.support_self = self_kernel_raw(spec, same.support)
    test_codes = data["test_codes"]
    same_scores = same.decision_function(test_codes[:n_lite])[:, 1]
    same_maps = gkmexplain(same, test_codes[:args.n_explain_lite], 1)
    report["agreement"] = {
        "same_model_prediction_max_abs": float(np.abs(same_scores - lite["scores"]).max()),
        "same_model_explain_max_abs": float(np.abs(same_maps - lite["maps"]).max()),
        "same_model_explain_max_rel": float(np.abs(same_maps - lite["maps"]).max() / np.abs(lite["maps"]).max()),
        "independent_prediction_max_abs": float(np.abs(ours["scores"][:n_lite] - lite["scores"]).max()),
        "independent_prediction_corr": float(np.corrcoef(ours["scores"][:n_lite], lite["scores"])[0, 1]),
    }
    report["ratio_ours_over_lite"] = {
        "train_speed": report["train_s"]["lite"] / report["train_s"]["ours"],
        "predict_throughput": report["predict_seq_per_s"]["ours"] / report["predict_seq_per_s"]["lite"],
        "explain_throughput": report["explain_seq_per_s"]["ours"] / report["explain_seq_per_s"]["lite"],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
