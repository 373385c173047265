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
  default and with fastISM forced, and the faster of the two counts.

Two figures per model and method:

- **cold** (the headline): the real entry point in a fresh process, as a Snakemake job
  runs it: ``grammarbench attribute MODEL --test SPLIT ...`` on a trained-model folder
  and a split folder written for the purpose, beside a fresh ``python`` process that
  loads the same model and sequences and runs tangermeme's function on them; wall
  time of each process, imports and writing the result included, best of
  ``--cold-reps``.
- **warm**: both functions called in this process, after a warm-up, alternating
  ``--reps`` times, best time of each (other jobs share the machine). For
  DeepLIFT-SHAP it also times the **floor**: 20 plain forward+backward passes of each
  sequence through the model (the gradient of the target logit with respect to the
  input, the same batches of ``--batch-size`` rows), what any DeepLIFT-SHAP must at
  least compute; ``ours / floor`` says how far from it we are.

Throughput is sequences per second; a ratio is tangermeme's time / ours (> 1: we are
faster). Outputs are checked against each other: ISM maps must agree to rounding, and
DeepLIFT-SHAP maps must agree when tangermeme is given our references.

Usage (tangermeme installed without dependencies, so it does not replace torch)::

    pip install --no-deps tangermeme
    python bench/attribute.py                       # basset and conv10w-gmp-fc10
    python bench/attribute.py --models zoo --methods deeplift_shap --n-dls 8
    python bench/attribute.py --models basset --n-ism 8 --reps 3 --out bench/attribute.json
    python bench/attribute.py --methods ism --cold-reps 0 --baseline ../main  # before/after
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import types
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
from fresh import run_fresh  # noqa: E402  (bench/fresh.py: one command in a fresh process)

GRAMMAR = ROOT / "config/grammars/seqgra/mc2-dna1000-homer-100k-s1.xml"
#: Zoo networks DeepLIFT applies to (DanQ's LSTM has no rule; gkmsvm is not a network).
ZOO = ["fc10", "conv10-fc10", "conv10-gmp-fc10", "conv10w-gmp-fc10", "conv10xw-gmp-fc10",
       "conv10w-conv10w-gmp-fc10", "exp-cnn", "basset", "chromdragonn", "deepsea", "beluga"]


def sequences(n: int, out: Path, seed: int = 1) -> np.ndarray:
    """``n`` test sequences of 1,000 letters from seqgra's mc2-dna1000-homer grammar,
    also written as a split folder ``out`` (for the cold runs)."""
    from grammarbench.grammars.grammar import load_grammar
    from grammarbench.simulation.simulate import simulate_split
    from grammarbench.simulation.dataset import load_split

    grammar = load_grammar(GRAMMAR)
    simulate_split(grammar, "test", n, seed, out)
    codes = np.array(load_split(out, mmap=False).sequences)
    if codes.shape[1] != 1000 or (codes >= 4).any():
        raise SystemExit(f"expected 1,000-letter DNA sequences, got shape {codes.shape}")
    return codes


def model(name: str, length: int = 1000, folder: Path | None = None) -> torch.nn.Module:
    """The zoo network ``name`` with seeded random weights; with ``folder``, also written
    there as a trained-model folder (``model.pt``, ``architecture.yaml``)."""
    import yaml

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
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), folder / "model.pt")
        (folder / "architecture.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
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


def bench_model(name: str, codes_dls: np.ndarray, codes_ism: np.ndarray, args, device,
                tmp: Path) -> list[dict]:
    folder = tmp / "models" / name
    net = model(name, folder=folder)
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
        if r.get("floor_s"):
            r["ours_over_floor"] = r["ours_s"] / r["floor_s"]
            r["tangermeme_over_floor"] = r["tangermeme_s"] / r["floor_s"]
        if args.cold_reps:
            method = "deeplift_shap" if r["method"].startswith("deeplift_shap") else "ism"
            r.update(bench_cold(folder, method, r["n"], args, device, tmp))
    return rows


def bench_cold(folder: Path, method: str, n: int, args, device, tmp: Path) -> dict:
    """Wall and CPU time of ``grammarbench attribute`` and of tangermeme, each in a fresh
    process, on the same model folder and the first ``n`` sequences of the same split;
    best of ``--cold-reps``, alternating."""
    split = tmp / "test"
    batch = args.batch_size if method == "deeplift_shap" else args.ism_batch_size
    cli = Path(sys.executable).with_name("grammarbench")
    ours = [str(cli), "attribute", str(folder), "--test", str(split), "--train", str(split),
            "--method", method, "--n-examples", str(n), "--batch-size", str(batch),
            "--random-state", "0", "--device", device.type, "--out", str(tmp / "cold-ours")]
    if method == "deeplift_shap":
        ours += ["--reference", "shuffle", "--n-references", "20"]
    theirs = [sys.executable, "-c", TANGERMEME_JOB, str(folder), str(split), method, str(n),
              str(batch), device.type, str(tmp / "cold-tangermeme.npy")]
    times = {"ours": [], "tangermeme": []}
    cpu = {"ours": [], "tangermeme": []}
    for _ in range(args.cold_reps):
        for key, cmd in (("ours", ours), ("tangermeme", theirs)):
            _, wall, seconds = run_fresh(cmd, ROOT)
            times[key].append(wall)
            cpu[key].append(seconds)
    return {"cold_ours_s": min(times["ours"]), "cold_tangermeme_s": min(times["tangermeme"]),
            "cold_ratio": min(times["tangermeme"]) / min(times["ours"]),
            "cold_ours_cpu_s": min(cpu["ours"]), "cold_tangermeme_cpu_s": min(cpu["tangermeme"]),
            "cold_cpu_ratio": min(cpu["tangermeme"]) / min(cpu["ours"])}


#: What a tangermeme user's job does, run as ``python -c``: load the model and the
#: sequences, explain the target logit, write the maps.
TANGERMEME_JOB = """
import sys, warnings
import numpy as np, torch
from grammarbench.models.networks import load_trained
from grammarbench.simulation.dataset import load_split
folder, split, method, n, batch, device, out = sys.argv[1:]
n, batch = int(n), int(batch)
net = load_trained(folder, device=device)
codes = torch.as_tensor(np.asarray(load_split(split).sequences[:n])).long()
X = torch.nn.functional.one_hot(codes, 4).permute(0, 2, 1).float()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if method == "deeplift_shap":
        from tangermeme.deep_lift_shap import deep_lift_shap
        maps = deep_lift_shap(net, X, target=1, n_shuffles=20, batch_size=batch,
                              device=device, random_state=0)
    else:
        from tangermeme.saturation_mutagenesis import saturation_mutagenesis
        maps = saturation_mutagenesis(net, X, target=1, batch_size=batch, device=device)
np.save(out, maps.numpy())
"""


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

    net_dev = net.to(device)
    rows = X.to(device).repeat_interleave(20, dim=0)

    def floor():
        # 20 forward+backward passes per sequence: the input gradient of the target logit
        for lo in range(0, rows.shape[0], args.batch_size):
            x = rows[lo:lo + args.batch_size].clone().requires_grad_(True)
            y = net_dev(x)[:, target]
            torch.autograd.grad(y.sum(), x)

    times, out = best_of({"grammarbench": ours_dls, "tangermeme": theirs_dls, "floor": floor},
                         args.reps, device)
    net.cpu()
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
                floor_s=times["floor"],
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

    fns = {"grammarbench": ours_ism, "tangermeme": theirs(False), "tangermeme_fast": theirs(True)}
    if args.baseline:
        fns["baseline"] = baseline_ism(args.baseline, ours_ism)
    times, out = best_of(fns, args.reps, device)
    best = min(("tangermeme", "tangermeme_fast"), key=times.get)
    extra = {}
    if args.baseline:
        extra = dict(baseline=str(args.baseline), baseline_s=times["baseline"],
                     baseline_ratio=times[best] / times["baseline"],
                     max_diff_baseline=float(np.abs(out["grammarbench"] - out["baseline"]).max()))
    return dict(model=name, method="ism (all substitutions)", n=len(codes_ism), **extra,
                ours_s=times["grammarbench"], tangermeme_s=times[best],
                tangermeme_default_s=times["tangermeme"],
                tangermeme_forced_fast_s=times["tangermeme_fast"],
                tangermeme_fast=bool(used_fast.get(best == "tangermeme_fast")),
                max_abs_delta=float("nan"),
                max_diff_same_refs=float(np.abs(out["grammarbench"] - out[best]).max()),
                scale=float(np.abs(out["grammarbench"]).max()))


def baseline_ism(checkout: Path, ours_ism):
    """``ours_ism`` run with the fast-ISM module of another checkout (``--baseline``):
    before and after a change of grammarbench/attribution/fastism.py, timed in the same
    run, alternating with the rest."""
    import importlib.util
    from grammarbench.attribution import methods

    path = checkout / "grammarbench/attribution/fastism.py"
    spec = importlib.util.spec_from_file_location("baseline_fastism", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    predict = module.predict_edits

    def predict_edits(run_, x, target, *edits):
        predicted = predict(run_, x, target, *edits)
        if predicted is None or isinstance(predicted, tuple):
            return predicted
        # a checkout from before predict_edits returned the unedited logits too
        return predicted, run_.outputs(x, target)
    adapted = types.SimpleNamespace(predict_edits=predict_edits)

    def run():
        ours = methods.fastism
        methods.fastism = adapted
        try:
            return ours_ism()
        finally:
            methods.fastism = ours
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["basset", "conv10w-gmp-fc10"],
                        help="zoo names, or 'zoo' for every network DeepLIFT applies to")
    parser.add_argument("--methods", nargs="+", default=["deeplift_shap", "ism"],
                        choices=["deeplift_shap", "ism"])
    parser.add_argument("--n-dls", type=int, default=16, help="sequences for DeepLIFT-SHAP")
    parser.add_argument("--n-ism", type=int, default=4, help="sequences for ISM")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--ism-batch-size", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--cold-reps", type=int, default=2,
                        help="fresh-process runs of each tool (0: warm figures only)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", help="also write the rows as JSON here")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout (e.g. ../main): ISM also timed with its "
                             "grammarbench/attribution/fastism.py, warm, in the same run")
    args = parser.parse_args(argv)
    import tangermeme

    if args.threads:
        torch.set_num_threads(args.threads)
    # the allocator setting of an attribute job (page faults were a sixth of its time);
    # the warm figures time both tools in this process, so both have it
    from grammarbench.runtime import reuse_freed_memory
    reuse_freed_memory()
    models = [m for name in args.models for m in (ZOO if name == "zoo" else [name])]
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        codes = sequences(max(args.n_dls, args.n_ism), tmp / "test")
        for name in models:
            rows += bench_model(name, codes[:args.n_dls], codes[:args.n_ism], args, device, tmp)
            for r in rows[-len(args.methods):]:
                print(report(r), flush=True)
    meta = {"device": str(device), "torch": torch.__version__, "tangermeme": tangermeme.__version__,
            "threads": torch.get_num_threads(), "platform": platform.platform(),
            "argv": sys.argv[1:]}
    if args.out:
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


def report(r: dict) -> str:
    """Two lines per row: the cold (fresh-process) ratio first, then the warm one."""
    head = f"{r['model']:>24}  {r['method']:<28} n={r['n']:<3}"
    pad = " " * len(head)
    lines = []
    if "cold_ratio" in r:
        lines.append(f"{head} cold  grammarbench attribute {r['cold_ours_s']:7.2f} s  tangermeme "
                     f"{r['cold_tangermeme_s']:7.2f} s  (fresh processes, wall)  ratio "
                     f"{r['cold_ratio']:5.2f}x  (CPU {r['cold_ours_cpu_s']:.2f} s vs "
                     f"{r['cold_tangermeme_cpu_s']:.2f} s: {r['cold_cpu_ratio']:.2f}x)")
        head = pad
    warm = (f"{head} warm  ours {r['ours_s']:8.2f} s ({r['ours_seq_per_s']:7.2f} seq/s)  tangermeme "
            f"{r['tangermeme_s']:8.2f} s ({r['tangermeme_seq_per_s']:7.2f} seq/s)  ratio "
            f"{r['ratio']:5.2f}x  |diff| {r['max_diff_same_refs']:.1e} of {r['scale']:.1e}")
    if r.get("tangermeme_fast"):
        warm += "  (tangermeme fastISM)"
    lines.append(warm)
    if "baseline_s" in r:
        lines.append(f"{pad} base  {r['baseline']}'s fastism {r['baseline_s']:8.2f} s  ratio "
                     f"{r['baseline_ratio']:5.2f}x  (ours {r['baseline_s'] / r['ours_s']:.2f}x "
                     f"faster; |diff| {r['max_diff_baseline']:.1e})")
    if "ours_over_floor" in r:
        lines.append(f"{pad} floor {r['floor_s']:8.2f} s (20 x forward+backward)  ours "
                     f"{r['ours_over_floor']:4.2f}x floor  tangermeme "
                     f"{r['tangermeme_over_floor']:4.2f}x floor")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
