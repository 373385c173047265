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
from grammarbench.runtime import configure_logging, wait_passively

log = logging.getLogger("grammarbench")


def _simulate(args) -> None:
    from grammarbench.simulation.dataset import EXPORT_FORMATS
    from grammarbench.grammars.grammar import load_grammar
    from grammarbench.simulation.simulate import simulate_dataset

    from grammarbench.grid import check_disk, check_split_fits, dataset_bytes

    _output_folder(args.out)
    grammar = load_grammar(args.grammar)
    seed = args.seed if args.seed is not None else (grammar.seed if grammar.seed is not None else 1)
    exports = tuple(args.export or ())
    for fmt in exports:
        if fmt not in EXPORT_FORMATS:
            raise InputError("--export", "", f"unknown format {fmt!r}; known: {', '.join(EXPORT_FORMATS)}")
    n_train = args.n_train if args.n_train is not None else grammar.sizes.get("train")
    heldout = grammar.heldout_sizes(n_train) if n_train else {}
    sizes = {"--n-train": n_train, "--n-validation": args.n_validation or heldout.get("validation"),
             "--n-test": args.n_test or heldout.get("test")}
    for option, n in sizes.items():
        if n:
            check_split_fits(n, grammar.max_length, "command line", option)
    check_disk(dataset_bytes(sum(n for n in sizes.values() if n), grammar.max_length, exports), args.out,
               "command line", "--n-train")
    wait_passively()
    start = time.perf_counter()
    if getattr(grammar, "kind", "") == "realistic":
        from grammarbench.simulation.realistic.simulate import simulate_realistic_dataset

        if exports:
            raise InputError("--export", "", "exports are not written for realistic grammars")
        manifests = simulate_realistic_dataset(grammar, args.out, seed, n_train=args.n_train,
                                               n_validation=args.n_validation, n_test=args.n_test,
                                               threads=args.threads)
    else:
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


def _output_folder(out: str) -> None:
    """``--out`` must be a folder to write: an existing file is refused before anything is
    written (nothing is created either)."""
    from pathlib import Path

    if Path(out).exists() and not Path(out).is_dir():
        raise InputError(out, "--out", "is an existing file; name a folder to write")


def _split_manifest(folder: str, option: str) -> dict:
    """The manifest of a simulated split folder; a folder that is not one (it holds no
    manifest.json) is an :class:`InputError` naming the option."""
    import json
    from pathlib import Path

    if not Path(folder).is_dir():
        raise InputError(folder, option, "not found: name a split folder written by `grammarbench simulate`")
    manifest = Path(folder) / "manifest.json"
    if not manifest.is_file():
        raise InputError(folder, option, "not a simulated split (no manifest.json); name a split folder "
                                         "such as OUT/train written by `grammarbench simulate`")
    return json.loads(manifest.read_text())


def _train(args) -> None:
    from grammarbench.models.train import fit

    _split_manifest(args.train, "--train")
    _split_manifest(args.validation, "--validation")
    _output_folder(args.out)
    overrides = {"max_epochs": args.max_epochs, "patience": args.patience, "batch_size": args.batch_size}
    summary = fit(args.architecture, args.train, args.validation, args.out, model_seed=args.model_seed,
                  device=_device(args.device), overrides=overrides,
                  mixed_precision=not args.no_mixed_precision, threads=args.threads)
    log.info("wrote %s: best epoch %d of %d, %.1f s on %s", args.out, summary["best_epoch"],
             summary["epochs"], summary["wall_seconds"], summary["device_name"])


def _split_outputs(data: list[str], out: str) -> tuple[dict, dict]:
    """Split name (from each folder's manifest) → folder, and → its three output tables."""
    from pathlib import Path

    from grammarbench.models.evaluate import split_outputs

    _output_folder(out)
    splits = {}
    for folder in data:
        name = _split_manifest(folder, "--data")["split"]
        if name in splits:
            raise InputError(folder, "", f"a second {name} split (the first: {splits[name]})")
        splits[name] = folder
    outputs = split_outputs(out, splits)
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
    from grammarbench.runtime import reuse_freed_memory
    from grammarbench.attribution.settings import validate_attribution_config
    from grammarbench.models.networks import load_trained

    method = {key: value for key, value in (("reference", args.reference),
                                            ("n_references", args.n_references)) if value is not None}
    section = {key: value for key, value in (("batch_size", args.batch_size),
                                             ("random_state", args.random_state)) if value is not None}
    section["methods"] = {name: dict(method) for name in args.method}
    n_test = _split_manifest(args.test, "--test")["n"]
    if args.n_examples is not None:
        if args.n_examples > n_test:
            raise InputError(args.test, "--n-examples", f"{args.n_examples} is more than this split's "
                                                        f"{n_test} examples")
        section["n_examples"] = args.n_examples
    _split_manifest(args.train, "--train")
    _output_folder(args.out)
    device = _device(args.device)
    model = load_trained(args.model, device=device)
    settings = validate_attribution_config(section, "command line", model_layers(model))
    reuse_freed_memory()
    paths = attribute_model(args.model, args.test, args.train, settings, args.out,
                            device=device, model=model)
    log.info("wrote %s", ", ".join(paths))


def _score(args) -> None:
    from pathlib import Path

    from grammarbench.attribution import score_runs
    from grammarbench.attribution.settings import METRIC_OPTIONS

    _split_manifest(args.test, "--test")
    if Path(args.out).is_dir():
        raise InputError(args.out, "--out", "is a folder; name the TSV file to write")
    paths = sorted(Path(args.attributions).glob("*.npz"))
    if not paths:
        raise InputError(args.attributions, "", "no attribution runs (*.npz) in this folder")
    options = {name: getattr(args, name) for name in METRIC_OPTIONS if getattr(args, name) is not None}
    table = score_runs(paths, args.test, **options)
    table.to_csv(args.out, sep="\t", index=False)
    log.info("wrote %s: %d rows from %d runs", args.out, len(table), len(paths))


def _discover(args) -> None:
    from grammarbench.discovery.stage import discover_run

    paths = discover_run(args.maps, args.test, args.grammar, args.decoys, args.out,
                         n_examples=args.n_examples, alpha=args.alpha, threads=args.threads,
                         motif_summary=args.motifs)
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))


#: The largest seed: every random generator the stages use accepts 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _attribution():
    import grammarbench.attribution.registry
    import grammarbench.attribution.settings

    return grammarbench.attribution


class _Lazy:
    """Choices read when first needed (membership, listing), not when the parser is built."""

    def __init__(self, load):
        self._load, self._values = load, None

    def _get(self) -> list:
        if self._values is None:
            self._values = self._load()
        return self._values

    def __iter__(self):
        return iter(self._get())

    def __contains__(self, value) -> bool:
        return value in self._get()

    def __len__(self) -> int:
        return len(self._get())


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _seed(text: str) -> int:
    value = _non_negative(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEED}, got {value}")
    return value


def _available_cores() -> int:
    """The cores this process may run on (its affinity: a SLURM allocation, taskset)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grammarbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="simulate a dataset (train/validation/test) from a grammar")
    sim.add_argument("grammar", help="grammar file: YAML, or a seqgra XML data definition")
    sim.add_argument("--n-train", type=_positive, help="training examples (default: the grammar's sizes.train)")
    sim.add_argument("--n-validation", type=_positive, help="validation examples (default: from the grammar)")
    sim.add_argument("--n-test", type=_positive, help="test examples (default: from the grammar)")
    sim.add_argument("--seed", type=_seed, help="data seed (default: the grammar's seed, else 1)")
    sim.add_argument("--out", required=True, help="output folder (train/, validation/, test/ inside)")
    sim.add_argument("--threads", type=_positive, default=_available_cores(),
                     help="chunks simulated at once (default: the cores this process may use; "
                          "the output does not depend on it)")
    sim.add_argument("--export", action="append", help="also write fasta (FASTA + BED) and/or seqgra layout")
    sim.set_defaults(run=_simulate)

    devices = ("auto", "cpu", "cuda")
    train = sub.add_parser("train", help="train an architecture on a simulated dataset")
    train.add_argument("architecture", help="architecture file (YAML; see config/architectures/README.md)")
    train.add_argument("--train", required=True, help="training split folder (all of it is used)")
    train.add_argument("--validation", required=True, help="validation split folder")
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--model-seed", type=_seed, default=1, help="seeds weights, dropout, batch order (default 1)")
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

    # the attribution package imports torch: its names are read only when an attribution
    # command needs them, so that `grammarbench simulate` starts without it
    methods = _Lazy(lambda: list(_attribution().registry.METHODS))
    references = _Lazy(lambda: list(_attribution().references.REFERENCES))
    metric_choices = lambda key: _Lazy(lambda: list(_attribution().settings.METRIC_OPTIONS[key]))  # noqa: E731
    attribute = sub.add_parser("attribute", help="attribution maps of a trained model on a simulated split")
    attribute.add_argument("model", help="trained-model folder (written by `grammarbench train`)")
    attribute.add_argument("--test", required=True, help="the split to explain")
    attribute.add_argument("--train", required=True, help="the training split (its letter frequencies "
                                                          "make the mean_composition reference)")
    # choices set after add_argument, which would list them (to check the metavar) at once
    attribute.add_argument("--method", action="append", required=True,
                           help="a method (repeat for several): one of grammarbench.attribution.METHODS"
                           ).choices = methods
    attribute.add_argument("--reference", help="default: the method's").choices = references
    attribute.add_argument("--n-references", type=_positive, help="references per example (shuffle)")
    defaults = "default: as the workflow's attribution section (grammarbench.attribution.AttributionSettings)"
    attribute.add_argument("--n-examples", type=_positive, help=f"explain the first n examples ({defaults})")
    attribute.add_argument("--batch-size", type=_positive, help=defaults)
    attribute.add_argument("--random-state", type=_seed, help=defaults)
    attribute.add_argument("--device", choices=devices, default="auto")
    attribute.add_argument("--out", required=True, help="folder for <method>.npz")
    attribute.set_defaults(run=_attribute)

    score = sub.add_parser("score", help="score attribution maps against the simulated ground truth")
    score.add_argument("attributions", help="folder of <run>.npz (written by `grammarbench attribute`)")
    score.add_argument("--test", required=True, help="the split the maps explain")
    score.add_argument("--score",
                       help="a position's score: |sum over letters| (sum, the default) or the attribution "
                            "at the observed letter").choices = metric_choices("score")
    score.add_argument("--absolute", action=argparse.BooleanOptionalAction,
                       help="rank positions by the absolute score (default: as score_maps)")
    score.add_argument("--agreement-threshold", type=float,
                       help="threshold of seqgra's thresholded agreement (default: as score_maps)")
    score.add_argument("--threshold-on",
                       help="threshold the raw or the normalized attribution (default: as score_maps)"
                       ).choices = metric_choices("threshold_on")
    score.add_argument("--truth",
                       help="the ground truth: the split's mask.npy (rescan, the default: a realistic "
                            "grammar's re-scan) or mask_implanted.npy (implanted hits only)"
                       ).choices = metric_choices("truth")
    score.add_argument("--out", required=True, help="TSV to write")
    score.set_defaults(run=_score)

    discover = sub.add_parser("discover", help="TF-MoDISco on one run's maps, matched to the "
                              "grammar's elements with Tomtom, and scored")
    discover.add_argument("maps", help="one run's <run>.npz (written by `grammarbench attribute`)")
    discover.add_argument("--test", required=True, help="the split the maps explain")
    discover.add_argument("--grammar", required=True, help="the grammar that generated it")
    discover.add_argument("--motifs", default=None,
                          help="a realistic grammar's motifs.json (written by `grammarbench simulate` "
                               "under OUT/motifs): its elements are the motifs the filter kept")
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


def run() -> None:
    """The ``grammarbench`` command: :func:`main`, then the process ends without Python's
    finalisation (:func:`grammarbench.runtime.end_process`; tests call :func:`main`)."""
    from grammarbench.runtime import end_process

    end_process(main())


if __name__ == "__main__":
    run()
