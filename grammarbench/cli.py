"""Command-line entry point: run one stage outside Snakemake.

    grammarbench simulate GRAMMAR --n-train N --seed S --out DIR
    grammarbench train ARCHITECTURE --train DIR --validation DIR --out MODEL_DIR
    grammarbench evaluate MODEL_DIR --data DIR [--data DIR ...] --out DIR
    grammarbench oracle GRAMMAR --data DIR [--data DIR ...] --out DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from grammarbench.errors import InputError
from grammarbench.runtime import configure_logging

log = logging.getLogger("grammarbench")


def _simulate(args) -> None:
    from grammarbench.simulation.dataset import EXPORT_FORMATS
    from grammarbench.grammars.grammar import load_grammar
    from grammarbench.simulation.simulate import simulate_dataset

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


def _device(name: str):
    from grammarbench.runtime import resolve_device

    try:
        return resolve_device(name)
    except ValueError as err:
        raise InputError("--device", "", str(err)) from None


def _train(args) -> None:
    from grammarbench.models.train import fit

    overrides = {"max_epochs": args.max_epochs, "patience": args.patience, "batch_size": args.batch_size}
    summary = fit(args.architecture, args.train, args.validation, args.out, model_seed=args.model_seed,
                  device=_device(args.device), overrides=overrides,
                  mixed_precision=not args.no_mixed_precision, threads=args.threads)
    log.info("wrote %s: best epoch %d of %d, %.1f s on %s", args.out, summary["best_epoch"],
             summary["epochs"], summary["wall_seconds"], summary["device_name"])


def _split_outputs(data: list[str], out: str) -> tuple[dict, dict]:
    """Split name (from each folder's manifest) → folder, and → its three output tables."""
    import json
    from pathlib import Path

    splits = {}
    for folder in data:
        manifest = Path(folder) / "manifest.json"
        if not manifest.is_file():
            raise InputError(folder, "", "not a simulated split (no manifest.json)")
        name = json.loads(manifest.read_text())["split"]
        if name in splits:
            raise InputError(folder, "", f"a second {name} split (the first: {splits[name]})")
        splits[name] = folder
    outputs = {name: {kind: Path(out) / f"{name}.{kind}.tsv" for kind in ("metrics", "predictions", "curves")}
               for name in splits}
    Path(out).mkdir(parents=True, exist_ok=True)
    return splits, outputs


def _evaluate(args) -> None:
    from grammarbench.models.evaluate import evaluate_model

    splits, outputs = _split_outputs(args.data, args.out)
    evaluate_model(args.model, splits, outputs, device=_device(args.device), batch_size=args.batch_size,
                   threads=args.threads)


def _oracle(args) -> None:
    from pathlib import Path

    from grammarbench.models.oracle import evaluate_oracle

    splits, outputs = _split_outputs(args.data, args.out)
    evaluate_oracle(args.grammar, splits, outputs, notes=Path(args.out) / "oracle.json",
                    device=_device(args.device), threads=args.threads)


def _attribute(args) -> None:
    from grammarbench.attribution import attribute_model, model_layers
    from grammarbench.attribution.settings import validate_attribution_config
    from grammarbench.models.networks import load_trained

    settings = {key: value for key, value in (("reference", args.reference),
                                              ("n_references", args.n_references)) if value is not None}
    section = {"n_examples": args.n_examples, "batch_size": args.batch_size, "random_state": args.random_state,
               "methods": {method: dict(settings) for method in args.method}}
    layers = model_layers(load_trained(args.model, device="cpu"))
    checked = validate_attribution_config(section, "command line", layers)
    paths = attribute_model(args.model, args.test, args.train, checked["runs"], args.out,
                            n_examples=checked["n_examples"], batch_size=checked["batch_size"],
                            random_state=checked["random_state"], device=_device(args.device))
    log.info("wrote %s", ", ".join(paths))


def _score(args) -> None:
    from pathlib import Path

    from grammarbench.attribution import score_runs

    paths = sorted(Path(args.attributions).glob("*.npz"))
    if not paths:
        raise InputError(args.attributions, "", "no attribution runs (*.npz) in this folder")
    table = score_runs(paths, args.test, score=args.score)
    table.to_csv(args.out, sep="\t", index=False)
    log.info("wrote %s: %d rows from %d runs", args.out, len(table), len(paths))


def _discover(args) -> None:
    from grammarbench.discovery.stage import discover_run

    paths = discover_run(args.maps, args.test, args.grammar, args.decoys, args.out,
                         n_examples=args.n_examples, alpha=args.alpha, threads=args.threads)
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


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

    devices = ("auto", "cpu", "cuda")
    train = sub.add_parser("train", help="train an architecture on a simulated dataset")
    train.add_argument("architecture", help="architecture file (YAML; see config/architectures/README.md)")
    train.add_argument("--train", required=True, help="training split folder (all of it is used)")
    train.add_argument("--validation", required=True, help="validation split folder")
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--model-seed", type=_non_negative, default=1, help="seeds weights, dropout, batch order (default 1)")
    train.add_argument("--device", choices=devices, default="auto", help="default: CUDA when available, else the CPU")
    train.add_argument("--max-epochs", type=_positive, help="override the architecture's max_epochs")
    train.add_argument("--patience", type=_non_negative, help="override the architecture's patience")
    train.add_argument("--batch-size", type=_positive, help="override the architecture's batch_size")
    train.add_argument("--threads", type=_positive, help="CPU threads (default: torch's)")
    train.add_argument("--no-mixed-precision", action="store_true", help="no autocast on CUDA")
    train.set_defaults(run=_train)

    evaluate = sub.add_parser("evaluate", help="evaluate a trained model on simulated splits")
    evaluate.add_argument("model", help="trained-model folder (written by `grammarbench train`)")
    evaluate.add_argument("--data", action="append", required=True, help="a split folder (repeat for several)")
    evaluate.add_argument("--out", required=True, help="folder for <split>.metrics/predictions/curves.tsv")
    evaluate.add_argument("--device", choices=devices, default="auto")
    evaluate.add_argument("--batch-size", type=_positive, help="default: twice the training batch size")
    evaluate.add_argument("--threads", type=_positive)
    evaluate.set_defaults(run=_evaluate)

    oracle = sub.add_parser("oracle", help="score the grammar's Bayes-optimal classifier on simulated splits")
    oracle.add_argument("grammar", help="the grammar the splits were simulated from")
    oracle.add_argument("--data", action="append", required=True, help="a split folder (repeat for several)")
    oracle.add_argument("--out", required=True, help="folder for the tables and oracle.json")
    oracle.add_argument("--device", choices=devices, default="cpu")
    oracle.add_argument("--threads", type=_positive)
    oracle.set_defaults(run=_oracle)

    attribute = sub.add_parser("attribute", help="attribution maps of a trained model on a simulated split")
    attribute.add_argument("model", help="trained-model folder (written by `grammarbench train`)")
    attribute.add_argument("--test", required=True, help="the split to explain")
    attribute.add_argument("--train", required=True, help="the training split (its letter frequencies "
                                                          "make the mean_composition reference)")
    attribute.add_argument("--method", action="append", required=True,
                           help="a method (repeat for several): saliency, grad_x_input, integrated_gradients, "
                                "deeplift, deeplift_shap, gradcam, guided_backprop, deconvolution, "
                                "smoothgrad, occlusion, ism, sis")
    attribute.add_argument("--reference", help="zeros, uniform, mean_composition or shuffle (default: the method's)")
    attribute.add_argument("--n-references", type=_positive, help="references per example (shuffle)")
    attribute.add_argument("--n-examples", type=_positive, default=500, help="explain the first n examples")
    attribute.add_argument("--batch-size", type=_positive, default=128)
    attribute.add_argument("--random-state", type=_non_negative, default=0)
    attribute.add_argument("--device", choices=devices, default="auto")
    attribute.add_argument("--out", required=True, help="folder for <method>.npz")
    attribute.set_defaults(run=_attribute)

    score = sub.add_parser("score", help="score attribution maps against the simulated ground truth")
    score.add_argument("attributions", help="folder of <run>.npz (written by `grammarbench attribute`)")
    score.add_argument("--test", required=True, help="the split the maps explain")
    score.add_argument("--score", choices=("sum", "observed"), default="sum",
                       help="a position's score: |sum over letters| or the attribution at the observed letter")
    score.add_argument("--out", required=True, help="TSV to write")
    score.set_defaults(run=_score)

    discover = sub.add_parser("discover", help="TF-MoDISco on one run's maps, matched to the "
                              "grammar's elements with Tomtom, and scored")
    discover.add_argument("maps", help="one run's <run>.npz (written by `grammarbench attribute`)")
    discover.add_argument("--test", required=True, help="the split the maps explain")
    discover.add_argument("--grammar", required=True, help="the grammar that generated it")
    discover.add_argument("--decoys", default=None,
                          help="MEME file of decoy motifs (default: JASPAR CORE, every taxon)")
    discover.add_argument("--n-examples", type=_positive, default=None,
                          help="the first n maps (default: all)")
    discover.add_argument("--alpha", type=float, default=0.05, help="Tomtom q-value threshold")
    discover.add_argument("--threads", type=_positive, default=1)
    discover.add_argument("--out", required=True,
                          help="prefix: writes <out>.json, <out>.matches.tsv, <out>.scores.tsv")
    discover.set_defaults(run=_discover)
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
    from grammarbench.errors import TrainingDiverged

    try:
        args.run(args)
    except InputError as err:
        print(f"grammarbench: bad input: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"grammarbench: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
