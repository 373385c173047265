"""Command-line entry point: run one stage outside Snakemake.

    grammarbench simulate GRAMMAR --n-train N --seed S --out DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from grammarbench.errors import InputError

log = logging.getLogger("grammarbench")


def configure_logging(level=logging.INFO) -> None:
    """One line per event on stderr (rule scripts point stderr at the rule's log)."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def _simulate(args) -> None:
    from grammarbench.dataset import EXPORT_FORMATS
    from grammarbench.grammar import load_grammar
    from grammarbench.simulate import simulate_dataset

    grammar = load_grammar(args.grammar)
    seed = args.seed if args.seed is not None else (grammar.seed if grammar.seed is not None else 1)
    exports = tuple(args.export or ())
    for fmt in exports:
        if fmt not in EXPORT_FORMATS:
            raise InputError("--export", "", f"unknown format {fmt!r}; known: {', '.join(EXPORT_FORMATS)}")
    start = time.perf_counter()
    manifests = simulate_dataset(grammar, args.out, seed, n_train=args.n_train,
                                 n_validation=args.n_validation, n_test=args.n_test,
                                 threads=args.threads, exports=exports)
    seconds = time.perf_counter() - start
    letters = sum(m["n"] for m in manifests.values()) * grammar.max_length
    for split, m in manifests.items():
        log.info("%s: %d examples, %d element instances", split, m["n"], m["instances"])
    log.info("wrote %s in %.2f s (%.3g letters/s)", args.out, seconds, letters / seconds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grammarbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="simulate a dataset (train/validation/test) from a grammar")
    sim.add_argument("grammar", help="grammar file: YAML, or a seqgra XML data definition")
    sim.add_argument("--n-train", type=int, help="training examples (default: the grammar's sizes.train)")
    sim.add_argument("--n-validation", type=int, help="validation examples (default: from the grammar)")
    sim.add_argument("--n-test", type=int, help="test examples (default: from the grammar)")
    sim.add_argument("--seed", type=int, help="data seed (default: the grammar's seed, else 1)")
    sim.add_argument("--out", required=True, help="output folder (train/, validation/, test/ inside)")
    sim.add_argument("--threads", type=int, default=1, help="chunks simulated at once (the output does not depend on it)")
    sim.add_argument("--export", action="append", help="also write fasta (FASTA + BED) and/or seqgra layout")
    sim.set_defaults(run=_simulate)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    for name in ("n_train", "n_validation", "n_test"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"grammarbench: error: --{name.replace('_', '-')} must be a positive number, got {value}",
                  file=sys.stderr)
            return 2
    try:
        args.run(args)
    except InputError as err:
        print(f"grammarbench: bad input: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
