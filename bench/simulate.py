"""Simulator throughput on seqgra's mc2-dna1000-homer-100k-s1 at its full size.

    .venv/bin/python bench/simulate.py [--threads 2] [--grammar PATH]

Times grammar loading, then the simulation of all three splits (70k / 10k / 20k examples of
1,000 letters) including writing the dataset (arrays, instance tables, manifests), in a
fresh temporary folder. Target (issue 2): at least 100 million letters per second on a
2-core machine; seqgra 0.0.4 makes ~1,100 examples of 1,000 letters per second on one core.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from grammarbench.grammars.grammar import load_grammar
from grammarbench.simulation.simulate import simulate_dataset

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "config/grammars/seqgra/mc2-dna1000-homer-100k-s1.xml"
SEQGRA_EXAMPLES_PER_SECOND = 1100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grammar", default=str(DEFAULT))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    grammar = load_grammar(args.grammar)
    load_seconds = time.perf_counter() - start
    # one warm-up run compiles the numba kernels and starts the worker server
    out = Path(tempfile.mkdtemp(prefix="gb-bench-"))
    try:
        simulate_dataset(grammar, out / "warmup", seed=1, n_train=2048, n_validation=2048,
                         n_test=2048, threads=args.threads)
        times = []
        for repeat in range(args.repeats):
            target = out / f"run{repeat}"
            start = time.perf_counter()
            manifests = simulate_dataset(grammar, target, seed=1, threads=args.threads)
            times.append(time.perf_counter() - start)
            shutil.rmtree(target)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    examples = sum(m["n"] for m in manifests.values())
    letters = examples * grammar.max_length
    best = min(times)
    print(f"grammar           {Path(args.grammar).name} (loaded in {load_seconds:.2f} s)")
    print(f"examples          {examples:,} x {grammar.max_length} letters, {args.threads} threads")
    print(f"wall time         best {best:.2f} s of {', '.join(f'{t:.2f}' for t in times)}")
    print(f"throughput        {letters / best / 1e6:.0f} million letters/s, {examples / best:,.0f} examples/s")
    print(f"vs seqgra 0.0.4   {examples / best / SEQGRA_EXAMPLES_PER_SECOND:.0f}x "
          f"({SEQGRA_EXAMPLES_PER_SECOND} examples/s, published figure)")


if __name__ == "__main__":
    main()
