"""Training throughput on 1,000-letter DNA: conv10w-gmp-fc10 and Basset, CPU or GPU.

    .venv/bin/python bench/train.py [--architectures conv10w-gmp-fc10 basset] [--n 2000]
                                    [--epochs 3] [--device auto] [--threads 2]

For each architecture:

* the real training loop (grammarbench.models.train.train_model) for ``--epochs`` epochs on ``--n``
  simulated examples (one CTCF site or none in 1,000 letters): examples per second of each
  epoch's training pass, as history.tsv records them;
* a breakdown of the same loop into *data* time (gather a batch of uint8 codes on the
  device, one-hot encode it there) and *step* time (forward, backward, optimizer step),
  each measured with the device synchronised; their ratio says whether the input pipeline
  keeps the device busy;
* what seqgra does instead: re-encode every example from its letters in Python each epoch
  (a dictionary lookup per letter), timed over the same examples.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from grammarbench.models.architectures import load_architecture, resolve
from grammarbench.simulation.dataset import load_split
from grammarbench.grammars.grammar import grammar_from_dict
from grammarbench.models.networks import build_model, count_parameters
from grammarbench.models.predict import one_hot_batch
from grammarbench.runtime import device_description, resolve_device
from grammarbench.simulation.simulate import simulate_split
from grammarbench.models.train import _amp_dtype, train_model

REPO = Path(__file__).resolve().parents[1]
GRAMMAR = {
    "name": "one-motif-1000", "length": 1000, "background": {"gc": 0.41},
    "elements": {"CTCF": {"jaspar": "MA0139.1", "strand": "either"}},
    "classes": {"ctcf": {"rules": [{"elements": ["CTCF"]}]}, "background": {"background_only": True}},
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def breakdown(resolved: dict, codes: np.ndarray, labels: np.ndarray, device: torch.device,
              batches: int) -> tuple[float, float, int]:
    """Seconds of data preparation and of optimisation steps over ``batches`` batches."""
    torch.manual_seed(0)
    model = build_model(resolved).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=resolved["training"]["learning_rate"])
    amp = _amp_dtype(device, True)
    seqs = torch.from_numpy(codes).to(device)
    y_all = torch.from_numpy(labels.astype(np.int64)).to(device)
    A, B = resolved["input"]["alphabet_size"], resolved["training"]["batch_size"]
    order = torch.randperm(len(codes)).to(device)
    data = step = 0.0
    done = 0
    for i in range(batches + 2):  # the first two batches warm up (allocator, cuDNN autotuner)
        lo = (i * B) % max(1, len(codes) - B)
        sync(device)
        t0 = time.perf_counter()
        idx = order[lo: lo + B]
        x = one_hot_batch(seqs[idx], A)
        y = y_all[idx]
        sync(device)
        t1 = time.perf_counter()
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
        t2 = time.perf_counter()
        if i >= 2:
            data += t1 - t0
            step += t2 - t1
            done += len(idx)
    return data, step, done


def python_encoding_seconds(codes: np.ndarray) -> float:
    """seqgra's way: every example from its letters, one dictionary lookup per letter."""
    letters = ["".join("ACGT"[c] for c in row) for row in codes]  # what seqgra keeps in memory
    table = {"A": [1, 0, 0, 0], "C": [0, 1, 0, 0], "G": [0, 0, 1, 0], "T": [0, 0, 0, 1]}
    start = time.perf_counter()
    encoded = np.array([[table[letter] for letter in seq] for seq in letters], dtype=np.float32)
    seconds = time.perf_counter() - start
    assert encoded.shape == (len(codes), codes.shape[1], 4)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=["conv10w-gmp-fc10", "basset"])
    parser.add_argument("--n", type=int, default=2000, help="training examples")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=10, help="batches timed in the breakdown")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/train.py", *sys.argv[1:]])

    grammar = grammar_from_dict(GRAMMAR)
    folder = Path(tempfile.mkdtemp(prefix="gb-bench-train-"))
    simulate_split(grammar, "train", args.n, 1, folder / "train")
    simulate_split(grammar, "validation", max(200, args.n // 10), 1, folder / "validation")
    train, validation = load_split(folder / "train"), load_split(folder / "validation")
    codes, labels = np.array(train.sequences), np.array(train.labels)

    print(f"command           {command}")
    print(f"device            {device_description(device)}; torch {torch.__version__}")
    print(f"data              {args.n} training examples x 1000 letters (DNA), {len(validation)} validation")
    python_seconds = python_encoding_seconds(codes)
    for name in args.architectures:
        arch = load_architecture(REPO / "config/architectures" / f"{name}.yaml")
        resolved = resolve(arch, length=1000, letters="ACGT", alphabet="DNA", classes=grammar.class_names,
                           task="multi-class", overrides={"max_epochs": args.epochs, "patience": args.epochs})
        params = count_parameters(build_model(resolved))["total"]
        result = train_model(resolved, train, validation, model_seed=1, device=device, threads=args.threads)
        per_epoch = result.history["examples_per_second"].tolist()
        data, step, done = breakdown(resolved, codes, labels, device, args.batches)
        batch = resolved["training"]["batch_size"]
        print(f"\n{name} ({params:,} parameters, batch size {batch})")
        print("  examples/s per epoch  " + ", ".join(f"{v:,.0f}" for v in per_epoch)
              + "   (epoch wall time incl. validation: "
              + ", ".join(f"{s:.2f} s" for s in result.history["seconds"]) + ")")
        print(f"  data vs step          data {1e3 * data / (done / batch):.2f} ms, step "
              f"{1e3 * step / (done / batch):.2f} ms per batch: data = {data / (data + step):.1%} of the time "
              f"({done / (data + step):,.0f} examples/s without validation or logging)")
        print(f"  seqgra-style encoding re-encoding the {args.n} examples in Python takes {python_seconds:.2f} s "
              f"per epoch ({args.n / python_seconds:,.0f} examples/s) vs {1e3 * data / done * args.n:.1f} ms "
              f"on the device here")


if __name__ == "__main__":
    main()
