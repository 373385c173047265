# bench/attribute.py
# Throughput of grammarbench's DeepLIFT-SHAP and ISM against tangermeme's, same models,
# same sequences, same device, one run.

"""Benchmark grammarbench.attribution against tangermeme.

For each zoo architecture (built for 1,000-letter DNA, 2 classes, random weights in eval
mode, batch-norm statistics randomised) and the same 1,000-letter sequences simulated
from seqgra's ``mc2-dna1000-homer`` grammar, it times

- DeepLIFT-SHAP with 20 dinucleotide-shuffled references per sequence (each tool draws
  its own shuffles, as in real use), and
- full in-silico mutagenesis (every single-letter substitution, mean-centred, projected
  on the observed letters). Ours always tries its fast path. tangermeme (>= 1.6) tries
  its fastISM only for jobs it expects to take over 30 s; it is timed both with its
  default and with fastISM forced, and the faster of the two counts,

alternating the two tools ``--reps`` times after a warm-up and keeping each one's best
time (other jobs share the machine). Throughput is sequences per second; the ratio is
ours / tangermeme's (> 1: we are faster). Outputs are checked against each other: ISM
maps must agree to rounding, and DeepLIFT-SHAP maps must agree when tangermeme is given
our references.

Usage (tangermeme installed without dependencies, so it does not replace torch)::

    pip install --no-deps tangermeme
    python bench/attribute.py                       # basset and conv10w-gmp-fc10
    python bench/attribute.py --models basset --n-ism 8 --reps 3 --out bench/attribute.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grammarbench.attribution import references
from grammarbench.sequences import kernels as seq  # noqa: E402
from grammarbench.models.architectures import load_architecture, resolve  # noqa: E402
from grammarbench.attribution import attribute  # noqa: E402
from grammarbench.models.networks import build_model  # noqa: E402

GRAMMAR = ROOT / "config/grammars/seqgra/mc2-dna1000-homer-100k-s1.xml"


def sequences(n: int, seed: int = 1) -> np.ndarray:
    """``n`` test sequences of 1,000 letters from seqgra's mc2-dna1000-homer grammar."""
    from grammarbench.grammars.grammar import load_grammar
    from grammarbench.simulation.simulate import simulate_split
    from grammarbench.simulation.dataset import load_split

    grammar = load_grammar(GRAMMAR)
    with tempfile.TemporaryDirectory() as tmp:
        simulate_split(grammar, "test", n, seed, Path(tmp) / "test")
        split = load_split(Path(tmp) / "test", mmap=False)
        codes = np.array(split.sequences)
    if codes.shape[1] != 1000 or (codes >= 4).any():
        raise SystemExit(f"expected 1,000-letter DNA sequences, got shape {codes.shape}")
    return codes


def model(name: str, length: int = 1000) -> torch.nn.Module:
    arch = load_architecture(ROOT / "config/architectures" / f"{name}.yaml")
    resolved = resolve(arch, length=length, letters="ACGT", alphabet="DNA",
                       classes=["c1", "c2"], task="multi-class")
    torch.manual_seed(0)
    net = build_model(resolved).eval()
    gen = torch.Generator().manual_seed(1)
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=gen) * 0.3)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=gen) + 0.5)
    return net


def best_of(fns: dict, reps: int, device: torch.device) -> tuple[dict, dict]:
    """Run each function once to warm up, then ``reps`` times alternating; best times."""
    out, times = {}, {k: [] for k in fns}
    for k, fn in fns.items():
        out[k] = fn()
    for _ in range(reps):
        for k, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}, out


def bench_model(name: str, codes_dls: np.ndarray, codes_ism: np.ndarray, args,
                device) -> list[dict]:
    net = model(name)
    rows = []
    target = 1

    # --- DeepLIFT-SHAP, 20 shuffles per sequence ---------------------------------------
    if "deeplift_shap" in args.methods:
        rows.append(bench_dls(net, name, codes_dls, args, device, target))
    if "ism" in args.methods:
        rows.append(bench_ism(net, name, codes_ism, args, device, target))
    for r in rows:
        r["ours_seq_per_s"] = r["n"] / r["ours_s"]
        r["tangermeme_seq_per_s"] = r["n"] / r["tangermeme_s"]
        r["ratio"] = r["tangermeme_s"] / r["ours_s"]
    return rows


def bench_dls(net, name, codes_dls, args, device, target) -> dict:
    from tangermeme.deep_lift_shap import deep_lift_shap

    X = torch.tensor(seq.one_hot(codes_dls, 4, np.float32))

    def ours_dls():
        return attribute(net, codes_dls, target, "deeplift_shap", "shuffle", n_references=20,
                         batch_size=args.batch_size, device=device, random_state=0,
                         return_delta=True)

    def theirs_dls():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return deep_lift_shap(net, X, target=target, n_shuffles=20,
                                  batch_size=args.batch_size, device=device, random_state=0)

    times, out = best_of({"grammarbench": ours_dls, "tangermeme": theirs_dls}, args.reps, device)
    maps, delta = out["grammarbench"]
    # agreement: tangermeme given our references
    refs = torch.tensor(references.shuffle(codes_dls, 20, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same_refs = deep_lift_shap(net, X, target=target, references=refs,
                                   batch_size=args.batch_size, device=device).numpy()
    scale = float(np.abs(maps).max())
    return dict(model=name, method="deeplift_shap (20 shuffles)", n=len(codes_dls),
                ours_s=times["grammarbench"], tangermeme_s=times["tangermeme"],
                max_abs_delta=float(np.abs(delta).max()),
                max_diff_same_refs=float(np.abs(maps - same_refs).max()), scale=scale)


def bench_ism(net, name, codes_ism, args, device, target) -> dict:
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    X = torch.tensor(seq.one_hot(codes_ism, 4, np.float32))

    def ours_ism():
        return attribute(net, codes_ism, target, "ism", batch_size=args.ism_batch_size,
                         device=device)

    import tangermeme.saturation_mutagenesis as tm_ism

    used_fast = {}
    decide = tm_ism._fast_path

    def theirs(force_fast: bool):
        # tangermeme tries its fastISM only for jobs it expects to take > 30 s; forcing it
        # (threshold 0, private API) gives its best time on short jobs too, and the
        # better of the two runs counts as tangermeme's time
        def spy(*a, **k):
            result = decide(*a, **k)
            used_fast[force_fast] = result[0] is not None
            return result

        def run():
            tm_ism._fast_path, threshold = spy, tm_ism._FAST_MIN_SECONDS
            tm_ism._FAST_MIN_SECONDS = 0.0 if force_fast else threshold
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return saturation_mutagenesis(net, X, target=target,
                                                  batch_size=args.ism_batch_size,
                                                  device=device).numpy()
            finally:
                tm_ism._fast_path, tm_ism._FAST_MIN_SECONDS = decide, threshold
        return run

    times, out = best_of({"grammarbench": ours_ism, "tangermeme": theirs(False),
                          "tangermeme_fast": theirs(True)}, args.reps, device)
    best = min(("tangermeme", "tangermeme_fast"), key=times.get)
    return dict(model=name, method="ism (all substitutions)", n=len(codes_ism),
                ours_s=times["grammarbench"], tangermeme_s=times[best],
                tangermeme_default_s=times["tangermeme"],
                tangermeme_forced_fast_s=times["tangermeme_fast"],
                tangermeme_fast=bool(used_fast.get(best == "tangermeme_fast")),
                max_abs_delta=float("nan"),
                max_diff_same_refs=float(np.abs(out["grammarbench"] - out[best]).max()),
                scale=float(np.abs(out["grammarbench"]).max()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["basset", "conv10w-gmp-fc10"])
    parser.add_argument("--methods", nargs="+", default=["deeplift_shap", "ism"],
                        choices=["deeplift_shap", "ism"])
    parser.add_argument("--n-dls", type=int, default=16, help="sequences for DeepLIFT-SHAP")
    parser.add_argument("--n-ism", type=int, default=4, help="sequences for ISM")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--ism-batch-size", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    import tangermeme

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    codes = sequences(max(args.n_dls, args.n_ism))
    rows = []
    for name in args.models:
        rows += bench_model(name, codes[:args.n_dls], codes[:args.n_ism], args, device)
        for r in rows[-len(args.methods):]:
            print(f"{r['model']:>18}  {r['method']:<28} n={r['n']:<3} ours {r['ours_s']:8.2f} s "
                  f"({r['ours_seq_per_s']:7.2f} seq/s)  tangermeme {r['tangermeme_s']:8.2f} s "
                  f"({r['tangermeme_seq_per_s']:7.2f} seq/s)  ratio {r['ratio']:5.2f}x  "
                  f"|diff| {r['max_diff_same_refs']:.1e} of {r['scale']:.1e}"
                  + ("  (tangermeme fastISM)" if r.get("tangermeme_fast") else ""), flush=True)
    meta = {"device": str(device), "torch": torch.__version__, "tangermeme": tangermeme.__version__,
            "threads": torch.get_num_threads(), "platform": platform.platform(),
            "argv": sys.argv[1:]}
    if args.out:
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
