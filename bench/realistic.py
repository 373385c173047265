"""Realistic simulation (issue 12): the motif scanner against memelite's FIMO, and the whole
simulate step against a pure-Python shuffle-and-implant reference.

    PYTHONPATH=. .venv/bin/python bench/realistic.py scan [--threads 2] [--motifs 200]
    PYTHONPATH=. .venv/bin/python bench/realistic.py simulate [--threads 2] [--windows 20000]

``scan``: the same JASPAR CORE vertebrate motifs (a seeded sample of ``--motifs``) on the
same windows (the janggu 0.10.2 wheel's Oct4 and Mafk ChIP-seq windows, 7,797 x 200 bp,
fetched with ``pip download`` into ``--cache``), both strands, p < 1e-4. Each scanner runs
in a fresh process: one warm-up call (numba compiles or loads its cache), then the best of
``--repeats`` timed calls from code arrays / one-hot arrays to the hit table. Prints both
times, the ratio and how far the two hit sets agree (they differ only at the threshold:
memelite rounds log-odds to 0.1 bits, we to 0.01 bits).

``simulate``: the whole simulate step of a realistic grammar on 400 bp windows (shuffle +
implant + re-scan + write) against interpret-benchmark's recipe written in plain Python
(per window: a dinucleotide shuffle by Altschul-Erickson's edge-swapping walk and the
hits pasted back), timed on a sample of windows. Target: >= 100x the reference's
~1,800 windows/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path.home() / ".cache" / "grammarbench" / "janggu"


def janggu_windows(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Oct4 and Mafk windows from the janggu wheel as (N, 200) codes, and which is which."""
    from grammarbench.simulation.realistic.windows import janggu_fasta, read_window_fasta

    oct4 = read_window_fasta(janggu_fasta("sample.fa", cache))
    mafk = read_window_fasta(janggu_fasta("sample2.fa", cache))
    return np.concatenate([oct4.codes, mafk.codes]), np.repeat([1, 0], [len(oct4), len(mafk)])


def sampled_motifs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    from grammarbench.motifs import jaspar_collection

    collection = jaspar_collection()
    ids = sorted(collection)
    pick = np.random.default_rng(seed).choice(len(ids), size=min(n, len(ids)), replace=False)
    return {ids[i]: collection[ids[i]][1] for i in sorted(pick)}


def _time(call, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds (all threads) of ``repeats`` calls after a
    warm-up. CPU time is the fairer number on a shared machine: other jobs stretch the
    wall clock, not the work done."""
    call()  # warm-up: compiles or loads numba's cache
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def scan_worker(engine: str, args) -> dict:
    """Runs in its own process: time one scanner, return its time and its hits."""
    import numba

    numba.set_num_threads(args.threads)
    codes, _ = janggu_windows(Path(args.cache))
    motifs = sampled_motifs(args.motifs)
    if engine == "grammarbench":
        from grammarbench.simulation.realistic.scan import MotifScanner

        def call():
            # pseudocount 4e-4 (x 0.25 = memelite's eps of 1e-4): the same log-odds up
            # to a constant per column, which moves no p-value
            scanner = MotifScanner(motifs, p_threshold=1e-4, pseudocount=4e-4)
            return scanner.scan(codes)

        seconds, cpu_seconds = _time(call, args.repeats)
        hits = call()
        keys = set(zip(hits["window"], hits["motif"].astype(str), hits["start"], hits["strand"]))
    else:
        from memelite import fimo

        one_hot = np.zeros((len(codes), 4, codes.shape[1]), dtype=np.int8)
        rows, cols = np.nonzero(codes < 4)
        one_hot[rows, codes[rows, cols], cols] = 1
        pwms = {name: ppm.T.copy() for name, ppm in motifs.items()}

        def call():
            return fimo(pwms, one_hot, threshold=1e-4)

        seconds, cpu_seconds = _time(call, args.repeats)
        tables = call()
        keys = set()
        for table in tables:
            keys.update(zip(table["sequence_name"], table["motif_name"].astype(str),
                            table["start"], table["strand"]))
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "hits": sorted((int(w), m, int(s), d) for w, m, s, d in keys),
            "windows": int(len(codes)), "letters": int(codes.size), "motifs": len(motifs)}


def run_worker(mode: str, engine: str, args) -> dict:
    command = [sys.executable, __file__, mode, "--worker", engine, "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--cache", str(args.cache)]
    if mode == "scan":
        command += ["--motifs", str(args.motifs)]
    else:
        command += ["--windows", str(args.windows)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_scan(args) -> None:
    # fresh processes, alternating, best of each: load from other jobs hits both alike
    runs = {"grammarbench": [], "memelite": []}
    for _ in range(args.rounds):
        for engine in runs:
            runs[engine].append(run_worker("scan", engine, args))
    ours, theirs = runs["grammarbench"][0], runs["memelite"][0]
    wall = {e: min(r["seconds"] for r in rs) for e, rs in runs.items()}
    cpu = {e: min(r["cpu_seconds"] for r in rs) for e, rs in runs.items()}
    a, b = set(map(tuple, ours["hits"])), set(map(tuple, theirs["hits"]))
    print(f"windows           {ours['windows']:,} janggu Oct4 + Mafk windows, {ours['letters']:,} letters")
    print(f"motifs            {ours['motifs']} JASPAR CORE vertebrates, both strands, p < 1e-4, "
          f"{args.threads} threads")
    print(f"grammarbench      {wall['grammarbench']:.3f} s wall, {cpu['grammarbench']:.3f} s CPU, {len(a):,} hits")
    print(f"memelite fimo     {wall['memelite']:.3f} s wall, {cpu['memelite']:.3f} s CPU, {len(b):,} hits")
    print(f"hits in both      {len(a & b):,} (only ours {len(a - b):,}, only memelite {len(b - a):,})")
    print(f"ratio             {wall['memelite'] / wall['grammarbench']:.2f}x memelite's speed (wall), "
          f"{cpu['memelite'] / cpu['grammarbench']:.2f}x (CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["scan", "simulate"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--motifs", type=int, default=200)
    parser.add_argument("--windows", type=int, default=20000)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = (scan_worker if args.mode == "scan" else simulate_worker)(args.worker, args)
        print(json.dumps(result))
    elif args.mode == "scan":
        bench_scan(args)
    else:
        bench_simulate(args)


if __name__ == "__main__":
    main()
